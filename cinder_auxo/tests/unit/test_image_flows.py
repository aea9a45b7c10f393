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

import ddt

from cinder_auxo.drivers import image_flows
from cinder_auxo.tests.unit import base

VID = '77777777-7777-4777-8777-777777777777'


@ddt.ddt
class CinderLocationTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(((None, []), []),
              (('cinder://%s' % VID, []), [VID]),
              ((None, [{'url': 'cinder://store1/%s' % VID}]), [VID]),
              (('file:///images/%s' % VID, [{'url': 'rbd://a/b/c'}]), []),
              (('cinder://../../etc', []), []),
              (('cinder://%s' % VID, [{'url': 'cinder://%s' % VID}]),
               [VID, VID]))
    def test_volume_ids_of_locations(self, location, expected):
        self.assertEqual(expected, image_flows._cinder_volume_ids(location))

    def test_no_location(self):
        self.assertEqual([], image_flows._cinder_volume_ids(None))
