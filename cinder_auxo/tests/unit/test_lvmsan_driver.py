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
"""LVMSANDriver: connection info, stats, set-up errors, consumer attach."""

import os
from unittest import mock

from cinder import context as cinder_context
from cinder import coordination
from cinder.image import image_utils
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from cinder.volume.drivers import lvm as lvm_driver
import ddt
import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture

from cinder_auxo.drivers import lvmsan
from cinder_auxo.engine import chain
from cinder_auxo import exception
from cinder_auxo.hypervisor import lvm as hv_lvm
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.targets import fcsan
from cinder_auxo.targets import iscsisan
from cinder_auxo.tests.unit import base

BACKEND = 'storage-230fc138-a867-4bbe-b96b-3395f17818f1'
VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'
IQN = 'iqn.2012-07.com.Sugon:alias.tgt0000.200000015555ee0d'
VOL = '6a1b7c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d'
IMG = '11111111-2222-4333-8444-555555555555'
SEED = {
    'volume_backend_name': BACKEND,
    'iscsi_protocol': 'iscsi', 'iscsi_port': 3260,
    'iscsi_ip_address': '10.0.20.1', 'iscsi_helper': 'iscsisan',
    'iscsi_target_prefix': IQN, 'target_lun': 14, 'volume_clear_size': 128,
    'volume_group': VG, 'chap_username': '', 'chap_password': '',
    'image_volume_cache_enabled': True, 'image_base_path': '',
    'image_format': 'qcow2',
}


class DriverTestBase(base.TestCase):
    """A driver configured with the seed's section (``driver()``)."""

    def setUp(self):
        super(DriverTestBase, self).setUp()
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.ctxt = cinder_context.get_admin_context()
        self.conf.config(image_conversion_dir=self.tmp + '/conv')

    def driver(self, **overrides):
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=BACKEND)
        conf.append_config_values(cinder_driver.image_opts)
        conf.append_config_values(lvm_driver.volume_opts)
        conf.append_config_values(lvmsan.DRIVER_OPTS)
        values = dict(SEED, san_lvm_conf_dir=self.tmp)
        values.update(overrides)
        for key, value in values.items():
            self.conf.config(group=BACKEND, **{key: value})
        drv = lvmsan.LVMSANDriver(configuration=conf, execute=self.execute)
        drv.do_setup(self.ctxt)
        return drv


@ddt.ddt
class LVMSANDriverTestCase(DriverTestBase):

    # -- options and targets ---------------------------------------------

    @ddt.unpack
    @ddt.data(('iscsisan', iscsisan.ISCSISanTarget, 'iSCSI'),
              ('fcsan', fcsan.FCSanTarget, 'FC'))
    def test_target_by_name(self, helper, cls, protocol):
        drv = self.driver(iscsi_helper=helper)
        self.assertIsInstance(drv.target, cls)
        self.assertEqual(protocol, drv.protocol)

    def test_unknown_helper(self):
        e = self.assertRaises(exception.AuxoException, self.driver,
                              iscsi_helper='tgtadm')
        self.assertIn("unknown target helper 'tgtadm'", e.msg)

    def test_store_filters_on_the_lun(self):
        drv = self.driver()
        store = drv.engine.volumes
        self.assertIsInstance(store, lvm_store.LVMStore)
        self.assertIs(store, drv.engine.cache)
        self.assertEqual(
            ['^/dev/disk/by-path/ip-10[.]0[.]20[.]1:3260-iscsi-'
             'iqn[.]2012-07[.]com[.]Sugon:alias[.]tgt0000[.]'
             '200000015555ee0d-lun-14$'], store.pv_patterns)
        self.assertEqual(128, store.volume_clear_size)

    def test_image_format_is_the_volume_format(self):
        self.assertEqual('raw', self.driver(image_format='raw')._volume_fmt)
        self.assertEqual('qcow2', self.driver()._volume_fmt)

    def test_locks_are_coordination_locks(self):
        with mock.patch('cinder.coordination.COORDINATOR',
                        autospec=True) as coord:
            self.driver()._lock('chain')
        coord.get_lock.assert_called_once_with('auxo-lvmsan-%s-chain' % VG)

    # -- set-up errors -----------------------------------------------------

    def test_image_base_path_is_refused(self):
        drv = self.driver(image_base_path='/var/lib/images')
        e = self.assertRaises(exception.StorageUnavailable,
                              drv.check_for_setup_error)
        self.assertIn('image_base_path must be empty', e.msg)

    def test_setup_error_names_the_missing_session(self):
        self.execute.on(('iscsiadm', '-m', 'session'), ('', ''))
        drv = self.driver()
        e = self.assertRaises(exception.StorageUnavailable,
                              drv.check_for_setup_error)
        self.assertIn('no iSCSI session to %s at 10.0.20.1:3260' % IQN,
                      e.msg)

    def test_setup_activates_the_group_after_the_checks(self):
        drv = self.driver()
        store = drv.engine.volumes
        with mock.patch.object(drv.target, 'problem', return_value=None,
                               autospec=True), \
                mock.patch.object(store, 'check', autospec=True) as check, \
                mock.patch.object(lvm_store.LVMStore, 'vg',  # noqa: H210
                                  new_callable=mock.PropertyMock), \
                mock.patch.object(store, 'activate_all',
                                  autospec=True) as activate_all, \
                mock.patch.object(drv, '_check_engine',
                                  autospec=True) as check_engine:
            drv.check_for_setup_error()
        check.assert_called_once_with()
        activate_all.assert_called_once_with()
        check_engine.assert_called_once_with()

    def test_setup_removes_downloads_and_upload_files_of_a_crash(self):
        # A real (file) coordinator: start-up takes the storage's locks.
        self.conf.config(backend_url='file://%s/coordination' % self.tmp,
                         group='coordination')
        coordination.COORDINATOR.start()
        self.addCleanup(coordination.COORDINATOR.stop)
        drv = self.driver()
        drv.host = 'node1@' + BACKEND
        conv = self.tmp + '/conv'
        scratch = os.path.join(conv, 'auxo-' + VG)
        os.makedirs(scratch)
        download = os.path.join(scratch, '.tmp-%s.download' % VOL)
        ours = os.path.join(conv, 'auxo-upload-%s-node1@%s' % (VOL, BACKEND))
        theirs = os.path.join(conv, 'auxo-upload-%s-node1@other' % VOL)
        for path in (download, ours, theirs):
            open(path, 'w').close()
        store = drv.engine.volumes
        with mock.patch.object(drv.target, 'problem', autospec=True,
                               return_value=None), \
                mock.patch.object(store, 'check', autospec=True), \
                mock.patch.object(lvm_store.LVMStore, 'vg',  # noqa: H210
                                  new_callable=mock.PropertyMock), \
                mock.patch.object(store, 'activate_all', autospec=True), \
                mock.patch.object(store, 'list', autospec=True,
                                  return_value=[]), \
                mock.patch.object(store, 'index', autospec=True,
                                  return_value={}):
            drv.check_for_setup_error()
        self.assertFalse(os.path.exists(download))
        self.assertFalse(os.path.exists(ours))
        # Another backend's upload, maybe running now, is not ours.
        self.assertTrue(os.path.exists(theirs))

    def test_upload_file_is_found_by_cinders_own_cleanup(self):
        drv = self.driver()
        drv.host = 'node1@' + BACKEND
        seen = []

        def flatten_to(volume_id, path, fmt):
            open(path, 'w').close()
            seen.append(path)

        def upload(*args, **kwargs):
            # What cinder-volume's init_host runs after a crash here.
            image_utils.cleanup_temporary_file('node1@' + BACKEND)
            seen.append(os.path.exists(seen[0]))

        volume = mock.Mock(id=VOL, metadata={})
        with mock.patch.object(drv.engine, 'flatten_to', autospec=True,
                               side_effect=flatten_to), \
                mock.patch.object(image_utils, 'upload_volume',
                                  autospec=True, side_effect=upload):
            drv.copy_volume_to_image(self.ctxt, volume, mock.Mock(),
                                     {'id': IMG, 'disk_format': 'qcow2'})
        self.assertEqual(self.tmp + '/conv',
                         os.path.dirname(seen[0]))
        self.assertFalse(seen[1])

    # -- stats -------------------------------------------------------------

    def test_stats_down_without_a_session(self):
        drv = self.driver()
        with mock.patch.object(drv.target, 'problem',
                               return_value='no iSCSI session to x',
                               autospec=True):
            stats = drv.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertEqual('no iSCSI session to x',
                         stats['backend_state_reason'])
        self.assertEqual(0, stats['free_capacity_gb'])

    def test_stats_down_without_the_vg(self):
        # The LUN is there, the group on it is gone (wiped, or another
        # array's LUN): the store's own check says so through the stats.
        drv = self.driver()
        lvm_env = ('env', 'LC_ALL=C', 'LVM_SYSTEM_DIR=%s/%s' % (self.tmp, VG))
        self.execute.on(lvm_env + ('lvm', 'version'), (
            '  LVM version:     2.03.16(2) (2022-05-18)\n', ''))
        self.execute.on(lvm_env + ('vgs',), ('', ''))
        # brick's static helpers run processutils directly.
        self.useFixture(fixtures.MockPatch(
            'cinder.brick.local_dev.lvm.putils.execute', self.execute))
        self.execute.on(('env', 'LC_ALL=C', 'pvs'), ('', ''))
        with mock.patch.object(drv.target, 'problem', return_value=None,
                               autospec=True), \
                mock.patch.object(drv.engine.volumes, 'lun_devices',
                                  return_value=['/dev/sdb'], autospec=True):
            stats = drv.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertIn('volume group %s not found on the SAN LUN '
                      '(/dev/sdb)' % VG, stats['backend_state_reason'])
        self.assertEqual(0, stats['total_capacity_gb'])

    def test_stats_up_are_thick(self):
        drv = self.driver()
        with mock.patch.object(drv.target, 'problem', return_value=None,
                               autospec=True), \
                mock.patch.object(drv, '_chain_stats',
                                  return_value={'backend_state': 'up',
                                                'total_capacity_gb': 4.0},
                                  autospec=True):
            stats = drv.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])
        self.assertEqual('iSCSI', stats['storage_protocol'])
        self.assertTrue(stats['thick_provisioning_support'])
        self.assertFalse(stats['thin_provisioning_support'])
        self.assertEqual(BACKEND, stats['volume_backend_name'])

    # -- connection info -----------------------------------------------------

    def _chain(self, drv):
        store = drv.engine.volumes
        return [chain.Layer(store, 'volume-%s' % VOL),
                chain.Layer(store, 'snapshot-%s' % IMG),
                chain.Layer(store, 'base-%s-g2' % IMG)]

    def test_connection_info_names_the_lv_not_the_lun(self):
        drv = self.driver()
        layers = self._chain(drv)
        vol = fake_volume.fake_volume_obj(self.ctxt, id=VOL)
        with mock.patch.object(drv.engine, 'volume',
                               return_value=layers[0], autospec=True), \
                mock.patch.object(drv.engine, 'chain', return_value=layers,
                                  autospec=True):
            info = drv.initialize_connection(vol, {'initiator': 'iqn.x'})
        self.assertEqual('lvmsan', info['driver_volume_type'])
        data = info['data']
        self.assertEqual({'target_discovered': False,
                          'target_portal': '10.0.20.1:3260',
                          'target_iqn': IQN, 'target_lun': 14}, data['lun'])
        self.assertEqual('iscsi', data['lun_protocol'])
        self.assertEqual('/dev/%s/volume-%s' % (VG, VOL),
                         data['device_path'])
        self.assertEqual('qcow2', data['format'])
        self.assertEqual(VG, data['volume_group'])
        self.assertEqual(
            [{'name': 'snapshot-%s' % IMG, 'format': 'qcow2',
              'device_path': '/dev/%s/_snapshot-%s' % (VG, IMG)},
             {'name': 'base-%s-g2' % IMG, 'format': 'qcow2',
              'device_path': '/dev/%s/base-%s-g2' % (VG, IMG)}],
            data['backing'])

    def test_cinder_attach_uses_the_lv_connector(self):
        drv = self.driver()
        conn = {'driver_volume_type': 'lvmsan', 'data': {'x': 1}}
        with mock.patch.object(hv_lvm.SanLVConnector,
                               'connect_volume',
                               return_value={'path': '/dev/vg/lv'},
                               autospec=True) as cv:
            info = drv._connect_device(conn)
        cv.assert_called_once_with(info['connector'], {'x': 1})
        self.assertIsInstance(info['connector'], hv_lvm.SanLVConnector)
        self.assertEqual('/dev/vg/lv', info['device']['path'])

    # -- what is left to cinder's generic paths ----------------------------

    def test_migration_to_another_host_is_cinders_own(self):
        # No LV copy of a qcow2 layer without its backing LVs: another
        # host gets cinder's generic migration (attach, copy the disk).
        drv = self.driver()
        drv.host = 'node1@%s' % BACKEND
        vol = fake_volume.fake_volume_obj(self.ctxt, status='available',
                                          attach_status='detached')
        self.assertEqual((False, None), drv.migrate_volume(
            self.ctxt, vol, {'host': 'node2@other#other',
                             'capabilities': {}}))
        self.assertNotIsInstance(drv, lvm_driver.LVMVolumeDriver)

    def test_no_manage(self):
        self.assertRaises(NotImplementedError,
                          self.driver().manage_existing, None, {})
        self.assertEqual([], self.driver().get_manageable_volumes())


class SanLVConnectorTestCase(base.TestCase):

    def setUp(self):
        super(SanLVConnectorTestCase, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.lun = mock.Mock()
        self.lun.connect_volume.return_value = {'type': 'block',
                                                'path': '/dev/sdb'}
        self.factory = mock.patch(
            'os_brick.initiator.connector.InitiatorConnector.factory',
            return_value=self.lun, autospec=True).start()
        self.check = mock.patch.object(hv_lvm.GroupView, 'refresh',
                                       autospec=True).start()
        mock.patch.object(hv_lvm.GroupView, 'is_active',
                          return_value=False, autospec=True).start()
        self.connector = hv_lvm.SanLVConnector(None, self.execute, self.tmp)
        self.data = {
            'lun_protocol': 'iscsi', 'lun': {'target_iqn': IQN},
            'device_patterns': ['^/dev/disk/by-path/x$'],
            'volume_group': VG, 'layer': 'volume-%s' % VOL,
            'device_path': '/dev/%s/volume-%s' % (VG, VOL),
            'format': 'qcow2',
            'backing': [{'name': 'snapshot-%s' % IMG},
                        {'name': 'base-%s-g1' % IMG}]}

    def lvchanges(self):
        return [c[c.index('lvchange'):] for c in self.execute.calls
                if 'lvchange' in c]

    def test_connect_activates_the_chain_bottom_up(self):
        self.execute.on(('env',))
        device = self.connector.connect_volume(self.data)
        self.factory.assert_called_once_with(
            'iscsi', None, use_multipath=False, device_scan_attempts=3)
        self.lun.connect_volume.assert_called_once_with({'target_iqn': IQN})
        self.check.assert_called_once_with(mock.ANY)
        self.assertEqual({'type': 'block', 'format': 'qcow2',
                          'path': '/dev/%s/volume-%s' % (VG, VOL),
                          'lun_path': '/dev/sdb'}, device)
        calls = self.lvchanges()
        self.assertEqual(3, len(calls))
        self.assertEqual('%s/base-%s-g1' % (VG, IMG), calls[0][-1])
        self.assertIn('read_only_volume_list', calls[0][-2])
        self.assertEqual('%s/_snapshot-%s' % (VG, IMG), calls[1][-1])
        self.assertIn('read_only_volume_list', calls[1][-2])
        self.assertEqual(('lvchange', '-a', 'y', '-K', '--yes',
                          '%s/volume-%s' % (VG, VOL)), calls[2])
        # Every LVM command sees the LUN only.
        for cmd in self.execute.calls:
            self.assertIn('LVM_SYSTEM_DIR=%s/%s' % (self.tmp, VG), cmd)

    def test_disconnect_keeps_the_session_and_shared_lvs(self):
        def lvchange(*cmd, **kwargs):
            self.execute.calls.append(cmd)
            if cmd[-1].endswith('base-%s-g1' % IMG):
                raise base.process_error('  Logical volume in use.')
            return '', ''
        self.connector._execute = lvchange
        self.connector.disconnect_volume(self.data, {})
        self.assertEqual([('lvchange', '-a', 'n',
                           '%s/volume-%s' % (VG, VOL)),
                          ('lvchange', '-a', 'n',
                           '%s/_snapshot-%s' % (VG, IMG)),
                          ('lvchange', '-a', 'n',
                           '%s/base-%s-g1' % (VG, IMG))], self.lvchanges())
        self.lun.disconnect_volume.assert_not_called()

    def test_device_check(self):
        self.execute.on(('dd',))
        self.assertTrue(self.connector.check_valid_device('/dev/x'))
        self.execute.on(('dd', 'if=/dev/x'), base.process_error('I/O error'))
        self.assertFalse(self.connector.check_valid_device('/dev/x'))
