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

"""Template lifecycle on real files: delta uploads, delta images on other
storages, chain flattening, zero-copy registration.

Two storages (two LocalFileDriver backends on two directories) play the
template's storage and another compute node's storage.
"""

import json
import os
import subprocess
from unittest import mock

from cinder import exception as cinder_exception
from cinder import objects
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from oslo_utils import uuidutils

from cinder_auxo.drivers import local
from cinder_auxo.engine import cache_admin
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_local_driver as tld

MiB = base.MiB
GiB = base.GiB
OTHER = 'storage-0e3c7a52-8a65-4c71-bb2e-4e0a3e3c1a77'


class CountingImageService(tld.FileImageService):
    """Also counts the bytes each download moves, per image."""

    def __init__(self, directory):
        super(CountingImageService, self).__init__(directory)
        self.bytes_out = {}

    def download(self, context, image_id, data=None):
        self.bytes_out[image_id] = (self.bytes_out.get(image_id, 0) +
                                    os.path.getsize(os.path.join(self.dir,
                                                                 image_id)))
        super(CountingImageService, self).download(context, image_id, data)

    def update(self, context, image_id, meta, data=None, **kwargs):
        record = self.meta.setdefault(image_id, {'id': image_id,
                                                 'properties': {}})
        record.setdefault('properties', {}).update(
            (meta or {}).get('properties', {}))
        if data is not None:
            super(CountingImageService, self).update(context, image_id,
                                                     meta, data)
            path = os.path.join(self.dir, image_id)
            with open(path, 'rb') as f:
                import hashlib
                record['os_hash_value'] = hashlib.sha512(
                    f.read()).hexdigest()
            record.update(os_hash_algo='sha512', disk_format='qcow2',
                          size=os.path.getsize(path))
        return record


class TemplateTestCase(tld.LocalDriverBase):

    def setUp(self):
        super(TemplateTestCase, self).setUp()
        self.images = CountingImageService(self.tmp)
        self.other_mount = os.path.join(self.tmp, 'other')
        os.mkdir(self.other_mount)
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=OTHER)
        self.other = local.LocalFileDriver(configuration=conf)
        for key, value in {'mount_point': self.other_mount,
                           'volume_backend_name': OTHER,
                           'image_volume_cache_enabled': True,
                           'image_cache_maintenance_interval': 0}.items():
            self.conf.config(group=OTHER, **{key: value})
        self.other.do_setup(self.ctxt)
        self.other.check_for_setup_error()

    def _template_image(self):
        """Image X: 96 MiB of data in a 1 GiB disk."""
        return self.images.add(self.image_file(
            [(0x10, 0, 32 * MiB), (0x20, 32 * MiB, 32 * MiB),
             (0x30, 64 * MiB, 32 * MiB)], size=GiB))

    def _new_volume(self, drv, meta, **fields):
        vol = self._volume(**fields)
        _update, cloned = drv.clone_image(self.ctxt, vol, None, meta,
                                          self.images)
        self.assertTrue(cloned)
        return vol

    def _upload_delta(self, vol):
        target = {'id': uuidutils.generate_uuid(), 'disk_format': 'qcow2',
                  'container_format': 'bare', 'properties': {}}
        self.images.meta[target['id']] = dict(target)
        self.driver.copy_volume_to_image(self.ctxt, vol, self.images,
                                         target)
        return self.images.show(self.ctxt, target['id'])

    def _check_template_v2(self, path):
        """X's content with the desktop's 1% changes."""
        base.read_pattern(path, 0xee, 0, MiB)              # changed
        base.read_pattern(path, 0x10, MiB, 31 * MiB)       # from X
        base.read_pattern(path, 0, 32 * MiB, MiB)          # zeroed
        base.read_pattern(path, 0x20, 33 * MiB, 31 * MiB)  # from X
        base.read_pattern(path, 0x30, 64 * MiB, 32 * MiB)  # from X

    def test_delta_update_cycle(self):
        x = self._template_image()
        old_desktop = self._new_volume(self.other, x)
        template = self._new_volume(self.driver, x,
                                    metadata={'auxo_image_upload_mode':
                                              'delta'})
        tpath = self.driver.engine.active(template.id)[0]
        base.write_pattern(tpath, 0xee, 0, MiB)
        base.qemu_io(tpath, 'write -z %d %d' % (32 * MiB, MiB))

        y = self._upload_delta(template)

        # Only the diff travelled: ~1 MiB of data over a 96 MiB image.
        y_file = os.path.join(self.tmp, y['id'])
        x_file = os.path.join(self.tmp, x['id'])
        self.assertLess(os.path.getsize(y_file),
                        os.path.getsize(x_file) * 0.03)
        info = json.loads(subprocess.run(
            ['qemu-img', 'info', '--output=json', y_file],
            check=True, capture_output=True, text=True).stdout)
        self.assertNotIn('backing-filename', info)
        props = y['properties']
        self.assertEqual(x['id'], props[image_cache.DELTA_PARENT])
        self.assertEqual(x['os_hash_value'],
                         props[image_cache.DELTA_PARENT_CHECKSUM])
        self.assertEqual('True', props['auxo_delta'])

        # The template's own storage was seeded: no download of Y there.
        seeded = self._new_volume(self.driver, y)
        self.assertNotIn(y['id'], self.images.bytes_out)
        self._check_template_v2(self.driver.engine.active(seeded.id)[0])

        # The other storage has X: it downloads only Y's delta.
        x_bytes = self.images.bytes_out[x['id']]
        new_desktop = self._new_volume(self.other, y)
        self.assertEqual(os.path.getsize(y_file),
                         self.images.bytes_out[y['id']])
        self.assertEqual(x_bytes, self.images.bytes_out[x['id']])
        npath = self.other.engine.active(new_desktop.id)[0]
        self._check_template_v2(npath)
        chain = [lay.name for lay in self.other.engine.chain(
            self.other.engine.volume(new_desktop.id))]
        self.assertEqual(['base-%s-g1' % y['id'], 'base-%s-g1' % x['id']],
                         chain[1:])

        # Desktops made from X before the update keep X's content.
        opath = self.other.engine.active(old_desktop.id)[0]
        base.read_pattern(opath, 0x10, 0, 32 * MiB)
        base.read_pattern(opath, 0x20, 32 * MiB, 32 * MiB)
        self._check_template_v2(npath)

    def test_storage_without_the_parent_gets_it_first(self):
        x = self._template_image()
        template = self._new_volume(self.driver, x,
                                    metadata={'auxo_image_upload_mode':
                                              'delta'})
        base.write_pattern(self.driver.engine.active(template.id)[0], 0xee,
                           0, MiB)
        y = self._upload_delta(template)
        self.images.bytes_out.clear()
        vol = self._new_volume(self.other, y)
        self.assertEqual({x['id'], y['id']}, set(self.images.bytes_out))
        base.read_pattern(self.other.engine.active(vol.id)[0], 0xee, 0, MiB)

    def test_delta_over_a_vanished_or_changed_parent_is_refused(self):
        x = self._template_image()
        template = self._new_volume(self.driver, x,
                                    metadata={'auxo_image_upload_mode':
                                              'delta'})
        y = self._upload_delta(template)
        self.images.meta[x['id']]['os_hash_value'] = 'f' * 128
        err = self.assertRaises(cinder_exception.ImageUnacceptable,
                                self._new_volume, self.other, y)
        self.assertIn('checksum', str(err))
        del self.images.meta[x['id']]
        with mock.patch.object(self.images, 'show',
                               side_effect=self._show_or_not_found,
                               autospec=True):
            err = self.assertRaises(cinder_exception.ImageUnacceptable,
                                    self._new_volume, self.other, y)
        self.assertIn('which is gone', str(err))
        self.assertEqual([], [n for n in base.listing(self.other_mount)
                              if n != '_base'])

    def _show_or_not_found(self, context, image_id):
        if image_id not in self.images.meta:
            raise cinder_exception.ImageNotFound(image_id=image_id)
        return dict(self.images.meta[image_id])

    def test_full_upload_of_a_delta_made_volume_is_standalone(self):
        x = self._template_image()
        template = self._new_volume(self.driver, x,
                                    metadata={'auxo_image_upload_mode':
                                              'delta'})
        y = self._upload_delta(template)
        desktop = self._new_volume(self.other, y)
        target = {'id': uuidutils.generate_uuid(), 'disk_format': 'qcow2',
                  'container_format': 'bare',
                  'properties': dict(y['properties'])}
        self.images.meta[target['id']] = dict(target)
        self.other.copy_volume_to_image(self.ctxt, desktop, self.images,
                                        target)
        full = self.images.show(self.ctxt, target['id'])
        self.assertEqual('', full['properties'][image_cache.DELTA_PARENT])
        subprocess.run(['qemu-img', 'compare', '-f', 'qcow2', '-F', 'qcow2',
                        self.other.engine.active(desktop.id)[0],
                        os.path.join(self.tmp, target['id'])], check=True)

    def test_long_base_chains_are_flattened_and_old_generations_go(self):
        self.conf.config(group=tld.BACKEND, image_cache_max_base_chain=2)
        image = self._template_image()
        desktops, versions = [], []
        for i in range(3):
            template = self._new_volume(
                self.driver, image,
                metadata={'auxo_image_upload_mode': 'delta'})
            base.write_pattern(self.driver.engine.active(template.id)[0],
                               0xa0 + i, (100 + i) * MiB, MiB)
            image = self._upload_delta(template)
            versions.append(image['id'])
            desktops.append(self._new_volume(self.driver, image))
        last = image['id']
        latest = self.driver.image_cache.latest(last)
        self.assertEqual(4, len(self.driver.engine.chain(latest)))

        # One image only (cinder-auxo-cache flatten --image): the one
        # below the last, whose chain is 3 long.
        admin = cache_admin.CacheAdmin(self.driver.image_cache)
        self.assertEqual([naming.base(versions[1], 2)],
                         admin.flatten_deep(2, only_image=versions[1]))
        self.assertEqual(latest, self.driver.image_cache.latest(last))
        # Then every image over the limit: the last one.
        self.driver.maintain_image_cache()
        flat = self.driver.image_cache.latest(last)
        self.assertEqual(2, naming.parse(flat.name).generation)
        self.assertEqual(1, len(self.driver.engine.chain(flat)))
        fresh = self._new_volume(self.driver, image)
        fpath = self.driver.engine.active(fresh.id)[0]
        for i in range(3):
            base.read_pattern(fpath, 0xa0 + i, (100 + i) * MiB, MiB)
        base.read_pattern(fpath, 0x30, 64 * MiB, 32 * MiB)
        # g1 stays while the desktop made from it lives.
        g1 = naming.base(last, 1)
        self.assertTrue(self.driver.engine.cache.exists(g1))
        self.driver.delete_volume(desktops[-1])
        self.assertFalse(self.driver.engine.cache.exists(g1))
        base.read_pattern(fpath, 0xa2, 102 * MiB, MiB)

    def test_zero_copy_registration_from_a_cinder_location(self):
        x = self._template_image()
        image_volume = self._new_volume(self.driver, x)
        ipath = self.driver.engine.active(image_volume.id)[0]
        base.write_pattern(ipath, 0x5c, 0, MiB)
        location = ('cinder://%s' % image_volume.id,
                    [{'url': 'cinder://%s' % image_volume.id}])
        meta = {'id': uuidutils.generate_uuid(), 'disk_format': 'raw',
                'properties': {}}
        with mock.patch.object(objects.Volume, 'get_by_id',
                               return_value=image_volume, autospec=True):
            vols = []
            for _i in range(2):
                vol = self._volume()
                before = self._storage_bytes()
                _u, cloned = self.driver.clone_image(self.ctxt, vol,
                                                     location, meta,
                                                     self.images)
                self.assertTrue(cloned)
                self.assertLess(self._storage_bytes() - before, MiB)
                vols.append(vol)
        # The image volume stays writable; its later writes stay its own.
        base.write_pattern(ipath, 0x5d, 0, MiB)
        for vol in vols:
            base.read_pattern(self.driver.engine.active(vol.id)[0], 0x5c,
                              0, MiB)
        # Both new volumes share one frozen layer.
        backing = {self.driver.engine.chain(
            self.driver.engine.volume(v.id))[1].name for v in vols}
        self.assertEqual(1, len(backing))
        self.assertNotIn(meta['id'], self.images.bytes_out)

    def _storage_bytes(self):
        return base.tree_bytes(self.mount)
