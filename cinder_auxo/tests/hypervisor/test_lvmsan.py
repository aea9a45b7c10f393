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

"""The ``lvmsan`` volume driver: its disk XML in a real domain.

Attach and detach on real LVs need device-mapper and iSCSI: those run in
the storage VM (tools/storage-vm), through the same ``SanLVConnector``.
"""

import os
import subprocess

from lxml import etree

from cinder_auxo.hypervisor import exception
from cinder_auxo.hypervisor import lvmsan
from cinder_auxo.tests.hypervisor import base

VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'
MiB = base.MiB


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


class SanVolumeDomainTestCase(base.LibvirtTestCase):
    """A block qcow2 chain in a domain, on loop devices standing for LVs.

    This kernel has no device-mapper: the "LVs" are loop devices linked
    from /dev/<group>/, the base attached read-only as a read-only LV is.
    """

    def setUp(self):
        super(SanVolumeDomainTestCase, self).setUp()
        self.conf.config(lvm_conf_dir=self.root, group='auxo')
        self.driver = lvmsan.LibvirtAuxoSanVolumeDriver(base.FakeHost())
        self.vg = 'auxo-hv-%s' % os.path.basename(self.root)[-8:]
        self.vg_dir = '/dev/%s' % self.vg
        os.mkdir(self.vg_dir)
        self.addCleanup(subprocess.run, ['rm', '-rf', self.vg_dir])

    def lv(self, name, image, read_only=False):
        cmd = ['losetup', '--find', '--show']
        if read_only:
            cmd.append('--read-only')
        loop = subprocess.run(cmd + [image], check=True, capture_output=True,
                              text=True).stdout.strip()
        self.addCleanup(subprocess.run, ['losetup', '-d', loop])
        link = os.path.join(self.vg_dir, name)
        os.symlink(loop, link)
        return link, loop

    def test_guest_reads_base_lv_writes_top_lv(self):
        base_img = self.path('base.img')
        base.qemu_img('create', '-f', 'qcow2', base_img, str(32 * MiB))
        base.qemu_io(base_img, 'write -P 0x61 0 2M', 'qcow2')
        base_lv, base_loop = self.lv('base-i-g1', base_img, read_only=True)
        top_img = self.path('top.img')
        base.qemu_img('create', '-f', 'raw', top_img, str(32 * MiB))
        top_lv, _ = self.lv('volume-v1', top_img)
        base.qemu_img('create', '-f', 'qcow2', '-b', base_lv, '-F', 'qcow2',
                      top_lv, str(32 * MiB))
        digest = base.sha256(base_img)
        info = {'driver_volume_type': 'lvmsan', 'data': {
            'volume_id': 'v1', 'volume_group': self.vg,
            'layer': 'volume-v1', 'device_path': top_lv, 'format': 'qcow2',
            'backing': [{'name': 'base-i-g1', 'format': 'qcow2',
                         'device_path': base_lv}],
            'access_mode': 'rw', 'discard': False}}
        xml = self.driver.get_config(info, self.disk_info()).to_xml()

        dom, nbd = self.start(xml)
        base.qemu_io(nbd, 'read -P 0x61 0 2M', 'raw')
        base.qemu_io(nbd, 'read -P 0x00 4M 1M', 'raw')
        self.guest_io(dom, 'write -P 0x62 1M 64k')
        self.guest_io(dom, 'write -P 0x63 8M 1M')
        self.stop(dom)

        self.assertEqual(digest, base.sha256(base_img))
        with open('/sys/block/%s/ro' % os.path.basename(base_loop)) as f:
            self.assertEqual('1', f.read().strip())
        base.qemu_io(top_lv, 'read -P 0x62 1M 64k', 'qcow2')
        base.qemu_io(top_lv, 'read -P 0x63 8M 1M', 'qcow2')
        base.qemu_io(top_lv, 'read -P 0x61 0 1M', 'qcow2')
