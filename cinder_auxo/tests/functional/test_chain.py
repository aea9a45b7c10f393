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

"""Chain operations on real qemu-img and real files, checked by data.

Each layer gets its own pattern in its own MiB; after every operation the
volume (and every surviving snapshot) must read back exactly the bytes it
had, through qemu-io on the top layer.
"""

import itertools
import os
import subprocess

import ddt
import fixtures
from oslo_utils import uuidutils

from cinder_auxo.engine import chain
from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.tests.functional import base

MiB = base.MiB
GiB = base.GiB


def new_id():
    return uuidutils.generate_uuid()


@ddt.ddt
class ChainDataTestCase(base.FunctionalTestCase):

    def _volume_with_snapshots(self, count, fmt='qcow2'):
        """A volume whose MiB i was written with 0x10+i before snapshot i.

        Returns (volume_id, [snapshot ids]); after the last snapshot the
        top layer writes 0x99 at MiB ``count``.
        """
        vol = new_id()
        self.engine.create_volume(vol, GiB, fmt)
        snaps = []
        for i in range(count):
            path, layer_fmt = self.engine.active(vol)
            base.write_pattern(path, 0x10 + i, i * MiB, MiB, layer_fmt)
            snap = new_id()
            self.engine.create_snapshot(vol, snap)
            snaps.append(snap)
        base.write_pattern(self.vpath(vol), 0x99, count * MiB, MiB)
        return vol, snaps

    def _assert_volume(self, vol, count):
        path, fmt = self.engine.active(vol)
        for i in range(count):
            base.read_pattern(path, 0x10 + i, i * MiB, MiB, fmt)
        base.read_pattern(path, 0x99, count * MiB, MiB, fmt)
        base.read_pattern(path, 0, (count + 1) * MiB, MiB, fmt)

    def _assert_snapshot_content(self, snap, index, count):
        """Snapshot ``index`` holds patterns 0..index and zeros above."""
        layer = self.engine.snapshot(snap)
        for i in range(index + 1):
            base.read_pattern(layer.path, 0x10 + i, i * MiB, MiB, layer.fmt)
        base.read_pattern(layer.path, 0, (index + 1) * MiB, MiB, layer.fmt)

    @ddt.data(*itertools.permutations(range(3)))
    def test_delete_snapshots_in_every_order(self, order):
        vol, snaps = self._volume_with_snapshots(3)
        alive = set(range(3))
        for idx in order:
            self.engine.delete_snapshot(snaps[idx])
            alive.discard(idx)
            self._assert_volume(vol, 3)
            for other in alive:
                self._assert_snapshot_content(snaps[other], other, 3)
        # Only the volume remains, as a single layer.
        self.assertEqual(['_base', os.path.basename(self.vpath(vol))],
                         self.listing())
        self.assertEqual(1, len(self.engine.chain(self.engine.volume(vol))))

    @ddt.data('qcow2', 'raw')
    def test_snapshot_of_volume_format(self, fmt):
        vol, snaps = self._volume_with_snapshots(2, fmt=fmt)
        # The frozen bottom keeps the volume's original format.
        self.assertEqual(fmt, self.engine.snapshot(snaps[0]).fmt)
        self.assertEqual('qcow2', self.engine.volume(vol).fmt)
        self._assert_volume(vol, 2)
        self.engine.delete_snapshot(snaps[1])
        self.engine.delete_snapshot(snaps[0])
        self._assert_volume(vol, 2)

    def test_merge_picks_the_smaller_move(self):
        vol = new_id()
        self.engine.create_volume(vol, GiB, 'qcow2')
        base.write_pattern(self.vpath(vol), 0x41, 0, 64 * MiB)
        snap = new_id()
        self.engine.create_snapshot(vol, snap)
        base.write_pattern(self.vpath(vol), 0x42, 0, MiB)
        with self._record_qemu() as calls:
            self.engine.delete_snapshot(snap)
        # 1 MiB on top against 64 MiB below: commit the top down (the
        # header-only re-pointing at the merge- name moves no data).
        self.assertIn('commit', calls)
        self.assertIn('rebase -u', calls)
        self.assertNotIn('rebase', calls)
        base.read_pattern(self.vpath(vol), 0x42, 0, MiB)
        base.read_pattern(self.vpath(vol), 0x41, MiB, 63 * MiB)

        snap = new_id()
        self.engine.create_snapshot(vol, snap)
        base.write_pattern(self.vpath(vol), 0x43, 0, 128 * MiB)
        with self._record_qemu() as calls:
            self.engine.delete_snapshot(snap)
        self.assertIn('rebase', calls)
        self.assertNotIn('commit', calls)
        base.read_pattern(self.vpath(vol), 0x43, 0, 128 * MiB)

    def _record_qemu(self):
        engine = self.engine
        real = engine.qemu._run
        calls = []

        class Recorder(object):
            def __enter__(self):
                def run(command, path, *args):
                    calls.append(command + (' -u' if '-u' in args else ''))
                    return real(command, path, *args)
                engine.qemu._run = run
                return calls

            def __exit__(self, *exc):
                engine.qemu._run = real

        return Recorder()

    def test_revert_to_snapshot(self):
        vol, snaps = self._volume_with_snapshots(2)
        self.engine.revert_to_snapshot(vol, snaps[1])
        path = self.vpath(vol)
        base.read_pattern(path, 0x10, 0, MiB)
        base.read_pattern(path, 0x11, MiB, MiB)
        base.read_pattern(path, 0, 2 * MiB, MiB)   # 0x99 is gone
        # The reverted volume is writable and the snapshot unchanged.
        base.write_pattern(path, 0x77, 0, MiB)
        self._assert_snapshot_content(snaps[1], 1, 2)
        self.assertNotIn('.tmp', ' '.join(self.listing()))

    @ddt.data(chain.COPY, chain.OVERLAY)
    def test_volume_from_snapshot(self, mode):
        vol, snaps = self._volume_with_snapshots(2)
        new = new_id()
        self.engine.clone_snapshot(snaps[0], new, 2 * GiB, 'qcow2', mode)
        path = self.vpath(new)
        base.read_pattern(path, 0x10, 0, MiB)
        base.read_pattern(path, 0, MiB, MiB)
        info = self.engine.qemu.info(path, 'qcow2')
        self.assertEqual(2 * GiB, info['virtual-size'])
        self.assertEqual(mode == chain.OVERLAY, 'backing-filename' in info)
        # Writes to the new volume never reach the source.
        base.write_pattern(path, 0x55, 0, MiB)
        self._assert_snapshot_content(snaps[0], 0, 2)
        # The source snapshot can go; the new volume keeps its data.
        self.engine.delete_snapshot(snaps[0])
        self.engine.delete_snapshot(snaps[1])
        base.read_pattern(path, 0x55, 0, MiB)
        self._assert_volume(vol, 2)
        self.engine.delete_volume(vol)
        base.read_pattern(path, 0x55, 0, MiB)
        self.engine.delete_volume(new)
        self.assertEqual(['_base'], self.listing())

    @ddt.data(chain.COPY, chain.OVERLAY)
    def test_clone_volume(self, mode):
        vol, _snaps = self._volume_with_snapshots(0)
        clone = new_id()
        self.engine.clone_volume(vol, clone, GiB, 'qcow2', mode)
        base.read_pattern(self.vpath(clone), 0x99, 0, MiB)
        base.write_pattern(self.vpath(clone), 0x66, 0, MiB)
        base.write_pattern(self.vpath(vol), 0x67, MiB, MiB)
        base.read_pattern(self.vpath(vol), 0x99, 0, MiB)
        base.read_pattern(self.vpath(clone), 0, MiB, MiB)
        # Delete the source first: the clone still reads its data, and
        # the shared frozen layer goes with the last volume.
        self.engine.delete_volume(vol)
        base.read_pattern(self.vpath(clone), 0x66, 0, MiB)
        self.engine.delete_volume(clone)
        self.assertEqual(['_base'], self.listing())

    def test_extend_keeps_data(self):
        vol, snaps = self._volume_with_snapshots(1)
        self.engine.extend(vol, 3 * GiB)
        path = self.vpath(vol)
        self.assertEqual(3 * GiB, self.engine.qemu.virtual_size(path,
                                                                'qcow2'))
        base.write_pattern(path, 0x88, 2 * GiB + MiB, MiB)
        self._assert_volume(vol, 1)
        base.read_pattern(path, 0x88, 2 * GiB + MiB, MiB)
        self.engine.delete_snapshot(snaps[0])
        base.read_pattern(path, 0x88, 2 * GiB + MiB, MiB)
        self._assert_volume(vol, 1)

    def test_chain_depth_limit(self):
        self.engine, self.cache = self.make_engine(max_depth=3)
        vol = new_id()
        self.engine.create_volume(vol, GiB, 'qcow2')
        self.engine.create_snapshot(vol, new_id())
        self.engine.create_snapshot(vol, new_id())
        before = self.listing()
        self.assertRaises(exception.ChainTooDeep,
                          self.engine.create_snapshot, vol, new_id())
        self.assertEqual(before, self.listing())

    def test_hostile_backing_file_is_refused(self):
        vol = new_id()
        path = self.vpath(vol)
        host_file = os.path.join(self.tmp, 'host-secret')
        with open(host_file, 'wb') as f:
            f.write(b'secret' * 1000)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b',
                        host_file, '-F', 'raw', path, str(GiB)], check=True)
        self.assertRaises(exception.UnsafeBackingFile,
                          self.engine.active, vol)
        self.assertRaises(exception.UnsafeBackingFile,
                          self.engine.create_snapshot, vol, new_id())
        self.assertEqual(['_base', os.path.basename(path)], self.listing())

    def test_cleanup_removes_work_files_and_repairs_retired_links(self):
        vol, snaps = self._volume_with_snapshots(1)
        other = new_id()
        self.engine.clone_snapshot(snaps[0], other, GiB, 'qcow2',
                                   chain.OVERLAY)
        # A crash in _retire after the rename, before the re-pointing.
        frozen = self.engine.snapshot(snaps[0])
        anon = naming.layer(naming.LAYER, snaps[0])
        os.rename(frozen.path, os.path.join(self.mount, anon))
        stray = os.path.join(self.mount, naming.temp(new_id(), '.qcow2'))
        open(stray, 'w').close()
        removed = self.engine.cleanup()
        self.assertEqual([os.path.basename(stray)], removed)
        self._assert_volume(vol, 1)
        base.read_pattern(self.vpath(other), 0x10, 0, MiB)
        self.engine.delete_volume(vol)
        self.engine.delete_volume(other)
        self.assertEqual(['_base'], self.listing())

    def test_cleanup_leaves_another_writers_work(self):
        # Several writers on one store (a clustered SAN group): a work
        # file may be another's, still being filled; a next top is made
        # under the chain lock cleanup holds, so it is a dead writer's.
        vol, snaps = self._volume_with_snapshots(1)
        top = self.vpath(vol)
        nxt = os.path.join(self.mount, naming.next_top(vol))
        os.rename(top, nxt)
        theirs = naming.temp(new_id(), '.qcow2')
        mine = naming.temp(new_id(), '.qcow2')
        for name in (theirs, mine):
            open(os.path.join(self.mount, name), 'w').close()
        self.useFixture(fixtures.MockPatchObject(
            self.engine.volumes, 'owns_work',
            side_effect=lambda name: name != theirs))
        self.assertEqual([mine], self.engine.cleanup())
        self.assertTrue(os.path.exists(os.path.join(self.mount, theirs)))
        self._assert_volume(vol, 1)

    def test_commit_merge_that_cannot_repoint_gives_the_name_back(self):
        vol = new_id()
        self.engine.create_volume(vol, GiB, 'qcow2')
        base.write_pattern(self.vpath(vol), 0x41, 0, 8 * MiB)
        snap = new_id()
        self.engine.create_snapshot(vol, snap)
        base.write_pattern(self.vpath(vol), 0x42, 0, MiB)
        error = exception.QemuImgError(command='rebase', path='x',
                                       reason='injected')
        self.useFixture(fixtures.MockPatchObject(
            self.engine.qemu, 'rebase', side_effect=error))
        self.assertRaises(exception.QemuImgError,
                          self.engine.delete_snapshot, snap)
        self.assertIsNone(self.engine.find(naming.MERGE, snap))
        layer = self.engine.snapshot(snap)
        base.read_pattern(layer.path, 0x41, 0, 8 * MiB)
        base.read_pattern(self.vpath(vol), 0x42, 0, MiB)
        base.read_pattern(self.vpath(vol), 0x41, MiB, 7 * MiB)

    def test_cleanup_publishes_only_a_whole_next_top(self):
        # A volume with no top and a next top whose backing is there: a
        # snapshot interrupted between its two renames.
        vol, snaps = self._volume_with_snapshots(1)
        top = self.vpath(vol)
        nxt = os.path.join(self.mount, naming.next_top(vol))
        os.rename(top, nxt)
        self.assertEqual([], self.engine.cleanup())
        self._assert_volume(vol, 1)
        # One whose header cannot be read is left for an operator.
        os.rename(top, nxt)
        with open(nxt, 'r+b') as f:
            f.write(b'\0' * 512)
        self.assertEqual([], self.engine.cleanup())
        self.assertTrue(os.path.exists(nxt))
        self.assertFalse(os.path.exists(top))

    @ddt.data('create_volume', 'create_snapshot', 'overlay')
    def test_new_layer_appears_only_when_formatted(self, operation):
        # The stats poll and start-up clean-up read headers without the
        # chain lock: while qemu-img formats a layer, its final name must
        # not exist yet.
        vol = new_id()
        if operation != 'create_volume':
            self.engine.create_volume(vol, GiB, 'qcow2')
        seen = []
        real_create = self.engine.qemu.create

        def create(path, *args, **kwargs):
            seen.append(sorted(n for n in self.listing()
                               if not naming.is_temp(n)))
            real_create(path, *args, **kwargs)
            seen.append(path)

        self.useFixture(fixtures.MockPatchObject(self.engine.qemu, 'create',
                                                 side_effect=create))
        before = sorted(self.listing())
        if operation == 'create_volume':
            self.engine.create_volume(vol, GiB, 'qcow2')
            new = [naming.layer(naming.VOLUME, vol)]
        elif operation == 'create_snapshot':
            snap = new_id()
            self.engine.create_snapshot(vol, snap)
            # The new top is formatted before the old one is renamed.
            new = [naming.layer(naming.SNAPSHOT, snap)]
        else:
            other = new_id()
            self.engine.create_overlay(other, GiB, self.engine.volume(vol))
            new = [naming.layer(naming.VOLUME, other)]
        listing_while_formatting, work_path = seen
        self.assertEqual(before, listing_while_formatting)
        self.assertTrue(naming.is_temp(os.path.basename(work_path)))
        self.assertEqual(sorted(before + new), sorted(self.listing()))
        self.assertFalse(any(naming.is_temp(n) for n in self.listing()))

    def test_damaged_layer_does_not_hide_the_others(self):
        good = new_id()
        self.engine.create_volume(good, GiB, 'qcow2')
        self.engine.create_volume(new_id(), 2 * GiB, 'raw')
        # A layer cut short (a disk that filled up under another tool):
        damaged = self.vpath(new_id())
        with open(damaged, 'wb') as f:
            f.write(b'QFI')
        self.assertEqual(3 * GiB, self.engine.provisioned_bytes())
        # ... and it is still refused where it matters.
        self.assertRaises(exception.MalformedLayer, self.engine.active,
                          naming.parse(os.path.basename(damaged)).ident)
