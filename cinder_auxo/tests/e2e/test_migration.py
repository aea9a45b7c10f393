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

"""Moving and protecting desktops through cinder, checked by data.

Two local storages of one host (``local1`` and ``local2``, like a compute
node's /opt/sata and /opt/ssd), a backend of cinder's own NfsDriver
(``nfs``, see tools/stack/README.md) and cinder-backup's POSIX driver. Every
move is checked against a raw copy of what the desktop read before it
(``qemu-img compare``), and on disk: where its layers are, what is left
behind, which bases its chain uses.
"""

import os

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import MiB

IMAGE_BYTE, DESKTOP_BYTE, LATER_BYTE = 0x5a, 0x3d, 0x6e
BACKUP_TIMEOUT = 300


def name_id(vol):
    """The id cinder names the volume's storage by."""
    return getattr(vol, 'os-vol-mig-status-attr:name_id', None) or vol.id


class MigrationTest(base.E2ETestCase):

    def setUp(self):
        super().setUp()
        peer = self.stack['peer_backend']
        self.peer = self.stack['backends'][peer]
        self.here = self.backend_info

    # -------------------------------------------------------- helpers

    def desktop(self, **kwargs):
        """A volume from a cached image, with 1 MiB of its own data."""
        image_id = self.pattern_image([(IMAGE_BYTE, 0, 4 * MiB)])
        vol = self.create_volume(imageRef=image_id, **kwargs)
        self.write_on(self.backend_of(vol), vol, DESKTOP_BYTE, 8 * MiB, MiB)
        return vol, image_id

    def backend_of(self, vol):
        vol = self.cinder.volumes.get(vol.id)
        host = getattr(vol, 'os-vol-host-attr:host')
        for backend in self.stack['backends'].values():
            if backend['host'] == host:
                return backend
        raise AssertionError('volume %s is on %s, not on a backend of the '
                             'stack' % (vol.id, host))

    def write_on(self, backend, vol, byte, offset, length):
        path = self.path_on(backend, vol)
        base.write_pattern(path, byte, offset, length, self.fmt_of(path))

    def any_auxo_type(self):
        """A volume type both auxo storages may serve.

        A migration's destination must pass the scheduler's filters for
        the volume's type.
        """
        name = 'auxo-e2e-any'
        for vtype in self.cinder.volume_types.list():
            if vtype.name == name:
                return vtype
        vtype = self.cinder.volume_types.create(name)
        self.addCleanup(self.cinder.volume_types.delete, vtype)
        vtype.set_keys({'vendor_name': 'cinder_auxo'})
        return vtype

    def path_on(self, backend, vol):
        for suffix in ('', '.raw'):
            path = os.path.join(backend['mount_point'],
                                'volume-%s%s' % (name_id(vol), suffix))
            if os.path.exists(path):
                return path
        raise AssertionError('volume %s (%s) has no layer in %s: %s' % (
            vol.id, name_id(vol), backend['mount_point'],
            sorted(os.listdir(backend['mount_point']))))

    def reference(self, backend, vol):
        """A raw copy of what the volume reads now."""
        ref = os.path.join(self.tmp, 'ref-%s.raw' % vol.id)
        base.execute('qemu-img', 'convert', '-U', '-O', 'raw',
                     self.path_on(backend, vol), ref)
        return ref

    def assert_same(self, ref, path):
        fmt = self.fmt_of(path)
        base.execute('qemu-img', 'compare', '-U', '-f', 'raw', '-F', fmt,
                     ref, path)

    def assert_nothing_of(self, backend, vol):
        left = [n for n in os.listdir(backend['mount_point'])
                if name_id(vol) in n or vol.id in n]
        self.assertEqual([], left, 'files of %s left in %s' % (
            vol.id, backend['mount_point']))

    def wait_nothing_of(self, backend, vol):
        """After a generic migration cinder deletes the source later."""
        base.wait_until('source of %s deleted from %s' % (
            vol.id, backend['mount_point']), lambda: not any(
                vol.id in n for n in os.listdir(backend['mount_point'])),
            base.DELETE_TIMEOUT)

    def wait_moved(self, vol_id, backend):
        def moved():
            vol = self.cinder.volumes.get(vol_id)
            status = getattr(vol, 'os-vol-mig-status-attr:migstat')
            if status == 'error' or vol.status.startswith('error'):
                raise AssertionError('migration of %s failed (%s, %s); '
                                     'volume log:\n%s' % (
                                         vol_id, vol.status, status,
                                         self.log_errors()))
            host = getattr(vol, 'os-vol-host-attr:host')
            if (status == 'success' and vol.status == 'available' and
                    host == backend['host']):
                return vol
            return None
        return base.wait_until('volume %s on %s' % (vol_id,
                                                    backend['host']),
                               moved, base.VOLUME_TIMEOUT)

    def children(self, backend, image_id):
        """{base path: volumes standing on it} of the image on a backend."""
        mount = backend['mount_point']
        bases = [os.path.join(mount, '_base', n)
                 for n in os.listdir(os.path.join(mount, '_base'))
                 if n.startswith('base-%s-g' % image_id)]
        tops = [os.path.join(mount, n) for n in os.listdir(mount)
                if n.startswith('volume-')]
        return {b: sorted(os.path.basename(t) for t in tops
                          if self.backing_of(t) == b) for b in bases}

    def chain_dirs(self, path):
        """Directories of every layer of the chain of ``path``."""
        dirs = []
        while path:
            dirs.append(os.path.dirname(path))
            path = self.backing_of(path)
        return dirs

    # -------------------------------------------------------- tests

    def test_retype_moves_the_desktop_and_back(self):
        vol, image_id = self.desktop()
        ref = self.reference(self.here, vol)
        self.cinder.volumes.retype(vol, self.peer['volume_type'],
                                   'on-demand')
        vol = self.wait_moved(vol.id, self.peer)
        path = self.path_on(self.peer, vol)
        self.assert_same(ref, path)
        # Its whole chain is on the new storage: its own layer on the
        # new storage's base of the same image.
        self.assertEqual({self.peer['mount_point'],
                          os.path.join(self.peer['mount_point'], '_base')},
                         set(self.chain_dirs(path)))
        self.assertIn('base-%s-g' % image_id, self.backing_of(path))
        self.assertLess(os.stat(path).st_blocks * 512, 4 * MiB)
        self.assert_nothing_of(self.here, vol)
        # Which volumes each storage's base of the image serves.
        self.assertEqual([[]], list(self.children(self.here,
                                                  image_id).values()))
        self.assertEqual([[os.path.basename(path)]],
                         list(self.children(self.peer, image_id).values()))

        # Every operation works on it where it is now.
        snap = self.create_snapshot(vol.id)
        self.write_on(self.peer, vol, LATER_BYTE, 12 * MiB, MiB)
        self.cinder.volumes.extend(vol, 2)
        self.wait_volume(vol.id, 'available')
        clone = self.create_volume(source_volid=vol.id, size=2,
                                   volume_type=self.peer['volume_type'])
        self.delete_snapshot(snap.id)
        for v in (vol, clone):
            p = self.path_on(self.peer, v)
            self.assert_reads(p, DESKTOP_BYTE, 8 * MiB, MiB)
            self.assert_reads(p, LATER_BYTE, 12 * MiB, MiB)
            self.assert_reads(p, IMAGE_BYTE, 0, 4 * MiB)
        self.delete_volume(clone.id)

        ref = self.reference(self.peer, vol)
        self.cinder.volumes.retype(vol, self.here['volume_type'],
                                   'on-demand')
        vol = self.wait_moved(vol.id, self.here)
        back = self.path_on(self.here, vol)
        self.assert_same(ref, back)
        self.assert_nothing_of(self.peer, vol)
        self.assertEqual([[os.path.basename(back)]],
                         list(self.children(self.here, image_id).values()))
        self.assertEqual([[]], list(self.children(self.peer,
                                                  image_id).values()))
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_generic_migration_copies_the_disk(self):
        # cinder's own copy, as with a destination of another driver:
        # both ends see disk bytes, never a qcow2 container.
        vol, _image_id = self.desktop(volume_type=self.any_auxo_type().name)
        source = self.backend_of(vol)
        dest = [b for b in (self.here, self.peer) if b is not source][0]
        ref = self.reference(source, vol)
        self.cinder.volumes.migrate_volume(vol, dest['host'],
                                           force_host_copy=True,
                                           lock_volume=False)
        vol = self.wait_moved(vol.id, dest)
        self.assertNotEqual(vol.id, name_id(vol))
        path = self.path_on(dest, vol)
        self.assert_same(ref, path)
        self.wait_nothing_of(source, vol)
        # The volume works under its new name.
        snap = self.create_snapshot(vol.id)
        self.cinder.volumes.extend(vol, 2)
        self.wait_volume(vol.id, 'available')
        self.delete_snapshot(snap.id)
        self.assert_same(ref, self.path_on(dest, vol))
        self.delete_volume(vol.id)
        self.assert_nothing_of(dest, vol)

    def test_retype_to_another_driver_and_back(self):
        nfs = self.stack['backends'][self.stack['nfs_backend']]
        vol, _image_id = self.desktop()
        ref = self.reference(self.here, vol)
        self.cinder.volumes.retype(vol, nfs['volume_type'], 'on-demand')
        vol = self.wait_moved(vol.id, nfs)
        # NfsDriver's volumes are raw files: the disk, not a container.
        path = os.path.join(nfs['mount_point'], 'volume-%s' % name_id(vol))
        base.execute('qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'raw',
                     ref, path)
        self.wait_nothing_of(self.here, vol)

        self.cinder.volumes.retype(vol, self.here['volume_type'],
                                   'on-demand')
        vol = self.wait_moved(vol.id, self.here)
        self.assert_same(ref, self.path_on(self.here, vol))
        base.wait_until('%s deleted' % path,
                        lambda: not os.path.exists(path),
                        base.DELETE_TIMEOUT)
        snap = self.create_snapshot(vol.id)
        self.write_on(self.here, vol, LATER_BYTE, 0, MiB)
        self.delete_snapshot(snap.id)
        self.assert_reads(self.path_on(self.here, vol), DESKTOP_BYTE,
                          8 * MiB, MiB)

    def wait_backup(self, backup_id, status='available'):
        def reached():
            backup = self.cinder.backups.get(backup_id)
            if backup.status == 'error':
                raise AssertionError('backup %s failed: %s; volume log:\n%s'
                                     % (backup_id, backup.fail_reason,
                                        self.log_errors()))
            return backup if backup.status == status else None
        return base.wait_until('backup %s %s' % (backup_id, status),
                               reached, BACKUP_TIMEOUT)

    def _delete_backup(self, backup_id):
        self.cinder.backups.delete(backup_id)
        base.wait_until('backup %s deleted' % backup_id,
                        lambda: backup_id not in [
                            b.id for b in self.cinder.backups.list()],
                        BACKUP_TIMEOUT)

    def test_backup_and_restore_move_the_disk(self):
        base.wait_until('cinder-backup up', lambda: any(
            s.state == 'up' for s in self.cinder.services.list(
                binary='cinder-backup')), 60)
        vol, _image_id = self.desktop()
        ref = self.reference(self.here, vol)
        backup = self.cinder.backups.create(vol.id)
        self.addCleanup(self._delete_backup, backup.id)
        self.wait_backup(backup.id)
        self.wait_volume(vol.id, 'available')
        self.assertEqual([], [n for n in os.listdir(self.here['mount_point'])
                              if n.startswith('export-')])

        # Onto a new volume of the other storage, and over the desktop
        # itself after it changed.
        target = self.create_volume(volume_type=self.peer['volume_type'])
        self.write_on(self.here, vol, LATER_BYTE, 8 * MiB, MiB)
        for dest, backend in ((target, self.peer), (vol, self.here)):
            self.cinder.restores.restore(backup.id, dest.id)
            self.wait_backup(backup.id)
            dest = self.wait_volume(dest.id, 'available')
            self.assert_same(ref, self.path_on(backend, dest))
        # The restored desktop is a raw layer of its own; it snapshots.
        snap = self.create_snapshot(vol.id)
        self.delete_snapshot(snap.id)
        self.assert_same(ref, self.path_on(self.here, vol))
