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

"""LVMSANDriver as a distribution runs cinder-volume: the user cinder.

Every driver call is made as cinder (service_user), root only through
``sudo cinder-rootwrap /etc/cinder/rootwrap.conf`` with cinder's filters
and this package's, and the LVs are cinder's through the storage tool's
udev rule. The test, as root, checks the result by data. (The whole LVM
suite runs this way with AUXO_VM_DRIVER_USER=cinder.)
"""

import json
import os

from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB


class AsCinderTestCase(lvm_base.LVMTestCase):

    driver_user = 'cinder'

    def test_a_desktop_life_as_cinder_through_rootwrap(self):
        images = test_local_driver.FileImageService(self.tmp)
        meta = images.add(self.image_file([(0x5a, 0, 4 * MiB)],
                                          size=64 * MiB))
        vol = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, vol, None, meta, images))
        snap = self.snapshot(vol)
        clone = self.volume()
        self.driver.create_volume_from_snapshot(clone, snap)
        self.driver.extend_volume(vol, 2)
        vol.size = 2
        upload = {'id': 'upload-' + vol.id, 'disk_format': 'qcow2',
                  'container_format': 'bare'}
        self.driver.copy_volume_to_image(self.ctxt, vol, images, upload)
        self.driver.delete_snapshot(snap)

        # Made by cinder: the download directory, and every LV (0660).
        scratch = os.stat(self.driver.image_cache.scratch.directory)
        self.assertEqual(self.user.uid, scratch.st_uid)
        names = lvm_base.lvs(self.vg)
        self.assertIn('base-%s-g1' % meta['id'], names)
        for name in names:
            st = os.stat(os.path.realpath('/dev/%s/%s' % (self.vg, name)))
            self.assertEqual((self.user.uid, 0o660),
                             (st.st_uid, st.st_mode & 0o777), name)
        # The data, read as root.
        path = self.path(vol)[0]
        lvm_base.read_patterns(path, [(0x5a, 0, 4 * MiB),
                                      (0, 4 * MiB, 4 * MiB)])
        lvm_base.read_patterns(self.path(clone)[0], [(0x5a, 0, 4 * MiB)])
        info = json.loads(lvm_base.run('qemu-img', 'info', '-U', '-f',
                                       'qcow2', '--output=json', path))
        self.assertEqual(2 * 1024 * MiB, info['virtual-size'])
        # The upload is the whole disk, flattened.
        uploaded = os.path.join(self.tmp, upload['id'])
        self.assertEqual(self.user.uid, os.stat(uploaded).st_uid)
        lvm_base.run('qemu-img', 'compare', '-f', 'qcow2', '-F', 'qcow2',
                     uploaded, path)
        self.assertNotIn('backing-filename', json.loads(lvm_base.run(
            'qemu-img', 'info', '--output=json', uploaded)))
