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

"""upload-to-image of a changed volume, then a volume from the new image."""

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import MiB

IMAGE, CHANGE, LATER = 0x61, 0x72, 0x83


class UploadToImageTest(base.E2ETestCase):

    def test_upload_changed_volume_then_volume_from_new_image(self):
        image_id = self.pattern_image([(IMAGE, 0, MiB), (IMAGE, 8 * MiB, MiB)])
        vol = self.create_volume(imageRef=image_id)
        self.write(vol.id, CHANGE, 8 * MiB, MiB)
        self.write(vol.id, CHANGE, 32 * MiB, MiB)

        _resp, body = self.cinder.volumes.upload_to_image(
            vol, False, 'auxo-e2e-upload', 'bare', 'qcow2', 'community',
            False)
        new_image_id = body['os-volume_upload_image']['image_id']
        self.addCleanup(self._delete_image, new_image_id)
        self.wait_volume(vol.id, 'available')
        image = base.wait_until(
            'image %s active' % new_image_id,
            lambda: (lambda i: i if i['status'] == 'active' else None)(
                self.glance.images.get(new_image_id)), 120)
        self.assertEqual('qcow2', image['disk_format'])
        # Writing the source volume later does not reach the image.
        self.write(vol.id, LATER, 0, MiB)

        new = self.create_volume(imageRef=new_image_id)
        self.assertEqual(1, self.download_count(new_image_id))
        bases = self.bases_of(new_image_id)
        self.assertEqual(1, len(bases), bases)
        path = self.volume_path(new.id)
        self.assertEqual(bases[0], self.backing_of(path))
        self.assert_reads(path, IMAGE, 0, MiB)
        self.assert_reads(path, CHANGE, 8 * MiB, MiB)
        self.assert_reads(path, CHANGE, 32 * MiB, MiB)
        self.assert_reads(path, 0, 64 * MiB, MiB)
        # The uploaded image stands alone: no backing file in its base.
        self.assertIsNone(self.backing_of(bases[0]))

        self.delete_volume(vol.id)
        self.delete_volume(new.id)
        self.assert_backend_clean()
