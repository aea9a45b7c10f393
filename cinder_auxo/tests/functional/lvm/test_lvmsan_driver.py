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
"""LVMSANDriver on a real volume group on a real iSCSI LUN (storage VM).

Data is checked with qemu-io through the LV device nodes.
"""

import json
import os
import subprocess

import ddt
from os_brick import privileged as brick_privileged
from oslo_config import cfg

from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
GiB = base.GiB

# (byte, offset) written before each of three snapshots, then once more.
STEPS = [(0xa1, 0), (0xb2, 4 * MiB), (0xc3, 8 * MiB), (0xd4, 12 * MiB)]
CHUNK = MiB


@ddt.ddt
class LVMSANDriverTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        super(LVMSANDriverTestCase, self).setUp()
        self.images = test_local_driver.FileImageService(self.tmp)

    # -- volumes -----------------------------------------------------------

    def test_create_write_delete(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        path, fmt = self.path(vol)
        self.assertEqual(('/dev/%s/volume-%s' % (self.vg, vol.id), 'qcow2'),
                         (path, fmt))
        base.write_pattern(path, 0x42, 100 * MiB, CHUNK)
        base.read_pattern(path, 0x42, 100 * MiB, CHUNK)
        info = json.loads(lvm_base.run('qemu-img', 'info', '-f', 'qcow2',
                                       '--output=json', path))
        self.assertEqual(GiB, info['virtual-size'])
        # The LV holds a fully written qcow2 of that size.
        self.assertGreaterEqual(self.driver.engine.volumes.size(
            'volume-%s' % vol.id), self.driver.engine.qemu.measure(
                GiB, 'qcow2'))
        self.driver.delete_volume(vol)
        self.assertNotIn('volume-%s' % vol.id, lvm_base.lvs(self.vg))

    def test_raw_volumes_are_plain_lvs(self):
        self.driver = self.make_driver(image_format='raw')
        vol = self.volume()
        self.driver.create_volume(vol)
        path, fmt = self.path(vol)
        self.assertEqual('raw', fmt)
        self.assertEqual(GiB, self.driver.engine.volumes.size(
            'volume-%s.raw' % vol.id))
        base.write_pattern(path, 0x17, GiB - CHUNK, CHUNK, 'raw')
        base.read_pattern(path, 0x17, GiB - CHUNK, CHUNK, 'raw')

    # -- images ------------------------------------------------------------

    def _image(self, size=64 * MiB, data=8 * MiB):
        image = self.image_file([(0x7e, 0, data)], size=size)
        return self.images.add(image)

    def test_create_from_image_through_the_cached_base_lv(self):
        meta = self._image()
        v1 = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, v1, None, meta, self.images))
        v2 = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, v2, None, meta, self.images))
        self.assertEqual(1, self.images.downloads)
        bases = [n for n in lvm_base.lvs(self.vg) if n.startswith('base-')]
        self.assertEqual(['base-%s-g1' % meta['id']], bases)
        base_path = '/dev/%s/%s' % (self.vg, bases[0])
        for vol in (v1, v2):
            path, fmt = self.path(vol)
            chain = self.driver.engine.chain(self.driver.engine.volume(
                vol.id))
            self.assertEqual([path, base_path], [c.path for c in chain])
            base.read_pattern(path, 0x7e, 0, 8 * MiB)
            # The overlay holds no image data of its own ...
            self.assertEqual(0, self.driver.engine.qemu.allocated_bytes(
                path, fmt))
        # ... and making it wrote a qcow2 header, not the image's 8 MiB.
        written = lvm_base.written_sectors(self.path(v2)[0]) * 512
        self.assertLess(written, MiB, written)
        # The guest writes to its overlay; the base is untouched.
        base.write_pattern(self.path(v2)[0], 0x11, 0, CHUNK)
        base.read_pattern(self.path(v1)[0], 0x7e, 0, CHUNK)
        base.read_pattern(base_path, 0x7e, 0, CHUNK)
        # The base stays while a child needs it.
        self.driver.delete_volume(v1)
        self.assertIn(bases[0], lvm_base.lvs(self.vg))

    def test_raw_create_from_image_copies_the_raw_base(self):
        self.driver = self.make_driver(image_format='raw')
        meta = self._image()
        vol = self.volume()
        self.driver.clone_image(self.ctxt, vol, None, meta, self.images)
        path, fmt = self.path(vol)
        self.assertEqual('raw', fmt)
        self.assertIn('base-%s-g1.raw' % meta['id'], lvm_base.lvs(self.vg))
        base.read_pattern(path, 0x7e, 0, 8 * MiB, 'raw')

    def test_image_to_volume_without_the_cache(self):
        meta = self._image()
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.copy_image_to_volume(self.ctxt, vol, self.images,
                                         meta['id'])
        path, fmt = self.path(vol)
        base.read_pattern(path, 0x7e, 0, 8 * MiB, fmt)
        self.assertEqual(GiB, self.driver.engine.qemu.virtual_size(path,
                                                                   fmt))

    # -- snapshots -----------------------------------------------------------

    def _snapshot_chain(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snaps = []
        for byte, offset in STEPS[:3]:
            base.write_pattern(self.path(vol)[0], byte, offset, CHUNK)
            snaps.append(self.snapshot(vol))
        byte, offset = STEPS[3]
        base.write_pattern(self.path(vol)[0], byte, offset, CHUNK)
        return vol, snaps

    def _check_snapshot(self, snap, index):
        """Snapshot ``index`` sees steps 0..index and nothing later."""
        layer = self.driver.engine.snapshot(snap.id)
        lvm_base.read_patterns(layer.path, [
            (byte if i <= index else 0, offset, CHUNK)
            for i, (byte, offset) in enumerate(STEPS)], layer.fmt)

    # A Latin square of the 6 orders: each snapshot is deleted first,
    # second and last once (so each merge case, oldest, middle and newest
    # layer, with and without neighbours, runs), at half the VM time.
    @ddt.data((0, 1, 2), (1, 2, 0), (2, 0, 1))
    def test_snapshots_deleted_in_any_position(self, order):
        vol, snaps = self._snapshot_chain()
        alive = set(range(3))
        for index in order:
            self.driver.delete_snapshot(snaps[index])
            alive.discard(index)
            lvm_base.read_patterns(self.path(vol)[0], [
                (byte, offset, CHUNK) for byte, offset in STEPS])
            for other in alive:
                self._check_snapshot(snaps[other], other)
        # Only the volume's own LV is left.
        names = [n for n in lvm_base.lvs(self.vg)]
        self.assertEqual(['volume-%s' % vol.id], names)

    def test_volume_from_snapshot_and_clone(self):
        vol, snaps = self._snapshot_chain()
        for mode in ('copy', 'overlay'):
            self.driver = self.make_driver(volume_clone_mode=mode)
            from_snap = self.volume()
            self.driver.create_volume_from_snapshot(from_snap, snaps[1])
            clone = self.volume()
            self.driver.create_cloned_volume(clone, vol)
            lvm_base.read_patterns(self.path(from_snap)[0], [
                (byte if i <= 1 else 0, offset, CHUNK)
                for i, (byte, offset) in enumerate(STEPS)])
            lvm_base.read_patterns(self.path(clone)[0], [
                (byte, offset, CHUNK) for byte, offset in STEPS])
            # Independent: writing the clone leaves the source alone.
            base.write_pattern(self.path(clone)[0], 0x99, 0, CHUNK)
            base.read_pattern(self.path(vol)[0], STEPS[0][0], 0, CHUNK)

    def test_extend(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        base.write_pattern(self.path(vol)[0], 0x33, 0, CHUNK)
        self.snapshot(vol)
        self.driver.extend_volume(vol, 2)
        path, fmt = self.path(vol)
        self.assertEqual(2 * GiB,
                         self.driver.engine.qemu.virtual_size(path, fmt))
        self.assertGreaterEqual(
            self.driver.engine.volumes.size('volume-%s' % vol.id),
            self.driver.engine.qemu.measure(2 * GiB, 'qcow2'))
        base.write_pattern(path, 0x44, 2 * GiB - CHUNK, CHUNK)
        base.read_pattern(path, 0x44, 2 * GiB - CHUNK, CHUNK)
        base.read_pattern(path, 0x33, 0, CHUNK)

    def test_revert_to_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        base.write_pattern(self.path(vol)[0], 0x55, 0, CHUNK)
        snap = self.snapshot(vol)
        base.write_pattern(self.path(vol)[0], 0x66, 0, CHUNK)
        base.write_pattern(self.path(vol)[0], 0x66, 4 * MiB, CHUNK)
        self.driver.revert_to_snapshot(self.ctxt, vol, snap)
        path = self.path(vol)[0]
        base.read_pattern(path, 0x55, 0, CHUNK)
        base.read_pattern(path, 0x00, 4 * MiB, CHUNK)
        self.driver.delete_snapshot(snap)
        base.read_pattern(self.path(vol)[0], 0x55, 0, CHUNK)

    def test_upload_flattens_the_chain(self):
        meta = self._image()
        vol = self.volume()
        self.driver.clone_image(self.ctxt, vol, None, meta, self.images)
        base.write_pattern(self.path(vol)[0], 0x21, 16 * MiB, CHUNK)
        image_id = lvm_base.uuidutils.generate_uuid()
        self.driver.copy_volume_to_image(
            self.ctxt, vol, self.images,
            {'id': image_id, 'disk_format': 'qcow2',
             'container_format': 'bare'})
        uploaded = os.path.join(self.tmp, image_id)
        info = json.loads(lvm_base.run('qemu-img', 'info', '-f', 'qcow2',
                                       '--output=json', uploaded))
        self.assertNotIn('backing-filename', info)
        lvm_base.read_patterns(uploaded, [(0x7e, 0, 8 * MiB),
                                          (0x21, 16 * MiB, CHUNK)])

    # -- volume_clear --------------------------------------------------------

    def _delete_and_recreate(self, volume_clear):
        """Write, delete, re-create over the same extents: the new LV."""
        store = self.make_driver(volume_clear=volume_clear,
                                 volume_clear_size=0).engine.volumes
        name = naming.layer(naming.VOLUME, lvm_base.uuidutils.generate_uuid(),
                            naming.RAW)
        store.allocate(name, 16 * MiB)
        base.write_pattern(store.path(name), 0x5a, 0, 16 * MiB, 'raw')

        def extents():
            return lvm_base.run('lvs', '--noheadings', '-o', 'seg_pe_ranges',
                                '%s/%s' % (self.vg, name)).strip()
        before = extents()
        store.delete(name)
        store.allocate(name, 16 * MiB)
        self.assertEqual(before, extents())
        return store, name

    def test_volume_clear_zeroes_the_freed_extents(self):
        # lvcreate zeroes the first 4 KiB itself: look past them.
        # Without clearing, the next LV on those extents reads the old
        # data: the check can see leftovers.
        store, name = self._delete_and_recreate('none')
        base.read_pattern(store.path(name), 0x5a, MiB, 15 * MiB, 'raw')
        store.delete(name)
        store, name = self._delete_and_recreate('zero')
        base.read_pattern(store.path(name), 0x00, MiB, 15 * MiB, 'raw')
        store.delete(name)

    # -- state of the SAN ----------------------------------------------------

    def test_stats(self):
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])
        self.assertEqual('iSCSI', stats['storage_protocol'])
        vg_bytes = int(lvm_base.run('vgs', '--noheadings', '--units', 'b',
                                    '--nosuffix', '-o', 'vg_size',
                                    self.vg).strip())
        self.assertAlmostEqual(vg_bytes / GiB, stats['total_capacity_gb'],
                               delta=0.02)
        vol = self.volume(size=2)
        self.driver.create_volume(vol)
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual(2, stats['provisioned_capacity_gb'])
        self.assertTrue(stats['thick_provisioning_support'])

    def test_wrong_volume_group(self):
        e = self.assertRaises(exception.StorageUnavailable,
                              self.make_driver,
                              volume_group='no-such-vg')
        self.assertIn('volume group no-such-vg not found on the SAN LUN',
                      e.msg)

    def test_image_base_path_refused(self):
        e = self.assertRaises(exception.StorageUnavailable,
                              self.make_driver, image_base_path='/var/tmp')
        self.assertIn('image_base_path must be empty', e.msg)

    def test_attach_detach_and_a_dropped_session(self):
        import os_brick
        brick_privileged.default.set_client_mode(False)
        os_brick.setup(cfg.CONF)
        meta = self._image()
        vol = self.volume()
        self.driver.clone_image(self.ctxt, vol, None, meta, self.images)
        base.write_pattern(self.path(vol)[0], 0x3c, 32 * MiB, CHUNK)
        info = self.driver.initialize_connection(vol, {'initiator': 'x'})
        self.assertEqual('lvmsan', info['driver_volume_type'])
        data = info['data']
        self.assertEqual('qcow2', data['format'])
        self.assertEqual(self.path(vol)[0], data['device_path'])
        self.assertEqual(['base-%s-g1' % meta['id']],
                         [b['name'] for b in data['backing']])
        self.assertEqual(os.environ['AUXO_ISCSI_IQN'],
                         data['lun']['target_iqn'])

        # The session drops: every LV goes inactive first, as on a host
        # that loses its path.
        lvm_base.run('vgchange', '-a', 'n', self.vg)
        lvm_base.run('iscsiadm', '-m', 'node', '--logoutall=all')
        self.assertEqual([], lvm_base.sessions())
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertIn('no iSCSI session to %s' % os.environ['AUXO_ISCSI_IQN'],
                      stats['backend_state_reason'])
        e = self.assertRaises(exception.StorageUnavailable,
                              self.driver.check_for_setup_error)
        self.assertIn('no iSCSI session', e.msg)

        # A consumer attach: os-brick logs in, only this volume's LVs are
        # activated, the base read-only.
        connector = self.driver.lv_connector()
        device = connector.connect_volume(data)
        self.assertEqual(1, len(lvm_base.sessions()))
        self.assertEqual(data['device_path'], device['path'])
        self.assertEqual('qcow2', device['format'])
        attrs = lvm_base.lvs(self.vg)
        top = lvm_store.lv_name(data['layer'])
        bottom = data['backing'][0]['name']
        self.assertEqual('a', attrs[top][4])
        self.assertEqual('a', attrs[bottom][4])
        base_dm = os.path.basename(os.path.realpath(
            data['backing'][0]['device_path']))
        with open('/sys/block/%s/ro' % base_dm) as f:
            self.assertEqual('1', f.read().strip())
        base.read_pattern(device['path'], 0x7e, 0, 8 * MiB)
        base.read_pattern(device['path'], 0x3c, 32 * MiB, CHUNK)
        base.write_pattern(device['path'], 0x3d, 40 * MiB, CHUNK)
        self.assertTrue(connector.check_valid_device(device['path']))

        connector.disconnect_volume(data, device)
        attrs = lvm_base.lvs(self.vg)
        self.assertEqual('-', attrs[top][4])
        self.assertEqual('-', attrs[bottom][4])
        # The LUN session stays for the other volumes.
        self.assertEqual(1, len(lvm_base.sessions()))

        # The storage node is whole again.
        self.driver.check_for_setup_error()
        self.assertEqual('up', self.driver.get_volume_stats(
            refresh=True)['backend_state'])
        base.read_pattern(self.path(vol)[0], 0x3d, 40 * MiB, CHUNK)
        subprocess.run(['udevadm', 'settle'], check=False)
