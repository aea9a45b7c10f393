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

"""The ``lvmsan`` volume driver's disk XML, built with nova's classes.

Attach and detach on real LVs need device-mapper and iSCSI: those run in
the storage VM (tools/storage-vm), through the same ``SanLVConnector``.
"""

from lxml import etree

from cinder_auxo.hypervisor import exception
from cinder_auxo.hypervisor import lvmsan
from cinder_auxo.tests.hypervisor import base

VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'


class SanVolumeConfigTestCase(base.HypervisorTestCase):

    def setUp(self):
        super(SanVolumeConfigTestCase, self).setUp()
        self.conf.config(lvm_conf_dir=self.root, group='auxo')
        self.driver = lvmsan.LibvirtAuxoSanVolumeDriver(base.FakeHost())

    def connection_info(self, **changes):
        data = {
            'volume_id': 'v1', 'lun_protocol': 'iscsi', 'lun': {},
            'device_patterns': ['^/dev/disk/by-path/x$'],
            'volume_group': VG, 'layer': 'volume-v1',
            'device_path': '/dev/%s/volume-v1' % VG, 'format': 'qcow2',
            'backing': [
                {'name': 'snapshot-s1', 'format': 'qcow2',
                 'device_path': '/dev/%s/_snapshot-s1' % VG},
                {'name': 'base-i-g1', 'format': 'raw',
                 'device_path': '/dev/%s/base-i-g1' % VG}],
            'access_mode': 'rw', 'discard': False}
        data.update(changes)
        return {'driver_volume_type': 'lvmsan', 'data': data}

    def test_block_qcow2_with_backing_lvs(self):
        conf = self.driver.get_config(self.connection_info(),
                                      self.disk_info())
        disk = etree.fromstring(conf.to_xml())
        self.assertEqual('block', disk.get('type'))
        self.assertEqual('qcow2', disk.find('driver').get('type'))
        self.assertEqual('/dev/%s/volume-v1' % VG,
                         disk.find('source').get('dev'))
        chain = []
        store = disk.find('backingStore')
        while store.get('type'):
            chain.append((store.get('type'), store.find('source').get('dev'),
                          store.find('format').get('type')))
            store = store.find('backingStore')
        self.assertEqual(
            [('block', '/dev/%s/_snapshot-s1' % VG, 'qcow2'),
             ('block', '/dev/%s/base-i-g1' % VG, 'raw')], chain)

    def test_refuses_a_device_outside_the_group(self):
        info = self.connection_info(device_path='/dev/sda')
        e = self.assertRaises(exception.HypervisorException,
                              self.driver.get_config, info, self.disk_info())
        self.assertIn('not an LV of volume group %s' % VG, str(e))

    def test_refuses_an_unknown_format(self):
        info = self.connection_info(format='vmdk')
        self.assertRaises(exception.UnsupportedFormat,
                          self.driver.get_config, info, self.disk_info())
