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

"""A template update through Glance and cinder: only the diff moves.

The template desktop is a volume made from image X; its changes (1% of
X's data) are uploaded in delta mode as image Y. Glance receives only the
diff; the storage gets Y's base without downloading it; evicted, it is
rebuilt from a download of the diff only. Desktops made from X keep X's
content; desktops made from Y see the update.
"""

import os

from cinder_auxo.tests.e2e import base

MiB = base.MiB


class TemplateUpdateTestCase(base.E2ETestCase):

    def test_long_chain_is_flattened_and_old_generation_collected(self):
        # The stack's default backend flattens base chains longer than 2
        # (image_cache_max_base_chain) in the driver's periodic task.
        image = self.pattern_image([(0x10, 0, 8 * MiB)])
        for i in range(2):
            template = self.create_volume(imageRef=image)
            self.write(template.id, 0xa0 + i, (16 + i) * MiB, MiB)
            image = self.delta_upload(template, 'auxo-e2e-v%d' % (i + 2))
        # The upload seeded this storage with v3's base (a chain of 3),
        # which the periodic task may flatten at any moment. Evict it, so
        # that the desktop below is made together with the generation that
        # will be flattened, and stands on it.
        self.cache_cli('evict', image)
        self.assertEqual([], self.bases_of(image))
        old_desktop = self.create_volume(imageRef=image)
        old_gen = self.backing_of(self.volume_path(old_desktop.id))
        self.assertIn(old_gen, self.bases_of(image))
        new_gens = base.wait_until(
            'the periodic task to flatten %s' % old_gen,
            lambda: [b for b in self.bases_of(image) if b != old_gen], 60)
        self.assertEqual(1, len(new_gens), new_gens)
        new_gen = new_gens[0]
        self.assertIsNone(self.backing_of(new_gen))
        # As cinder-auxo-cache lists them: (children, chain length).
        rows = {r['name']: (r['children'], r['chain_length'])
                for r in self.cache_cli('list') if r['image_id'] == image}
        self.assertEqual({os.path.basename(old_gen): (1, 3),
                          os.path.basename(new_gen): (0, 1)}, rows)

        new_desktop = self.create_volume(imageRef=image)
        new_path = self.volume_path(new_desktop.id)
        self.assertEqual(new_gen, self.backing_of(new_path))
        for path in (new_path, self.volume_path(old_desktop.id)):
            self.assert_reads(path, 0x10, 0, 8 * MiB)
            self.assert_reads(path, 0xa0, 16 * MiB, MiB)
            self.assert_reads(path, 0xa1, 17 * MiB, MiB)
        # The old generation lives until the last desktop made from it is
        # deleted.
        self.assertTrue(os.path.exists(old_gen))
        self.delete_volume(old_desktop.id)
        self.assertFalse(os.path.exists(old_gen))
        self.assertEqual([new_gen], self.bases_of(image))

    def test_delta_update_cycle(self):
        # Image X: 48 MiB of data in a 64 MiB disk.
        x = self.pattern_image([(0x10, 0, 16 * MiB), (0x20, 16 * MiB,
                                                      16 * MiB),
                                (0x30, 32 * MiB, 16 * MiB)])
        old_desktop = self.create_volume(imageRef=x)
        template = self.create_volume(imageRef=x)
        self.cinder.volumes.set_metadata(
            template, {'auxo_image_upload_mode': 'delta'})
        # The template desktop changes 1% of X's data (480 KiB).
        self.write(template.id, 0xee, 0, 480 * 1024)

        _resp, body = self.cinder.volumes.upload_to_image(
            template, False, 'auxo-e2e-template-v2', 'bare', 'qcow2',
            'community', False)
        y = body['os-volume_upload_image']['image_id']
        self.addCleanup(self._delete_image, y)
        base.wait_until('image %s active' % y, lambda: self.glance.images.get(
            y)['status'] == 'active', 120)
        self.wait_volume(template.id, 'available')

        # Glance's side: Y holds the diff, not the image.
        x_image, y_image = self.glance.images.get(x), self.glance.images.get(y)
        self.assertLess(y_image['size'], x_image['size'] * 0.03,
                        'delta image of %d bytes for a %d-byte image' %
                        (y_image['size'], x_image['size']))
        self.assertEqual(x, y_image['auxo_delta_parent'])
        self.assertEqual('True', y_image['auxo_delta'])

        # This storage was seeded with Y's base: nothing downloaded.
        y_bases = self.bases_of(y)
        self.assertEqual(1, len(y_bases))
        self.assertEqual(self.bases_of(x)[-1], self.backing_of(y_bases[0]))
        self.assertEqual(0, self.download_count(y))

        # Evicted, Y's base comes back from a download of the diff only.
        self.assertEqual([os.path.basename(y_bases[0])],
                         self.cache_cli('evict', y))
        new_desktop = self.create_volume(imageRef=y)
        self.assertEqual(1, self.download_count(y))
        y_base = self.bases_of(y)[0]
        self.assertLess(os.stat(y_base).st_blocks * 512, 3 * MiB)
        self.assertEqual(self.bases_of(x)[-1], self.backing_of(y_base))

        new_path = self.volume_path(new_desktop.id)
        self.assert_reads(new_path, 0xee, 0, 480 * 1024)
        self.assert_reads(new_path, 0x10, 480 * 1024, 16 * MiB - 480 * 1024)
        self.assert_reads(new_path, 0x30, 32 * MiB, 16 * MiB)
        old_path = self.volume_path(old_desktop.id)
        self.assert_reads(old_path, 0x10, 0, 16 * MiB)
        self.assert_reads(old_path, 0x20, 16 * MiB, 16 * MiB)

        rows = {r['image_id']: r for r in self.cache_cli('list')}
        self.assertEqual(1, rows[y]['children'])
        self.assertEqual(os.path.basename(self.bases_of(x)[-1]),
                         rows[y]['backed_by'])
