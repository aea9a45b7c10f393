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

"""cinder-auxo-storage for devstack: chosen backend and volume group
names, a section that exists already, a storage added again, a volume
group already on the LUN, and volumes discarded on removal. Over the
same strict fake command runner as test_storage_cli."""

import functools
import os
from unittest import mock

import ddt
import fixtures

from cinder_auxo.cmd import storage as cli
from cinder_auxo import exception
from cinder_auxo.storage_admin import iscsi
from cinder_auxo.storage_admin import manager
from cinder_auxo.storage_admin import request
from cinder_auxo.storage_admin import services
from cinder_auxo.storage_admin import state
from cinder_auxo.tests.unit import base

PORTAL = '127.0.0.1:3260'
IQN = 'iqn.2010-10.org.openstack:auxo-san1'
NOTHING = ('', '')
# The section devstack's configure_cinder_backend_auxo_lvmsan writes,
# followed by one lib/cinder adds (image cache) and another section; the
# CHAP keys are left out so that ``add`` has something to merge.
DEVSTACK = (
    '[DEFAULT]\n'
    'enabled_backends = san1\n'
    'default_volume_type = san1\n'
    '\n'
    '[san1]\n'
    'volume_driver = cinder_auxo.drivers.lvmsan.LVMSANDriver\n'
    'volume_backend_name = san1\n'
    'iscsi_protocol = iser\n'
    'iscsi_port = 3260\n'
    'iscsi_ip_address = 127.0.0.1\n'
    'iscsi_helper = iscsisan\n'
    'iscsi_target_prefix = %s\n'
    'target_lun = 1\n'
    'volume_clear_size = 0\n'
    'volume_group = auxo-san1\n'
    'image_volume_cache_enabled = True\n'
    'image_base_path =\n'
    'image_format = raw\n'
    'image_volume_cache_max_size_gb = 5\n'
    '\n'
    '[database]\n'
    'connection = sqlite://\n' % IQN)


@ddt.ddt
class NamedStorageTestCase(base.TestCase):

    def setUp(self):
        super(NamedStorageTestCase, self).setUp()
        self.udev_dir = base.storages_owned_by_nobody(self)
        self.execute = base.FakeExecutor()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.state_dir = os.path.join(self.tmp, 'state')
        self.conf_path = os.path.join(self.tmp, 'cinder.conf')
        self.write_conf('[DEFAULT]\nenabled_backends = lvm-1\n')
        self.by_path = os.path.join(self.tmp, 'by-path')
        os.mkdir(self.by_path)
        self.lines = []
        # brick runs LVM itself (lvm version, vgs): not on this host.
        self.brick = mock.patch('cinder.brick.local_dev.lvm.LVM',
                                autospec=True).start()
        self.brick.return_value.get_volumes.return_value = []

    def write_conf(self, text):
        with open(self.conf_path, 'w') as f:
            f.write(text + '[auxo_storage]\nstate_dir = %s\n' %
                    self.state_dir)
        self.original = self.conf()

    def conf(self):
        with open(self.conf_path) as f:
            return f.read()

    def admin(self):
        return manager.StorageAdmin(
            self.execute, self.conf_path, self.state_dir,
            services.Cinder(None, self.lines.append), self.lines.append,
            by_path=self.by_path, device_timeout=1)

    def main(self, *argv, client=None):
        stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        self.execute.on(('systemctl',), base.process_error('inactive', 3))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_auxo.storage_admin.manager.StorageAdmin',
            functools.partial(manager.StorageAdmin, by_path=self.by_path)))
        isdir = os.path.isdir
        # No systemd: the CLI only says what to restart.
        with mock.patch.object(os.path, 'isdir', autospec=True,
                               side_effect=lambda p: p != '/run/systemd/'
                               'system' and isdir(p)):
            rc = cli.main(['--config-file', self.conf_path] + list(argv),
                          out=self.lines.append, execute=self.execute,
                          client=client or mock.MagicMock())
        stderr.seek(0)
        return rc, '\n'.join(self.lines) + stderr.read()

    def lun(self, carries=NOTHING, vg=None):
        link = iscsi.lun_link(PORTAL, IQN, 1, self.by_path)
        disk = os.path.join(self.tmp, 'sdb')
        open(disk, 'w').close()
        os.symlink(disk, link)
        self.execute.on(('iscsiadm', '-m', 'session'), NOTHING)
        self.execute.on(('iscsiadm', '-m', 'node'))
        self.execute.on(('blkid',), carries)
        self.execute.on(('pvs',), ('  %s\n' % vg if vg else '', ''))
        self.execute.on(('env', 'LC_ALL=C'))
        self.execute.on(('wipefs',))
        return link

    def request(self, **kw):
        kw.setdefault('backend', 'san1')
        kw.setdefault('volume_group', 'auxo-san1')
        return request.Request('san1', 'block', 'iscsi', portal=PORTAL,
                               iqn=IQN, lun=1, **kw)

    def lvm(self):
        return [c[3:5] for c in self.execute.ran('env', 'LC_ALL=C')]

    ADD = ('add', 'san1', '--usage', 'block', '--type', 'iscsi',
           '--portal', PORTAL, '--iqn', IQN, '--lun', '1',
           '--backend-name', 'san1', '--volume-group', 'auxo-san1')

    # -- names ---------------------------------------------------------------

    def test_chosen_names_are_the_section_and_the_volume_group(self):
        link = self.lun()
        record = self.admin().add(self.request())
        self.assertEqual(('san1', 'auxo-san1', 'made'),
                         (record['backend'], record['volume_group'],
                          record['conf_section']))
        self.assertIn(('vgcreate', '-q'), self.lvm())
        self.assertIn(('-q', '-s', '4M', 'auxo-san1', link),
                      [c[4:] for c in self.execute.ran('env', 'LC_ALL=C')])
        self.assertIn('[san1]\nvolume_driver = '
                      'cinder_auxo.drivers.lvmsan.LVMSANDriver\n'
                      'volume_backend_name = san1\n', self.conf())
        self.assertIn('enabled_backends = lvm-1,san1\n', self.conf())
        self.assertEqual(record, state.load(self.state_dir, 'san1'))

    @ddt.data(({'backend': '../x'}, 'a backend name is'),
              ({'backend': 'DEFAULT'}, 'a backend name is'),
              ({'volume_group': '-vg'}, 'a volume group name'),
              ({'volume_group': '..'}, 'a volume group name'),
              ({'volume_group': 'a/b'}, 'a volume group name'))
    @ddt.unpack
    def test_unsafe_chosen_names_are_refused_before_any_command(
            self, kw, says):
        e = self.assertRaises(exception.StorageAdminError, self.admin().add,
                              self.request(**kw))
        self.assertIn(says, e.msg)
        self.assertEqual([], self.execute.calls)

    def test_a_volume_group_name_only_for_a_block_storage(self):
        rc, out = self.main('add', 'ssd', '--usage', 'local', '--type',
                            'local', '--mount-point', self.tmp,
                            '--volume-group', 'vg1')
        self.assertEqual(cli.REFUSED, rc)
        self.assertIn('a volume group name (block storages only)', out)

    @ddt.data('backend', 'volume_group')
    def test_a_name_another_storage_has_is_refused(self, key):
        state.save(self.state_dir, {'name': 'other', 'backend': 'san1',
                                    'volume_group': 'auxo-san1'})
        e = self.assertRaises(exception.StorageNameInUse, self.admin().add,
                              self.request(**{'backend': 'san1'
                                              if key == 'backend'
                                              else 'san2'}))
        self.assertIn('%s of storage other' % key, e.msg)
        self.assertEqual([], self.execute.calls)

    def test_a_section_that_is_not_a_backend_is_refused(self):
        self.write_conf('[DEFAULT]\n\n[database]\nconnection = sqlite://\n')
        e = self.assertRaises(exception.StorageNameInUse, self.admin().add,
                              self.request(backend='database'))
        self.assertIn('a section that is not a backend', e.msg)
        self.assertEqual([], self.execute.calls)
        self.assertEqual(self.original, self.conf())

    # -- a section devstack wrote --------------------------------------------

    def test_merged_into_an_existing_section_keeping_its_bytes(self):
        self.write_conf(DEVSTACK)
        self.lun()
        record = self.admin().add(self.request())
        # Only the two missing keys, at the end of [san1]; devstack's own
        # values of the keys add only defaults (iser, 0, raw) are kept.
        self.assertEqual(self.original.replace(
            'image_volume_cache_max_size_gb = 5\n',
            'image_volume_cache_max_size_gb = 5\nchap_username =\n'
            'chap_password =\n'), self.conf())
        self.assertEqual(('merged', ['chap_username', 'chap_password'],
                          False),
                         (record['conf_section'], record['conf_keys'],
                          record['conf_enabled']))

        self.admin().remove('san1', wipe=True)
        self.assertEqual(self.original, self.conf())

    @ddt.data(('volume_group = auxo-san1', 'volume_group = other-vg'),
              ('target_lun = 1', 'target_lun = 2'),
              ('iscsi_target_prefix = ', 'iscsi_target_prefix = x'))
    @ddt.unpack
    def test_a_section_describing_another_storage_is_refused(
            self, old, new):
        self.write_conf(DEVSTACK.replace(old, new))
        self.lun()
        e = self.assertRaises(exception.SectionConflict, self.admin().add,
                              self.request())
        self.assertIn('[san1] of %s already has %s' % (
            self.conf_path, new.split(' = ')[0]), e.msg)
        # Refused before any login.
        self.assertEqual([], self.execute.calls)
        self.assertEqual(self.original, self.conf())
        self.assertEqual([], state.all_records(self.state_dir))

    def test_a_conflict_found_when_written_is_rolled_back(self):
        # The generated volume group is known only once it is made.
        self.write_conf(DEVSTACK)
        self.lun()
        e = self.assertRaises(exception.SectionConflict, self.admin().add,
                              self.request(volume_group=None))
        self.assertIn('already has volume_group = auxo-san1', e.msg)
        # Rolled back: the new group, the login, the record.
        self.assertEqual(self.original, self.conf())
        self.assertEqual([], state.all_records(self.state_dir))
        self.assertIn(('vgremove', '-f'), self.lvm())
        self.assertEqual(1, len(self.execute.ran(
            'iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL, '--logout')))

    # -- the volume group on the LUN -----------------------------------------

    def test_a_lun_carrying_the_named_volume_group_is_taken_as_it_is(self):
        self.lun(carries=('TYPE=LVM2_member\nUUID=x\n', ''), vg='auxo-san1')
        record = self.admin().add(self.request())
        self.assertTrue(record['vg_reused'])
        self.assertEqual([('vgs', '--noheadings')], self.lvm())
        self.assertEqual([], self.execute.ran('wipefs'))
        self.assertIn('carries volume group auxo-san1 already: taken as it '
                      'is', self.lines[0])

    def test_a_lun_carrying_another_volume_group_is_refused(self):
        self.lun(carries=('TYPE=LVM2_member\nUUID=x\n', ''), vg='vg-other')
        e = self.assertRaises(exception.LunInUse, self.admin().add,
                              self.request())
        self.assertIn('an LVM PV of VG vg-other; pass --force', e.msg)
        self.assertEqual([], self.lvm())
        self.assertEqual([], state.all_records(self.state_dir))

    def test_without_a_chosen_name_any_volume_group_is_foreign(self):
        self.lun(carries=('TYPE=LVM2_member\nUUID=x\n', ''), vg='auxo-san1')
        self.assertRaises(exception.LunInUse, self.admin().add,
                          self.request(volume_group=None))

    # -- added again (stack.sh after unstack.sh) -----------------------------

    def test_the_same_storage_added_again_logs_in_and_changes_nothing(self):
        client = mock.MagicMock()
        self.lun()
        rc, out = self.main(*self.ADD, client=client)
        self.assertEqual(0, rc, out)
        conf, record = self.conf(), state.load(self.state_dir, 'san1')
        self.lines[:] = []
        rc, out = self.main(*self.ADD, client=client)
        self.assertEqual(0, rc, out)
        self.assertIn('Storage san1 is there already (backend san1, volume '
                      'group auxo-san1)', out)
        self.assertEqual(conf, self.conf())
        self.assertEqual(record, state.load(self.state_dir, 'san1'))
        # One group made, two logins, one volume type.
        self.assertEqual(1, self.lvm().count(('vgcreate', '-q')))
        self.assertEqual(2, len(self.execute.ran(
            'iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL, '--login')))
        client.volume_types.create.assert_called_once_with('san1')

    def test_another_storage_under_a_recorded_name_is_refused(self):
        self.lun()
        self.admin().add(self.request())
        e = self.assertRaises(exception.StorageNameInUse, self.admin().add,
                              self.request(volume_group='auxo-other'))
        self.assertIn('is another storage', e.msg)

    def test_added_again_without_its_volume_group_is_refused(self):
        self.lun()
        self.admin().add(self.request())
        self.execute.on(('env', 'LC_ALL=C', mock.ANY, 'vgs'),
                        base.process_error('not found', 5))
        # Answered before the catch-all LVM answer of lun().
        self.execute.answers.insert(0, self.execute.answers.pop())
        e = self.assertRaises(exception.StorageAdminError, self.admin().add,
                              self.request())
        self.assertIn('its volume group auxo-san1 is not on', e.msg)
        # The login made for it is undone.
        self.assertEqual(1, len(self.execute.ran(
            'iscsiadm', '-m', 'node', '-T', IQN, '-p', PORTAL, '--logout')))

    def test_a_record_from_before_merging_removes_its_whole_section(self):
        directory = os.path.join(self.tmp, 'ssd')
        os.mkdir(directory)
        self.write_conf('[DEFAULT]\nenabled_backends = lvm-1,storage-1\n'
                        '\n[storage-1]\nmount_point = %s\n' % directory)
        state.save(self.state_dir, {'name': 'ssd', 'usage': 'local',
                                    'type': 'local', 'backend': 'storage-1',
                                    'mount_point': directory})
        self.admin().remove('ssd')
        self.assertNotIn('storage-1', self.conf())
        self.assertIn('enabled_backends = lvm-1\n', self.conf())

    # -- remove --discard-volumes --------------------------------------------

    def test_volumes_are_discarded_only_when_asked(self):
        self.lun()
        self.admin().add(self.request())
        self.brick.return_value.get_volumes.return_value = [
            {'name': 'volume-1'}]
        self.assertRaises(exception.StorageInUse, self.admin().remove,
                          'san1', wipe=True)
        e = self.assertRaises(exception.StorageAdminError,
                              self.admin().remove, 'san1', discard=True)
        self.assertIn('needs --wipe', e.msg)

        self.admin().remove('san1', wipe=True, discard=True)
        self.assertEqual(self.original, self.conf())
        self.assertEqual([('vgchange', '-a'), ('vgremove', '-f'),
                          ('pvremove', '-y')], self.lvm()[-3:])
        self.assertEqual(1, len(self.execute.ran('wipefs')))
        self.assertEqual([], state.all_records(self.state_dir))

    def test_discard_on_the_command_line(self):
        self.lun()
        self.admin().add(self.request())
        self.brick.return_value.get_volumes.return_value = [
            {'name': 'volume-1'}]
        rc, out = self.main('remove', 'san1', '--discard-volumes')
        self.assertEqual(cli.REFUSED, rc)
        rc, out = self.main('remove', 'san1', '--wipe', '--discard-volumes')
        self.assertEqual(0, rc, out)
        self.assertIn('Storage san1 (backend san1) removed', out)
