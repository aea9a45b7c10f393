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

"""Zero-copy image registration through cinder, glance and keystone.

The stack's default backend has ``image_upload_use_cinder_backend``: a raw
upload-to-image makes cinder clone the volume into an image volume and
register ``cinder://<image volume>`` as the image's only location, through
glance's location API and its cinder store. Volumes from that image on the
same storage are overlays on a frozen layer of the image volume, for the
image's project and for a member of another project alike.
"""

import os

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import MiB

UPLOADED, LATER, DESKTOP = 0x3c, 0x4d, 0x5e


class ImageRegistrationTest(base.E2ETestCase):

    def register(self, volume):
        _resp, body = self.cinder.volumes.upload_to_image(
            volume, False, 'auxo-e2e-registered', 'bare', 'raw', 'private',
            False)
        image_id = body['os-volume_upload_image']['image_id']
        self.addCleanup(self._delete_image, image_id)
        self.wait_volume(volume.id, 'available')
        image = base.wait_until(
            'image %s active' % image_id,
            lambda: (lambda i: i if i['status'] == 'active' else None)(
                self.glance.images.get(image_id)), 120)
        return image

    def image_volume(self, image_id):
        found = [v for v in self.cinder.volumes.list()
                 if v.name == 'image-%s' % image_id]
        self.assertEqual(1, len(found), 'image volumes of %s' % image_id)
        self.addCleanup(self._cleanup_volume, found[0].id)
        return found[0]

    def test_registered_image_serves_another_project_without_copy(self):
        src = self.create_volume()
        self.write(src.id, UPLOADED, 0, MiB)
        image = self.register(src)
        image_vol = self.image_volume(image['id'])
        # A template is shared with the projects whose desktops use it.
        self.glance.images.update(image['id'], visibility='public')

        member = self.member_cinder()
        desktop = member.volumes.create(1, imageRef=image['id'],
                                        volume_type=self.volume_type)
        self.addCleanup(self._cleanup_volume, desktop.id)
        desktop = self.wait_volume(desktop.id, 'available')
        owner = 'os-vol-tenant-attr:tenant_id'
        self.assertNotEqual(getattr(src, owner), getattr(desktop, owner))
        # Served from the image volume, as for its own project: no
        # download, the same frozen layer, nothing copied.
        self.assertEqual(0, self.download_count(image['id']))
        path = self.volume_path(desktop.id)
        self.assertEqual(self.backing_of(self.volume_path(image_vol.id)),
                         self.backing_of(path))
        self.assertLess(os.path.getsize(path), MiB)
        self.assert_reads(path, UPLOADED, 0, MiB)

        self.glance.images.delete(image['id'])
        self.wait_gone(self.cinder.volumes, image_vol.id)
        for vol in (desktop, src):
            self.delete_volume(vol.id)
        self.assert_backend_clean()

    def test_registered_image_serves_overlays_without_copy(self):
        src = self.create_volume()
        self.write(src.id, UPLOADED, 0, MiB)
        self.write(src.id, UPLOADED, 16 * MiB, MiB)

        image = self.register(src)
        # Glance holds no bytes of it: its one store is cinder.
        self.assertEqual('cinder', image['stores'])
        self.assertEqual(1024 * MiB, image['size'])
        image_vol = self.image_volume(image['id'])
        self.assertEqual(image['id'], image_vol.metadata['glance_image_id'])
        # The source volume stays writable and the image does not change.
        self.write(src.id, LATER, 0, MiB)

        desktop = self.create_volume(imageRef=image['id'])
        self.assertEqual(0, self.download_count(image['id']))
        path = self.volume_path(desktop.id)
        frozen = self.backing_of(path)
        self.assertEqual(frozen,
                         self.backing_of(self.volume_path(image_vol.id)))
        # Nothing copied: the new volume's own layer holds no data.
        self.assertLess(os.path.getsize(path), MiB)
        self.assert_reads(path, UPLOADED, 0, MiB)
        self.assert_reads(path, UPLOADED, 16 * MiB, MiB)
        self.assert_reads(path, 0, 32 * MiB, MiB)

        # A desktop's writes reach neither the image nor its siblings.
        self.write(desktop.id, DESKTOP, 16 * MiB, MiB)
        sibling = self.create_volume(imageRef=image['id'])
        sibling_path = self.volume_path(sibling.id)
        self.assert_reads(sibling_path, UPLOADED, 0, MiB)
        self.assert_reads(sibling_path, UPLOADED, 16 * MiB, MiB)
        self.assertEqual(0, self.download_count(image['id']))

        # Deleting the image deletes its volume (glance's cinder store asks
        # cinder); the desktops keep the layer they stand on.
        self.glance.images.delete(image['id'])
        self.wait_gone(self.cinder.volumes, image_vol.id)
        self.assertTrue(os.path.exists(frozen))
        self.assert_reads(path, UPLOADED, 0, MiB)
        self.assert_reads(path, DESKTOP, 16 * MiB, MiB)
        self.assert_reads(sibling_path, UPLOADED, 16 * MiB, MiB)

        for vol in (desktop, sibling, src):
            self.delete_volume(vol.id)
        self.assertFalse(os.path.exists(frozen))
        self.assert_backend_clean()
