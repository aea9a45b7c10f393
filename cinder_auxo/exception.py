#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""All exceptions of cinder_auxo.

Each is a message template filled from keyword arguments. They derive from
cinder's ``VolumeDriverException`` so that cinder's volume manager records
them on the volume and its message in the volume service log.
"""

from cinder import exception as cinder_exception
from cinder.i18n import _


class AuxoException(cinder_exception.VolumeDriverException):
    message = _('cinder_auxo error: %(reason)s')


class StorageUnavailable(AuxoException):
    message = _('Storage %(storage)s is unavailable: %(reason)s')


class StorageFull(AuxoException):
    message = _('Storage %(storage)s has no space left: %(reason)s')


class LayerNotFound(AuxoException):
    message = _('Layer %(name)s does not exist in storage %(storage)s')


class InvalidName(AuxoException):
    message = _('Refusing unsafe layer name %(name)r: %(reason)s')


class UnsafeBackingFile(AuxoException):
    message = _('Refusing layer %(path)s: its backing file %(backing)s '
                'resolves outside the storage\'s volume and cache '
                'directories (%(allowed)s)')


class BackingFormatUnknown(AuxoException):
    message = _('Layer %(path)s does not record the format of its backing '
                'file %(backing)s, which is named %(fmt)s but reads as '
                '%(seen)s: until now QEMU read it as whatever it looked '
                'like. Check what the volume must read, then rewrite the '
                'header with qemu-img rebase -u -b <same name> -F <format> '
                '%(path)s')


class ChainTooDeep(AuxoException):
    message = _('Layer %(path)s would have a backing chain of %(depth)d '
                'layers; the limit is %(limit)d '
                '(image_cache_max_chain_depth)')


class LayerBusy(AuxoException):
    message = _('Layer %(name)s is still needed: %(reason)s')


class VolumeAttached(AuxoException):
    message = _('Volume %(volume)s is attached (%(status)s): %(operation)s '
                'rewrites its backing chain and needs the volume detached')


class QemuImgError(AuxoException):
    message = _('qemu-img %(command)s failed on %(path)s: %(reason)s')


class MalformedLayer(AuxoException):
    # Our own header parsing, where qemu-img never runs.
    message = _('Layer %(path)s has no usable qcow2 header: %(reason)s')


class ImageUnacceptable(cinder_exception.ImageUnacceptable):
    """Same as cinder's, so its API message says the image was refused."""


# cinder-auxo-storage (storage_admin): refusals say what to do instead.

class StorageAdminError(AuxoException):
    message = _('%(reason)s')


class StorageNameInUse(StorageAdminError):
    message = _('The name %(name)s is already in use (%(where)s)')


class StorageNotFound(StorageAdminError):
    message = _('No storage named %(name)s (%(where)s)')


class LunInUse(StorageAdminError):
    message = _('%(device)s already carries %(what)s; pass --force to '
                'destroy it')


class SectionConflict(StorageAdminError):
    message = _('[%(section)s] of %(path)s already has %(key)s = '
                '%(value)s, not %(wanted)s: it describes another storage')


class MountPointNotEmpty(StorageAdminError):
    message = _('Mount point %(path)s is not empty (%(entries)s)')


class PortalUnreachable(StorageAdminError):
    message = _('iSCSI portal %(portal)s did not answer: %(reason)s')


class ISCSIAuthFailed(StorageAdminError):
    message = _('iSCSI login to %(iqn)s at %(portal)s was refused: '
                'wrong CHAP user or secret (%(reason)s)')


class StorageInUse(StorageAdminError):
    message = _('Storage %(name)s is still in use: %(reason)s')
