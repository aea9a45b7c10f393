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

"""LocalFileDriver through cinder's own objects, on real files.

The image service here serves real bytes (the end-to-end suite drives the
same paths through Glance and the cinder services).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

from cinder import context as cinder_context
from cinder import exception as cinder_exception
from cinder import objects
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from cinder.volume import volume_utils
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils

from cinder_auxo.drivers import local
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo.tests.functional import base
from cinder_auxo.tests import qcow2

MiB = base.MiB
GiB = base.GiB
BACKEND = 'storage-2684de03-f940-4519-8f41-daeb9616b0ca'


class FileImageService(object):
    """download/show/update as cinder's GlanceImageService does them."""

    temp_images = None

    def __init__(self, directory):
        self.dir = directory
        self.meta = {}
        self.downloads = 0

    def add(self, path, disk_format='qcow2'):
        image_id = uuidutils.generate_uuid()
        dest = os.path.join(self.dir, image_id)
        shutil.copyfile(path, dest)
        with open(dest, 'rb') as f:
            digest = hashlib.sha512(f.read()).hexdigest()
        self.meta[image_id] = {
            'id': image_id, 'disk_format': disk_format,
            'container_format': 'bare', 'size': os.path.getsize(dest),
            'os_hash_algo': 'sha512', 'os_hash_value': digest,
            'properties': {}}
        return self.meta[image_id]

    def show(self, context, image_id):
        if image_id not in self.meta:
            raise cinder_exception.ImageNotFound(image_id=image_id)
        return dict(self.meta[image_id])

    def delete(self, context, image_id):
        del self.meta[image_id]
        os.unlink(os.path.join(self.dir, image_id))

    def download(self, context, image_id, data=None):
        self.downloads += 1
        with open(os.path.join(self.dir, image_id), 'rb') as f:
            shutil.copyfileobj(f, data)

    def update(self, context, image_id, meta, data=None, **kwargs):
        with open(os.path.join(self.dir, image_id), 'wb') as f:
            shutil.copyfileobj(data, f)
        return self.meta.setdefault(image_id, {'id': image_id})


class LocalDriverBase(base.FunctionalTestCase):
    """A LocalFileDriver on a temporary mount point.

    Set up by cinder's configuration machinery, with helpers around cinder
    objects.
    """

    def setUp(self):
        super(LocalDriverBase, self).setUp()
        base.disable_privsep()
        objects.register_all()
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        lockutils.set_defaults(self.lock_path)
        self.conf.config(image_conversion_dir=os.path.join(self.tmp, 'conv'))
        self.ctxt = cinder_context.get_admin_context()
        self.images = FileImageService(self.tmp)
        self.driver = self._driver()

    def _driver(self, **overrides):
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=BACKEND)
        drv = local.LocalFileDriver(configuration=conf)
        values = {'mount_point': self.mount,
                  'volume_backend_name': BACKEND,
                  'image_volume_cache_enabled': True,
                  'image_cache_maintenance_interval': 0}
        values.update(overrides)
        for key, value in values.items():
            self.conf.config(group=BACKEND, **{key: value})
        drv.do_setup(self.ctxt)
        drv.check_for_setup_error()
        return drv

    def _volume(self, size=1, metadata=None, **kw):
        fields = {'status': 'available', 'attach_status': 'detached'}
        fields.update(kw)
        vol = fake_volume.fake_volume_obj(
            self.ctxt, id=uuidutils.generate_uuid(), size=size, **fields)
        vol.metadata = metadata or {}
        return vol

    def _from_image(self, meta, size=1):
        vol = self._volume(size)
        update, cloned = self.driver.clone_image(self.ctxt, vol, None, meta,
                                                 self.images)
        return vol, cloned

    def _path(self, vol):
        return self.driver.engine.active(vol.id)


class LocalDriverTestCase(LocalDriverBase):

    # -- images ------------------------------------------------------------

    def test_clone_image_uses_the_cache(self):
        image = self.image_file([(0x7e, 0, 4 * MiB)])
        meta = self.images.add(image)
        v1, cloned1 = self._from_image(meta)
        v2, cloned2 = self._from_image(meta)
        self.assertTrue(cloned1 and cloned2)
        self.assertEqual(1, self.images.downloads)
        for vol in (v1, v2):
            path, fmt = self._path(vol)
            self.assertEqual('qcow2', fmt)
            base.read_pattern(path, 0x7e, 0, 4 * MiB)
            info = self.driver.engine.qemu.info(path, fmt)
            self.assertEqual(GiB, info['virtual-size'])
            self.assertIn('/_base/base-%s-g1' % meta['id'],
                          info['backing-filename'])

    def test_cache_disabled_is_the_stock_full_copy(self):
        drv = self._driver(image_volume_cache_enabled=False)
        meta = self.images.add(self.image_file([(0x7e, 0, 4 * MiB)]))
        vol = self._volume(size=1)
        self.assertEqual((None, False),
                         drv.clone_image(self.ctxt, vol, None, meta,
                                         self.images))
        drv.create_volume(vol)
        drv.copy_image_to_volume(self.ctxt, vol, self.images, meta['id'])
        path, fmt = drv.engine.active(vol.id)
        info = drv.engine.qemu.info(path, fmt)
        self.assertNotIn('backing-filename', info)
        self.assertEqual(GiB, info['virtual-size'])
        base.read_pattern(path, 0x7e, 0, 4 * MiB)
        self.assertEqual([], base.listing(os.path.join(self.mount, '_base')))

    def test_upload_to_image_sends_the_whole_chain(self):
        meta = self.images.add(self.image_file([(0x7e, 0, 4 * MiB)]))
        vol, _cloned = self._from_image(meta)
        path, _fmt = self._path(vol)
        base.write_pattern(path, 0x3d, MiB, MiB)
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.driver.create_snapshot(snap)
        base.write_pattern(path, 0x3e, 8 * MiB, MiB)
        for disk_format in ('qcow2', 'raw'):
            target = {'id': uuidutils.generate_uuid(),
                      'disk_format': disk_format, 'container_format': 'bare'}
            self.driver.copy_volume_to_image(self.ctxt, vol, self.images,
                                             target)
            uploaded = os.path.join(self.tmp, target['id'])
            out = subprocess.run(
                ['qemu-img', 'info', '--output=json', '-f', disk_format,
                 uploaded], check=True, capture_output=True, text=True)
            self.assertNotIn('backing-filename', json.loads(out.stdout))
            subprocess.run(['qemu-img', 'compare', '-f', 'qcow2', '-F',
                            disk_format, path, uploaded], check=True,
                           capture_output=True)
        self.assertEqual([], os.listdir(os.path.join(self.tmp, 'conv')))

    # -- attach ------------------------------------------------------------

    def test_connection_info_attaches_through_os_brick(self):
        meta = self.images.add(self.image_file([(0x7e, 0, MiB)]))
        vol, _cloned = self._from_image(meta)
        info = self.driver.initialize_connection(vol, {'host': 'h'})
        self.assertEqual('local', info['driver_volume_type'])
        self.assertEqual('qcow2', info['data']['format'])
        connector = volume_utils.brick_get_connector(
            info['driver_volume_type'])
        device = connector.connect_volume(info['data'])
        base.read_pattern(device['path'], 0x7e, 0, MiB,
                          info['data']['format'])
        connector.disconnect_volume(info['data'], device)

    # -- guards and health ---------------------------------------------------

    def test_attached_volume_chain_is_not_rewritten(self):
        vol = self._volume(status='in-use', attach_status='attached')
        self.driver.create_volume(vol)
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.assertRaises(exception.VolumeAttached,
                          self.driver.create_snapshot, snap)
        self.assertRaises(exception.VolumeAttached,
                          self.driver.extend_volume, vol, 2)

    def test_stats_report_down_with_a_reason_and_recover(self):
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])
        self.assertGreater(stats['total_capacity_gb'], 0)
        for key in ('free_capacity_gb', 'provisioned_capacity_gb',
                    'thin_provisioning_support',
                    'max_over_subscription_ratio'):
            self.assertIn(key, stats)
        os.rename(self.mount, self.mount + '.away')
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertIn('does not exist', stats['backend_state_reason'])
        os.rename(self.mount + '.away', self.mount)
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])

    def test_one_damaged_layer_leaves_the_backend_up(self):
        # A volume file with no complete header (cut short by a full disk
        # or by another tool) is that volume's problem: the scheduler must
        # keep placing volumes here.
        vol = self._volume()
        self.driver.create_volume(vol)
        damaged = self.driver.engine.volumes.path(
            naming.layer(naming.VOLUME, uuidutils.generate_uuid()))
        with open(damaged, 'wb') as f:
            f.write(b'QFI')
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])
        self.assertEqual(vol.size, stats['provisioned_capacity_gb'])
        # A restart of the backend starts, and leaves the file alone.
        self._driver()
        self.assertTrue(os.path.exists(damaged))
        self.assertTrue(os.path.exists(self._path(vol)[0]))

    def test_setup_errors_are_clear(self):
        err = self.assertRaises(exception.StorageUnavailable, self._driver,
                                mount_point='')
        self.assertIn('mount_point is not set', str(err))
        err = self.assertRaises(exception.StorageUnavailable, self._driver,
                                mount_point=os.path.join(self.tmp, 'nope'))
        self.assertIn('is the file system mounted', str(err))

    def test_start_up_removes_orphans(self):
        vol = self._volume()
        self.driver.create_volume(vol)
        orphans = [os.path.join(self.mount, '.tmp-%s.qcow2' %
                                uuidutils.generate_uuid()),
                   os.path.join(self.mount, '_base', '.tmp-%s.download' %
                                uuidutils.generate_uuid())]
        for path in orphans:
            open(path, 'w').close()
        self._driver()
        for path in orphans:
            self.assertFalse(os.path.exists(path))
        self.assertTrue(os.path.exists(self._path(vol)[0]))

    def test_start_up_records_backing_formats_older_releases_left_out(self):
        meta = self.images.add(self.image_file([(0x7e, 0, 4 * MiB)]))
        vol, _cloned = self._from_image(meta)
        path, _fmt = self._path(vol)
        base.write_pattern(path, 0x3d, MiB, MiB)
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.driver.create_snapshot(snap)
        layers = [layer.path for layer in self.driver.engine.chain(
            self.driver.engine.volume(vol.id))]
        self.assertEqual(3, len(layers))
        for layer in layers[:2]:
            qcow2.drop_backing_format(layer)
        self.assertEqual([None, None, None],
                         [qemu.read_backing_format(p) for p in layers])

        self._driver()      # do_setup + check_for_setup_error

        self.assertEqual(['qcow2', 'qcow2', None],
                         [qemu.read_backing_format(p) for p in layers])
        base.read_pattern(path, 0x7e, 0, MiB)
        base.read_pattern(path, 0x3d, MiB, MiB)


class SeedConfigTestCase(base.FunctionalTestCase):
    """The operators' cinder.conf section loads unchanged."""

    def test_seed_local_section(self):
        conf = os.path.join(self.tmp, 'cinder.conf')
        with open(conf, 'w') as f:
            f.write(textwrap.dedent('''\
                [DEFAULT]
                enabled_backends = %(be)s

                [%(be)s]
                mount_point = %(mount)s
                image_base_path =
                volume_backend_name = %(be)s
                volume_type = qcow2
                volume_driver = cinder_auxo.drivers.local.LocalFileDriver
                image_volume_cache_enabled = True
                image_format = qcow2
                ''') % {'be': BACKEND, 'mount': self.mount})
        script = textwrap.dedent('''\
            import json, sys
            from oslo_config import cfg
            from cinder.volume import configuration, driver
            from cinder_auxo.drivers import local
            cfg.CONF(['--config-file', sys.argv[1]], project='cinder')
            c = configuration.Configuration(driver.volume_opts,
                                            config_group=sys.argv[2])
            local.LocalFileDriver(configuration=c)
            print(json.dumps({k: c.safe_get(k) for k in (
                'mount_point', 'image_base_path', 'volume_type',
                'image_format', 'image_volume_cache_enabled',
                'volume_backend_name', 'volume_clone_mode')}))
            ''')
        out = subprocess.run([sys.executable, '-c', script, conf, BACKEND],
                             check=True, capture_output=True, text=True)
        values = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual({'mount_point': self.mount, 'image_base_path': '',
                          'volume_type': 'qcow2', 'image_format': 'qcow2',
                          'image_volume_cache_enabled': True,
                          'volume_backend_name': BACKEND,
                          'volume_clone_mode': 'copy'}, values)
        self.assertIsNotNone(cinder_exception)
