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

"""Bad images through the API end in error, with nothing left behind.

Glance inspects ``bare`` uploads itself: it refuses a qcow2 that names a
backing file and records the virtual size, which cinder-api then checks.
These images are uploaded with container format ``ovf``, which Glance does
not inspect, so that they reach the driver, which must refuse them on its
own.
"""

import os

from cinderclient import exceptions as cinder_exc

from cinder_auxo.tests.e2e import base
from cinder_auxo.tests.e2e.base import GiB
from cinder_auxo.tests.e2e.base import MiB


class HostileImageTest(base.E2ETestCase):

    def assert_refused(self, image_id, size, keywords):
        vol = self.create_volume(size=size, imageRef=image_id,
                                 status='error')
        errors = self.request_errors(vol.id)
        self.assertIn(image_id, errors)
        self.assertTrue(any(k in errors.lower() for k in keywords),
                        'no reason (%s) in the volume log:\n%s'
                        % (', '.join(keywords), errors))
        self.assertEqual([], self.bases_of(image_id))
        self.assert_no_files_of(vol.id, image_id)
        self.assert_backend_clean()
        self.delete_volume(vol.id)
        self.assert_backend_clean()
        return errors

    def test_image_naming_a_host_backing_file(self):
        host_file = '/etc/hostname'
        self.assertTrue(os.path.exists(host_file))
        path = base.make_image(os.path.join(self.tmp, 'hostile.qcow2'),
                               64 * MiB, backing=host_file)
        self.assertEqual(host_file, base.qemu_info(path)['backing-filename'])
        image_id = self.upload_image(path, container_format='ovf')

        self.assert_refused(image_id, 1, ('backing', 'safety check'))

    def test_volume_smaller_than_image_virtual_size(self):
        path = base.make_image(os.path.join(self.tmp, 'big.qcow2'), 2 * GiB,
                               [(0x5a, 0, MiB)])
        image_id = self.upload_image(path, container_format='ovf')

        self.assert_refused(image_id, 1, ('virtual size',))

        # Where Glance knows the virtual size, cinder-api refuses at once.
        bare_id = self.upload_image(path)
        self.assertRaises(cinder_exc.BadRequest, self.cinder.volumes.create,
                          1, imageRef=bare_id, volume_type=self.volume_type)
        # And a volume as large as the image is fine.
        vol = self.create_volume(size=2, imageRef=image_id)
        self.assert_reads(self.volume_path(vol.id), 0x5a, 0, MiB)
        self.delete_volume(vol.id)
        self.assert_backend_clean()
