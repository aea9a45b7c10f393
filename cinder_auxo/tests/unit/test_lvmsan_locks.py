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
"""LVMSANDriver's locks: every VG metadata write under the VG's lock.

The engine runs over the driver's real LVMStore and brick LVM; only the
commands are answered, by a small model of one volume group. The locks
are the driver's own coordination locks, recorded.
"""

import json
from unittest import mock

from cinder import coordination

from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.unit import base
from cinder_auxo.tests.unit import test_lvm_store
from cinder_auxo.tests.unit import test_lvmsan_driver

VG = test_lvmsan_driver.VG
VOL = test_lvmsan_driver.VOL
SNAP = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a'
GiB = 2 ** 30
METADATA = 'auxo-lvmsan-%s-vg-metadata' % VG
CHAIN = 'auxo-lvmsan-%s-chain' % VG


def _mib(size):
    return int(size.rstrip('m')) * 2 ** 20


class FakeVG(object):
    """The LVs of one group, as the LVM tools change and report them."""

    def __init__(self):
        self.lvs = {}
        self.tags = {}

    def __call__(self, argv):
        tool = argv[0]
        if tool == 'lvcreate':      # lvcreate -n LV VG -L SIZE
            self.lvs[argv[argv.index('-n') + 1]] = _mib(
                argv[argv.index('-L') + 1])
        elif tool == 'lvremove':    # lvremove ... VG/LV
            del self.lvs[argv[-1].split('/', 1)[1]]
            self.tags.pop(argv[-1].split('/', 1)[1], None)
        elif tool == 'lvrename':    # lvrename VG OLD NEW
            self.lvs[argv[3]] = self.lvs.pop(argv[2])
            self.tags[argv[3]] = self.tags.pop(argv[2], set())
        elif tool == 'lvchange' and lvm_store.is_metadata_write(argv):
            # lvchange (--addtag|--deltag TAG)... VG/LV
            tags = self.tags.setdefault(argv[-1].split('/', 1)[1], set())
            for option, tag in zip(argv[1:-1:2], argv[2:-1:2]):
                (tags.add if option == '--addtag' else tags.discard)(tag)
        elif tool == 'lvextend':    # lvextend -L SIZE VG/LV
            self.lvs[argv[-1].split('/', 1)[1]] = _mib(argv[2])
        elif tool == 'lvs' and '--reportformat' in argv:
            return json.dumps({'report': [{'lv': [
                {'lv_name': n, 'lv_size': str(size),
                 'lv_tags': ','.join(sorted(self.tags.get(n, ())))}
                for n, size in self.lvs.items()]}]}), ''
        elif tool == 'lvs':         # brick: "vg lv size" of VG or VG/LV
            target = argv[-1]
            names = ([target.split('/', 1)[1]] if '/' in target
                     else list(self.lvs))
            return ''.join('  %s %s %.2f\n' % (VG, n, self.lvs[n] / GiB)
                           for n in names if n in self.lvs), ''
        elif tool == 'lvdisplay':
            return '  -wi-a-----', ''
        return '', ''


def fake_qemu_img(argv):
    if argv[1] == 'measure':
        size = int(argv[argv.index('--size') + 1])
        return '{"fully-allocated": %d}' % (size + 2 ** 20), ''
    if argv[1] == 'info':
        return '{"virtual-size": %d}' % GiB, ''
    return '', ''


class VGMetadataLockTestCase(test_lvmsan_driver.DriverTestBase):

    def setUp(self):
        super(VGMetadataLockTestCase, self).setUp()
        self.locks = base.RecordingLocks()
        self.vg = FakeVG()
        self.execute = test_lvm_store.LVMExecutor(self.locks)
        self.execute.on_tool('lvm', ('  LVM version:     2.03.16(2)\n', ''))
        self.execute.on_tool(
            'vgs', test_lvm_store.LVMStoreTestCase._vgs)
        for tool in ('lvs', 'lvcreate', 'lvremove', 'lvrename', 'lvextend',
                     'lvdisplay', 'lvchange', 'vgchange'):
            self.execute.on_tool(tool, self.vg)
        self.execute.on_tool('qemu-img', fake_qemu_img)
        mock.patch('cinder.brick.local_dev.lvm.putils.execute',
                   self.execute).start()
        coord = mock.patch.object(coordination, 'COORDINATOR',
                                  autospec=True).start()
        coord.get_lock.side_effect = self.locks.get
        # The model keeps no qcow2 headers: no layer has a backing file.
        mock.patch('cinder_auxo.engine.qemu.read_backing_file',
                   autospec=True, return_value=None).start()
        mock.patch('cinder_auxo.engine.qemu.read_header',
                   autospec=True, return_value=(None, GiB)).start()
        mock.patch('cinder.volume.volume_utils.clear_volume',
                   autospec=True).start()
        self.drv = self.driver()

    def writes(self):
        return [(argv, held) for argv, held in self.execute.held_at
                if lvm_store.is_metadata_write(argv)]

    def test_work_layer_outside_the_chain_lock_holds_the_vg_lock(self):
        # A download's or a copy's work layer is made without the chain
        # lock: its lvcreate is still serialised with every other write.
        engine = self.drv.engine
        engine.new_work_layer(engine.volumes, 'qcow2', GiB)
        self.assertEqual([(['lvcreate', '-n'], (METADATA,))],
                         [(argv[:2], held) for argv, held in self.writes()])

    def test_every_write_of_a_volume_life_holds_the_vg_lock(self):
        engine = self.drv.engine
        engine.create_volume(VOL, GiB, 'qcow2')
        engine.extend(VOL, 2 * GiB)
        engine.create_snapshot(VOL, SNAP)
        engine.delete_snapshot(SNAP)
        self.drv.image_cache.delete_volume(VOL)
        self.assertEqual({}, self.vg.lvs)
        writes = self.writes()
        self.assertEqual(lvm_store.METADATA_TOOLS,
                         set(argv[0] for argv, _held in writes))
        for argv, held in writes:
            # Chain rewrites hold the chain lock, then the VG's.
            self.assertEqual((CHAIN, METADATA), held, argv)

    def test_the_vg_lock_is_innermost(self):
        engine = self.drv.engine
        engine.create_volume(VOL, GiB, 'qcow2')
        engine.new_work_layer(engine.volumes, 'qcow2', GiB)
        self.drv.image_cache.delete_volume(VOL)
        taken_under = [held for name, held in self.locks.taken
                       if name == METADATA]
        self.assertTrue(taken_under)
        for held in taken_under:
            self.assertLessEqual(set(held), {CHAIN})
        # Nothing is ever taken while the VG's lock is held.
        for name, held in self.locks.taken:
            self.assertNotIn(METADATA, held, name)
