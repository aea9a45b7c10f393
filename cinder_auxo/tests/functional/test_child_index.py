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

"""The child index of the file store, on real files and real qemu-img.

Crash cases are in crash/ (the index must be whole at every kill); here:
several processes at once, an index lost or stale, and the cost of an
operation against the number of volumes on the storage.
"""

import json
import os
import shutil
import subprocess
import sys
from unittest import mock

from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.tests.functional import base

MiB = base.MiB
GiB = base.GiB


def new_id():
    return uuidutils.generate_uuid()


def index_stale(engine):
    """{parent: child names} the index holds and no header backs."""
    truth = {p.name: names for p, names in engine.index.scan().items()}
    stale = {}
    for store in engine.stores:
        for parent, names in store.index().items():
            extra = names - truth.get(parent, set())
            if extra:
                stale[parent] = extra
    return stale


class ChildIndexTestCase(base.FunctionalTestCase):

    def setUp(self):
        super(ChildIndexTestCase, self).setUp()
        base.disable_privsep()
        self.image = self.image_file([(0x5a, 0, 4 * MiB)])
        self.image_id = new_id()

    def _create(self, volume_id=None):
        volume_id = volume_id or new_id()
        self.cache.create_volume(
            self.image_id, {'id': self.image_id, 'disk_format': 'qcow2'},
            lambda dest: shutil.copyfile(self.image, dest), volume_id, GiB,
            naming.QCOW2)
        return volume_id

    def _base(self):
        return self.cache.latest(self.image_id)

    def test_processes_at_once_leave_the_index_exact(self):
        procs = [subprocess.Popen(
            [sys.executable, '-m', 'cinder_auxo.tests.functional.churn',
             self.mount, self.lock_path, self.image, self.image_id,
             str(seed), '30'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for seed in range(4)]
        left = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            self.assertEqual(0, proc.returncode, err[-2000:])
            left += json.loads(out)
        self.assertEqual({}, base.index_gaps(self.engine))
        self.assertEqual({}, index_stale(self.engine))
        for vid in left:
            self.engine.chain(self.engine.volume(vid))
            base.read_pattern(self.vpath(vid), 0x5a, 0, 4 * MiB)

    def test_startup_rebuilds_a_lost_index(self):
        vids = [self._create() for _i in range(3)]
        self.engine.create_snapshot(vids[0], new_id())
        shutil.rmtree(os.path.join(self.mount, naming.INDEX_DIR))
        shutil.rmtree(os.path.join(self.mount, '_base', naming.INDEX_DIR))
        self.assertEqual([], self.engine.children(self._base()))
        self.engine.cleanup()
        self.assertEqual({}, base.index_gaps(self.engine))
        self.assertEqual(3, len(self.engine.children(self._base())))
        self.assertEqual([], self.cache.evict(self.image_id))

    def test_stale_entries_are_not_children_and_go_at_startup(self):
        vid = self._create()
        top = self.engine.volume(vid)
        ghost = naming.layer(naming.VOLUME, new_id())
        self.cache.store.add_child(self._base().name, ghost)
        # A real layer recorded under the wrong parent.
        self.engine.volumes.add_child(top.name, top.name)
        self.assertEqual([top], self.engine.children(self._base()))
        self.assertEqual([], self.engine.children(top))
        self.engine.cleanup()
        self.assertEqual({}, index_stale(self.engine))
        self.engine.delete_volume(vid)
        self.assertEqual([self._base().name], self.cache.evict(
            self.image_id))

    def _header_reads(self, operation):
        real = qemu.read_header
        with mock.patch.object(qemu, 'read_header', autospec=True,
                               side_effect=real) as reads:
            operation()
        return reads.call_count

    def _costs(self):
        """Header reads of one of each operation on the storage now."""
        vid = self._create()
        sid = new_id()
        costs = [self._header_reads(lambda: self._create()),
                 self._header_reads(
                     lambda: self.engine.create_snapshot(vid, sid)),
                 self._header_reads(lambda: self.engine.delete_snapshot(sid)),
                 self._header_reads(lambda: self.cache.delete_volume(vid)),
                 self._header_reads(self.engine.provisioned_bytes)]
        return costs

    def test_operations_read_the_same_headers_at_any_size(self):
        small = self._costs()
        for _i in range(40):
            self._create()
        self.engine.provisioned_bytes()
        self.assertEqual(small, self._costs())
