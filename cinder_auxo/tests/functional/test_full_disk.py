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

"""A real full disk: a small ext4 on a loop device, filled by a file.

Each operation runs out of space in its own write (not in a pre-check)
and must fail with StorageFull, lose no data, publish nothing half-made,
and succeed once space is freed. Needs root and loop devices; skipped,
saying why, where the kernel refuses them.
"""

import os
import subprocess

from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_image_cache

MiB = base.MiB
FS_SIZE = 64 * MiB


def new_id():
    return uuidutils.generate_uuid()


class FullDiskTestCase(base.FunctionalTestCase):

    def setUp(self):
        super(FullDiskTestCase, self).setUp()
        base.disable_privsep()
        self._mount_loop(self.mount)
        # Built again: the cache directory is on the new file system.
        self.engine, self.cache = self.make_engine()
        self.glance = test_image_cache.Glance()
        self.filler = os.path.join(self.mount, 'filler')

    def _mount_loop(self, mount):
        if os.geteuid() != 0:
            self.skipTest('mounting a loop file system needs root')
        image = os.path.join(self.tmp, 'fs.img')
        with open(image, 'wb') as f:
            f.truncate(FS_SIZE)
        subprocess.run(['mkfs.ext4', '-q', '-F', '-m', '0', '-O',
                        '^has_journal', image], check=True)
        done = subprocess.run(['mount', '-o', 'loop', image, mount],
                              capture_output=True, text=True)
        if done.returncode:
            self.skipTest('cannot mount a loop file system here: %s' %
                          done.stderr.strip())
        self.addCleanup(subprocess.run, ['umount', mount], check=True)

    def _free(self):
        st = os.statvfs(self.mount)
        return st.f_bavail * st.f_frsize

    def _fill(self, leave):
        """Take all free space but about ``leave`` bytes."""
        fd = os.open(self.filler, os.O_CREAT | os.O_WRONLY, 0o600)
        want = self._free() - leave
        try:
            while want > 0:
                # The file's own extent blocks come out of the free space
                # too: ask for less until it fits.
                try:
                    os.posix_fallocate(fd, 0, want)
                    break
                except OSError:
                    want -= 64 * 1024
        finally:
            os.close(fd)
        self.assertLess(self._free(), leave + MiB)

    def _free_space(self):
        os.unlink(self.filler)

    def _names(self):
        found = []
        for store in self.engine.stores:
            found += [n for n in store.list()
                      if naming.is_layer(n) or naming.is_temp(n)]
        return sorted(found)

    def _assert_nothing_half_made(self, before):
        self.assertEqual(before, self._names())
        self.assertFalse([n for n in self._names() if naming.is_temp(n)])

    def _image(self, with_size=True):
        image = self.image_file([(0x5a, 0, 8 * MiB)], size=16 * MiB)
        meta = self.glance.add(image)
        if not with_size:
            # Glance does not always know it (an image being imported).
            del meta['size']
        return meta

    def _from_image(self, meta, volume_id):
        return self.cache.create_volume(
            meta['id'], meta, self.glance.fetcher(meta['id']), volume_id,
            16 * MiB, 'qcow2')[0]

    def _volume(self, byte):
        vol = new_id()
        self.engine.create_volume(vol, 16 * MiB, 'qcow2')
        base.write_pattern(self.vpath(vol), byte, 0, MiB)
        return vol

    def _assert_create_from_image_fails_then_works(self, meta, leave):
        other = self._volume(0x11)
        before = self._names()
        self._fill(leave)
        vol = new_id()
        self.assertRaises(exception.StorageFull, self._from_image, meta,
                          vol)
        self._assert_nothing_half_made(before)
        base.read_pattern(self.vpath(other), 0x11, 0, MiB)
        self._free_space()
        layer = self._from_image(meta, vol)
        base.read_pattern(layer.path, 0x5a, 0, 8 * MiB)
        base.read_pattern(self.vpath(other), 0x11, 0, MiB)

    def test_full_disk_during_download(self):
        self._assert_create_from_image_fails_then_works(
            self._image(with_size=False), 2 * MiB)

    def test_full_disk_during_convert(self):
        # The download fits; its conversion into the base does not.
        self._assert_create_from_image_fails_then_works(self._image(),
                                                        10 * MiB)

    def test_full_disk_during_overlay_create(self):
        meta = self._image()
        first = self._from_image(meta, new_id())
        base.write_pattern(first.path, 0x22, MiB, MiB)
        before = self._names()
        self._fill(0)
        vol = new_id()
        self.assertRaises(exception.StorageFull, self.engine.create_overlay,
                          vol, 16 * MiB, self.cache.latest(meta['id']))
        self._assert_nothing_half_made(before)
        base.read_pattern(first.path, 0x5a, 0, MiB)
        base.read_pattern(first.path, 0x22, MiB, MiB)
        self._free_space()
        layer = self.engine.create_overlay(vol, 16 * MiB,
                                           self.cache.latest(meta['id']))
        base.read_pattern(layer.path, 0x5a, 0, 8 * MiB)

    def test_full_disk_during_merge(self):
        vol = new_id()
        self.engine.create_volume(vol, 32 * MiB, 'qcow2')
        base.write_pattern(self.vpath(vol), 0x11, 0, 8 * MiB)
        snap = new_id()
        self.engine.create_snapshot(vol, snap)
        # Less on top than below: merged by commit, which needs room
        # for 4 MiB of new clusters in the snapshot's layer.
        base.write_pattern(self.vpath(vol), 0x22, 8 * MiB, 4 * MiB)
        self._fill(MiB)
        self.assertRaises(exception.StorageFull,
                          self.engine.delete_snapshot, snap)
        # The snapshot's name never holds the volume's later data, and the
        # volume reads as before.
        self.assertIsNone(self.engine.find(naming.SNAPSHOT, snap))
        self.assertIsNotNone(self.engine.find(naming.MERGE, snap))
        base.read_pattern(self.vpath(vol), 0x11, 0, 8 * MiB)
        base.read_pattern(self.vpath(vol), 0x22, 8 * MiB, 4 * MiB)
        self._free_space()
        # cinder's retry of the delete finishes the merge.
        self.engine.delete_snapshot(snap)
        self.assertEqual(['volume-%s' % vol], self._names())
        self.assertIsNone(self.engine.find(naming.MERGE, snap))
        base.read_pattern(self.vpath(vol), 0x11, 0, 8 * MiB)
        base.read_pattern(self.vpath(vol), 0x22, 8 * MiB, 4 * MiB)
        base.read_pattern(self.vpath(vol), 0, 12 * MiB, 20 * MiB)
