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

"""Moving and protecting volumes, by data, on real files and qemu-img.

cinder's own data paths are replayed as cinder 29's volume manager and
backup manager run them: connection info from the driver, os-brick's
LocalConnector, ``volume_utils.copy_volume``. Driver-assisted migration
runs between two LocalFileDriver storages configured in one cinder.conf.
"""

import os
import subprocess

from cinder import exception as cinder_exception
from cinder.tests.unit import fake_snapshot
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from cinder.volume import manager
from cinder.volume import volume_utils
from oslo_concurrency import processutils
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.drivers import local
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_local_driver
from cinder_auxo.tests import qcow2

MiB = base.MiB
GiB = base.GiB
HOST = 'node1'
PEER = 'storage-ssd'


def compare(path_a, fmt_a, path_b, fmt_b):
    """True when the two images read the same (qemu-img compare)."""
    return subprocess.run(
        ['qemu-img', 'compare', '-f', fmt_a, '-F', fmt_b, path_a, path_b],
        capture_output=True).returncode == 0


class DataPathTestCase(test_local_driver.LocalDriverBase):

    def setUp(self):
        super(DataPathTestCase, self).setUp()
        self.driver.host = '%s@%s' % (HOST, test_local_driver.BACKEND)
        configuration.Configuration(manager.volume_backend_opts,
                                    config_group=test_local_driver.BACKEND)
        self.conf.config(group=test_local_driver.BACKEND,
                         volume_driver='cinder_auxo.drivers.local.'
                                       'LocalFileDriver')
        self.peer_mount = os.path.join(self.tmp, 'ssd')
        os.mkdir(self.peer_mount)
        self.peer = self._peer_driver()
        self.meta = self.images.add(self.image_file(
            [(0x7e, 0, 8 * MiB), (0x11, 40 * MiB, 4 * MiB)]))

    def _peer_driver(self):
        # Registered as cinder-volume registers every backend section.
        configuration.Configuration(manager.volume_backend_opts,
                                    config_group=PEER)
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=PEER)
        drv = local.LocalFileDriver(configuration=conf,
                                    host='%s@%s' % (HOST, PEER))
        for key, value in {'volume_driver': 'cinder_auxo.drivers.local.'
                                            'LocalFileDriver',
                           'mount_point': self.peer_mount,
                           'volume_backend_name': PEER,
                           'image_cache_maintenance_interval': 0}.items():
            self.conf.config(group=PEER, **{key: value})
        drv.do_setup(self.ctxt)
        drv.check_for_setup_error()
        return drv

    def _desktop(self):
        """A volume from the image with 1 MiB of its own data."""
        vol, cloned = self._from_image(self.meta)
        self.assertTrue(cloned)
        path, fmt = self.driver.engine.active(vol.name_id)
        base.write_pattern(path, 0x3d, 20 * MiB, MiB)
        return vol

    def _reference(self, drv, vol):
        """A flat raw copy of what the volume reads now."""
        ref = os.path.join(self.tmp, 'ref-%s.raw' % uuidutils.generate_uuid())
        drv.engine.flatten_to(vol.name_id, ref, naming.RAW)
        return ref

    # -- cinder's generic copy -------------------------------------------

    def _attach(self, drv, vol):
        info = drv.initialize_connection(vol, {'host': HOST})
        connector = volume_utils.brick_get_connector(
            info['driver_volume_type'])
        return info, connector, connector.connect_volume(info['data'])

    def _generic_copy(self, src_drv, src, dst_drv, dst):
        """What VolumeManager._copy_volume_data does, step by step."""
        dst_info, dst_conn, dst_dev = self._attach(dst_drv, dst)
        src_info, src_conn, src_dev = self._attach(src_drv, src)
        self.assertEqual('raw', src_info['data']['format'])
        self.assertEqual('raw', dst_info['data']['format'])
        volume_utils.copy_volume(src_dev['path'], dst_dev['path'],
                                 src.size * units.Ki, '1M', sparse=True,
                                 execute=processutils.execute)
        dst_conn.disconnect_volume(dst_info['data'], dst_dev)
        dst_drv.terminate_connection(dst, {'host': HOST})
        src_conn.disconnect_volume(src_info['data'], src_dev)
        src_drv.terminate_connection(src, {'host': HOST})

    def test_generic_migration_copies_disk_bytes(self):
        src = self._desktop()
        ref = self._reference(self.driver, src)
        src.migration_status = 'migrating'
        dst = self._volume(size=1, migration_status='target:%s' % src.id)
        self.peer.create_volume(dst)
        self._generic_copy(self.driver, src, self.peer, dst)
        path, fmt = self.peer.engine.active(dst.name_id)
        self.assertEqual('raw', fmt)
        self.assertTrue(compare(ref, 'raw', path, fmt))
        # The raw export of the source went with the detach.
        self.assertEqual([], [n for n in base.listing(self.mount)
                              if n.startswith('export-')])

    def test_backup_and_restore_move_disk_bytes(self):
        src = self._desktop()
        ref = self._reference(self.driver, src)
        src.status = 'backing-up'
        target = self._volume(size=1, status='restoring-backup')
        self.peer.create_volume(target)
        self._generic_copy(self.driver, src, self.peer, target)
        path, fmt = self.peer.engine.active(target.name_id)
        self.assertTrue(compare(ref, 'raw', path, fmt))
        # Restored over a desktop of the same storage: its old chain goes.
        again = self._desktop()
        again.status = 'restoring-backup'
        src.status = 'backing-up'
        self._generic_copy(self.driver, src, self.driver, again)
        path, fmt = self.driver.engine.active(again.name_id)
        self.assertTrue(compare(ref, 'raw', path, fmt))
        self.assertFalse(os.path.exists(self.vpath(again.name_id)))

    def test_snapshot_backup_reads_the_snapshot(self):
        vol = self._desktop()
        ref = self._reference(self.driver, vol)
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.driver.create_snapshot(snap)
        path, fmt = self.driver.engine.active(vol.name_id)
        base.write_pattern(path, 0x55, 0, 2 * MiB)
        info = self.driver.initialize_connection_snapshot(snap, {})
        self.assertTrue(compare(ref, 'raw', info['data']['device_path'],
                                info['data']['format']))
        self.driver.terminate_connection_snapshot(snap, {})
        self.assertFalse(os.path.exists(info['data']['device_path']))

    def test_hypervisor_attach_is_unchanged(self):
        vol = self._desktop()
        info = self.driver.initialize_connection(vol, {'host': HOST})
        self.assertEqual('qcow2', info['data']['format'])
        self.assertEqual(self.vpath(vol.name_id), info['data']['device_path'])

    def test_interrupted_raw_conversion_keeps_the_old_chain(self):
        vol = self._desktop()
        ref = self._reference(self.driver, vol)
        # The crash window: the raw target is published, the qcow2 top
        # not yet deleted.
        raw = self.driver.engine.volumes.path(
            naming.layer(naming.VOLUME, vol.name_id, naming.RAW))
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'raw', raw, '1G'],
                       check=True)
        drv = self._driver()
        self.assertFalse(os.path.exists(raw))
        path, fmt = drv.engine.active(vol.name_id)
        self.assertTrue(compare(ref, 'raw', path, fmt))

    # -- names that follow cinder's identity --------------------------------

    def test_volume_known_by_its_name_id(self):
        vol = self._desktop()
        # What a generic migration leaves: cinder's record points at the
        # migrated layer by _name_id.
        moved = self._volume(size=1)
        moved._name_id = vol.name_id
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=moved.id,
            volume=moved)
        self.driver.create_snapshot(snap)
        self.driver.extend_volume(moved, 2)
        path, fmt = self.driver.engine.active(vol.name_id)
        self.assertEqual(2 * GiB,
                         self.driver.engine.qemu.virtual_size(path, fmt))
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(moved)
        self.assertFalse(os.path.exists(self.vpath(vol.name_id)))

    # -- driver-assisted migration -------------------------------------------

    def _migrate(self, src_drv, vol, dst_section):
        return src_drv.migrate_volume(
            self.ctxt, vol, {'host': '%s@%s#%s' % (HOST, dst_section,
                                                   dst_section),
                             'capabilities': {}})

    def test_migration_moves_own_data_and_back(self):
        vol = self._desktop()
        ref = self._reference(self.driver, vol)
        own = base.allocated_bytes(self.vpath(vol.name_id))
        self.assertEqual((True, None), self._migrate(self.driver, vol, PEER))
        moved = self.peer.engine.volume(vol.name_id)
        self.assertTrue(compare(ref, 'raw', moved.path, moved.fmt))
        chain = self.peer.engine.chain(moved)
        self.assertEqual(['volume-%s' % vol.name_id,
                          'base-%s-g1' % self.meta['id']],
                         [layer.name for layer in chain])
        for layer in chain:
            self.assertTrue(layer.path.startswith(self.peer_mount))
        # Only the desktop's own clusters were written for it.
        self.assertLess(base.allocated_bytes(moved.path), own + MiB)
        self.assertEqual(['_base'], base.listing(self.mount))
        # Back: the source storage kept its base, so again only the
        # desktop's own data moves.
        self.assertEqual((True, None), self._migrate(self.peer, vol,
                                                     test_local_driver.
                                                     BACKEND))
        back = self.driver.engine.volume(vol.name_id)
        self.assertTrue(compare(ref, 'raw', back.path, back.fmt))
        self.assertFalse(os.path.exists(moved.path))

    def test_migration_reuses_the_destination_base(self):
        first, second = self._desktop(), self._desktop()
        refs = [self._reference(self.driver, v) for v in (first, second)]
        self._migrate(self.driver, first, PEER)
        self._migrate(self.driver, second, PEER)
        bases = self.peer.image_cache.bases(self.meta['id'])
        self.assertEqual(1, len(bases))
        for vol, ref in zip((first, second), refs):
            top = self.peer.engine.volume(vol.name_id)
            self.assertTrue(compare(ref, 'raw', top.path, top.fmt))
            self.assertEqual(bases[0], self.peer.engine.chain(top)[1])
        # Nothing of them is left at the source.
        self.assertEqual([], [n for n in base.listing(self.mount)
                              if n.startswith('volume-')])
        self.assertEqual([bases[0]], self.peer.image_cache.bases())
        self.assertEqual([], self.peer.image_cache.unused())

    def test_migration_keeps_layers_shared_with_clones(self):
        vol = self._desktop()
        drv = self._driver(volume_clone_mode='overlay')
        clone = self._volume(size=1)
        drv.create_cloned_volume(clone, vol)
        path, _fmt = drv.engine.active(vol.name_id)
        base.write_pattern(path, 0x66, 30 * MiB, MiB)
        refs = {v.id: self._reference(drv, v) for v in (vol, clone)}
        drv.host = self.driver.host
        self.assertEqual((True, None), self._migrate(drv, vol, PEER))
        moved = self.peer.engine.volume(vol.name_id)
        self.assertTrue(compare(refs[vol.id], 'raw', moved.path, moved.fmt))
        self.assertEqual(2, len(self.peer.engine.chain(moved)))
        # The clone still stands on the layer frozen from the source.
        path, fmt = drv.engine.active(clone.name_id)
        self.assertTrue(compare(refs[clone.id], 'raw', path, fmt))

    def test_snapshots_work_after_migration(self):
        vol = self._desktop()
        self._migrate(self.driver, vol, PEER)
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.peer.create_snapshot(snap)
        self.peer.extend_volume(vol, 2)
        clone = self._volume(size=2)
        self.peer.create_cloned_volume(clone, vol)
        self.peer.delete_snapshot(snap)
        for v in (vol, clone):
            path, fmt = self.peer.engine.active(v.name_id)
            base.read_pattern(path, 0x3d, 20 * MiB, MiB)
            base.read_pattern(path, 0x7e, 0, 8 * MiB)
            self.peer.delete_volume(v)
        self.assertEqual(['_base'], base.listing(self.peer_mount))

    def test_interrupted_migration_is_redone(self):
        vol = self._desktop()
        ref = self._reference(self.driver, vol)
        # A copy published on the destination by a move cut before the
        # source was deleted and cinder's record updated.
        self.peer.create_volume(vol)
        self.assertEqual((True, None), self._migrate(self.driver, vol, PEER))
        top = self.peer.engine.volume(vol.name_id)
        self.assertTrue(compare(ref, 'raw', top.path, top.fmt))

    def test_other_hosts_and_drivers_are_left_to_cinder(self):
        vol = self._desktop()
        for host in ('node2@%s#%s' % (PEER, PEER),
                     '%s@lvm#lvm' % HOST,
                     '%s@%s#x' % (HOST, test_local_driver.BACKEND)):
            configuration.Configuration(manager.volume_backend_opts,
                                        config_group='lvm')
            self.assertEqual((False, None), self.driver.migrate_volume(
                self.ctxt, vol, {'host': host, 'capabilities': {}}))
        vol.attach_status = 'attached'
        self.assertEqual((False, None), self._migrate(self.driver, vol, PEER))
        self.assertTrue(os.path.exists(self.vpath(vol.name_id)))


class AdoptionTestCase(test_local_driver.LocalDriverBase):
    """cinder manage / unmanage of files in the storage directory."""

    def _file(self, name, backing=None, fmt='qcow2', size='1G'):
        path = os.path.join(self.mount, name)
        cmd = ['qemu-img', 'create', '-q', '-f', fmt]
        if backing:
            cmd += ['-b', backing, '-F', 'qcow2']
        subprocess.run(cmd + [path, size], check=True)
        return path

    def _manage(self, name, size=None):
        vol = self._volume(size=size or 1)
        ref = {'source-name': name}
        vol.size = self.driver.manage_existing_get_size(vol, ref)
        self.driver.manage_existing(vol, ref)
        return vol

    def test_adopts_a_standalone_file(self):
        path = self._file('desktop-01.qcow2', size='1536M')
        base.write_pattern(path, 0x21, 5 * MiB, MiB)
        vol = self._manage('desktop-01.qcow2')
        self.assertEqual(2, vol.size)
        top, fmt = self.driver.engine.active(vol.name_id)
        base.read_pattern(top, 0x21, 5 * MiB, MiB)
        self.assertEqual(2 * GiB, self.driver.engine.qemu.virtual_size(
            top, fmt))
        self.assertFalse(os.path.exists(path))

    def test_adopts_raw_and_a_file_on_a_cached_base(self):
        raw = self._file('old.raw', fmt='raw')
        base.write_pattern(raw, 0x22, 0, MiB, fmt='raw')
        vol = self._manage('old.raw')
        base.read_pattern(self.vpath(vol.name_id, 'raw'), 0x22, 0, MiB,
                          fmt='raw')
        meta = self.images.add(self.image_file([(0x7e, 0, 4 * MiB)]))
        self._from_image(meta)
        base_path = self.driver.image_cache.latest(meta['id']).path
        # As the product this replaces wrote it: no backing format.
        qcow2.drop_backing_format(self._file('on-base.qcow2',
                                             backing=base_path))
        vol = self._manage('on-base.qcow2')
        top = self.driver.engine.volume(vol.name_id)
        self.assertEqual(base_path, self.driver.engine.chain(top)[1].path)
        self.assertEqual('qcow2', qemu.read_backing_format(top.path))
        base.read_pattern(top.path, 0x7e, 0, 4 * MiB)

    def test_refusals_leave_the_file(self):
        outside = os.path.join(self.tmp, 'outside.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', outside,
                        '1G'], check=True)
        other = self._volume()
        self.driver.create_volume(other)
        # name -> (file, why it is refused)
        cases = {
            'no-suffix': (self._file('no-suffix'), 'must end in'),
            'foreign.qcow2': (self._file('foreign.qcow2', backing=outside),
                              'resolves outside'),
            'on-volume.qcow2': (self._file(
                'on-volume.qcow2', backing=self.vpath(other.name_id)),
                'writable layer'),
            'liar.qcow2': (self._file('liar.qcow2', fmt='raw'),
                           'holds raw'),
        }
        os.symlink(outside, os.path.join(self.mount, 'link.qcow2'))
        cases['link.qcow2'] = (os.path.join(self.mount, 'link.qcow2'),
                               'not a regular file')
        for name, (path, why) in cases.items():
            vol = self._volume()
            e = self.assertRaises(
                cinder_exception.VolumeDriverException,
                self.driver.manage_existing, vol, {'source-name': name})
            self.assertIn(why, str(e), name)
            self.assertTrue(os.path.lexists(path), name)
            self.assertIsNone(self.driver.engine.find(naming.VOLUME,
                                                      vol.name_id), name)
        for ref in ({}, {'source-name': '../outside.qcow2'},
                    {'source-name': 'missing.qcow2'}):
            self.assertRaises(
                (cinder_exception.VolumeDriverException,
                 cinder_exception.ManageExistingInvalidReference),
                self.driver.manage_existing_get_size, self._volume(), ref)

    def test_unmanage_leaves_a_standalone_file(self):
        meta = self.images.add(self.image_file([(0x7e, 0, 4 * MiB)]))
        vol, _cloned = self._from_image(meta)
        path, _fmt = self.driver.engine.active(vol.name_id)
        base.write_pattern(path, 0x3d, 8 * MiB, MiB)
        self.driver.unmanage(vol)
        left = os.path.join(self.mount, 'unmanaged-%s.qcow2' % vol.name_id)
        info = self.driver.engine.qemu.info(left, 'qcow2')
        self.assertNotIn('backing-filename', info)
        base.read_pattern(left, 0x7e, 0, 4 * MiB)
        base.read_pattern(left, 0x3d, 8 * MiB, MiB)
        self.assertIsNone(self.driver.engine.find(naming.VOLUME,
                                                  vol.name_id))
        self.assertEqual(self.driver.image_cache.bases(),
                         self.driver.image_cache.unused())
        # And it can be managed again, under another volume.
        os.rename(left, os.path.join(self.mount, 'again.qcow2'))
        again = self._manage('again.qcow2')
        base.read_pattern(self.vpath(again.name_id), 0x3d, 8 * MiB, MiB)
