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

"""What a hypervisor relies on, on real files: recorded backing formats
(repaired at start-up for layers of older releases) and the modes of
shared layers."""

import hashlib
import os
import stat
import subprocess

import ddt
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_image_cache
from cinder_auxo.tests import qcow2

MiB = base.MiB


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@ddt.ddt
class LayerSafetyTestCase(base.FunctionalTestCase):

    def setUp(self):
        super(LayerSafetyTestCase, self).setUp()
        base.disable_privsep()
        self.glance = test_image_cache.Glance()
        image = self.image_file([(0x11, 0, MiB), (0x22, 8 * MiB, MiB)])
        self.meta = self.glance.add(image)

    def _volume(self, cache=None):
        cache = cache or self.cache
        volume_id = uuidutils.generate_uuid()
        layer, _ = cache.create_volume(
            self.meta['id'], self.meta,
            self.glance.fetcher(self.meta['id']), volume_id, 64 * MiB,
            naming.QCOW2)
        return volume_id, layer

    def _base(self, cache=None):
        return (cache or self.cache).latest(self.meta['id'])

    # -- shared layers ------------------------------------------------------

    def test_published_base_is_read_only_and_stays_unchanged(self):
        vol_a, top_a = self._volume()
        vol_b, top_b = self._volume()
        base_layer = self._base()
        self.assertEqual(0o444, mode(base_layer.path))
        # QEMU processes reach the bases by path.
        self.assertTrue(mode(os.path.dirname(base_layer.path)) & stat.S_IXOTH)
        before = sha256(base_layer.path)
        base.write_pattern(top_a.path, 0x33, 0, MiB)
        base.write_pattern(top_b.path, 0x44, 8 * MiB, MiB)
        snap = self.engine.create_snapshot(vol_a, uuidutils.generate_uuid())
        self.assertEqual(0o644, mode(snap.path))
        top_a = self.engine.volume(vol_a)
        self.assertEqual(0o640, mode(top_a.path))
        base.write_pattern(top_a.path, 0x55, 4 * MiB, MiB)
        self.engine.delete_snapshot(naming.parse(snap.name).ident)
        # Merged by commit or rebase: the top is the volume's own again.
        self.assertEqual(0o640, mode(self.engine.volume(vol_a).path))
        base.read_pattern(self.engine.volume(vol_a).path, 0x33, 0, MiB)
        base.read_pattern(top_b.path, 0x11, 0, MiB)
        self.assertEqual(before, sha256(base_layer.path))
        self.assertEqual(0o444, mode(base_layer.path))

    def test_start_up_gives_older_layers_their_modes(self):
        vol, _top = self._volume()
        snap = self.engine.create_snapshot(vol, uuidutils.generate_uuid())
        base_layer = self._base()
        os.chmod(base_layer.path, 0o640)
        os.chmod(snap.path, 0o640)
        os.chmod(self.cache.store.directory, 0o750)
        self.engine, self.cache = self.make_engine()    # checks the stores
        self.engine.cleanup()
        self.assertEqual(0o751, mode(self.cache.store.directory))
        self.assertEqual(0o444, mode(base_layer.path))
        self.assertEqual(0o644, mode(snap.path))
        self.assertEqual(0o640, mode(self.engine.volume(vol).path))

    # -- backing formats ----------------------------------------------------

    @ddt.data(naming.QCOW2, naming.RAW)
    def test_start_up_records_missing_backing_formats(self, base_fmt):
        _engine, cache = self.make_engine(base_fmt=base_fmt)
        vol, _top = self._volume(cache)
        snap = self.engine.create_snapshot(vol, uuidutils.generate_uuid())
        top = self.engine.volume(vol)
        base.write_pattern(top.path, 0x66, 8 * MiB, MiB)
        flat = os.path.join(self.tmp, 'before.raw')
        subprocess.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw',
                        top.path, flat], check=True)
        names = {p: qemu.read_backing_file(p) for p in (snap.path, top.path)}
        for path in names:
            qcow2.drop_backing_format(path)
            self.assertIsNone(qemu.read_backing_format(path))

        self.engine.cleanup()

        self.assertEqual(base_fmt, qemu.read_backing_format(snap.path))
        self.assertEqual(naming.QCOW2, qemu.read_backing_format(top.path))
        # Same backing names, same disk.
        self.assertEqual(names, {p: qemu.read_backing_file(p)
                                 for p in names})
        subprocess.run(['qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2',
                        flat, top.path], check=True, capture_output=True)
        base.read_pattern(top.path, 0x11, 0, MiB)
        base.read_pattern(top.path, 0x66, 8 * MiB, MiB)
        self.assertEqual(0o444, mode(self._base(cache).path))

    def test_read_only_delta_base_gets_its_format_and_stays_read_only(self):
        self._volume()
        parent = self._base()
        delta = self.image_file([(0x77, 2 * MiB, MiB)])
        child = self.cache.publish_delta(uuidutils.generate_uuid(), delta,
                                         parent)
        self.assertEqual(0o444, mode(child.path))
        qcow2.drop_backing_format(child.path)

        self.engine.cleanup()

        self.assertEqual(naming.QCOW2, qemu.read_backing_format(child.path))
        self.assertEqual(0o444, mode(child.path))
        base.read_pattern(child.path, 0x11, 0, MiB)
        base.read_pattern(child.path, 0x77, 2 * MiB, MiB)

    def test_backing_that_reads_as_another_format_is_left_alone(self):
        _engine, cache = self.make_engine(base_fmt=naming.RAW)
        vol, top = self._volume(cache)
        base_layer = self._base(cache)
        # A raw base whose bytes are a qcow2 image: without -F, QEMU read
        # it as qcow2 so far; recording raw would change the disk.
        fake = os.path.join(self.tmp, 'fake.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', fake,
                        '1M'], check=True)
        with open(fake, 'rb') as src, open(base_layer.path, 'r+b') as dst:
            dst.write(src.read())
        qcow2.drop_backing_format(top.path)
        before = sha256(top.path)

        self.engine.cleanup()

        self.assertIsNone(qemu.read_backing_format(top.path))
        self.assertEqual(before, sha256(top.path))
