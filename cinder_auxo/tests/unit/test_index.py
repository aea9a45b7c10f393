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

"""Child index, provisioned sizes and blank overlays, on hand-made headers.

qemu-img is recorded rather than run.
"""

import contextlib
import os
from unittest import mock

import fixtures

from cinder_auxo.engine import chain
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.stores import files
from cinder_auxo.tests.unit import base
from cinder_auxo.tests.unit import test_chain

V1 = test_chain.V1
V2 = test_chain.V2
S1 = test_chain.S1
IMAGE = '55555555-5555-4555-8555-555555555555'
GiB = 1 << 30


class _EngineTestCase(base.TestCase):
    """An engine over a file store and its cache, with one base."""

    def setUp(self):
        super(_EngineTestCase, self).setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.store = files.FileStore('s', self.dir)
        self.cache = files.FileStore('s', os.path.join(self.dir, '_base'),
                                     create=True)
        self.cache.check()
        self.engine = chain.ChainEngine(
            self.store, self.cache, qemu.QemuImg(self.execute),
            lambda name: contextlib.nullcontext())
        self.base = chain.Layer(self.cache, naming.base(IMAGE, 1))
        test_chain.write_qcow2_header(self.base.path)

    def _reads(self, operation):
        real = qemu.read_header
        with mock.patch.object(qemu, 'read_header', autospec=True,
                               side_effect=real) as reads:
            operation()
        return reads.call_count


class IndexTestCase(_EngineTestCase):

    def test_entry_comes_before_the_name_and_goes_after(self):
        seen = []
        rename = self.store.rename

        def spy(old, new):
            seen.append(set(self.cache.child_names(self.base.name)))
            rename(old, new)
        work = chain.Layer(self.store, naming.temp(V2, '.qcow2'))
        test_chain.write_qcow2_header(work.path, self.base.path)
        with mock.patch.object(self.store, 'rename', autospec=True,
                               side_effect=spy):
            self.engine.rename_layer(work, naming.layer(naming.VOLUME, V1))
        self.assertEqual([{'volume-' + V1}], seen)
        self.assertEqual(['volume-' + V1],
                         self.cache.child_names(self.base.name))

    def test_children_read_only_the_recorded_headers(self):
        for i in range(30):
            name = naming.layer(naming.VOLUME, '%08d-1111-4111-8111-'
                                               '111111111111' % i)
            test_chain.write_qcow2_header(self.store.path(name))
        top = chain.Layer(self.store, 'volume-' + V1)
        test_chain.write_qcow2_header(top.path, self.base.path)
        self.cache.add_child(self.base.name, top.name)
        self.assertEqual(1, self._reads(
            lambda: self.assertEqual([top],
                                     self.engine.children(self.base))))
        self.assertEqual(0, self._reads(
            lambda: self.assertEqual([], self.engine.children(top))))

    def test_removed_layer_takes_its_entries_along(self):
        top = chain.Layer(self.store, 'volume-' + V1)
        test_chain.write_qcow2_header(top.path, self.base.path)
        self.cache.add_child(self.base.name, top.name)
        self.store.add_child(top.name, 'volume-' + V2)   # stale
        self.engine.delete_volume(V1)
        self.assertEqual({}, self.store.index())
        # (The base's last entry took its directory along.)
        self.assertEqual({}, self.cache.index())

    def test_check_adds_what_is_missing_and_drops_what_is_stale(self):
        top = chain.Layer(self.store, 'volume-' + V1)
        test_chain.write_qcow2_header(top.path, self.base.path)
        self.cache.add_child(self.base.name, 'snapshot-' + S1)
        self.assertEqual((1, 1), self.engine.index.check())
        self.assertEqual({self.base.name: {top.name}}, self.cache.index())
        self.assertEqual((0, 0), self.engine.index.check())

    def _children_of_a_renamed_snapshot(self):
        # A retire killed between renaming the shared snapshot to its
        # anonymous layer and re-pointing the children: their headers
        # still name the snapshot, which does not exist any more.
        snap = chain.Layer(self.store, 'snapshot-' + S1)
        for vid in (V1, V2):
            test_chain.write_qcow2_header(
                os.path.join(self.dir, 'volume-' + vid), snap.path)
        return snap

    def test_check_records_nothing_on_an_lv_renamed_away(self):
        # On LVM the entries are tags of the LV; there is no LV to tag.
        self._children_of_a_renamed_snapshot()
        self.store.index_on_layer = True
        with mock.patch.object(self.store, 'add_children', autospec=True,
                               side_effect=AssertionError('no LV to tag')):
            self.assertEqual((0, 0), self.engine.index.check())

    def test_check_keeps_entries_of_a_file_renamed_away(self):
        # On a file store the entries stay under the name: they must be
        # there should the layer come back to it (a merge put back).
        snap = self._children_of_a_renamed_snapshot()
        self.assertEqual((2, 0), self.engine.index.check())
        self.assertEqual(['volume-' + V1, 'volume-' + V2],
                         sorted(self.store.child_names(snap.name)))

    def test_garbage_in_the_index_directory_is_ignored(self):
        os.makedirs(os.path.join(self.cache.directory, naming.INDEX_DIR,
                                 'not-a-layer'))
        self.assertEqual({}, self.cache.index())
        self.assertEqual((0, 0), self.engine.index.check())


class SizesTestCase(_EngineTestCase):

    def _volume(self, ident, size=GiB):
        path = self.store.path(naming.layer(naming.VOLUME, ident))
        test_chain.write_qcow2_header(path, size=size)
        return path

    def test_headers_are_read_once_per_file(self):
        self._volume(V1)
        self._volume(V2, 2 * GiB)
        self.assertEqual(2, self._reads(
            lambda: self.assertEqual(3 * GiB,
                                     self.engine.provisioned_bytes())))
        self.assertEqual(0, self._reads(self.engine.provisioned_bytes))
        # A new file renamed over the old one (a new inode).
        new = self._volume(S1, 4 * GiB)
        os.rename(new, self.store.path('volume-' + V1))
        self.assertEqual(6 * GiB, self.engine.provisioned_bytes())

    def test_what_the_engine_removes_or_publishes_is_read_again(self):
        self._volume(V1)
        self.engine.provisioned_bytes()
        self.engine.delete_volume(V1)
        # (A file system may give the next file the freed inode.)
        work = chain.Layer(self.store, naming.temp(V2, '.qcow2'))
        test_chain.write_qcow2_header(work.path, size=4 * GiB)
        self.engine.rename_layer(work, 'volume-' + V1)
        self.assertEqual(4 * GiB, self.engine.provisioned_bytes())

    def test_extend_rereads_the_header(self):
        path = self._volume(V1)
        self.engine.provisioned_bytes()
        self.execute.on(('qemu-img', 'resize'), ('', ''))
        self.engine.extend(V1, 2 * GiB)
        test_chain.write_qcow2_header(path, size=2 * GiB)  # what resize did
        self.assertEqual(2 * GiB, self.engine.provisioned_bytes())

    def test_an_unchanged_old_directory_is_not_listed_again(self):
        self._volume(V1)
        old = os.stat(self.dir).st_mtime_ns - 10 ** 9
        os.utime(self.dir, ns=(old, old))
        self.engine.provisioned_bytes()
        with mock.patch.object(self.store, 'entries',
                               autospec=True) as entries:
            self.assertEqual(GiB, self.engine.provisioned_bytes())
        entries.assert_not_called()

    def test_the_engines_own_changes_need_no_listing(self):
        self.execute.on(('qemu-img', 'create'))
        self._volume(V1)
        old = os.stat(self.dir).st_mtime_ns - 10 ** 9
        os.utime(self.dir, ns=(old, old))
        self.engine.provisioned_bytes()
        self.engine.create_volume(V2, 2 * GiB, naming.RAW)
        # (What qemu-img create, recorded here, would have done.)
        os.truncate(self.store.path(naming.layer(naming.VOLUME, V2,
                                                 naming.RAW)), 2 * GiB)
        with mock.patch.object(self.store, 'entries',
                               autospec=True) as entries:
            self.assertEqual(3 * GiB, self.engine.provisioned_bytes())
            self.engine.delete_volume(V1)
            self.assertEqual(2 * GiB, self.engine.provisioned_bytes())
        entries.assert_not_called()


class BlankOverlaysTestCase(_EngineTestCase):

    def test_qemu_img_runs_once_per_base_and_size(self):
        self.execute.on(('qemu-img', 'create'))
        for ident in (V1, V2):
            self.engine.create_overlay(ident, GiB, self.base)
        self.engine.create_overlay(S1.replace('2', '6'), 2 * GiB, self.base)
        self.assertEqual(['create', 'create'], self.execute.commands())
        self.assertEqual({'volume-' + V1, 'volume-' + V2,
                          'volume-' + S1.replace('2', '6')},
                         set(self.cache.child_names(self.base.name)))

    def test_thick_stores_always_run_qemu_img(self):
        self.execute.on(('qemu-img', 'create'))
        with mock.patch.object(files.FileStore, 'thick', True):
            self.execute.on(('qemu-img', 'measure'),
                            ('{"fully-allocated": 1073741824}', ''))
            for ident in (V1, V2):
                self.engine.create_overlay(ident, GiB, self.base)
        self.assertEqual(2, self.execute.commands().count('create'))
