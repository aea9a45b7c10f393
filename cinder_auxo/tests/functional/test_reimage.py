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

"""Reimage (cinder's os-reimage, nova's rebuild) on real files.

cinder 29's VolumeManager.reimage calls the driver's
copy_image_to_volume on a volume that holds a desktop; so does a
create-from-image that the cache does not serve.
"""

import os

from cinder import exception as cinder_exception
from cinder.tests.unit import fake_snapshot
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
GiB = base.GiB
V1, V2, OWN = 0x71, 0x72, 0x3d


class ReimageTestCase(test_local_driver.LocalDriverBase):

    def setUp(self):
        super(ReimageTestCase, self).setUp()
        self.v1 = self.images.add(self.image_file([(V1, 0, 4 * MiB)]))
        self.v2 = self.images.add(self.image_file([(V2, 0, 2 * MiB)]))

    def _desktop(self):
        vol, _cloned = self._from_image(self.v1)
        path, _fmt = self.driver.engine.active(vol.name_id)
        base.write_pattern(path, OWN, 8 * MiB, MiB)
        return vol

    def _reimage(self, drv, vol, meta):
        drv.copy_image_to_volume(self.ctxt, vol, self.images, meta['id'],
                                 disable_sparse=True)
        return drv.engine.volume(vol.name_id)

    def test_reimage_is_a_new_overlay_on_the_cached_base(self):
        vol = self._desktop()
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.driver.create_snapshot(snap)
        self._from_image(self.v2)  # the new template is cached already
        downloads = self.images.downloads
        top = self._reimage(self.driver, vol, self.v2)
        self.assertEqual(downloads, self.images.downloads)
        chain = self.driver.engine.chain(top)
        self.assertEqual([top.name, 'base-%s-g1' % self.v2['id']],
                         [layer.name for layer in chain])
        base.read_pattern(top.path, V2, 0, 2 * MiB)
        base.read_pattern(top.path, 0, 2 * MiB, 2 * MiB)
        base.read_pattern(top.path, 0, 8 * MiB, MiB)
        self.assertLess(base.allocated_bytes(top.path), MiB)
        self.assertEqual(GiB, self.driver.engine.qemu.virtual_size(
            top.path, top.fmt))
        # The snapshot keeps the desktop as it was, on the old template.
        self.driver.revert_to_snapshot(self.ctxt, vol, snap)
        path, _fmt = self.driver.engine.active(vol.name_id)
        base.read_pattern(path, V1, 0, 4 * MiB)
        base.read_pattern(path, OWN, 8 * MiB, MiB)

    def test_reimage_without_the_cache_replaces_the_chain(self):
        vol = self._desktop()
        drv = self._driver(image_volume_cache_enabled=False)
        top = self._reimage(drv, vol, self.v2)
        self.assertEqual([top], drv.engine.chain(top))
        base.read_pattern(top.path, V2, 0, 2 * MiB)
        base.read_pattern(top.path, 0, 8 * MiB, MiB)
        self.assertEqual(GiB, drv.engine.qemu.virtual_size(top.path,
                                                           top.fmt))
        # Nothing was left of the old chain but the cache's own base.
        self.assertEqual(['_base', top.name], base.listing(self.mount))

    def test_base_of_a_deleted_image_goes_with_its_last_desktop(self):
        desktops = [self._desktop() for _i in range(3)]
        self._from_image(self.v2)
        cache = self.driver.image_cache
        v1_bases = [b.name for b in cache.bases(self.v1['id'])]
        self.assertEqual(['base-%s-g1' % self.v1['id']], v1_bases)

        # While the image exists its base is a cache: it stays.
        self._reimage(self.driver, desktops[0], self.v2)
        self.assertEqual(v1_bases,
                         [b.name for b in cache.bases(self.v1['id'])])
        # Deleted from Glance (a retired template version), it goes with
        # the last desktop that stands on it, not before.
        self.images.delete(self.ctxt, self.v1['id'])
        self._reimage(self.driver, desktops[1], self.v2)
        self.assertEqual(v1_bases,
                         [b.name for b in cache.bases(self.v1['id'])])
        top = self._reimage(self.driver, desktops[2], self.v2)
        self.assertEqual([], cache.bases(self.v1['id']))
        self.assertEqual(['base-%s-g1' % self.v2['id']],
                         [b.name for b in cache.bases()])
        base.read_pattern(top.path, V2, 0, 2 * MiB)
        for vol in desktops:
            path, _fmt = self.driver.engine.active(vol.name_id)
            base.read_pattern(path, V2, 0, 2 * MiB)
            base.read_pattern(path, 0, 2 * MiB, 2 * MiB)

    def test_reimage_onto_a_newer_generation_collects_the_old_one(self):
        vol = self._desktop()
        cache = self.driver.image_cache
        old = cache.latest(self.v1['id'])
        # The image gets a newer base (g2) while the desktop is on g1.
        work = self.driver.engine.copy_to_temp(old.path, old.fmt,
                                               cache.store, old.fmt)
        newer = cache.rename_to_next_generation(self.v1['id'], work)
        self.assertEqual([old.name, newer.name],
                         [b.name for b in cache.bases(self.v1['id'])])

        top = self._reimage(self.driver, vol, self.v1)
        # g1's last child moved to g2: g1 goes, g2 stays as the cache.
        self.assertEqual([newer.name],
                         [b.name for b in cache.bases(self.v1['id'])])
        self.assertEqual(newer.name, self.driver.engine.chain(top)[1].name)
        base.read_pattern(top.path, V1, 0, 4 * MiB)
        base.read_pattern(top.path, 0, 8 * MiB, MiB)

    def test_failed_reimage_keeps_the_desktop(self):
        vol = self._desktop()
        before = self._reference(vol)
        drv = self._driver(image_volume_cache_enabled=False)
        # Glance says qcow2; the bytes are not.
        junk = os.path.join(self.tmp, 'junk')
        with open(junk, 'wb') as f:
            f.write(os.urandom(MiB))
        broken = self.images.add(junk, disk_format='qcow2')
        for d in (self.driver, drv):
            self.assertRaises(cinder_exception.ImageUnacceptable,
                              self._reimage, d, vol, broken)
            path, fmt = d.engine.active(vol.name_id)
            base.read_pattern(path, V1, 0, 4 * MiB)
            base.read_pattern(path, OWN, 8 * MiB, MiB)
            self.assertEqual([], [n for n in base.listing(self.mount)
                                  if naming.is_temp(n)])
        self.assertEqual(before, self._reference(vol))

    def _reference(self, vol):
        ref = os.path.join(self.tmp, 'ref-%s' % uuidutils.generate_uuid())
        self.driver.engine.flatten_to(vol.name_id, ref, naming.RAW)
        with open(ref, 'rb') as f:
            return f.read(16 * MiB)
