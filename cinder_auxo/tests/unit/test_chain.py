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

"""Chain engine error paths, with qemu-img recorded rather than run."""

import contextlib
import os
import struct

import fixtures

from cinder_auxo.engine import chain
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo.stores import files
from cinder_auxo.tests.unit import base

V1 = '11111111-1111-4111-8111-111111111111'
S1 = '22222222-2222-4222-8222-222222222222'
V2 = '33333333-3333-4333-8333-333333333333'
S2 = '44444444-4444-4444-8444-444444444444'


def write_qcow2_header(path, backing=None, size=1 << 30):
    name = os.fsencode(backing) if backing else b''
    head = struct.pack('>4sIQIIQ', b'QFI\xfb', 3, 512 if name else 0,
                       len(name), 16, size)
    with open(path, 'wb') as f:
        f.write(head.ljust(512, b'\0') + name)


class ChainEngineTestCase(base.TestCase):

    def setUp(self):
        super(ChainEngineTestCase, self).setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.store = files.FileStore('s', self.dir)
        self.cache = files.FileStore('s', os.path.join(self.dir, '_base'),
                                     create=True)
        self.cache.check()
        self.engine = chain.ChainEngine(
            self.store, self.cache, qemu.QemuImg(self.execute),
            lambda name: contextlib.nullcontext(), max_depth=4)
        self.execute.on(('qemu-img', 'info'),
                        ('{"virtual-size": 1073741824}', ''))

    def layer(self, name, backing=None):
        """A layer as the engine publishes it: the index knows it."""
        path = self.store.path(name)
        write_qcow2_header(path, backing and self.store.path(backing))
        if backing:
            self.store.add_child(backing, name)
        return path

    def test_failed_overlay_restores_the_volume(self):
        self.layer('volume-' + V1)
        self.execute.on(('qemu-img', 'create'), base.process_error('nope'))
        self.assertRaises(exception.QemuImgError,
                          self.engine.create_snapshot, V1, S1)
        self.assertEqual(['_base', 'volume-' + V1], self.store.list())

    def test_delete_volume_refuses_when_layers_depend_on_it(self):
        self.layer('volume-' + V1)
        self.layer('volume-' + V2, backing='volume-' + V1)
        err = self.assertRaises(exception.LayerBusy,
                                self.engine.delete_volume, V1)
        self.assertIn('volume-' + V2, str(err))
        self.assertIn('volume-' + V1, self.store.list())

    def test_unreadable_layer_blocks_a_delete_rather_than_guessing(self):
        self.layer('volume-' + V1)
        self.store.add_child('volume-' + V1, 'volume-' + V2)
        os.mkdir(self.store.path('volume-' + V2))   # EISDIR on open
        self.assertRaises(exception.LayerBusy, self.engine.delete_volume,
                          V1)
        self.assertIn('volume-' + V1, self.store.list())

    def test_broken_or_hostile_layers_block_no_one(self):
        self.layer('volume-' + V1)
        with open(self.store.path('volume-' + V2), 'wb') as f:
            f.write(b'QFI')     # truncated header
        write_qcow2_header(self.store.path('snapshot-' + S1), '/etc/shadow')
        self.engine.delete_volume(V1)
        self.assertNotIn('volume-' + V1, self.store.list())
        # ... and they can be deleted themselves.
        self.engine.delete_volume(V2)
        self.assertNotIn('volume-' + V2, self.store.list())

    def test_shared_snapshot_layer_is_retired_not_merged(self):
        self.layer('snapshot-' + S1)
        self.layer('volume-' + V1, backing='snapshot-' + S1)
        self.layer('volume-' + V2, backing='snapshot-' + S1)
        self.execute.on(('qemu-img', 'rebase'))
        self.engine.delete_snapshot(S1)
        anon = self.store.path('layer-' + S1)
        self.assertTrue(os.path.exists(anon))
        rebases = [c for c in self.execute.calls if c[1] == 'rebase']
        self.assertEqual(2, len(rebases))
        for call in rebases:
            self.assertIn('-u', call)
            self.assertEqual(anon, call[call.index('-b') + 1])
        self.assertNotIn('commit', self.execute.commands())

    def test_missing_layers_are_no_errors_on_delete(self):
        self.engine.delete_volume(V1)
        self.engine.delete_snapshot(S1)
        self.assertEqual([], self.execute.calls)

    def test_backing_outside_the_stores_is_refused(self):
        path = self.store.path('volume-' + V1)
        write_qcow2_header(path, '/etc/shadow')
        self.assertRaises(exception.UnsafeBackingFile, self.engine.active, V1)

    def test_backing_that_is_not_a_layer_name_is_refused(self):
        path = self.store.path('volume-' + V1)
        write_qcow2_header(path, os.path.join(self.dir, 'cinder.conf'))
        self.assertRaises(exception.UnsafeBackingFile, self.engine.active, V1)

    def test_symlink_out_of_the_store_is_refused(self):
        os.symlink('/etc/hostname', self.store.path('snapshot-' + S1))
        self.layer('volume-' + V1, backing='snapshot-' + S1)
        self.assertRaises(exception.UnsafeBackingFile, self.engine.active, V1)

    def test_loops_are_refused(self):
        self.layer('snapshot-' + S1, backing='volume-' + V1)
        self.layer('volume-' + V1, backing='snapshot-' + S1)
        self.assertRaises(exception.UnsafeBackingFile, self.engine.active, V1)

    def test_depth_limit_applies_to_new_layers(self):
        self.layer('snapshot-' + S2)
        self.layer('snapshot-' + S1, backing='snapshot-' + S2)
        self.layer('layer-' + V2, backing='snapshot-' + S1)
        self.layer('volume-' + V1, backing='layer-' + V2)
        self.assertRaises(exception.ChainTooDeep, self.engine.create_snapshot,
                          V1, '55555555-5555-4555-8555-555555555555')
        self.assertEqual([], self.execute.commands())

    def test_raw_layers_are_never_parsed_as_qcow2(self):
        # A guest wrote a qcow2 header naming a host file into its raw disk.
        write_qcow2_header(self.store.path('volume-%s.raw' % V1),
                           '/etc/shadow')
        path, fmt = self.engine.active(V1)
        self.assertEqual(naming.RAW, fmt)
        self.assertEqual([], self.engine.children(
            chain.Layer(self.store, 'volume-%s.raw' % V1)))
