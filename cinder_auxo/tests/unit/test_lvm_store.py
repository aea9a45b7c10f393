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
"""LVMStore: argv shapes, the device filter and error translation."""

import json
import os
import sys
from unittest import mock

import ddt
import fixtures
from oslo_rootwrap import wrapper

from cinder_auxo import exception
from cinder_auxo.stores import lvm
from cinder_auxo.tests.unit import base

VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'
U = '0f3f7e3c-1b7a-4c53-8d8e-3f1f0a2b9c11'
U2 = '5c1e0b52-7d0e-4f6a-9b5e-2a7c4d1e8f30'
PATTERN = '^/dev/disk/by-path/ip-10[.]0[.]20[.]1:3260-iscsi-iqn[.]x-lun-14$'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
# This package's filters, and cinder's own as its wheel installs them.
AUXO_FILTERS = os.path.join(REPO, 'etc', 'cinder', 'rootwrap.d')
CINDER_FILTERS = os.path.join(sys.prefix, 'etc', 'cinder', 'rootwrap.d')


def strip_env(cmd):
    argv = list(cmd)
    while argv and (argv[0] == 'env' or '=' in argv[0]):
        argv.pop(0)
    return argv


LVM_TOOLS = ('lvcreate', 'lvremove', 'lvrename', 'lvchange', 'lvextend',
             'lvs', 'vgs', 'pvs', 'vgchange', 'vgck', 'lvdisplay',
             'dmsetup')


class LVMExecutor(base.FakeExecutor):
    """Answers LVM commands by tool name, whatever env prefix they carry.

    With ``locks`` (RecordingLocks), ``held_at`` records, for every
    command, its argv (without the env prefix) and the locks held while
    it ran.
    """

    def __init__(self, locks=None):
        super(LVMExecutor, self).__init__()
        # Every LVM tool succeeds quietly unless a test says otherwise;
        # any other command must be declared (``on``).
        self.tools = dict.fromkeys(LVM_TOOLS, ('', ''))
        self.locks = locks
        self.held_at = []
        # What a cinder-rootwrap would be asked to run.
        self.as_root = []

    def on_tool(self, tool, result):
        self.tools[tool] = result

    def __call__(self, *cmd, **kwargs):
        argv = strip_env(cmd)
        if kwargs.get('run_as_root'):
            self.as_root.append(cmd)
        if self.locks is not None:
            self.held_at.append((argv, tuple(self.locks.held)))
        if argv and argv[0] in self.tools:
            self.calls.append(cmd)
            result = self.tools[argv[0]]
            if callable(result):
                result = result(argv)
            if isinstance(result, Exception):
                raise result
            return result
        return super(LVMExecutor, self).__call__(*cmd, **kwargs)

    def tool_calls(self, tool):
        found = []
        for cmd in self.calls:
            argv = strip_env(cmd)
            if argv and argv[0] == tool:
                found.append(cmd)
        return found


def lvs_json(*names_sizes):
    return json.dumps({'report': [{'lv': [
        {'lv_name': n, 'lv_size': str(s)} for n, s in names_sizes]}]})


VG_UUID = 'aaaaaa-bbbb-cccc-dddd-eeee-ffff-000000'


def lv_uuid(n):
    return '%06d-0000-0000-0000-0000-0000-000000' % n


def dm_name(lv):
    return '%s-%s' % (VG.replace('-', '--'), lv.replace('-', '--'))


def view_lvs_json(*lvs):
    """lvs of refresh_view: (name, size, uuid number)."""
    return json.dumps({'report': [{'lv': [
        {'lv_name': n, 'lv_size': str(s), 'lv_uuid': lv_uuid(u),
         'lv_dm_path': '/dev/mapper/%s' % dm_name(n), 'vg_uuid': VG_UUID,
         'lv_tags': ''} for n, s, u in lvs]}]})


def dm_info(*devices):
    """dmsetup info lines: (dm name, LV uuid number)."""
    return ''.join('%s|LVM-%s%s\n' % (name, VG_UUID.replace('-', ''),
                                      lv_uuid(u).replace('-', ''))
                   for name, u in devices)


def dm_table(*devices):
    """dmsetup table lines: (dm name, bytes mapped)."""
    return ''.join('%s: 0 %d linear 254:16 %d\n' % (name, size // 512, 2048)
                   for name, size in devices)


def dmsetup(info='', table=''):
    def answer(argv):
        if argv[1] == 'info':
            return info, ''
        if argv[1] == 'table':
            return table, ''
        return '', ''
    return answer


@ddt.ddt
class LVMStoreTestCase(base.TestCase):

    def setUp(self):
        super(LVMStoreTestCase, self).setUp()
        self.locks = base.RecordingLocks()
        self.execute = LVMExecutor(self.locks)
        self.execute.on_tool('lvm', ('  LVM version:     2.03.16(2) '
                                     '(2022-05-18)\n', ''))
        self.execute.on_tool('vgs', self._vgs)
        self.execute.on_tool('pvs', ('', ''))
        # brick's static helpers run processutils directly.
        mock.patch('cinder.brick.local_dev.lvm.putils.execute',
                   self.execute).start()
        self.conf_dir = self.useFixture(fixtures.TempDir()).path
        self.store = lvm.LVMStore('san', VG, [PATTERN], self.execute,
                                  self.conf_dir, self.metadata_lock,
                                  volume_clear='zero', volume_clear_size=128)
        self.clear = mock.patch(
            'cinder.volume.volume_utils.clear_volume', autospec=True).start()

    def metadata_lock(self):
        return self.locks.get('vg-metadata')

    @staticmethod
    def _vgs(argv):
        if 'name,size,free,lv_count,uuid' in argv:
            return '  %s:4.00:1.50:3:uuid\n' % VG, ''
        return '  %s\n' % VG, ''

    def env(self):
        return ('env', 'LC_ALL=C', 'LVM_SYSTEM_DIR=%s' % self.conf_dir)

    # -- names -----------------------------------------------------------

    @ddt.unpack
    @ddt.data(('volume-%s' % U, 'volume-%s' % U),
              ('snapshot-%s' % U, '_snapshot-%s' % U),
              ('snapshot-%s.raw' % U, '_snapshot-%s.raw' % U),
              ('layer-%s' % U, 'layer-%s' % U),
              ('.tmp-%s.qcow2' % U, '.tmp-%s.qcow2' % U))
    def test_lv_names_round_trip(self, layer, lv_name):
        self.assertEqual(lv_name, lvm.lv_name(layer))
        self.assertEqual(layer, lvm.layer_name(lv_name))

    @ddt.data('swap', 'snapshot-1', 'volume-%s_tmeta' % U, '')
    def test_foreign_lvs_are_not_layers(self, lv_name):
        self.assertIsNone(lvm.layer_name(lv_name))

    def test_path_of_a_snapshot_avoids_the_reserved_prefix(self):
        self.assertEqual('/dev/%s/_snapshot-%s' % (VG, U),
                         self.store.path('snapshot-%s' % U))

    @ddt.data('../etc', 'volume-1', 'snapshot', '/dev/sda')
    def test_path_refuses_other_names(self, name):
        self.assertRaises(exception.InvalidName, self.store.path, name)

    @ddt.unpack
    @ddt.data(('/dev/%s/_snapshot-%s' % (VG, U), 'snapshot-%s' % U),
              ('/dev/%s/volume-%s' % (VG, U), 'volume-%s' % U),
              ('/dev/x/../%s/volume-%s' % (VG, U), 'volume-%s' % U),
              ('/dev/other/volume-%s' % U, None),
              ('/dev/%s/.tmp-%s' % (VG, U), None),
              ('/dev/%s/swap' % VG, None),
              ('/mnt/%s/volume-%s' % (VG, U), None))
    def test_owns(self, path, name):
        self.assertEqual(name, self.store.owns(path))

    # -- the device filter -----------------------------------------------

    def test_conf_accepts_only_the_lun(self):
        self.store.write_conf()
        with open(os.path.join(self.conf_dir, 'lvm.conf')) as f:
            text = f.read()
        self.assertIn('global_filter = [ "a|%s|", "r|.*|" ]' % PATTERN, text)
        self.assertIn('use_devicesfile = 0', text)
        self.assertIn('wipe_signatures_when_zeroing_new_lvs = 0', text)

    def test_conf_is_rewritten_only_when_it_changes(self):
        self.store.write_conf()
        path = os.path.join(self.conf_dir, 'lvm.conf')
        os.utime(path, (0, 0))
        self.store.write_conf()
        self.assertEqual(0, os.stat(path).st_mtime)

    @ddt.data('lvchange', 'lvremove', 'lvrename', 'vgchange')
    def test_lvm_commands_get_the_filter(self, tool):
        self.store.filtered_execute(tool, 'x')
        self.assertEqual(self.env() + (tool, 'x'), self.execute.calls[-1])

    def test_other_commands_are_left_alone(self):
        self.execute.on(('qemu-img', 'info'))
        self.store.filtered_execute('qemu-img', 'info')
        self.assertEqual(('qemu-img', 'info'), self.execute.calls[-1])

    def test_every_lvm_command_is_filtered(self):
        self.execute.on_tool('lvs', (lvs_json(('volume-%s' % U,
                                               4 * 2 ** 20)), ''))
        self.execute.on_tool('lvdisplay', ('  -wi-a-----', ''))
        self.store.grow('volume-%s' % U, 8 * 2 ** 20)
        self.store.rename('volume-%s' % U, 'snapshot-%s' % U)
        self.store.deactivate('volume-%s' % U)
        self.store.delete('volume-%s' % U)
        lvm_calls = [c for c in self.execute.calls
                     if c[0] != 'qemu-img']
        self.assertTrue(lvm_calls)
        for cmd in lvm_calls:
            self.assertIn('LVM_SYSTEM_DIR=%s' % self.conf_dir, cmd, cmd)

    # -- check -----------------------------------------------------------

    def test_check_without_a_lun_device(self):
        with mock.patch.object(self.store, 'lun_devices', return_value=[],
                               autospec=True):
            e = self.assertRaises(exception.StorageUnavailable,
                                  self.store.check)
        self.assertIn('no block device of the SAN LUN', e.msg)
        self.assertIn(PATTERN, e.msg)

    def test_check_vg_on_another_pv(self):
        self.execute.on_tool('vgs', ('', ''))
        self.execute.on_tool('pvs', ('  /dev/sdc|%s\n  /dev/sdb|other\n' % VG,
                                     ''))
        with mock.patch.object(self.store, 'lun_devices',
                               return_value=['/dev/sdb'], autospec=True):
            e = self.assertRaises(exception.StorageUnavailable,
                                  self.store.check)
        self.assertIn('volume group %s is on /dev/sdc, not on the '
                      'configured SAN LUN (/dev/sdb)' % VG, e.msg)
        # The diagnosis looks at every device, read-only.
        pvs = self.execute.tool_calls('pvs')[-1]
        self.assertIn('--readonly', pvs)
        self.assertNotIn('LVM_SYSTEM_DIR=%s' % self.conf_dir, pvs)

    def test_check_vg_not_visible_exit_5(self):
        # vgs exits 5 for a VG name it cannot see; brick does not catch it.
        self.execute.on_tool('vgs', base.process_error(
            '  Volume group "%s" not found\n  Cannot process volume group'
            % VG, exit_code=5))
        self.execute.on_tool('pvs', ('', ''))
        with mock.patch.object(self.store, 'lun_devices',
                               return_value=['/dev/sdb'], autospec=True):
            e = self.assertRaises(exception.StorageUnavailable,
                                  self.store.check)
        self.assertIn('volume group %s not found on the SAN LUN' % VG,
                      e.msg)

    def test_check_other_lvm_failure(self):
        self.execute.on_tool('vgs', base.process_error('  I/O error'))
        with mock.patch.object(self.store, 'lun_devices',
                               return_value=['/dev/sdb'], autospec=True):
            e = self.assertRaises(exception.StorageUnavailable,
                                  self.store.check)
        self.assertIn('LVM failed on %s: I/O error' % VG, e.msg)

    def test_check_vg_nowhere(self):
        self.execute.on_tool('vgs', ('', ''))
        self.execute.on_tool('pvs', ('  /dev/sdb|other\n', ''))
        with mock.patch.object(self.store, 'lun_devices',
                               return_value=['/dev/sdb'], autospec=True):
            e = self.assertRaises(exception.StorageUnavailable,
                                  self.store.check)
        self.assertIn('volume group %s not found on the SAN LUN' % VG,
                      e.msg)

    def test_check_ok_reads_through_the_filter(self):
        with mock.patch.object(self.store, 'lun_devices',
                               return_value=['/dev/sdb'], autospec=True):
            self.store.check()
        vgs = self.execute.tool_calls('vgs')[0]
        self.assertIn('LVM_SYSTEM_DIR=%s' % self.conf_dir, vgs)

    def test_store_needs_a_pattern(self):
        store = lvm.LVMStore('san', VG, [], self.execute, self.conf_dir,
                             self.metadata_lock)
        self.assertRaises(exception.StorageUnavailable, store.check)

    def test_patterns_may_be_discovered_late(self):
        def discover():
            raise exception.AuxoException(reason='no FC port with LUN 14')
        store = lvm.LVMStore('san', VG, discover, self.execute,
                             self.conf_dir, self.metadata_lock)
        e = self.assertRaises(exception.StorageUnavailable, store.check)
        self.assertIn('no FC port with LUN 14', e.msg)

    # -- changes -----------------------------------------------------------

    @ddt.unpack
    @ddt.data((1, '1m'), (2 ** 20, '1m'), (2 ** 20 + 1, '2m'),
              (5 * 2 ** 30, '5120m'))
    def test_allocate_rounds_up_to_mib(self, size, size_str):
        self.store.allocate('snapshot-%s' % U, size)
        self.assertEqual(
            self.env() + ('lvcreate', '-n', '_snapshot-%s' % U, VG, '-L',
                          size_str),
            self.execute.tool_calls('lvcreate')[0])

    @ddt.unpack
    @ddt.data(('  Volume group "x" has insufficient free space (3 extents): '
               '256 required.', exception.StorageFull),
              ('  Logical Volume "volume-x" already exists in volume group',
               exception.AuxoException),
              ('  Device busy', exception.StorageUnavailable))
    def test_allocate_errors(self, stderr, exc):
        self.execute.on_tool('lvcreate', base.process_error(stderr))
        e = self.assertRaises(exc, self.store.allocate, 'volume-%s' % U, 1)
        self.assertIsInstance(e, exc)

    def test_delete_clears_before_removing(self):
        self.execute.on_tool('lvs', (lvs_json(('_snapshot-%s' % U,
                                               300 * 2 ** 20)), ''))
        # What had run when the clearing began: the LV activated (to be
        # written), not yet removed.
        seen = []
        self.clear.side_effect = lambda *a, **k: seen.append(
            (len(self.execute.tool_calls('lvchange')),
             len(self.execute.tool_calls('lvremove'))))
        with mock.patch.object(self.store, 'is_active', return_value=False,
                               autospec=True):
            self.store.delete('snapshot-%s' % U)
        self.assertEqual([(1, 0)], seen)
        self.clear.assert_called_once_with(
            300, '/dev/%s/_snapshot-%s' % (VG, U), volume_clear='zero',
            volume_clear_size=128, volume_clear_ionice=None)
        remove = self.execute.tool_calls('lvremove')[0]
        self.assertEqual('%s/_snapshot-%s' % (VG, U), remove[-1])
        self.assertIn('LVM_SYSTEM_DIR=%s' % self.conf_dir, remove)
        activate = self.execute.tool_calls('lvchange')[0]
        self.assertEqual(self.env() + (
            'lvchange', '-a', 'y', '-K', '--yes', '%s/_snapshot-%s' % (VG, U)),
            activate)

    def test_delete_keeps_the_lv_when_clearing_fails(self):
        self.execute.on_tool('lvs', (lvs_json(('volume-%s' % U, 2 ** 20)),
                                     ''))
        self.clear.side_effect = base.process_error('dd: error writing')
        with mock.patch.object(self.store, 'is_active', return_value=True,
                               autospec=True):
            self.assertRaises(base.processutils.ProcessExecutionError,
                              self.store.delete, 'volume-%s' % U)
        self.assertEqual([], self.execute.tool_calls('lvremove'))

    def test_delete_without_clearing(self):
        self.store.volume_clear = 'none'
        self.execute.on_tool('lvs', (lvs_json(('volume-%s' % U, 2 ** 20)),
                                     ''))
        self.store.delete('volume-%s' % U)
        self.clear.assert_not_called()
        self.assertEqual(1, len(self.execute.tool_calls('lvremove')))

    def test_delete_of_a_missing_layer_is_quiet(self):
        self.execute.on_tool('lvs', (lvs_json(), ''))
        self.store.delete('volume-%s' % U)
        self.assertEqual([], self.execute.tool_calls('lvremove'))
        self.clear.assert_not_called()

    def test_rename_is_filtered_lvrename(self):
        self.store.rename('volume-%s' % U, 'snapshot-%s' % U)
        self.assertEqual(self.env() + ('lvrename', VG, 'volume-%s' % U,
                                       '_snapshot-%s' % U),
                         self.execute.tool_calls('lvrename')[0])

    def test_grow_extends_only_when_smaller(self):
        self.execute.on_tool('lvs', (lvs_json(('volume-%s' % U,
                                               8 * 2 ** 20)), ''))
        self.execute.on_tool('lvdisplay', ('  -wi-a-----', ''))
        self.store.grow('volume-%s' % U, 8 * 2 ** 20)
        self.assertEqual([], self.execute.tool_calls('lvextend'))
        self.store.grow('volume-%s' % U, 12 * 2 ** 20 + 1)
        self.assertEqual(self.env() + ('lvextend', '-L', '13m',
                                       '%s/volume-%s' % (VG, U)),
                         self.execute.tool_calls('lvextend')[0])

    def test_list_and_size(self):
        self.execute.on_tool('lvs', (lvs_json(
            ('volume-%s' % U, 4194304), ('_snapshot-%s' % U, 8388608),
            ('swap', 1), ('.tmp-%s.raw' % U, 2 ** 20)), ''))
        self.assertEqual(['.tmp-%s.raw' % U, 'snapshot-%s' % U,
                          'volume-%s' % U], self.store.list())
        self.assertEqual(8388608, self.store.size('snapshot-%s' % U))
        self.assertRaises(exception.LayerNotFound, self.store.size,
                          'layer-%s' % U)
        lvs = self.execute.tool_calls('lvs')[0]
        self.assertIn('--readonly', lvs)
        self.assertIn('LVM_SYSTEM_DIR=%s' % self.conf_dir, lvs)

    def test_cached_names_answer_from_one_listing(self):
        # A start-up walk asks about every layer several times; each lvs
        # reads the whole group. Inside cached_names only the first does,
        # and the store's own changes keep the answers right.
        a, b, c = ('volume-%s' % U, 'snapshot-%s' % U, 'layer-%s' % U)
        self.store.volume_clear = 'none'
        self.execute.on_tool('lvs', (lvs_json(
            ('volume-%s' % U, 2 ** 20), ('_snapshot-%s' % U, 2 ** 20)), ''))
        with self.store.cached_names():
            self.assertEqual([b, a], self.store.list())
            self.assertEqual((True, True, False), tuple(
                self.store.exists(n) for n in (a, b, c)))
            self.store.allocate(c, 1)
            self.store.rename(a, 'volume-%s.raw' % U)
            self.assertEqual((False, True), (
                self.store.exists(a), self.store.exists('volume-%s.raw' % U)))
            self.assertEqual([c, b, 'volume-%s.raw' % U], self.store.list())
            self.execute.on_tool('lvs', (lvs_json(('_snapshot-%s' % U,
                                                   2 ** 20)), ''))
            self.store.delete(b)
            self.assertFalse(self.store.exists(b))
        # One listing for the walk; delete reads the sizes it clears by.
        self.assertEqual(2, len(self.execute.tool_calls('lvs')))
        self.assertEqual(0, len(self.execute.tool_calls('lvdisplay')))
        # Outside, LVM is asked again.
        self.store.list()
        self.assertEqual(3, len(self.execute.tool_calls('lvs')))

    @ddt.data('lvcreate', 'lvrename', 'lvremove')
    def test_a_failed_change_drops_the_cached_names(self, tool):
        self.store.volume_clear = 'none'
        self.execute.on_tool('lvs', (lvs_json(('volume-%s' % U, 2 ** 20)),
                                     ''))
        self.execute.on_tool(tool, base.process_error('  Device busy'))
        # brick settles udev (through privsep) before retrying lvremove.
        mock.patch('cinder.privsep.lvm.udevadm_settle', autospec=True).start()
        change = {'lvcreate': lambda: self.store.allocate('layer-%s' % U, 1),
                  'lvrename': lambda: self.store.rename(
                      'volume-%s' % U, 'layer-%s' % U),
                  'lvremove': lambda: self.store.delete('volume-%s' % U)}
        with self.store.cached_names():
            self.assertRaises(exception.StorageUnavailable, change[tool])
            before = len(self.execute.tool_calls('lvs'))
            self.assertEqual(['volume-%s' % U], self.store.list())
            self.assertEqual(before + 1,
                             len(self.execute.tool_calls('lvs')))

    def test_capacity(self):
        total, free = self.store.capacity()
        self.assertEqual((4 * 2 ** 30, int(1.5 * 2 ** 30)), (total, free))

    # -- activation --------------------------------------------------------

    def test_read_only_activation_writes_no_metadata(self):
        with mock.patch.object(self.store, 'is_active', return_value=False,
                               autospec=True):
            self.store.activate('base-%s-g1' % U, read_only=True)
        cmd = self.execute.tool_calls('lvchange')[0]
        self.assertEqual(self.env() + (
            'lvchange', '-a', 'y', '-K', '--yes', '--config',
            'activation { read_only_volume_list = [ "%s/base-%s-g1" ] }' %
            (VG, U), '%s/base-%s-g1' % (VG, U)), cmd)
        for forbidden in ('-p', '--permission', '--addtag', '-ay'):
            self.assertNotIn(forbidden, cmd)

    def test_activation_of_an_active_lv_refreshes_it(self):
        with mock.patch.object(self.store, 'is_active', return_value=True,
                               autospec=True):
            self.store.activate('volume-%s' % U)
        self.assertEqual(self.env() + ('lvchange', '--refresh',
                                       '%s/volume-%s' % (VG, U)),
                         self.execute.tool_calls('lvchange')[0])

    def test_deactivate_of_a_missing_lv_is_quiet(self):
        self.execute.on_tool('lvchange', base.process_error(
            '  Failed to find logical volume "vg/volume-x"'))
        self.store.deactivate('volume-%s' % U)

    def test_deactivate_failure_says_why(self):
        self.execute.on_tool('lvchange', base.process_error(
            '  Logical volume vg/volume-x in use.'))
        e = self.assertRaises(exception.StorageUnavailable,
                              self.store.deactivate, 'volume-%s' % U)
        self.assertIn('in use', e.msg)

    def test_activate_all_is_filtered(self):
        self.store.activate_all()
        self.assertEqual(self.env() + ('vgchange', '-a', 'y', '-K', VG),
                         self.execute.tool_calls('vgchange')[0])

    # -- several writers -------------------------------------------------

    def test_work_layers_carry_their_writers_tag(self):
        self.store.writer = 'node-a@lvmsan'
        self.store.allocate('.tmp-%s' % U, 2 ** 20)
        self.store.allocate('volume-%s' % U, 2 ** 20)
        self.store.writer = None
        self.store.allocate('.tmp-%s' % U2, 2 ** 20)
        self.assertEqual(
            [['lvcreate', '-n', '.tmp-%s' % U, VG, '-L', '1m', '--addtag',
              'auxo.writer:node-a_lvmsan'],
             ['lvcreate', '-n', 'volume-%s' % U, VG, '-L', '1m'],
             ['lvcreate', '-n', '.tmp-%s' % U2, VG, '-L', '1m']],
            [strip_env(c) for c in self.execute.tool_calls('lvcreate')])

    @ddt.unpack
    @ddt.data((None, 'auxo.writer:node-b', True),
              ('node-a', 'auxo.writer:node-a', True),
              ('node-a', 'auxo.child:x,auxo.writer:node-b', False),
              ('node-a', '', True),
              ('node-a', None, False))
    def test_start_up_removes_only_its_own_work(self, writer, tags, mine):
        self.store.writer = writer
        lvs = json.loads(lvs_json(('volume-%s' % U, 1)))
        if tags is not None:
            lvs['report'][0]['lv'].append({'lv_name': '.tmp-%s' % U,
                                           'lv_tags': tags})
        self.execute.on_tool('lvs', (json.dumps(lvs), ''))
        self.assertEqual(mine, self.store.owns_work('.tmp-%s' % U))

    def _view(self, lvs, devices, mapped, done):
        self.execute.on_tool('lvs', (view_lvs_json(*lvs), ''))
        self.execute.on_tool('dmsetup', dmsetup(dm_info(*devices),
                                                dm_table(*mapped)))
        self.assertEqual(done, self.store.refresh_view())
        return [strip_env(c) for c in self.execute.calls
                if strip_env(c)[0] != 'lvs']

    def test_refresh_view_drops_devices_of_lvs_renamed_or_removed(self):
        vol, snap = 'volume-%s' % U, '_snapshot-%s' % U
        # Another host froze the volume (renamed it to the snapshot, and
        # made a new top), and removed a volume this host had active.
        calls = self._view(
            [(snap, 2 ** 20, 1), (vol, 2 ** 20, 2)],
            [(dm_name(vol), 1), (dm_name('volume-%s' % U2), 3)],
            [], {'removed': 2, 'activated': 1, 'reloaded': 0})
        self.assertEqual(
            [['dmsetup', 'info', '-c', '--noheadings', '--separator', '|',
              '-o', 'name,uuid'],
             ['dmsetup', 'remove', dm_name(vol)],
             ['dmsetup', 'remove', dm_name('volume-%s' % U2)],
             ['vgchange', '-a', 'y', '-K', VG],
             ['dmsetup', 'table']], calls)
        self.assertEqual([], self.locks.taken)

    def test_refresh_view_reloads_lvs_extended_elsewhere(self):
        vol, other = 'volume-%s' % U, 'volume-%s' % U2
        calls = self._view(
            [(vol, 8 * 2 ** 20, 1), (other, 2 ** 20, 2), ('foreign', 1, 3)],
            [(dm_name(vol), 1), (dm_name(other), 2)],
            [(dm_name(vol), 4 * 2 ** 20), (dm_name(other), 2 ** 20)],
            {'removed': 0, 'activated': 0, 'reloaded': 1})
        self.assertEqual(['lvchange', '--refresh', '%s/%s' % (VG, vol)],
                         calls[-1])
        self.assertEqual(3, len(calls))

    def test_refresh_view_of_a_view_in_step_changes_nothing(self):
        vol = 'volume-%s' % U
        calls = self._view([(vol, 2 ** 20, 1)], [(dm_name(vol), 1)],
                           [(dm_name(vol), 2 ** 20)],
                           {'removed': 0, 'activated': 0, 'reloaded': 0})
        self.assertEqual(['info', 'table'], [c[1] for c in calls])

    def test_refresh_view_says_which_device_it_cannot_drop(self):
        vol = 'volume-%s' % U

        def busy(argv):
            if argv[1] == 'remove':
                return base.process_error('device-mapper: remove ioctl '
                                          'failed: Device or resource busy')
            return dm_info((dm_name(vol), 9)), ''
        self.execute.on_tool('lvs', (view_lvs_json((vol, 2 ** 20, 1)), ''))
        self.execute.on_tool('dmsetup', busy)
        e = self.assertRaises(exception.StorageUnavailable,
                              self.store.refresh_view)
        self.assertIn('Device or resource busy', str(e))

    # -- the VG metadata lock ------------------------------------------

    def _run_every_operation(self):
        """Run each public operation of the store once; their names."""
        vol, snap = 'volume-%s' % U, 'snapshot-%s' % U
        self.execute.on_tool('lvs', (view_lvs_json(
            (vol, 4 * 2 ** 20, 1)).replace(
            '"lv_tags": ""', '"lv_tags": "auxo.child:%s"' % snap, 1), ''))
        # A device of an LV renamed elsewhere, and one extended elsewhere.
        self.execute.on_tool('dmsetup', dmsetup(
            dm_info((dm_name('volume-%s' % U2), 1), (dm_name(vol), 1)),
            dm_table((dm_name(vol), 2 ** 20))))
        self.store.writer = 'node-a@lvmsan'
        self.execute.on_tool('lvdisplay', ('  -wi-a-----', ''))
        self.clear.side_effect = lambda *a, **k: self.execute.held_at.append(
            (['clear'], tuple(self.locks.held)))
        store = self.store

        def walk_cached():
            with store.cached_names():
                store.exists(vol)

        operations = [
            ('write_conf', store.write_conf),
            ('lun_devices', store.lun_devices),
            ('check', store.check),
            ('path', lambda: store.path(vol)),
            ('owns', lambda: store.owns(store.path(vol))),
            ('exists', lambda: store.exists(vol)),
            ('list', store.list),
            ('cached_names', walk_cached),
            ('size', lambda: store.size(vol)),
            ('capacity', store.capacity),
            ('is_active', lambda: store.is_active(vol)),
            ('allocate', lambda: store.allocate(snap, 2 ** 20)),
            ('activate', lambda: store.activate(snap)),
            ('activate_all', store.activate_all),
            ('rename', lambda: store.rename(snap, vol)),
            ('grow', lambda: store.grow(vol, 8 * 2 ** 20)),
            ('deactivate', lambda: store.deactivate(vol)),
            ('delete', lambda: store.delete(vol)),
            ('add_child', lambda: store.add_child(vol, snap)),
            ('add_children', lambda: store.add_children(vol, [snap, vol])),
            ('drop_child', lambda: store.drop_child(vol, snap)),
            ('child_names', lambda: store.child_names(vol)),
            ('drop_children', lambda: store.drop_children(vol)),
            ('index', store.index),
            ('owns_work', lambda: store.owns_work('.tmp-%s' % U)),
            ('refresh_view', store.refresh_view),
            ('filtered_execute', lambda: store.filtered_execute('lvs', VG)),
        ]
        with mock.patch.object(store, 'lun_devices', autospec=True,
                               return_value=['/dev/sdb']):
            for _name, operation in operations:
                operation()
        return set(name for name, _op in operations)

    def test_every_metadata_write_holds_the_vg_lock(self):
        self._run_every_operation()
        writes = [argv for argv, _held in self.execute.held_at
                  if lvm.is_metadata_write(argv)]
        self.assertEqual(lvm.METADATA_TOOLS | {'lvchange'},
                         set(argv[0] for argv in writes))
        # The child index's entries: a tag added, and one dropped.
        tag = 'auxo.child:%s-' + U
        lv = '%s/volume-%s' % (VG, U)
        self.assertEqual(
            [['lvchange', '--addtag', tag % 'snapshot', lv],
             ['lvchange', '--addtag', tag % 'snapshot', '--addtag',
              tag % 'volume', lv],
             ['lvchange', '--deltag', tag % 'snapshot', lv]],
            [argv for argv in writes if argv[0] == 'lvchange'])
        for argv, held in self.execute.held_at:
            if lvm.is_metadata_write(argv):
                self.assertEqual(('vg-metadata',), held, argv)
        # Clearing an LV may take minutes and writes no metadata.
        self.assertIn((['clear'], ()), self.execute.held_at)

    def test_activation_never_writes_metadata(self):
        self._run_every_operation()
        # What would make lvchange/vgchange a metadata write.
        writing = {'--addtag', '--deltag', '-p', '--permission', '-k',
                   '--setactivationskip', '--metadataprofile', '--alloc'}
        changes = [argv for argv, _held in self.execute.held_at
                   if argv[0] in ('lvchange', 'vgchange') and
                   '-a' in argv]
        self.assertTrue(changes)
        for argv in changes:
            self.assertFalse(writing.intersection(argv), argv)

    def test_the_lock_test_runs_every_operation(self):
        # A new operation of the store must be added to the lock test.
        public = set(name for name, value in vars(lvm.LVMStore).items()
                     if callable(value) and not name.startswith('_'))
        self.assertEqual(public, self._run_every_operation())

    # -- rootwrap ----------------------------------------------------------

    def unmatched(self, *filter_dirs):
        """The root commands of every operation that no filter allows."""
        for path in filter_dirs:
            self.assertTrue(os.path.isdir(path), path)
        filters = wrapper.load_filters(list(filter_dirs))
        self._run_every_operation()
        self.assertTrue(self.execute.as_root)
        # A filter may consume the argv it is given: a copy each time.
        return [cmd for cmd in self.execute.as_root
                if not any(f.match(list(cmd)) for f in filters)]

    def test_every_root_command_passes_the_rootwrap_filters(self):
        self.assertEqual([], self.unmatched(AUXO_FILTERS, CINDER_FILTERS))

    def test_cinder_filters_alone_refuse_some(self):
        tools = set(strip_env(cmd)[0]
                    for cmd in self.unmatched(CINDER_FILTERS))
        self.assertEqual({'lvchange', 'vgchange', 'lvremove', 'lvrename',
                          'dmsetup'}, tools)

    @ddt.data('lvcreate', 'lvrename')
    def test_a_failed_write_releases_the_lock(self, tool):
        self.execute.on_tool(tool, base.process_error('  Device busy'))
        operation = {'lvcreate': lambda: self.store.allocate(
            'volume-%s' % U, 1), 'lvrename': lambda: self.store.rename(
            'volume-%s' % U, 'snapshot-%s' % U)}[tool]
        self.assertRaises(exception.StorageUnavailable, operation)
        self.assertEqual([], self.locks.held)
        self.assertEqual([('vg-metadata', ())], self.locks.taken)
