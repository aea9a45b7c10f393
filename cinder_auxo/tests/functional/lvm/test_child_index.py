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

"""The child index on LVM: tags on the parent's LV (storage VM).

What the tags say is read back with plain ``lvs``, as another host on the
group would read them; every check compares the index with a full scan of
the layers' headers.
"""

import collections
import os
from unittest import mock

from oslo_utils import uuidutils

from cinder_auxo.engine import qemu
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_child_index
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
TAG = 'auxo.child:'


class LVChildIndexTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        super(LVChildIndexTestCase, self).setUp()
        self.images = test_local_driver.FileImageService(self.tmp)
        self.meta = self.images.add(
            self.image_file([(0x5a, 0, 4 * MiB)], size=64 * MiB))
        self.base_lv = 'base-%s-g1' % self.meta['id']

    def from_image(self):
        vol = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, vol, None, self.meta, self.images))
        return vol

    def tags(self):
        """{LV name: set of child layer names} from the VG metadata."""
        out = lvm_base.run('lvs', '--noheadings', '--separator', '|', '-o',
                           'lv_name,lv_tags', self.vg)
        found = {}
        for line in out.splitlines():
            name, _sep, tags = line.strip().partition('|')
            kids = set(t[len(TAG):] for t in tags.split(',')
                       if t.startswith(TAG))
            if kids:
                found[name] = kids
        return found

    def assertExact(self, engine=None):
        engine = engine or self.driver.engine
        self.assertEqual({}, base.index_gaps(engine))
        self.assertEqual({}, test_child_index.index_stale(engine))

    def test_every_topology_change_keeps_the_tags_exact(self):
        v1, v2 = self.from_image(), self.from_image()
        self.assertEqual({self.base_lv: {'volume-' + v1.id,
                                         'volume-' + v2.id}}, self.tags())
        snap = self.snapshot(v1)
        # v1's top moved onto the frozen layer, which took its place.
        self.assertEqual({self.base_lv: {'snapshot-' + snap.id,
                                         'volume-' + v2.id},
                          '_snapshot-' + snap.id: {'volume-' + v1.id}},
                         self.tags())
        self.assertExact()
        clone = self.volume()
        self.driver = self.make_driver(volume_clone_mode='overlay')
        self.driver.create_volume_from_snapshot(clone, snap)
        self.assertExact()
        # Two layers stand on it: the snapshot's layer is retired.
        self.driver.delete_snapshot(snap)
        self.assertExact()
        self.driver.delete_volume(v1)
        self.assertExact()
        # The retired layer goes with the last layer on it.
        self.driver.delete_volume(clone)
        self.assertExact()
        self.assertEqual({self.base_lv: {'volume-' + v2.id}}, self.tags())
        base.read_pattern(self.path(v2)[0], 0x5a, 0, 4 * MiB)
        self.driver.delete_volume(v2)
        self.assertEqual({}, self.tags())

    def test_startup_repairs_lost_and_stale_tags(self):
        v1, v2 = self.from_image(), self.from_image()
        ghost = 'volume-' + uuidutils.generate_uuid()
        # An entry lost (a tag removed by hand) and one no header backs.
        lvm_base.run('lvchange', '--deltag', TAG + 'volume-' + v1.id,
                     '--addtag', TAG + ghost,
                     '%s/%s' % (self.vg, self.base_lv))
        engine = self.driver.engine
        base_layer = next(layer for layer in engine.index.scan()
                          if layer.name == self.base_lv)
        # The ghost is not believed; the lost entry is not seen yet.
        self.assertEqual(['volume-' + v2.id],
                         [kid.name for kid in engine.children(base_layer)])
        # Another driver on the group (as far as the index goes, another
        # host: nothing is shared but the VG metadata), started anew.
        restarted = self.make_driver()
        self.assertExact(restarted.engine)
        self.assertEqual({self.base_lv: {'volume-' + v1.id,
                                         'volume-' + v2.id}}, self.tags())
        # And the restarted driver keeps the base while both stand on it.
        restarted.delete_volume(v1)
        self.assertIn(self.base_lv, lvm_base.lvs(self.vg))
        base.read_pattern(self.path(v2)[0], 0x5a, 0, 4 * MiB)

    def _costs(self, reads=None):
        """(LVM commands, header reads) of one of each operation now.

        ``reads``, a dict, gets the paths each operation read.
        """
        counts = collections.Counter()
        read = []
        store = self.driver.engine.volumes
        real_execute, real_read = store._execute, qemu.read_header

        def execute(*cmd, **kwargs):
            if any(c in lvm_store.LVM_TOOLS for c in cmd[:4]):
                counts['lvm'] += 1
            return real_execute(*cmd, **kwargs)

        def read_header(path, *args, **kwargs):
            counts['headers'] += 1
            read.append(path)
            return real_read(path, *args, **kwargs)

        costs = []

        def measure(operation, *args):
            counts.clear()
            del read[:]
            result = operation(*args)
            costs.append((operation.__name__, counts['lvm'],
                          counts['headers']))
            if reads is not None:
                reads[operation.__name__] = [os.path.basename(p)
                                             for p in read]
            return result

        vol = self.volume()
        with mock.patch.object(store, '_execute', execute), \
                mock.patch.object(qemu, 'read_header', read_header):
            measure(self.driver.clone_image, self.ctxt, vol, None,
                    self.meta, self.images)
            snap = measure(self.snapshot, vol)
            measure(self.driver.delete_snapshot, snap)
            measure(self.driver.delete_volume, vol)
        return costs

    def test_operations_cost_the_same_at_any_number_of_lvs(self):
        self.from_image()
        few_reads, many_reads = {}, {}
        few = self._costs(few_reads)
        for _i in range(4):
            self.from_image()
        self.assertEqual(few, self._costs(many_reads),
                         'headers read: %s, then %s' % (few_reads,
                                                        many_reads))

    def _start_up_lvm_commands(self):
        """LVM commands of the start-up repair (``engine.cleanup``) now."""
        store = self.driver.engine.volumes
        real_execute = store._execute
        commands = []

        def execute(*cmd, **kwargs):
            if any(c in lvm_store.LVM_TOOLS for c in cmd[:4]):
                commands.append(cmd)
            return real_execute(*cmd, **kwargs)

        with mock.patch.object(store, '_execute', execute):
            self.assertEqual([], self.driver.engine.cleanup())
        return len(commands)

    def test_start_up_asks_lvm_the_same_at_any_number_of_lvs(self):
        # Each lvs reads the whole group's metadata: asking it about each
        # layer made a start-up at N layers cost N such reads, times the
        # repair's steps.
        self.from_image()
        few = self._start_up_lvm_commands()
        for _i in range(4):
            self.from_image()
        self.assertEqual(few, self._start_up_lvm_commands())
