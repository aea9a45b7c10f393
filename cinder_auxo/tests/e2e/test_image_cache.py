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

"""Create-from-image through cinder: one download, then overlays only."""

from concurrent import futures
import os

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import GiB
from cinder_auxo.tests.e2e.base import MiB


class ImageCacheTest(base.E2ETestCase):

    def assert_overlay_on(self, volume_id, base_path):
        path = self.volume_path(volume_id)
        info = base.qemu_info(path)
        self.assertEqual('qcow2', info['format'])
        self.assertEqual(1 * GiB, info['virtual-size'])
        self.assertEqual(base_path, self.backing_of(path))
        # An overlay holds no image data: far less than the 1 MiB written.
        self.assertLess(os.stat(path).st_blocks * 512, 1 * MiB)
        return path

    def test_volumes_from_one_image_share_one_download(self):
        image_id = self.pattern_image([(0xa1, 0, MiB), (0xb2, 8 * MiB, MiB)])
        self.assertEqual([], self.bases_of(image_id))

        volumes = [self.create_volume(imageRef=image_id) for _ in range(3)]

        self.assertEqual(1, self.download_count(image_id))
        bases = self.bases_of(image_id)
        self.assertEqual(1, len(bases), bases)
        base_info = base.qemu_info(bases[0])
        self.assertEqual('qcow2', base_info['format'])
        self.assertNotIn('backing-filename', base_info)
        for vol in volumes:
            self.assertEqual('true', vol.bootable)
            path = self.assert_overlay_on(vol.id, bases[0])
            self.assert_reads(path, 0xa1, 0, MiB)
            self.assert_reads(path, 0xb2, 8 * MiB, MiB)
            self.assert_reads(path, 0x00, 16 * MiB, MiB)
            self.assert_reads(path, 0x00, GiB - MiB, MiB)

        for vol in volumes:
            self.delete_volume(vol.id)
        self.assert_backend_clean()
        self.assertEqual(bases, self.bases_of(image_id))

        # The base outlives its volumes: the next volume costs no download.
        vol = self.create_volume(imageRef=image_id)
        self.assertEqual(1, self.download_count(image_id))
        self.assert_overlay_on(vol.id, bases[0])
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_concurrent_creates_from_uncached_image(self):
        count = 20
        image_id = self.pattern_image([(0xc3, 0, MiB)])
        self.assertEqual([], self.bases_of(image_id))

        def create(index):
            return self.create_volume(status=None, imageRef=image_id,
                                      name='auxo-e2e-burst-%d' % index).id

        with futures.ThreadPoolExecutor(count) as pool:
            ids = list(pool.map(create, range(count)))
        for volume_id in ids:
            self.wait_volume(volume_id, 'available', timeout=240)

        self.assertEqual(1, self.download_count(image_id))
        bases = self.bases_of(image_id)
        self.assertEqual(1, len(bases), bases)
        for volume_id in ids:
            path = self.assert_overlay_on(volume_id, bases[0])
            self.assert_reads(path, 0xc3, 0, MiB)

        for volume_id in ids:
            self.cinder.volumes.delete(volume_id)
        for volume_id in ids:
            self.wait_gone(self.cinder.volumes, volume_id)
        self.assert_backend_clean()
