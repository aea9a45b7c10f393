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

"""A SAN desktop moved to a local storage of the same host and back.

The LVMSANDriver of the VM's volume group and a LocalFileDriver on a
directory, both sections of one cinder.conf as cinder-volume loads them;
checked by data against what the desktop read before each move.
"""

import os
import subprocess

from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from cinder.volume import manager
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
HOST = 'storage-node'
LOCAL = 'storage-local'


class LVMMigrationTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        super(LVMMigrationTestCase, self).setUp()
        self.images = test_local_driver.FileImageService(self.tmp)
        self.local_mount = os.path.join(self.tmp, 'local')
        os.mkdir(self.local_mount)
        for section, driver, extra in (
                (lvm_base.BACKEND, 'lvmsan.LVMSANDriver', {}),
                (LOCAL, 'local.LocalFileDriver',
                 {'mount_point': self.local_mount,
                  'volume_backend_name': LOCAL,
                  'image_cache_maintenance_interval': 0})):
            conf = configuration.Configuration(manager.volume_backend_opts,
                                               config_group=section)
            conf.append_config_values(cinder_driver.volume_opts)
            conf.append_config_values(test_local_driver.local.DRIVER_OPTS)
            self.conf.config(group=section,
                             volume_driver='cinder_auxo.drivers.' + driver,
                             **extra)
        self.driver.host = '%s@%s' % (HOST, lvm_base.BACKEND)

    def _migrate(self, drv, vol, section):
        host = '%s@%s#%s' % (HOST, section, section)
        return drv.migrate_volume(self.ctxt, vol, {'host': host,
                                                   'capabilities': {}})

    def _reference(self, engine, vol):
        ref = os.path.join(self.tmp, 'ref-%s' % uuidutils.generate_uuid())
        engine.flatten_to(vol.name_id, ref, naming.RAW)
        return ref

    def _same(self, ref, layer):
        subprocess.run(['qemu-img', 'compare', '-f', 'raw', '-F', layer.fmt,
                        ref, layer.path], check=True, capture_output=True)

    def test_san_desktop_to_local_and_back(self):
        meta = self.images.add(self.image_file([(0x7e, 0, 8 * MiB)]))
        vol = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, vol, None, meta, self.images))
        path, _fmt = self.path(vol)
        base.write_pattern(path, 0x3d, 20 * MiB, MiB)
        ref = self._reference(self.driver.engine, vol)

        self.assertEqual((True, None), self._migrate(self.driver, vol, LOCAL))
        local = test_local_driver.local.LocalFileDriver(
            configuration=configuration.Configuration(
                manager.volume_backend_opts, config_group=LOCAL),
            host='%s@%s' % (HOST, LOCAL))
        local.do_setup(self.ctxt)
        moved = local.engine.volume(vol.name_id)
        self._same(ref, moved)
        # On the local storage's own base of the image, copied once.
        self.assertEqual(['volume-%s' % vol.name_id,
                          'base-%s-g1' % meta['id']],
                         [layer.name for layer in local.engine.chain(moved)])
        self.assertNotIn('volume-%s' % vol.name_id, lvm_base.lvs(self.vg))

        self.assertEqual((True, None), self._migrate(local, vol,
                                                     lvm_base.BACKEND))
        back = self.driver.engine.volume(vol.name_id)
        self._same(ref, back)
        self.assertEqual(2, len(self.driver.engine.chain(back)))
        self.assertFalse(os.path.exists(moved.path))
