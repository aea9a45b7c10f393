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

from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.tests.unit import base

UUID = '0b7e1c36-5f3a-4a8e-9c53-2f8b8c1d2e3f'


@ddt.ddt
class NamingTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(('volume', 'qcow2', 'volume-%s' % UUID),
              ('volume', 'raw', 'volume-%s.raw' % UUID),
              ('snapshot', 'qcow2', 'snapshot-%s' % UUID),
              ('layer', 'raw', 'layer-%s.raw' % UUID),
              ('merge', 'qcow2', 'merge-%s' % UUID))
    def test_layer_round_trip(self, kind, fmt, name):
        self.assertEqual(name, naming.layer(kind, UUID, fmt))
        parsed = naming.parse(name)
        self.assertEqual((kind, UUID, fmt),
                         (parsed.kind, parsed.ident, parsed.fmt))

    def test_base_round_trip(self):
        name = naming.base(UUID, 12, 'raw')
        self.assertEqual('base-%s-g12.raw' % UUID, name)
        parsed = naming.parse(name)
        self.assertEqual(('base', UUID, 'raw', 12),
                         (parsed.kind, parsed.ident, parsed.fmt,
                          parsed.generation))

    @ddt.data('volume-../../etc/passwd',
              'volume-%s/../x' % UUID,
              '/etc/hostname',
              'volume-%s.vmdk' % UUID,
              'base-%s-g0' % UUID,
              'base-%s' % UUID,
              'snapshot-%s ' % UUID,
              'VOLUME-%s' % UUID,
              '')
    def test_unsafe_names_are_refused(self, name):
        self.assertFalse(naming.is_layer(name))
        self.assertRaises(exception.InvalidName, naming.parse, name)

    @ddt.data('../x', 'not-a-uuid', UUID + '/..', UUID.upper() + 'x')
    def test_ids_must_be_uuids(self, ident):
        self.assertRaises(exception.InvalidName, naming.layer, 'volume',
                          ident)

    def test_temp_names(self):
        name = naming.temp(UUID, '.download')
        self.assertTrue(naming.is_temp(name))
        self.assertFalse(naming.is_layer(name))
        self.assertIsNone(naming.parse(name).fmt)
        self.assertEqual('raw', naming.parse(naming.temp(UUID, '.raw')).fmt)
        self.assertIsNone(naming.next_top_of(name))

    def test_next_top_names_the_volume(self):
        name = naming.next_top(UUID)
        self.assertEqual('.tmp-%s.next' % UUID, name)
        self.assertTrue(naming.is_temp(name))
        self.assertEqual(UUID, naming.next_top_of(name))
        self.assertEqual('qcow2', naming.parse(name).fmt)
        self.assertIsNone(naming.next_top_of('volume-%s' % UUID))

    def test_unknown_format_refused(self):
        self.assertRaises(exception.InvalidName, naming.layer, 'volume', UUID,
                          'vmdk')
