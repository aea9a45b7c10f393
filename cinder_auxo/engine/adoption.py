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

"""Adopting existing disk files (cinder manage) and letting them go.

Operators of the product this package replaces have desktop files to
bring under cinder. A file in the storage's volume directory is adopted
by renaming it to the volume's layer name, after these checks:

* its name says its format (``*.qcow2``, or ``*.raw`` / ``*.img``): the
  format is never guessed from bytes a guest wrote;
* a qcow2 file passes cinder's format inspector (no data-file, a sane
  header) and is what its name says;
* its backing file, if any, is a frozen layer or a cached base of this
  storage, never another volume's active layer nor anything outside;
  a missing backing format is recorded as start-up does
  (``repair.record_backing_format``).

Unmanage leaves a standalone file, ``unmanaged-<volume id>.<format>``,
that depends on nothing the cache might remove; the volume's own layers
go as on a delete.
"""

import math
import os
import stat

from cinder import exception as cinder_exception
from cinder.image import image_utils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.engine import repair
from cinder_auxo import exception

LOG = logging.getLogger(__name__)

_FORMAT_BY_SUFFIX = {'.qcow2': naming.QCOW2, '.raw': naming.RAW,
                     '.img': naming.RAW}


def _refuse(name, reason):
    return exception.InvalidName(name=name, reason=reason)


class Adoption(object):
    """cinder manage / unmanage over a ChainEngine's file store."""

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.volumes
        if self.store.thick:
            raise exception.AuxoException(
                reason='adopting existing files needs a file storage')

    def _source(self, name):
        """(path, format) of an adoptable file, or a clear refusal."""
        if not isinstance(name, str) or not name or '/' in name or (
                name.startswith('.')):
            raise _refuse(name, 'give the name of a file directly in %s' %
                          self.store.directory)
        if naming.is_layer(name) or naming.is_temp(name) or (
                naming.is_export(name)):
            raise _refuse(name, 'it is already a layer of this storage')
        fmt = _FORMAT_BY_SUFFIX.get(os.path.splitext(name)[1])
        if fmt is None:
            raise _refuse(name, 'its name must end in .qcow2, .raw or .img '
                                '(the format is not guessed from content)')
        path = os.path.join(self.store.directory, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise cinder_exception.ManageExistingInvalidReference(
                existing_ref=name, reason='no such file in %s' %
                                          self.store.directory)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(name, 'not a regular file (symbolic links are '
                                'refused)')
        return path, fmt

    def _check(self, name):
        path, fmt = self._source(name)
        try:
            info = image_utils.qemu_img_info(
                path, run_as_root=False, allow_qcow2_backing_file=True,
                img_format=naming.RAW if fmt == naming.RAW else None)
        except Exception as e:
            raise _refuse(name, 'it failed the format check: %s' % e)
        if info.file_format != fmt:
            raise _refuse(name, 'it is named %s but holds %s' %
                          (fmt, info.file_format))
        if fmt == naming.QCOW2:
            self._check_backing(name, path)
        return path, fmt, info.virtual_size

    def _check_backing(self, name, path):
        backing = qemu.read_backing_file(path)
        if backing is None:
            return
        if not os.path.isabs(backing):
            backing = os.path.join(os.path.dirname(path), backing)
        below = self.engine.locate(backing, path)
        if below.kind == naming.VOLUME:
            raise _refuse(name, 'it is backed by %s, another volume\'s '
                                'writable layer' % below.name)
        self.engine.chain(below)

    def size_gb(self, name):
        """The volume size, in GiB, that holds the file's disk."""
        _path, _fmt, virtual = self._check(name)
        return int(math.ceil(virtual / float(units.Gi)))

    def adopt(self, name, volume_id, size_bytes):
        """Make file ``name`` the volume ``volume_id``; its Layer."""
        with self.engine.chain_lock():
            path, fmt, virtual = self._check(name)
            if self.engine.find(naming.VOLUME, volume_id) is not None:
                raise exception.AuxoException(
                    reason='volume %s already has a layer' % volume_id)
            layer = layer_mod.Layer(self.store, naming.layer(
                naming.VOLUME, volume_id, fmt))
            self.engine.index.link(self.engine.backing_at(path, fmt), layer)
            os.rename(path, layer.path)
            try:
                # Files of the product this replaces lack -F.
                repair.record_backing_format(self.engine, layer)
            except Exception:
                with excutils.save_and_reraise_exception():
                    os.rename(layer.path, path)
            self.store.sync(layer.name)
        if virtual < size_bytes:
            self.engine.extend(volume_id, size_bytes)
        LOG.info('Adopted %(src)s as %(layer)s', {'src': path,
                                                  'layer': layer.path})
        return layer

    def release(self, volume_id):
        """Leave the volume as a standalone file; its path."""
        top = self.engine.volume(volume_id)
        dest = os.path.join(self.store.directory,
                            'unmanaged-%s.%s' % (volume_id, top.fmt))
        work = self.engine.copy_to_temp(top.path, top.fmt, self.store,
                                        top.fmt)
        with self.store.remove_on_error(work.name):
            os.rename(work.path, dest)
        self.engine.delete_volume(volume_id)
        LOG.info('Volume %(id)s is now the standalone file %(path)s, no '
                 'longer managed', {'id': volume_id, 'path': dest})
        return dest
