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

"""GroupView: the consumer's filtered view of one volume group."""

import os

import fixtures

from cinder_auxo.hypervisor import exception
from cinder_auxo.hypervisor import lvm
from cinder_auxo.targets import base as target_base
from cinder_auxo.tests.unit import base

VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'
LINK = 'ip-10.0.20.1:3260-iscsi-iqn.x-lun-14'


class GroupViewTestCase(base.TestCase):

    def setUp(self):
        super(GroupViewTestCase, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.by_path = os.path.join(self.tmp, 'by-path')
        os.makedirs(self.by_path)
        pattern = '^%s/%s$' % (self.by_path, target_base.literal(LINK))
        self.view = lvm.GroupView(
            {'volume_group': VG, 'device_patterns': [pattern]},
            self.execute, self.tmp, by_glob=self.by_path + '/*')
        self.pattern = pattern

    def test_refresh_without_the_lun(self):
        e = self.assertRaises(exception.LVMError, self.view.refresh)
        self.assertIn('no block device of the SAN LUN is present', str(e))
        self.assertEqual([], self.execute.calls)

    def test_refresh_reads_the_group_through_the_filter(self):
        open(os.path.join(self.by_path, LINK), 'w').close()
        self.execute.on(('env',))
        self.view.refresh()
        conf_dir = os.path.join(self.tmp, VG)
        with open(os.path.join(conf_dir, 'lvm.conf')) as f:
            self.assertIn('global_filter = [ "a|%s|", "r|.*|" ]' %
                          self.pattern, f.read())
        self.assertEqual([('env', 'LC_ALL=C', 'LVM_SYSTEM_DIR=%s' % conf_dir,
                           'vgs', '--noheadings', '-o', 'vg_name', VG)],
                         self.execute.calls)

    def test_refresh_says_why_lvm_failed(self):
        open(os.path.join(self.by_path, LINK), 'w').close()
        self.execute.on(('env',), base.process_error(
            '  Volume group "%s" not found' % VG, exit_code=5))
        e = self.assertRaises(exception.LVMError, self.view.refresh)
        self.assertIn('vgs: Volume group "%s" not found' % VG, str(e))

    def test_deactivate_a_missing_lv_is_done(self):
        self.execute.on(('env',), base.process_error(
            '  Failed to find logical volume "%s/volume-x"' % VG))
        self.view.deactivate('volume-x')

    def test_deactivate_an_open_lv_fails(self):
        self.execute.on(('env',), base.process_error(
            '  Logical volume %s/base-x in use.' % VG))
        e = self.assertRaises(exception.LVMError, self.view.deactivate,
                              'base-x')
        self.assertIn('deactivating base-x', str(e))

    def test_activate_read_only(self):
        self.execute.on(('env',))
        self.view.activate('_snapshot-x', read_only=True)
        cmd = self.execute.calls[0]
        self.assertEqual(('lvchange', '-a', 'y', '-K', '--yes', '--config',
                          'activation { read_only_volume_list = '
                          '[ "%s/_snapshot-x" ] }' % VG,
                          '%s/_snapshot-x' % VG), cmd[3:])
