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

"""The image cache on real qemu-img and files: download once, copy
nothing, refuse hostile images and leave nothing behind."""

import hashlib
import os
import shutil
import subprocess
import sys

from oslo_utils import uuidutils

from cinder import exception as cinder_exception
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.tests.functional import base

MiB = base.MiB
GiB = base.GiB


def new_id():
    return uuidutils.generate_uuid()


class Glance(object):
    """Serves image files the way cinder's image service would.

    Bytes, plus metadata with Glance's multihash.
    """

    def __init__(self):
        self.downloads = 0
        self.images = {}

    def add(self, path, disk_format='qcow2', **overrides):
        image_id = new_id()
        with open(path, 'rb') as f:
            data = f.read()
        meta = {'id': image_id, 'disk_format': disk_format,
                'size': len(data), 'os_hash_algo': 'sha512',
                'os_hash_value': hashlib.sha512(data).hexdigest()}
        meta.update(overrides)
        self.images[image_id] = path
        return meta

    def fetcher(self, image_id):
        def fetch(dest):
            self.downloads += 1
            shutil.copyfile(self.images[image_id], dest)
        return fetch


class ImageCacheTestCase(base.FunctionalTestCase):

    def setUp(self):
        super(ImageCacheTestCase, self).setUp()
        base.disable_privsep()
        self.glance = Glance()

    def _create(self, meta, size=GiB, fmt='qcow2', volume_id=None):
        volume_id = volume_id or new_id()
        layer, _downloaded = self.cache.create_volume(
            meta['id'], meta, self.glance.fetcher(meta['id']), volume_id,
            size, fmt)
        return volume_id, layer

    def _cache_listing(self):
        return base.listing(os.path.join(self.mount, '_base'))

    def test_second_volume_copies_no_image_data(self):
        image = self.image_file([(0x5a, 0, 32 * MiB), (0xa5, 40 * MiB, MiB)])
        meta = self.glance.add(image)
        _v1, first = self._create(meta)
        written_before = self._storage_bytes()
        v2, second = self._create(meta)
        written = self._storage_bytes() - written_before

        self.assertEqual(1, self.glance.downloads)
        bases = self.cache.bases(meta['id'])
        self.assertEqual(1, len(bases))
        for layer in (first, second):
            self.assertEqual(bases[0], self.engine.chain(layer)[1])
            base.read_pattern(layer.path, 0x5a, 0, 32 * MiB)
            base.read_pattern(layer.path, 0xa5, 40 * MiB, MiB)
        # The second volume is a header and empty tables, not 33 MiB.
        self.assertLess(written, MiB)
        self.assertLess(base.allocated_bytes(second.path), MiB)
        # Its writes stay its own.
        base.write_pattern(second.path, 0x01, 0, MiB)
        base.read_pattern(first.path, 0x5a, 0, MiB)
        base.read_pattern(bases[0].path, 0x5a, 0, MiB)
        self.engine.delete_volume(v2)
        self.assertTrue(os.path.exists(bases[0].path))

    def _storage_bytes(self):
        return base.tree_bytes(self.mount)

    def test_raw_image_and_raw_bases_and_raw_volumes(self):
        self.engine, self.cache = self.make_engine(base_fmt='raw')
        image = self.image_file([(0x3c, MiB, MiB)], size=16 * MiB, fmt='raw')
        meta = self.glance.add(image, disk_format='raw')
        _v, overlay = self._create(meta)
        self.assertTrue(self.cache.latest(meta['id']).name.endswith('.raw'))
        base.read_pattern(overlay.path, 0x3c, MiB, MiB)
        _v, copy = self._create(meta, fmt='raw')
        self.assertEqual('raw', copy.fmt)
        self.assertEqual(GiB, qemu.raw_size(copy.path))
        base.read_pattern(copy.path, 0x3c, MiB, MiB, fmt='raw')
        self.assertEqual(1, self.glance.downloads)

    def test_concurrent_creates_download_once(self):
        image = self.image_file([(0x6b, 0, 8 * MiB)])
        image_id = new_id()
        log = os.path.join(self.tmp, 'downloads.log')
        procs = []
        volume_ids = [new_id() for _i in range(20)]
        for vid in volume_ids:
            procs.append(subprocess.Popen(
                [sys.executable, '-m',
                 'cinder_auxo.tests.functional.create_from_image',
                 self.mount, self.lock_path, image, image_id, vid, log],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            self.assertEqual(0, proc.returncode, err[-2000:])
        with open(log) as f:
            self.assertEqual(1, len(f.read().split()))
        bases = self.cache.bases(image_id)
        self.assertEqual(1, len(bases))
        self.assertEqual(20, len(self.engine.children(bases[0])))
        for vid in volume_ids:
            base.read_pattern(self.vpath(vid), 0x6b, 0, 8 * MiB)
        self.assertEqual([bases[0].name], self._cache_listing())

    # -- hostile or broken images ------------------------------------------

    def _assert_refused(self, meta, size=GiB, error=None):
        before = self.listing()
        vid = new_id()
        err = self.assertRaises(error or cinder_exception.ImageUnacceptable,
                                self._create, meta, size, volume_id=vid)
        self.assertEqual(before, self.listing())
        self.assertEqual([], self._cache_listing())
        self.assertFalse(os.path.exists(self.vpath(vid)))
        return err

    def test_backing_file_on_the_host_is_refused(self):
        image = os.path.join(self.tmp, 'evil.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b',
                        '/etc/hostname', '-F', 'raw', image, str(64 * MiB)],
                       check=True)
        self._assert_refused(self.glance.add(image))

    def test_qcow2_data_file_is_refused(self):
        image = os.path.join(self.tmp, 'datafile.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o',
                        'data_file=%s' % os.path.join(self.tmp, 'ext.raw'),
                        image, str(64 * MiB)], check=True)
        self._assert_refused(self.glance.add(image))

    def test_virtual_size_larger_than_volume_is_refused_before_download(
            self):
        image = self.image_file([], size=2 * GiB)
        meta = self.glance.add(image, virtual_size=2 * GiB)
        err = self._assert_refused(meta, size=GiB)
        self.assertIn("doesn't fit", str(err))
        self.assertEqual(0, self.glance.downloads)
        # Without Glance's virtual_size, the download itself is checked.
        meta = self.glance.add(image)
        self._assert_refused(meta, size=GiB)
        self.assertEqual(1, self.glance.downloads)

    def test_cached_base_larger_than_volume_is_refused(self):
        image = self.image_file([(0x01, 0, MiB)], size=2 * GiB)
        meta = self.glance.add(image)
        self._create(meta, size=2 * GiB)
        vid = new_id()
        self.assertRaises(cinder_exception.ImageUnacceptable, self._create,
                          meta, GiB, volume_id=vid)
        self.assertFalse(os.path.exists(self.vpath(vid)))

    def test_vmdk_with_host_extent_is_refused(self):
        image = os.path.join(self.tmp, 'flat.vmdk')
        with open(image, 'w') as f:
            f.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                    'parentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
                    'RW 2048 FLAT "/etc/hostname" 0\n\n'
                    'ddb.virtualHWVersion = "4"\n')
        self._assert_refused(self.glance.add(image, disk_format='vmdk'))

    def test_truncated_qcow2_is_refused(self):
        image = self.image_file([(0x22, 0, 8 * MiB)])
        with open(image, 'r+b') as f:
            f.truncate(200 * 1024)
        err = self._assert_refused(self.glance.add(image))
        self.assertIn('damaged or truncated', str(err))

    def test_format_mismatch_is_refused(self):
        image = self.image_file([(0x22, 0, MiB)])
        self._assert_refused(self.glance.add(image, disk_format='raw'))

    def test_checksum_mismatch_is_refused(self):
        image = self.image_file([(0x22, 0, MiB)])
        meta = self.glance.add(image, os_hash_value='0' * 128)
        err = self._assert_refused(meta)
        self.assertIn('checksum', str(err))

    def test_image_bigger_than_the_free_space_is_refused_first(self):
        # Only the free-space pre-check; test_full_disk.py fills a disk.
        image = self.image_file([(0x22, 0, MiB)])
        meta = self.glance.add(image, size=1 << 62)
        self._assert_refused(meta, error=cinder_exception.ImageTooBig)

    # -- releasing -----------------------------------------------------------

    def test_base_is_kept_while_used_and_evicted_when_unused(self):
        meta = self.glance.add(self.image_file([(0x31, 0, MiB)]))
        v1, _layer = self._create(meta)
        snap = new_id()
        self.engine.create_snapshot(v1, snap)
        self.assertEqual([], self.cache.evict(meta['id']))
        self.engine.delete_snapshot(snap)
        self.assertEqual([], self.cache.evict(meta['id']))
        self.engine.delete_volume(v1)
        base_name = naming.base(meta['id'], 1)
        self.assertEqual([base_name], self.cache.evict(meta['id']))
        self.assertEqual([], self._cache_listing())

    def test_old_generation_is_collected_after_its_last_child(self):
        meta = self.glance.add(self.image_file([(0x31, 0, MiB)]))
        v1, _layer = self._create(meta)
        old = self.cache.latest(meta['id'])
        # A newer generation appears (e.g. after a template update).
        download = os.path.join(self.tmp, 'g2.qcow2')
        shutil.copyfile(self.glance.images[meta['id']], download)
        self.cache._publish(meta['id'], _Download(download))
        self.assertEqual(2, len(self.cache.bases(meta['id'])))
        self.assertEqual([], self.cache.collect_superseded(meta['id']))
        self.engine.delete_volume(v1)
        self.assertEqual([old.name],
                         self.cache.collect_superseded(meta['id']))
        v2, layer = self._create(meta)
        self.assertEqual('base-%s-g2' % meta['id'],
                         self.engine.chain(layer)[1].name)


class _Download(object):
    def __init__(self, path):
        self.path = path
