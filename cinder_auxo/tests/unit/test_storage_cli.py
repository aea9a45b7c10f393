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

"""cinder-auxo-storage: commands, refusals and rollback, with a strict
fake command runner (error paths that a real target cannot be made to
show on demand). The real thing runs in the storage VM
(functional/lvm/test_storage_admin.py)."""

import json
import os
from unittest import mock

import fixtures
from oslo_concurrency import processutils

from cinder_auxo.cmd import storage as cli
from cinder_auxo import exception
from cinder_auxo.storage_admin import conffile
from cinder_auxo.storage_admin import iscsi
from cinder_auxo.storage_admin import luns
from cinder_auxo.storage_admin import manager
from cinder_auxo.storage_admin import owner
from cinder_auxo.storage_admin import request
from cinder_auxo.storage_admin import services
from cinder_auxo.storage_admin import state
from cinder_auxo.storage_admin import status
from cinder_auxo.tests.unit import base

SYSFS = os.path.join(os.path.dirname(__file__), 'data', 'sysfs-fc')
PORTAL = '10.0.20.1:3260'
IQN = 'iqn.2012-07.com.example:tgt0'
CONF = '# node\n[DEFAULT]\nenabled_backends = lvm-1\n'
# blkid -p on a blank device: exit 2 (allowed), nothing printed.
NOTHING = ('', '')


class StorageCliBase(base.TestCase):

    def setUp(self):
        super(StorageCliBase, self).setUp()
        self.udev_dir = base.storages_owned_by_nobody(self)
        self.execute = base.FakeExecutor()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.state_dir = os.path.join(self.tmp, 'state')
        self.conf_path = os.path.join(self.tmp, 'cinder.conf')
        with open(self.conf_path, 'w') as f:
            f.write(CONF + '[auxo_storage]\nstate_dir = %s\n' %
                    self.state_dir)
        with open(self.conf_path) as f:
            self.original = f.read()
        self.by_path = os.path.join(self.tmp, 'by-path')
        os.mkdir(self.by_path)
        self.lines = []
        self.client = mock.MagicMock()
        self.client.volumes.list.return_value = []

    def main(self, *argv, client=None):
        stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        rc = cli.main(['--config-file', self.conf_path] + list(argv),
                      out=self.lines.append, execute=self.execute,
                      client=client or self.client)
        stderr.seek(0)
        return rc, '\n'.join(self.lines) + stderr.read()

    def admin(self):
        return manager.StorageAdmin(
            self.execute, self.conf_path, self.state_dir,
            services.Cinder(None, self.lines.append), self.lines.append,
            by_path=self.by_path, device_timeout=1)

    def conf(self):
        with open(self.conf_path) as f:
            return f.read()

    def lun(self, number=14):
        link = iscsi.lun_link(PORTAL, IQN, number, self.by_path)
        disk = os.path.join(self.tmp, 'sd%d' % number)
        open(disk, 'w').close()
        os.symlink(disk, link)
        return link

    def block_request(self, **kw):
        return request.Request('san1', 'block', 'iscsi', portal=PORTAL,
                               iqn=IQN, lun=14, **kw)


class StorageCliTestCase(StorageCliBase):

    # -- discover ----------------------------------------------------------

    def test_discover_prints_the_targets(self):
        self.execute.on(('iscsiadm', '-m', 'discovery'),
                        ('%s,1 %s\n%s,1 %s:b\n' % (PORTAL, IQN, PORTAL, IQN),
                         ''))
        rc, out = self.main('discover', '--portal', '10.0.20.1')
        self.assertEqual(0, rc)
        self.assertEqual([IQN, IQN + ':b'], self.lines)
        self.assertEqual(('iscsiadm', '-m', 'discovery', '-t', 'sendtargets',
                          '-p', PORTAL, '-o', 'nonpersistent'),
                         self.execute.calls[0])

    def test_discover_with_chap_leaves_no_discovery_record(self):
        db = ('iscsiadm', '-m', 'discoverydb', '-t', 'sendtargets', '-p',
              PORTAL)
        self.execute.on(db, ('%s,1 %s\n' % (PORTAL, IQN), ''))
        self.assertEqual([IQN], iscsi.discover(
            self.execute, PORTAL, iscsi.Chap('u', 'secret')))
        self.assertEqual(db + ('-o', 'delete'), self.execute.calls[-1])
        self.assertIn(db + ('-o', 'update', '-n',
                            'discovery.sendtargets.auth.password', '-v',
                            'secret'), self.execute.calls)

    def test_portal_that_does_not_answer_is_refused(self):
        self.execute.on(('iscsiadm', '-m', 'discovery'), base.process_error(
            'iscsiadm: connect to 10.0.20.9 timed out', exit_code=4))
        rc, out = self.main('discover', '--portal', '10.0.20.9')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('iSCSI portal 10.0.20.9:3260 did not answer: '
                      'iscsiadm: connect to 10.0.20.9 timed out', out)

    def test_portal_forms(self):
        self.assertEqual('10.0.20.1:3260', iscsi.portal('10.0.20.1'))
        self.assertEqual('10.0.20.1:3261', iscsi.portal('10.0.20.1:3261'))
        self.assertEqual('[fd00::1]:3260', iscsi.portal('fd00::1'))
        self.assertEqual('[fd00::1]:3262', iscsi.portal('[fd00::1]:3262'))

    # -- add: refusals roll back -------------------------------------------

    def test_wrong_chap_is_refused_and_the_node_record_removed(self):
        self.execute.on(('iscsiadm', '-m', 'session'), ('', ''))
        self.execute.on(('iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL,
                         '--login'),
                        base.process_error('iscsiadm: Login failed to '
                                           'authenticate', exit_code=24))
        self.execute.on(('iscsiadm', '-m', 'node'))
        self.assertRaises(exception.ISCSIAuthFailed, self.admin().add,
                          self.block_request(chap=iscsi.Chap('u', 'bad')))
        self.assertEqual(1, len(self.execute.ran(
            'iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL, '-o',
            'delete')))
        self.assertEqual(self.original, self.conf())
        self.assertEqual([], state.all_records(self.state_dir))

    def _logged_in_lun(self, carries):
        self.lun()
        self.execute.on(('iscsiadm', '-m', 'session'), ('', ''))
        self.execute.on(('iscsiadm', '-m', 'node'))
        self.execute.on(('blkid',), carries)
        self.execute.on(('pvs',), ('  vg-old\n', ''))

    def test_lun_carrying_a_pv_is_refused_and_logged_out(self):
        self._logged_in_lun(('TYPE=LVM2_member\nUUID=x\n', ''))
        e = self.assertRaises(exception.LunInUse, self.admin().add,
                              self.block_request())
        self.assertIn('an LVM PV of VG vg-old; pass --force', e.msg)
        self.assertEqual(1, len(self.execute.ran(
            'iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL, '--logout')))
        self.assertEqual(self.original, self.conf())

    def test_failed_vgcreate_undoes_pv_and_login(self):
        self._logged_in_lun(NOTHING)
        self.execute.on(('env', 'LC_ALL=C'), base.process_error('no space'))
        self.execute.on(('wipefs',))
        self.assertRaises(exception.StorageAdminError, self.admin().add,
                          self.block_request())
        order = [c[0] if c[0] != 'env' else c[3] for c in self.execute.calls]
        # pvcreate failed (first LVM command): wipe, then log out.
        self.assertEqual(['pvcreate', 'wipefs', 'iscsiadm', 'iscsiadm'],
                         order[-4:])
        self.assertEqual(self.original, self.conf())
        self.assertEqual([], os.listdir(os.path.join(self.state_dir, 'lvm')))

    def test_force_says_what_it_destroys_first(self):
        self._logged_in_lun(('TYPE=ext4\nUUID=1234\n', ''))
        self.execute.on(('wipefs',))
        self.execute.on(('env', 'LC_ALL=C'), base.process_error('stop'))
        self.assertRaises(exception.StorageAdminError, self.admin().add,
                          self.block_request(force=True))
        self.assertIn('--force: destroying a ext4 signature (UUID 1234) on '
                      + iscsi.lun_link(PORTAL, IQN, 14, self.by_path),
                      self.lines)

    def test_mount_point_not_empty_is_refused_before_any_login(self):
        busy = os.path.join(self.tmp, 'busy')
        os.mkdir(busy)
        open(os.path.join(busy, 'x'), 'w').close()
        rc, out = self.main('add', 'share', '--usage', 'file', '--type',
                            'iscsi', '--portal', PORTAL, '--iqn', IQN,
                            '--lun', '1', '--mount-point', busy)
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('Mount point %s is not empty (x)' % busy, out)
        self.assertEqual([], self.execute.calls)

    def test_usage_and_type_must_agree(self):
        rc, out = self.main('add', 'x', '--usage', 'local', '--type',
                            'fc', '--mount-point', self.tmp)
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('usage local and type local go together', out)

    def test_unsafe_names_are_refused(self):
        rc, out = self.main('add', '../etc', '--usage', 'local', '--type',
                            'local', '--mount-point', self.tmp)
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('a storage name is', out)

    # -- a local storage, end to end ---------------------------------------

    def add_local(self, name='ssd'):
        directory = os.path.join(self.tmp, name)
        os.makedirs(directory, exist_ok=True)
        rc, out = self.main('add', name, '--usage', 'local', '--type',
                            'local', '--mount-point', directory)
        self.assertEqual(0, rc, out)
        return directory, state.load(self.state_dir, name)['backend']

    def test_add_local_writes_the_section_and_the_volume_type(self):
        directory, backend = self.add_local()
        self.assertTrue(backend.startswith('storage-'))
        self.assertEqual(
            self.original.replace('lvm-1', 'lvm-1,' + backend) +
            '\n[%s]\n'
            'volume_driver = cinder_auxo.drivers.local.LocalFileDriver\n'
            'volume_backend_name = %s\nmount_point = %s\n'
            'image_base_path =\nvolume_type = qcow2\nimage_format = qcow2\n'
            'image_volume_cache_enabled = True\n' % (backend, backend,
                                                     directory),
            self.conf())
        self.client.volume_types.create.assert_called_once_with('ssd')
        self.client.volume_types.create.return_value.set_keys.\
            assert_called_once_with({'volume_backend_name': backend})

    def test_without_credentials_the_commands_are_printed(self):
        cinder = services.Cinder(None, self.lines.append)
        cinder.create_type('ssd', 'storage-1')
        self.assertIn('cinder type-key ssd set '
                      'volume_backend_name=storage-1', self.lines[0])

    def test_without_systemd_it_says_what_to_restart(self):
        with mock.patch.object(os.path, 'isdir', autospec=True,
                               return_value=False):
            self.assertFalse(services.restart_volume_service(
                self.execute, 'cinder-volume', 'storage-1',
                self.lines.append))
        self.assertEqual(['Restart cinder-volume (not run by systemd here) '
                          'to load the change of backend storage-1'],
                         self.lines)

    def test_under_systemd_cinder_volume_is_restarted(self):
        self.execute.on(('systemctl',))
        with mock.patch.object(os.path, 'isdir', autospec=True,
                               return_value=True):
            self.assertTrue(services.restart_volume_service(
                self.execute, 'devstack@c-vol', 'storage-1',
                self.lines.append))
        self.assertEqual(('systemctl', 'restart', 'devstack@c-vol'),
                         self.execute.calls[-1])

    def test_name_in_use_is_refused(self):
        self.add_local()
        before = self.conf()
        rc, out = self.main('add', 'ssd', '--usage', 'local', '--type',
                            'local', '--mount-point', self.tmp)
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('The name ssd is already in use', out)
        self.assertEqual(before, self.conf())

    def test_remove_local_gives_back_the_same_file(self):
        self.add_local()
        rc, out = self.main('remove', 'ssd')
        self.assertEqual(0, rc, out)
        self.assertEqual(self.original, self.conf())
        self.assertEqual([], state.all_records(self.state_dir))

    def test_remove_refused_while_the_storage_holds_files(self):
        directory, _backend = self.add_local()
        os.makedirs(os.path.join(directory, '_base'))
        open(os.path.join(directory, '_base', 'image-1.qcow2'), 'w').close()
        before = self.conf()
        rc, out = self.main('remove', 'ssd')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('holds 1 file(s) (volumes, snapshots or cached bases)',
                      out)
        self.assertEqual(before, self.conf())

    def test_remove_refused_while_cinder_has_volumes_there(self):
        _directory, backend = self.add_local()
        vol = mock.Mock(id='v-1', **{'os-vol-host-attr:host':
                                     'node1@%s#pool' % backend})
        self.client.volumes.list.return_value = [vol]
        rc, out = self.main('remove', 'ssd')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('cinder has 1 volume(s) on backend %s: v-1' % backend,
                      out)

    def test_list_shows_state_and_capacity(self):
        self.add_local()
        self.lines[:] = []
        rc, _out = self.main('list', '--format', 'json')
        rows = json.loads(self.lines[0])
        self.assertEqual([('ssd', 'local', 'up')],
                         [(r['name'], r['type'], r['state']) for r in rows])
        self.assertGreater(rows[0]['total'], 0)
        self.assertEqual(0, rows[0]['provisioned'])
        self.lines[:] = []
        self.main('status', 'ssd')
        self.assertTrue(self.lines[0].startswith('NAME'))
        self.assertIn(' up ', self.lines[0].replace('\n', ' ') + ' ')

    def test_status_says_why_a_file_storage_is_down(self):
        record = {'name': 'share', 'backend': 'storage-1', 'type': 'fc',
                  'usage': 'file', 'mount_point': self.tmp,
                  'device': '/dev/disk/by-path/gone'}
        row = status.one(self.execute, record, self.state_dir)
        self.assertEqual(('down', 'device /dev/disk/by-path/gone is gone'),
                         (row['state'], row['reason']))
        record['device'] = self.tmp
        row = status.one(self.execute, record, self.state_dir)
        self.assertEqual('mount %s is gone' % self.tmp, row['reason'])

    # -- FC, from a recorded sysfs tree ------------------------------------

    def test_fc_luns_from_sysfs(self):
        self.execute.on(('blkid', '-p', '-o', 'export', '/dev/sdc'),
                        ('TYPE=xfs\n', ''))
        self.execute.on(('blkid',), NOTHING)
        found = luns.fc_luns(self.execute, SYSFS, self.by_path)
        self.assertEqual(
            [('500a098188da1c10', 0, '/dev/sdb', 10 * 1024 ** 3, ''),
             ('500a098188da1c10', 3, '/dev/sdc', 2 * 1024 ** 3,
              'a xfs signature'),
             ('500a098198da1c10', 3, '/dev/sdd', 2 * 1024 ** 3, '')],
            [(f['wwpn'], f['lun'], f['device'], f['size'], f['carries'])
             for f in found])

    def test_fc_luns_prefer_by_path_links(self):
        self.execute.on(('blkid',), NOTHING)
        link = os.path.join(self.by_path,
                            'pci-0000:41:00.0-fc-0x500a098188da1c10-lun-3')
        os.symlink('/dev/sdc', link)
        found = luns.fc_luns(self.execute, SYSFS, self.by_path)
        self.assertEqual(link, found[1]['path'])

    def test_table(self):
        text = cli.table([{'a': 'x', 'b': None}], [('a', 'A', None),
                                                   ('b', 'BEE', cli._gib)])
        self.assertEqual('A  BEE\nx  -', text)

    def test_remove_refused_while_the_lun_cannot_be_seen(self):
        self.add_local()
        record = state.load(self.state_dir, 'ssd')
        record.update(name='san9', usage='block', type='fc',
                      device=os.path.join(self.by_path, 'gone'),
                      volume_group='vg9')
        state.save(self.state_dir, record)
        rc, out = self.main('remove', 'san9')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('cannot look at it (its LUN %s is not present' %
                      record['device'], out)

    def test_a_failed_volume_type_still_leaves_the_storage(self):
        self.client.volume_types.create.side_effect = RuntimeError('401')
        _directory, backend = self.add_local()
        self.assertIn('The volume type was not created (401); create it '
                      'with', '\n'.join(self.lines))
        self.assertIn('[%s]' % backend, self.conf())

    def test_remove_refused_when_cinder_cannot_be_asked(self):
        self.add_local()
        self.client.volumes.list.side_effect = RuntimeError('503')
        rc, out = self.main('remove', 'ssd')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('cinder could not be asked for volumes: 503', out)

    def test_add_block_on_an_fc_lun_writes_an_fcsan_section(self):
        disk = os.path.join(self.tmp, 'sdc')
        open(disk, 'w').close()
        link = os.path.join(self.by_path,
                            'pci-0000:41:00.0-fc-0x500a098198da1c10-lun-3')
        os.symlink(disk, link)
        self.execute.on(('blkid',), NOTHING)
        self.execute.on(('env', 'LC_ALL=C'))
        admin = self.admin()
        admin.sysfs = SYSFS
        # brick runs LVM itself (lvm version, vgs): not on this host.
        with mock.patch('cinder.brick.local_dev.lvm.LVM',
                        autospec=True) as brick:
            record = admin.add(request.Request(
                'fc1', 'block', 'fc', lun=3, wwpn='500a098198da1c10'))
        brick.assert_called_once_with(
            record['volume_group'], None, executor=mock.ANY,
            lvm_conf=os.path.join(self.state_dir, 'lvm',
                                  record['volume_group'], 'lvm.conf'))
        lvm = [c[3:] for c in self.execute.ran('env', 'LC_ALL=C')]
        self.assertEqual([('pvcreate', '-q', '--metadatasize', '64m', link),
                          ('vgcreate', '-q', '-s', '4M',
                           record['volume_group'], link)], lvm)
        with open(os.path.join(self.state_dir, 'lvm', record['volume_group'],
                               'lvm.conf')) as f:
            self.assertIn('"a|^%s$|", "r|.*|"' % link.replace('.', '\\.'),
                          f.read())
        section = conffile.ConfFile(self.conf_path).items(record['backend'])
        self.assertEqual({'iscsi_helper': 'fcsan',
                          'fc_target_wwpns': '500a098198da1c10',
                          'target_lun': '3',
                          'volume_group': record['volume_group']},
                         {k: section[k] for k in (
                             'iscsi_helper', 'fc_target_wwpns', 'target_lun',
                             'volume_group')})
        self.assertNotIn('iscsi_ip_address', section)


class OwnerTestCase(StorageCliBase):
    """A storage is given to the user cinder-volume runs as."""

    def setUp(self):
        super(OwnerTestCase, self).setUp()
        # The current user stands in for cinder's: chown needs no root.
        self.user = owner.Owner('cinder', os.getuid(), 'cinder', os.getgid())
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_auxo.storage_admin.owner.service_user',
            lambda name: self.user if name == 'cinder' else None))
        self.execute.on(('udevadm',))

    def fc_block(self):
        disk = os.path.join(self.tmp, 'sdc')
        open(disk, 'w').close()
        os.symlink(disk, os.path.join(
            self.by_path, 'pci-0000:41:00.0-fc-0x500a098198da1c10-lun-3'))
        self.execute.on(('blkid',), NOTHING)
        self.execute.on(('env', 'LC_ALL=C'))
        admin = self.admin()
        admin.sysfs = SYSFS
        with mock.patch('cinder.brick.local_dev.lvm.LVM', autospec=True):
            return admin, admin.add(request.Request(
                'fc1', 'block', 'fc', lun=3, wwpn='500a098198da1c10'))

    def test_a_block_storage_gets_a_udev_rule_for_its_group(self):
        admin, record = self.fc_block()
        vg = record['volume_group']
        path = os.path.join(self.udev_dir, '61-cinder-auxo-%s.rules' % vg)
        with open(path) as f:
            rule = [line for line in f if not line.startswith('#')]
        self.assertEqual(
            ['SUBSYSTEM=="block", ENV{DM_VG_NAME}=="%s", OWNER:="cinder", '
             'GROUP:="cinder", MODE:="0660"\n' % vg], rule)
        # Applied at once to the group's LVs already active.
        self.assertEqual(
            [('udevadm', 'control', '--reload'),
             ('udevadm', 'trigger', '--action=change',
              '--subsystem-match=block',
              '--property-match=DM_VG_NAME=%s' % vg),
             ('udevadm', 'settle')], self.execute.ran('udevadm'))
        with mock.patch('cinder.brick.local_dev.lvm.LVM', autospec=True):
            admin.remove('fc1')
        self.assertEqual([], os.listdir(self.udev_dir))

    def test_a_failed_add_takes_its_rule_back(self):
        self.execute.on(('udevadm', 'settle'),
                        base.process_error('timed out'))
        self.execute.on(('wipefs',))
        self.assertRaises(processutils.ProcessExecutionError, self.fc_block)
        self.assertEqual([], os.listdir(self.udev_dir))

    def test_without_the_user_nothing_changes_owner(self):
        self.user = None
        self.fc_block()
        self.assertEqual([], os.listdir(self.udev_dir))
        self.assertEqual([], self.execute.ran('udevadm'))
