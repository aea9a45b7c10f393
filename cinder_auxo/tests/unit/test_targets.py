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
"""SAN targets: connection info, device patterns, FC discovery.

FC cannot run on these machines: discovery is tested against a recorded
``/dev/disk/by-path`` and sysfs tree made in a temporary directory.
"""

import os
import re

import ddt
import fixtures

from cinder_auxo import exception
from cinder_auxo import targets
from cinder_auxo.targets import base as target_base
from cinder_auxo.targets import fcsan
from cinder_auxo.targets import iscsisan
from cinder_auxo.tests.unit import base

IQN = 'iqn.2012-07.com.Sugon:alias.tgt0000.200000015555ee0d'
SEED = {'iscsi_protocol': 'iscsi', 'iscsi_port': 3260,
        'iscsi_ip_address': '10.0.20.1', 'iscsi_helper': 'iscsisan',
        'iscsi_target_prefix': IQN, 'target_lun': 14,
        'chap_username': '', 'chap_password': '',
        # cinder's own defaults
        'target_ip_address': '192.168.0.9', 'target_port': 3260,
        'target_prefix': 'iqn.2010-10.org.openstack:',
        'target_protocol': 'iscsi'}


class Conf(object):
    def __init__(self, **values):
        self.values = values

    def safe_get(self, name):
        return self.values.get(name)


def conf(**overrides):
    values = dict(SEED)
    values.update(overrides)
    return Conf(**values)


class TreeMixin(object):

    def make_tree(self, links, files=()):
        """links: by-path names; files: (relative path, content)."""
        root = self.useFixture(fixtures.TempDir()).path
        by_path = os.path.join(root, 'dev', 'disk', 'by-path')
        os.makedirs(by_path)
        for i, name in enumerate(links):
            os.symlink('../../sd%s' % chr(ord('a') + i),
                       os.path.join(by_path, name))
        sysfs = os.path.join(root, 'sys')
        for rel, content in files:
            path = os.path.join(sysfs, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if content is None:
                os.makedirs(path)
            else:
                with open(path, 'w') as f:
                    f.write(content)
        return by_path, sysfs


@ddt.ddt
class ISCSISanTestCase(TreeMixin, base.TestCase):

    def target(self, by_path=target_base.BY_PATH, **overrides):
        return iscsisan.ISCSISanTarget(conf(**overrides), self.execute,
                                       by_path=by_path)

    def test_seed_section(self):
        self.assertEqual({'target_discovered': False,
                          'target_portal': '10.0.20.1:3260',
                          'target_iqn': IQN, 'target_lun': 14},
                         self.target().connection_properties())
        self.assertEqual('iscsi', self.target().protocol)

    @ddt.unpack
    @ddt.data(({'iscsi_ip_address': None}, '192.168.0.9:3260'),
              ({'iscsi_port': None, 'target_port': 3261},
               '10.0.20.1:3261'),
              ({'iscsi_ip_address': 'fd00::1'}, '[fd00::1]:3260'),
              ({'iscsi_ip_address': '', 'target_ip_address': '10.1.1.1',
                'iscsi_port': 860}, '10.1.1.1:860'))
    def test_portal_fallbacks(self, overrides, portal):
        self.assertEqual(portal, self.target(**overrides).portal)

    def test_target_prefix_when_it_is_a_whole_iqn(self):
        t = self.target(iscsi_target_prefix=None, target_prefix=IQN)
        self.assertEqual(IQN, t.iqn)

    def test_cinder_default_prefix_is_not_an_iqn(self):
        t = self.target(iscsi_target_prefix=None)
        e = self.assertRaises(exception.AuxoException, getattr, t, 'iqn')
        self.assertIn('iscsi_target_prefix is not set', e.msg)

    def test_lun_is_required(self):
        e = self.assertRaises(exception.AuxoException, getattr,
                              self.target(target_lun=None), 'lun')
        self.assertIn('target_lun is not set', e.msg)

    def test_chap(self):
        props = self.target(chap_username='u',
                            chap_password='p').connection_properties()
        self.assertEqual(('CHAP', 'u', 'p'),
                         (props['auth_method'], props['auth_username'],
                          props['auth_password']))

    def test_iser(self):
        self.assertEqual('iser', self.target(iscsi_protocol=None,
                                             target_protocol='iser').protocol)

    def test_pattern_matches_only_that_lun(self):
        good = 'ip-10.0.20.1:3260-iscsi-%s-lun-14' % IQN
        by_path, _sysfs = self.make_tree([
            good,
            'ip-10.0.20.1:3260-iscsi-%s-lun-1' % IQN,
            'ip-10.0.20.1:3260-iscsi-%s-lun-140' % IQN,
            'ip-10.0.20.1:3260-iscsi-%sX-lun-14' % IQN,
            'ip-10.0.20.11:3260-iscsi-%s-lun-14' % IQN,
            'ip-10.0.20.1:3260-iscsi-%s-lun-14' % IQN.replace('.', 'x', 1),
            'pci-0000:00:04.0'])
        t = self.target(by_path=by_path)
        self.assertEqual([os.path.join(by_path, good)], t.devices())
        pattern, = t.device_patterns()
        # LVM's regex syntax: no backslashes, dots bracketed.
        self.assertNotIn('\\', pattern)
        self.assertTrue(re.match(pattern, os.path.join(by_path, good)))

    def test_sessions_are_parsed(self):
        self.execute.on(('iscsiadm', '-m', 'session'), (
            'tcp: [1] 10.0.20.1:3260,1 %s (non-flash)\n'
            'tcp: [2] [fd00::1]:3260,1 iqn.x (non-flash)\n' % IQN, ''))
        self.assertEqual([('10.0.20.1:3260', IQN), ('[fd00::1]:3260',
                                                    'iqn.x')],
                         self.target().sessions())

    def test_problem_without_session(self):
        # iscsiadm exits 21 with no sessions at all; allowed, empty output.
        self.execute.on(('iscsiadm',), ('', 'iscsiadm: No active sessions.'))
        self.assertEqual('no iSCSI session to %s at 10.0.20.1:3260' % IQN,
                         self.target().problem())

    def test_problem_session_without_device(self):
        by_path, _sysfs = self.make_tree([])
        self.execute.on(('iscsiadm',), (
            'tcp: [1] 10.0.20.1:3260,1 %s (non-flash)\n' % IQN, ''))
        self.assertIn('no device of LUN 14',
                      self.target(by_path=by_path).problem())

    def test_no_problem(self):
        by_path, _sysfs = self.make_tree(
            ['ip-10.0.20.1:3260-iscsi-%s-lun-14' % IQN])
        self.execute.on(('iscsiadm',), (
            'tcp: [1] 10.0.20.1:3260,1 %s (non-flash)\n' % IQN, ''))
        self.assertIsNone(self.target(by_path=by_path).problem())

    def test_iscsiadm_failure_is_a_problem(self):
        self.execute.on(('iscsiadm',), base.process_error('iscsid down', 4))
        self.assertIn('iscsiadm -m session failed', self.target().problem())


@ddt.ddt
class FCSanTestCase(TreeMixin, base.TestCase):

    WWPN = '500507680b2255a1'

    def target(self, by_path, sysfs, **overrides):
        values = {'target_lun': 14}
        values.update(overrides)
        return fcsan.FCSanTarget(Conf(**values), self.execute,
                                 by_path=by_path, sysfs=sysfs)

    def test_wwpns_from_by_path(self):
        by_path, sysfs = self.make_tree([
            'pci-0000:05:00.0-fc-0x%s-lun-14' % self.WWPN,
            'pci-0000:05:00.1-fc-0x500507680b2255b2-lun-14',
            'pci-0000:05:00.0-fc-0x5005076800000000-lun-3',
            'pci-0000:00:1f.2-ata-1'])
        t = self.target(by_path, sysfs)
        self.assertEqual([self.WWPN, '500507680b2255b2'], t.wwpns)
        self.assertEqual({'target_discovered': False,
                          'target_wwn': [self.WWPN, '500507680b2255b2'],
                          'target_lun': 14}, t.connection_properties())
        self.assertEqual('fibre_channel', t.protocol)
        self.assertEqual(2, len(t.devices()))
        self.assertIsNone(t.problem())

    def test_wwpns_from_sysfs(self):
        by_path, sysfs = self.make_tree([], [
            ('class/fc_transport/target3:0:1/port_name', '0x%s\n' %
             self.WWPN),
            ('class/scsi_device/3:0:1:14', None),
            # A port of another array without LUN 14.
            ('class/fc_transport/target3:0:2/port_name',
             '0x5005076800000000\n'),
            ('class/scsi_device/3:0:2:3', None)])
        t = self.target(by_path, sysfs)
        self.assertEqual([self.WWPN], t.wwpns)
        # No by-path link: the LUN has no device on this host.
        self.assertIn('no device of LUN 14', t.problem())

    @ddt.data(['50:05:07:68:0B:22:55:A1'], ['0x500507680b2255a1'])
    def test_configured_wwpns_win(self, configured):
        by_path, sysfs = self.make_tree([
            'pci-0000:05:00.1-fc-0x5005076800000000-lun-14'])
        t = self.target(by_path, sysfs, fc_target_wwpns=configured)
        self.assertEqual([self.WWPN], t.wwpns)
        self.assertEqual([], t.devices())

    def test_nothing_found(self):
        by_path, sysfs = self.make_tree([])
        t = self.target(by_path, sysfs)
        e = self.assertRaises(exception.AuxoException, getattr, t, 'wwpns')
        self.assertIn('set fc_target_wwpns', e.msg)
        self.assertIn('no FC target port with LUN 14', t.problem())

    def test_patterns_accept_udev_link_forms(self):
        by_path, sysfs = self.make_tree([
            'pci-0000:05:00.0-fc-0x%s-lun-14' % self.WWPN,
            'fc-0x%s-lun-14' % self.WWPN,
            'pci-0000:05:00.0-fc-0x%s-lun-14-part1' % self.WWPN])
        t = self.target(by_path, sysfs)
        self.assertEqual(
            [os.path.join(by_path, 'fc-0x%s-lun-14' % self.WWPN),
             os.path.join(by_path, 'pci-0000:05:00.0-fc-0x%s-lun-14' %
                          self.WWPN)], t.devices())


class RegistryTestCase(base.TestCase):

    def test_names(self):
        self.assertIn('iscsisan', targets.names())
        self.assertIs(fcsan.FCSanTarget, targets.target_class('fcsan'))

    def test_unknown_name(self):
        e = self.assertRaises(exception.AuxoException, targets.target_class,
                              'tgtadm')
        self.assertIn("unknown target helper 'tgtadm'", e.msg)
        self.assertIn('fcsan, iscsisan', e.msg)

    def test_register(self):
        self.addCleanup(targets._TARGETS.pop, 'other')
        targets.register('other',
                         'cinder_auxo.targets.iscsisan.ISCSISanTarget')
        t = targets.get_target('other', conf(), self.execute)
        self.assertIsInstance(t, iscsisan.ISCSISanTarget)
