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
"""Start-up on shared storage: the coordination backend's reach.

A SAN volume group is seen by other hosts: with host-local locks
(``file://``) a clustered service is refused and a single one warned. A
clustered service tags its work layers and refreshes its view of the
group under the locks.
"""

from unittest import mock

import ddt

from cinder_auxo.drivers import base as driver_base
from cinder_auxo import exception
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.unit import test_lvmsan_driver

REFUSE = 'refuse'
WARN = 'warn'
ACCEPT = 'accept'


@ddt.ddt
class SharedLocksTestCase(test_lvmsan_driver.DriverTestBase):

    def setUp(self):
        super(SharedLocksTestCase, self).setUp()
        self.warning = mock.patch.object(driver_base.LOG, 'warning',
                                         autospec=True).start()

    def check(self, backend_url, cluster):
        self.conf.config(backend_url=backend_url, group='coordination')
        drv = self.driver()
        drv.cluster_name = cluster
        drv._check_shared_locks()

    @ddt.unpack
    @ddt.data(
        # The seed's model: one cinder-volume writes the VG.
        ('file:///var/lib/cinder', None, WARN),
        ('', None, WARN),
        ('ipc://', None, WARN),
        # Several services would write it with locks of one host each.
        ('file:///var/lib/cinder', 'san-ha', REFUSE),
        ('', 'san-ha', REFUSE),
        ('ipc://', 'san-ha', REFUSE),
        ('zake://', 'san-ha', REFUSE),
        # Locks every host shares.
        ('etcd3+http://10.0.20.1:2379', 'san-ha', ACCEPT),
        ('etcd3+http://10.0.20.1:2379', None, ACCEPT),
        ('redis://:secret@10.0.20.1:6379', 'san-ha', ACCEPT),
        ('zookeeper://10.0.20.1:2181', 'san-ha', ACCEPT))
    def test_matrix(self, backend_url, cluster, expected):
        if expected == REFUSE:
            e = self.assertRaises(exception.StorageUnavailable, self.check,
                                  backend_url, cluster)
            self.assertIn('this service is in cluster san-ha', e.msg)
            self.assertIn('locks that hold on this host only', e.msg)
            self.assertIn('etcd3+http://', e.msg)
            self.warning.assert_not_called()
            return
        self.check(backend_url, cluster)
        if expected == ACCEPT:
            self.warning.assert_not_called()
            return
        self.warning.assert_called_once_with(mock.ANY, mock.ANY)
        text = self.warning.call_args[0][0] % self.warning.call_args[0][1]
        self.assertIn('LVMStore(%s) can be written from other hosts' %
                      test_lvmsan_driver.VG, text)
        self.assertIn('the one service that writes it', text)
        self.assertIn('etcd3+http://<etcd host>:2379', text)

    def test_storage_no_other_host_sees_is_accepted(self):
        with mock.patch.object(lvm_store.LVMStore, 'shared', False):
            self.check('file:///var/lib/cinder', 'san-ha')
        self.warning.assert_not_called()

    def test_refused_before_start_up_repair(self):
        # Repair takes every work layer for a crash's leftover: with
        # another writer it would remove that writer's work.
        self.conf.config(backend_url='file:///var/lib/cinder',
                         group='coordination')
        drv = self.driver()
        drv.cluster_name = 'san-ha'
        store = drv.engine.volumes
        with mock.patch.object(drv.target, 'problem', return_value=None,
                               autospec=True), \
                mock.patch.object(store, 'check', autospec=True), \
                mock.patch.object(lvm_store.LVMStore, 'vg',  # noqa: H210
                                  new_callable=mock.PropertyMock), \
                mock.patch.object(store, 'activate_all', autospec=True), \
                mock.patch.object(drv.engine, 'cleanup',
                                  autospec=True) as cleanup:
            self.assertRaises(exception.StorageUnavailable,
                              drv.check_for_setup_error)
        cleanup.assert_not_called()

    def test_driver_declares_active_active(self):
        # cinder refuses a clustered service of a driver that does not.
        self.assertTrue(self.driver().SUPPORTS_ACTIVE_ACTIVE)

    def clustered(self, cluster):
        drv = self.driver()
        drv.host, drv.cluster_name = 'node-a@lvmsan', cluster
        drv.engine, drv.image_cache = drv._build_engine()
        return drv

    @ddt.data(None, 'san-ha')
    def test_a_clustered_store_tags_its_work(self, cluster):
        store = self.clustered(cluster).engine.volumes
        self.assertEqual(cluster and 'node-a@lvmsan', store.writer)

    @ddt.unpack
    @ddt.data(('chain', 'san-ha', True), ('image-x', 'san-ha', True),
              ('vg-metadata', 'san-ha', False), ('chain', None, False))
    def test_the_view_is_refreshed_under_the_lock(self, name, cluster,
                                                  refreshed):
        drv = self.clustered(cluster)
        order = mock.Mock()
        lock = order.lock
        lock.__enter__ = mock.Mock(side_effect=lambda: order.acquired())
        lock.__exit__ = mock.Mock(side_effect=lambda *a: order.released())
        with mock.patch('cinder.coordination.COORDINATOR.get_lock',
                        autospec=True, return_value=lock), \
                mock.patch.object(drv.engine.volumes, 'refresh_view',
                                  autospec=True,
                                  side_effect=order.refresh):
            with drv._lock(name):
                order.body()
        self.assertEqual(
            ['acquired'] + ['refresh'] * refreshed + ['body', 'released'],
            [c[0] for c in order.mock_calls if c[0] in (
                'acquired', 'refresh', 'body', 'released')])
