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

"""Snapshots, clones, extend and revert through cinder, checked on disk.

Data is written into the volume files with qemu-io while the volumes are
available and idle, as a guest of the volume would write it; every step is
then checked by reading the backend files.
"""

import os

from cinderclient import api_versions
from cinderclient import exceptions as cinder_exc

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import GiB
from cinder_auxo.tests.e2e.base import MiB

A, B, C, D = 0x1a, 0x2b, 0x3c, 0x4d


class SnapshotTest(base.E2ETestCase):

    def test_snapshot_freezes_the_top_layer_and_delete_merges(self):
        vol = self.create_volume()
        self.write(vol.id, A, 0, MiB)
        snap = self.create_snapshot(vol.id)
        path = self.volume_path(vol.id)
        snap_path = self.snapshot_path(snap.id)

        self.assertTrue(os.path.exists(snap_path), self.backend_files())
        self.assertEqual(snap_path, self.backing_of(path))
        self.write(vol.id, B, 0, MiB)
        self.write(vol.id, C, 4 * MiB, MiB)
        self.assert_reads(snap_path, A, 0, MiB)
        self.assert_reads(snap_path, 0, 4 * MiB, MiB)
        self.assert_reads(path, B, 0, MiB)

        self.delete_snapshot(snap.id)
        self.assert_no_files_of(snap.id)
        self.assertEqual(path, self.volume_path(vol.id))
        self.assert_reads(path, B, 0, MiB)
        self.assert_reads(path, C, 4 * MiB, MiB)

        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def _two_snapshots(self):
        vol = self.create_volume()
        self.write(vol.id, A, 0, MiB)
        snap1 = self.create_snapshot(vol.id)
        self.write(vol.id, B, MiB, MiB)
        snap2 = self.create_snapshot(vol.id)
        self.write(vol.id, C, 2 * MiB, MiB)
        path = self.volume_path(vol.id)
        self.assertEqual(self.snapshot_path(snap2.id), self.backing_of(path))
        self.assertEqual(self.snapshot_path(snap1.id),
                         self.backing_of(self.snapshot_path(snap2.id)))
        return vol, snap1, snap2

    def assert_volume_data(self, vol):
        path = self.volume_path(vol.id)
        self.assert_reads(path, A, 0, MiB)
        self.assert_reads(path, B, MiB, MiB)
        self.assert_reads(path, C, 2 * MiB, MiB)

    def test_delete_snapshots_oldest_first(self):
        vol, snap1, snap2 = self._two_snapshots()

        self.delete_snapshot(snap1.id)
        self.assert_no_files_of(snap1.id)
        self.assert_volume_data(vol)
        # The remaining snapshot still holds what it froze, and only that.
        snap2_path = self.snapshot_path(snap2.id)
        self.assert_reads(snap2_path, A, 0, MiB)
        self.assert_reads(snap2_path, B, MiB, MiB)
        self.assert_reads(snap2_path, 0, 2 * MiB, MiB)

        self.delete_snapshot(snap2.id)
        self.assert_no_files_of(snap2.id)
        self.assert_volume_data(vol)
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_delete_snapshots_newest_first(self):
        vol, snap1, snap2 = self._two_snapshots()

        self.delete_snapshot(snap2.id)
        self.assert_no_files_of(snap2.id)
        self.assert_volume_data(vol)
        snap1_path = self.snapshot_path(snap1.id)
        self.assert_reads(snap1_path, A, 0, MiB)
        self.assert_reads(snap1_path, 0, MiB, MiB)

        self.delete_snapshot(snap1.id)
        self.assert_no_files_of(snap1.id)
        self.assert_volume_data(vol)
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_volume_with_snapshots_goes_only_with_cascade(self):
        vol, snap1, snap2 = self._two_snapshots()

        self.assertRaises(cinder_exc.BadRequest,
                          self.cinder.volumes.delete, vol.id)
        self.assertEqual('available', self.cinder.volumes.get(vol.id).status)
        self.assert_volume_data(vol)

        self.delete_volume(vol.id, cascade=True)
        self.assert_no_files_of(vol.id, snap1.id, snap2.id)
        self.assert_backend_clean()

    def test_volume_from_snapshot_outlives_snapshot_and_source(self):
        image_id = self.pattern_image([(D, 8 * MiB, MiB)])
        src = self.create_volume(imageRef=image_id)
        self.write(src.id, A, 0, MiB)
        snap = self.create_snapshot(src.id)
        self.write(src.id, B, 0, MiB)

        child = self.create_volume(snapshot_id=snap.id)
        child_path = self.volume_path(child.id)
        self.assertEqual(GiB, base.qemu_info(child_path)['virtual-size'])
        self.assert_reads(child_path, A, 0, MiB)
        self.assert_reads(child_path, D, 8 * MiB, MiB)
        # The child is a volume of its own: writing it leaves the source.
        self.write(child.id, C, 0, MiB)
        self.assert_reads(self.volume_path(src.id), B, 0, MiB)

        # Dependencies first gone: the snapshot, then its volume.
        self.delete_snapshot(snap.id)
        self.delete_volume(src.id)
        self.assert_no_files_of(src.id, snap.id)
        self.assert_reads(child_path, C, 0, MiB)
        self.assert_reads(child_path, D, 8 * MiB, MiB)

        self.delete_volume(child.id)
        self.assert_backend_clean()

    def test_clone_outlives_source(self):
        image_id = self.pattern_image([(D, 8 * MiB, MiB)])
        src = self.create_volume(imageRef=image_id)
        self.write(src.id, A, 0, MiB)
        snap = self.create_snapshot(src.id)
        self.write(src.id, B, MiB, MiB)

        clone = self.create_volume(source_volid=src.id)
        clone_path = self.volume_path(clone.id)
        for path in (clone_path, self.volume_path(src.id)):
            self.assert_reads(path, A, 0, MiB)
            self.assert_reads(path, B, MiB, MiB)
            self.assert_reads(path, D, 8 * MiB, MiB)
        self.write(clone.id, C, 0, MiB)
        self.assert_reads(self.volume_path(src.id), A, 0, MiB)

        # The source goes first, its snapshot with it.
        self.delete_volume(src.id, cascade=True)
        self.assert_no_files_of(src.id, snap.id)
        self.assert_reads(clone_path, C, 0, MiB)
        self.assert_reads(clone_path, B, MiB, MiB)
        self.assert_reads(clone_path, D, 8 * MiB, MiB)

        self.delete_volume(clone.id)
        self.assert_backend_clean()

    def test_extend_keeps_data(self):
        image_id = self.pattern_image([(D, 0, MiB)])
        vol = self.create_volume(imageRef=image_id)
        self.write(vol.id, A, 512 * MiB, MiB)
        snap = self.create_snapshot(vol.id)

        self.cinder.volumes.extend(vol.id, 2)
        self.wait_volume(vol.id, 'available')
        self.assertEqual(2, self.cinder.volumes.get(vol.id).size)
        path = self.volume_path(vol.id)
        self.assertEqual(2 * GiB, base.qemu_info(path)['virtual-size'])
        self.assert_reads(path, D, 0, MiB)
        self.assert_reads(path, A, 512 * MiB, MiB)
        self.assert_reads(path, 0, 2 * GiB - MiB, MiB)
        self.write(vol.id, B, 2 * GiB - MiB, MiB)
        self.assert_reads(path, B, 2 * GiB - MiB, MiB)
        # The snapshot keeps the size it was taken at.
        self.assertEqual(GiB, base.qemu_info(
            self.snapshot_path(snap.id))['virtual-size'])

        self.delete_snapshot(snap.id)
        self.assert_reads(path, B, 2 * GiB - MiB, MiB)
        self.assert_reads(path, D, 0, MiB)
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_revert_to_snapshot(self):
        image_id = self.pattern_image([(D, 8 * MiB, MiB)])
        vol = self.create_volume(imageRef=image_id)
        self.write(vol.id, A, 0, MiB)
        snap = self.create_snapshot(vol.id)
        self.write(vol.id, B, 0, MiB)
        self.write(vol.id, C, 16 * MiB, MiB)

        self.assertGreaterEqual(self.cinder.api_version,
                                api_versions.APIVersion('3.40'))
        self.cinder.volumes.revert_to_snapshot(vol, snap)
        self.wait_volume(vol.id, 'available')
        self.wait_snapshot(snap.id, 'available')

        path = self.volume_path(vol.id)
        self.assert_reads(path, A, 0, MiB)
        self.assert_reads(path, 0, 16 * MiB, MiB)
        self.assert_reads(path, D, 8 * MiB, MiB)
        # The snapshot is kept and still holds its data.
        self.assert_reads(self.snapshot_path(snap.id), A, 0, MiB)

        self.delete_snapshot(snap.id)
        self.assert_reads(path, A, 0, MiB)
        self.delete_volume(vol.id)
        self.assert_backend_clean()
