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

"""What the operator asks ``add`` for, and the checks of it alone.

The names a storage is known by: its own (the volume type and the state
record), its backend (the cinder.conf section) and its volume group.
"""

import os
import re

from cinder_auxo import exception
from cinder_auxo.storage_admin import iscsi

USAGES = ('block', 'file', 'local')
TYPES = ('iscsi', 'fc', 'local')
# Names become a directory and a volume type: nothing a path could escape.
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
# lvm(8) "VALID NAMES": these characters, no leading '-', not '.' or '..'.
_VG_NAME = re.compile(r'^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$')


class Request(object):
    """What the operator asked ``add`` for (the CLI's arguments)."""

    def __init__(self, name, usage, type, portal=None, iqn=None, lun=None,
                 chap=None, wwpn=None, mount_point=None, fstype='ext4',
                 force=False, volume_clear_size=128, backend=None,
                 volume_group=None):
        self.name = name
        self.usage = usage
        self.type = type
        self.portal = iscsi.portal(portal) if portal else None
        self.iqn = iqn
        self.lun = lun
        self.chap = chap or iscsi.Chap(None, None)
        self.wwpn = wwpn
        self.mount_point = (os.path.abspath(mount_point) if mount_point
                            else None)
        self.fstype = fstype
        self.force = force
        self.volume_clear_size = volume_clear_size
        # The cinder.conf section and the VG name, instead of UUIDs.
        self.backend = backend
        self.volume_group = volume_group

    def validate(self):
        """Refuse what no look at the host is needed to refuse."""
        if self.usage not in USAGES or self.type not in TYPES:
            raise exception.StorageAdminError(
                reason='usage must be one of %s and type one of %s' % (
                    USAGES, TYPES))
        names = [('storage', self.name)]
        if self.backend is not None:
            names.append(('backend', self.backend))
        for what, name in names:
            if not _NAME.match(name or '') or (
                    what == 'backend' and name.upper() == 'DEFAULT'):
                raise exception.StorageAdminError(
                    reason='a %s name is letters, digits, ".", "_" and '
                           '"-": %r' % (what, name))
        if self.volume_group is not None and (
                self.usage != 'block' or self.volume_group in ('.', '..') or
                not _VG_NAME.match(self.volume_group)):
            raise exception.StorageAdminError(
                reason='a volume group name (block storages only) is '
                       'letters, digits and "+_.-", not starting with '
                       '"-": %r' % self.volume_group)
        if (self.usage == 'local') != (self.type == 'local'):
            raise exception.StorageAdminError(
                reason='usage local and type local go together')
