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

"""The ``local`` volume driver against real libvirt and QEMU."""

import os

from lxml import etree

from cinder_auxo.hypervisor import exception
from cinder_auxo.hypervisor import local
from cinder_auxo.tests.hypervisor import base
from cinder_auxo.tests import qcow2

MiB = base.MiB
SIZE = 64 * MiB


class LocalVolumeTestCase(base.LibvirtTestCase):

    def setUp(self):
        super(LocalVolumeTestCase, self).setUp()
        self.driver = local.LibvirtAuxoLocalVolumeDriver(base.FakeHost())

    def config(self, path, fmt):
        conf = self.driver.get_config(self.connection(path, fmt),
                                      self.disk_info())
        return conf.to_xml()

    def cached_chain(self):
        """base (cached image) <- snapshot layer <- volume.

        Written as the engine writes them: qcow2, 64 KiB clusters, the
        backing format recorded.
        """
        base_path = self.path('base-img-g1')
        base.qemu_img('create', '-f', 'qcow2', '-o', 'cluster_size=65536',
                      base_path, str(SIZE))
        base.qemu_io(base_path, 'write -P 0x11 0 4M', 'qcow2')
        base.qemu_io(base_path, 'write -P 0x22 8M 1M', 'qcow2')
        snap = self.path('snapshot-s1')
        base.qemu_img('create', '-f', 'qcow2', '-o', 'cluster_size=65536',
                      '-b', base_path, '-F', 'qcow2', snap)
        base.qemu_io(snap, 'write -P 0x33 8M 512k', 'qcow2')
        top = self.path('volume-v1')
        base.qemu_img('create', '-f', 'qcow2', '-o', 'cluster_size=65536',
                      '-b', snap, '-F', 'qcow2', top)
        # The modes the engine gives them (stores/files.py): shared, and
        # written by no QEMU.
        os.chmod(base_path, 0o444)
        os.chmod(snap, 0o644)
        return top, snap, base_path

    def test_qcow2_chain_guest_reads_base_writes_top(self):
        top, snap, base_path = self.cached_chain()
        before = {p: (base.sha256(p), base.owner_mode(p))
                  for p in (base_path, snap)}
        dom, nbd = self.start(self.config(top, 'qcow2'))

        # The guest's view: base bytes, the snapshot layer over them.
        base.qemu_io(nbd, 'read -P 0x11 0 4M', 'raw')
        base.qemu_io(nbd, 'read -P 0x33 8M 512k', 'raw')
        base.qemu_io(nbd, 'read -P 0x22 8704k 512k', 'raw')
        base.qemu_io(nbd, 'read -P 0x00 16M 1M', 'raw')
        # libvirt left the shared layers alone while the guest runs.
        for p, (_digest, om) in before.items():
            self.assertEqual(om, base.owner_mode(p), p)

        self.guest_io(dom, 'write -P 0x5a 1M 1M')
        self.guest_io(dom, 'write -P 0x5b 32M 64k')
        base.qemu_io(nbd, 'read -P 0x5a 1M 1M', 'raw')
        self.stop(dom)

        for p, state in before.items():
            self.assertEqual(state, (base.sha256(p), base.owner_mode(p)), p)
        base.qemu_io(top, 'read -P 0x5a 1M 1M', 'qcow2')
        base.qemu_io(top, 'read -P 0x5b 32M 64k', 'qcow2')
        base.qemu_io(top, 'read -P 0x11 0 1M', 'qcow2')
        base.qemu_io(top, 'read -P 0x11 2M 2M', 'qcow2')

    def test_raw_volume(self):
        path = self.path('volume-v2.raw')
        base.qemu_img('create', '-f', 'raw', path, str(SIZE))
        base.qemu_io(path, 'write -P 0x44 4M 1M', 'raw')
        xml = self.config(path, 'raw')
        disk = etree.fromstring(xml)
        self.assertEqual('file', disk.get('type'))
        self.assertEqual('raw', disk.find('driver').get('type'))
        dom, nbd = self.start(xml)
        base.qemu_io(nbd, 'read -P 0x44 4M 1M', 'raw')
        self.guest_io(dom, 'write -P 0x45 8M 1M')
        self.stop(dom)
        base.qemu_io(path, 'read -P 0x45 8M 1M', 'raw')
        base.qemu_io(path, 'read -P 0x44 4M 1M', 'raw')

    def test_disk_xml(self):
        top, snap, base_path = self.cached_chain()
        disk = etree.fromstring(self.config(top, 'qcow2'))
        self.assertEqual('file', disk.get('type'))
        driver = disk.find('driver')
        self.assertEqual(('qemu', 'qcow2', 'none', 'native'),
                         (driver.get('name'), driver.get('type'),
                          driver.get('cache'), driver.get('io')))
        self.assertEqual(top, disk.find('source').get('file'))
        chain = []
        store = disk.find('backingStore')
        while store is not None and store.get('type'):
            source = store.find('source')
            chain.append((source.get('file'),
                          store.find('format').get('type'),
                          source.find('seclabel').get('relabel')))
            store = store.find('backingStore')
        self.assertEqual([(snap, 'qcow2', 'no'), (base_path, 'qcow2', 'no')],
                         chain)
        self.assertIsNotNone(store)


class LocalRefusalTestCase(base.HypervisorTestCase):
    """Refusals need no libvirt: nothing reaches it."""

    def setUp(self):
        super(LocalRefusalTestCase, self).setUp()
        self.driver = local.LibvirtAuxoLocalVolumeDriver(base.FakeHost())

    def get_config(self, path, fmt):
        return self.driver.get_config(self.connection(path, fmt),
                                      self.disk_info())

    def test_outside_storage_roots(self):
        outside = self.useFixture(base.fixtures.TempDir()).path
        path = os.path.join(outside, 'volume-x')
        base.qemu_img('create', '-f', 'qcow2', path, '1M')
        link = self.path('volume-link')
        os.symlink(path, link)
        e = self.assertRaises(exception.OutsideStorageRoots,
                              self.get_config, link, 'qcow2')
        self.assertIn('not under any [auxo] storage_roots', str(e))
        self.assertIn(os.path.realpath(path), str(e))

    def test_backing_file_outside_storage_roots(self):
        outside = self.useFixture(base.fixtures.TempDir()).path
        foreign = os.path.join(outside, 'base')
        base.qemu_img('create', '-f', 'qcow2', foreign, '1M')
        top = self.path('volume-y')
        base.qemu_img('create', '-f', 'qcow2', '-b', foreign, '-F', 'qcow2',
                      top)
        e = self.assertRaises(exception.OutsideStorageRoots,
                              self.get_config, top, 'qcow2')
        self.assertIn(foreign, str(e))

    def test_unknown_format(self):
        path = self.path('volume-z')
        base.qemu_img('create', '-f', 'qcow2', path, '1M')
        e = self.assertRaises(exception.UnsupportedFormat,
                              self.get_config, path, 'vmdk')
        self.assertIn("disk format 'vmdk' is not one of raw, qcow2", str(e))

    def test_no_roots_configured(self):
        self.conf.config(storage_roots=[], group='auxo')
        path = self.path('volume-r.raw')
        base.qemu_img('create', '-f', 'raw', path, '1M')
        self.assertRaises(exception.OutsideStorageRoots,
                          self.get_config, path, 'raw')

    def test_middle_layer_without_backing_format(self):
        base_path = self.path('base-b-g1')
        base.qemu_img('create', '-f', 'qcow2', base_path, '1M')
        mid = self.path('snapshot-m')
        base.qemu_img('create', '-f', 'qcow2', '-b', base_path, '-F',
                      'qcow2', mid)
        top = self.path('volume-t')
        base.qemu_img('create', '-f', 'qcow2', '-b', mid, '-F', 'qcow2', top)
        qcow2.drop_backing_format(mid)
        e = self.assertRaises(exception.UnsafeChain,
                              self.get_config, top, 'qcow2')
        self.assertIn('layer %s does not record the format of its backing '
                      'file %s' % (mid, base_path), str(e))

    def test_qcow2_read_as_raw_is_not_possible_by_name(self):
        # The format comes from the connection, never from the content:
        # a raw file holding a qcow2 header stays raw.
        path = self.path('volume-q.raw')
        base.qemu_img('create', '-f', 'qcow2', path, '1M')
        conf = self.get_config(path, 'raw')
        self.assertEqual('raw', conf.driver_format)
        self.assertEqual([], conf.backing_layers)

    def test_relative_storage_root(self):
        self.conf.config(storage_roots=['opt/ssd'], group='auxo')
        path = self.path('volume-r.raw')
        base.qemu_img('create', '-f', 'raw', path, '1M')
        e = self.assertRaises(exception.HypervisorException,
                              self.get_config, path, 'raw')
        self.assertIn("'opt/ssd' is not an absolute path", str(e))
