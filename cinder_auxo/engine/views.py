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

"""Raw views of volumes, for consumers that read or write plain disk bytes.

cinder's own data paths (cinder-backup, generic migration and retype)
attach a volume through os-brick and copy the attached path byte for byte.
A qcow2 chain is not a disk image in that sense, so they get one of these:

* ``export``: the whole content of a volume's (or a snapshot's) chain as
  one raw file, ``export-<id>.raw`` beside the volumes, for readers. It is
  removed on detach (``drop``) and at start-up. A volume that already is a
  single raw layer is handed out as it is.
* ``raw_target``: for writers that overwrite the whole disk (a backup
  restore, the new volume of a migration), the volume becomes a single raw
  layer of its size; its old chain goes.

Both need a file store: an export is a sparse file the size of the data.
"""

from oslo_log import log as logging

from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)


class RawViews(object):
    """Raw exports and raw targets over a ChainEngine's volume store."""

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.volumes

    def _check_store(self):
        if self.store.thick:
            raise exception.AuxoException(
                reason='raw views of volumes exist for file storages only; '
                       '%s is not one' % self.store.storage_id)

    def _source(self, kind, ident):
        if kind == naming.SNAPSHOT:
            return self.engine.snapshot(ident)
        return self.engine.volume(ident)

    def export(self, kind, ident):
        """Path of a raw file holding the content of ``kind`` ``ident``."""
        self._check_store()
        source = self._source(kind, ident)
        chain = self.engine.chain(source)
        if source.fmt == naming.RAW and len(chain) == 1:
            return source.path
        name = naming.export(ident)
        # A leftover of an earlier attach may be stale: always re-export.
        self.store.delete(name)
        work = self.engine.copy_to_temp(source.path, source.fmt, self.store,
                                        naming.RAW)
        with self.store.remove_on_error(work.name):
            self.store.rename(work.name, name)
        LOG.info('Exported %(src)s as raw %(dst)s for a consumer that '
                 'reads disk bytes', {'src': source.path,
                                      'dst': self.store.path(name)})
        return self.store.path(name)

    def drop(self, ident):
        """Remove the export of ``ident``, if there is one."""
        name = naming.export(ident)
        if not self.store.thick and self.store.exists(name):
            LOG.info('Removing raw export %s', self.store.path(name))
            self.store.delete(name)

    def raw_target(self, volume_id, size_bytes):
        """Make the volume one raw layer of ``size_bytes``; its path.

        Whatever the volume held is discarded: the caller overwrites it.
        """
        self._check_store()
        top = self.engine.volume(volume_id)
        if top.fmt == naming.RAW and len(self.engine.chain(top)) == 1:
            return top.path
        work = self.engine.new_work_layer(self.store, naming.RAW, size_bytes)
        with self.store.remove_on_error(work.name):
            self.engine.qemu.create(work.path, naming.RAW, size_bytes)
            self.store.sync(work.name)
            new = self.engine.replace_volume(volume_id, work)
        LOG.info('Volume %(id)s is now the raw layer %(path)s, to be '
                 'overwritten by a consumer that writes disk bytes',
                 {'id': volume_id, 'path': new.path})
        return new.path
