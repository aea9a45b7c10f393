# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The devstack plugin writes the cinder.conf sections operators use.

These tests run the plugin's own bash (devstack/settings and
devstack/lib/auxo, with tools/stack/devstack-shim.sh standing in for
devstack) against a temporary cinder.conf and read the result back with
configparser, key by key, against the sections of the product this package
replaces.
"""

import configparser
import os
import pwd
import subprocess
import textwrap

import ddt
import fixtures
from oslotest import base

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                    '..', '..', '..'))
SHIM = 'tools/stack/devstack-shim.sh'
SETTINGS = 'devstack/settings'
LIB = 'devstack/lib/auxo'
PLUGIN = 'devstack/plugin.sh'

LOCAL = 'storage-2684de03-f940-4519-8f41-daeb9616b0ca'
SAN = 'storage-230fc138-a867-4bbe-b96b-3395f17818f1'
SAN_IQN = 'iqn.2012-07.com.Sugon:alias.tgt0000.200000015555ee0d'
SAN_VG = '2b55ce3e-3338-458d-a773-7429a58e9a46'

# The seed sections, with this package's driver paths.
SEED_LOCAL = {
    'volume_driver': 'cinder_auxo.drivers.local.LocalFileDriver',
    'volume_backend_name': LOCAL,
    'mount_point': '/opt/sata',
    'image_base_path': '',
    'volume_type': 'qcow2',
    'image_format': 'qcow2',
    'image_volume_cache_enabled': 'True',
}
SEED_SAN = {
    'volume_driver': 'cinder_auxo.drivers.lvmsan.LVMSANDriver',
    'volume_backend_name': SAN,
    'iscsi_protocol': 'iscsi',
    'iscsi_port': '3260',
    'iscsi_ip_address': '10.0.20.1',
    'iscsi_helper': 'iscsisan',
    'iscsi_target_prefix': SAN_IQN,
    'target_lun': '14',
    'volume_clear_size': '128',
    'volume_group': SAN_VG,
    'chap_username': '',
    'chap_password': '',
    'image_volume_cache_enabled': 'True',
    'image_base_path': '',
    'image_format': 'qcow2',
}
# The variables that describe the seed's array to auxo_lvmsan.
REAL_ARRAY = {
    'AUXO_LVMSAN_CREATE_LUN': 'False',
    'AUXO_LVMSAN_PORTAL_IP': '10.0.20.1',
    'AUXO_LVMSAN_TARGET_IQN': SAN_IQN,
    'AUXO_LVMSAN_TARGET_LUN': '14',
    'AUXO_LVMSAN_VOLUME_GROUP': SAN_VG,
}
# Commands that would create something on the node.
CREATING_COMMANDS = ('targetcli', 'tgt-admin', 'tgtadm', 'iscsiadm',
                     'pvcreate', 'vgcreate', 'losetup', 'mount', 'truncate',
                     'mkfs.ext4')


class DevstackPluginTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.conf = os.path.join(self.tmp, 'cinder.conf')
        self.data_dir = os.path.join(self.tmp, 'data')
        os.mkdir(self.data_dir)
        with open(self.conf, 'w') as f:
            f.write('[DEFAULT]\ndebug = True\n')

    def run_bash(self, script, check=True, **variables):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('AUXO_')}
        env.update(CINDER_CONF=self.conf, DATA_DIR=self.data_dir)
        env.update(variables)
        prelude = 'set -e; source %s; source %s; source %s\n' % (
            SHIM, SETTINGS, LIB)
        proc = subprocess.run(['bash', '-c', prelude + script], cwd=REPO,
                              env=env, capture_output=True, text=True,
                              timeout=60)
        if check:
            output = 'stdout:\n%s\nstderr:\n%s' % (proc.stdout, proc.stderr)
            self.assertEqual(0, proc.returncode, output)
        return proc

    def read_conf(self):
        # No DEFAULT magic: every section is read on its own, and a
        # repeated option or section is an error (strict).
        parser = configparser.ConfigParser(interpolation=None,
                                           default_section='no-defaults')
        parser.read(self.conf)
        return parser

    def section(self, name):
        return dict(self.read_conf()[name])

    def fake_commands(self):
        """A PATH directory where creating commands only log their argv."""
        bindir = os.path.join(self.tmp, 'bin')
        log = os.path.join(self.tmp, 'commands.log')
        os.mkdir(bindir)
        for name in CREATING_COMMANDS:
            path = os.path.join(bindir, name)
            with open(path, 'w') as f:
                f.write('#!/bin/sh\necho "$0 $*" >> %s\nexit 1\n' % log)
            os.chmod(path, 0o755)
        return bindir + os.pathsep + os.environ['PATH'], log


@ddt.ddt
class TestLocalSection(DevstackPluginTestCase):

    def configure(self, **variables):
        variables.setdefault('AUXO_LOCAL_MOUNT_POINT', '/opt/sata')
        self.run_bash('configure_cinder_backend_auxo_local %s' % LOCAL,
                      **variables)

    @ddt.data(*sorted(SEED_LOCAL.items()))
    @ddt.unpack
    def test_seed_key(self, key, value):
        self.configure()
        self.assertEqual(value, self.section(LOCAL)[key])

    def test_no_other_keys(self):
        self.configure()
        self.assertEqual(sorted(SEED_LOCAL), sorted(self.section(LOCAL)))

    def test_empty_value_written_once_and_empty(self):
        self.configure()
        self.configure()
        with open(self.conf) as f:
            lines = [line.rstrip('\n') for line in f]
        self.assertEqual(['image_base_path ='],
                         [line for line in lines
                          if line.startswith('image_base_path')])

    def test_empty_value_replaced(self):
        self.configure()
        self.configure(AUXO_IMAGE_BASE_PATH='/opt/cache')
        self.assertEqual('/opt/cache',
                         self.section(LOCAL)['image_base_path'])

    def test_other_sections_kept(self):
        self.configure()
        self.assertEqual({'debug': 'True'}, self.section('DEFAULT'))

    def test_default_mount_point_under_data_dir(self):
        self.run_bash('configure_cinder_backend_auxo_local local1')
        self.assertEqual(os.path.join(self.data_dir, 'cinder-auxo', 'local1'),
                         self.section('local1')['mount_point'])

    @ddt.data(('AUXO_LOCAL_VOLUME_FORMAT', 'raw', 'volume_type'),
              ('AUXO_IMAGE_FORMAT', 'raw', 'image_format'),
              ('AUXO_IMAGE_CACHE_ENABLED', 'false',
               'image_volume_cache_enabled'))
    @ddt.unpack
    def test_variable(self, variable, value, key):
        self.configure(**{variable: value})
        expected = 'False' if value == 'false' else value
        self.assertEqual(expected, self.section(LOCAL)[key])

    def test_init_makes_directory_and_purge_removes_it(self):
        self.run_bash('configure_cinder_backend_auxo_local local1; '
                      'init_cinder_backend_auxo_local local1')
        mount_point = self.section('local1')['mount_point']
        self.assertTrue(os.path.isdir(mount_point))
        self.run_bash('auxo_purge_backend local1')
        self.assertFalse(os.path.exists(mount_point))

    def test_purge_keeps_directory_it_did_not_make(self):
        mount_point = os.path.join(self.tmp, 'sata')
        os.mkdir(mount_point)
        self.run_bash('init_cinder_backend_auxo_local local1; '
                      'auxo_purge_backend local1',
                      AUXO_LOCAL_MOUNT_POINT=mount_point)
        self.assertTrue(os.path.isdir(mount_point))


@ddt.ddt
class TestLVMSANSection(DevstackPluginTestCase):

    def configure(self, **variables):
        self.run_bash('configure_cinder_backend_auxo_lvmsan %s' % SAN,
                      **dict(REAL_ARRAY, **variables))

    @ddt.data(*sorted(SEED_SAN.items()))
    @ddt.unpack
    def test_seed_key(self, key, value):
        self.configure()
        self.assertEqual(value, self.section(SAN)[key])

    def test_no_other_keys(self):
        self.configure()
        self.assertEqual(sorted(SEED_SAN), sorted(self.section(SAN)))

    def test_fc_array(self):
        self.configure(AUXO_LVMSAN_HELPER='fcsan')
        self.assertEqual('fcsan', self.section(SAN)['iscsi_helper'])

    def test_chap(self):
        self.configure(AUXO_LVMSAN_CHAP_USERNAME='user',
                       AUXO_LVMSAN_CHAP_PASSWORD='p&ss=w\\rd')
        section = self.section(SAN)
        self.assertEqual('user', section['chap_username'])
        self.assertEqual('p&ss=w\\rd', section['chap_password'])

    def test_real_array_init_creates_nothing(self):
        path, log = self.fake_commands()
        self.run_bash('configure_cinder_backend_auxo_lvmsan %s; '
                      'init_cinder_backend_auxo_lvmsan %s; '
                      'cleanup_cinder_backend_auxo_lvmsan %s' % (SAN, SAN,
                                                                 SAN),
                      PATH=path, **REAL_ARRAY)
        self.assertFalse(os.path.exists(log))
        self.assertEqual([], os.listdir(self.data_dir))

    @ddt.data('AUXO_LVMSAN_TARGET_IQN', 'AUXO_LVMSAN_VOLUME_GROUP')
    def test_real_array_needs(self, variable):
        proc = self.run_bash(
            'configure_cinder_backend_auxo_lvmsan %s' % SAN, check=False,
            **dict(REAL_ARRAY, **{variable: ''}))
        self.assertNotEqual(0, proc.returncode)
        self.assertIn(variable, proc.stderr)

    def test_created_lun_defaults(self):
        self.run_bash('configure_cinder_backend_auxo_lvmsan san1')
        section = self.section('san1')
        self.assertEqual('127.0.0.1', section['iscsi_ip_address'])
        self.assertEqual('iscsisan', section['iscsi_helper'])
        self.assertEqual('iqn.2010-10.org.openstack:auxo-san1',
                         section['iscsi_target_prefix'])
        self.assertEqual('auxo-san1', section['volume_group'])
        self.assertEqual('1', section['target_lun'])

    def test_created_lun_is_iscsi(self):
        proc = self.run_bash('configure_cinder_backend_auxo_lvmsan san1',
                             check=False, AUXO_LVMSAN_HELPER='fcsan')
        self.assertNotEqual(0, proc.returncode)
        self.assertIn('iscsisan', proc.stderr)


class TestCreatedLun(DevstackPluginTestCase):
    """A created LUN: devstack exports it, cinder-auxo-storage uses it.

    tgt, the storage tool and the initiator's commands are fakes that
    log their argv; the shell itself must run none of the initiator's.
    """

    def setUp(self):
        super().setUp()
        self.path, self.log = self.fake_commands()
        bindir = self.path.split(os.pathsep)[0]
        # tgt answers; the target shows as exported once tgt-admin ran.
        for name, body in (('tgt-admin', 'exit 0'), ('truncate', 'exit 0'),
                           ('tgtadm', 'grep -q update %s && echo "Target 1:'
                                      ' $AUXO_IQN"; exit 0' % self.log)):
            with open(os.path.join(bindir, name), 'w') as f:
                f.write('#!/bin/sh\necho "$0 $*" >> %s\n%s\n' % (
                    self.log, body))
        self.tool = os.path.join(bindir, 'cinder-auxo-storage')
        self.fake_tool()

    def fake_tool(self, fails=''):
        """The storage tool: logs argv and OS_AUTH_URL; fails one command.

        ``add`` leaves a record as the real one does (``<name>.json`` in
        its state directory), ``remove`` deletes it; ``fails`` names the
        subcommand that exits 1 instead.
        """
        records = os.path.join(self.data_dir, 'cinder-auxo', 'storages')
        values = {'log': self.log, 'r': records,
                  'fails': fails or 'no-such-command'}
        with open(self.tool, 'w') as f:
            f.write('#!/bin/sh\n'
                    'echo "$0 $* auth=${OS_AUTH_URL:-}" >> %(log)s\n'
                    'case " $* " in *" %(fails)s "*) exit 1 ;; esac\n'
                    'case " $* " in\n'
                    '    *" add "*) mkdir -p %(r)s; touch %(r)s/san1.json ;;\n'
                    '    *" remove "*) rm %(r)s/san1.json ;;\n'
                    'esac\n' % values)
        os.chmod(self.tool, 0o755)

    def run_lun(self, script, check=True, **variables):
        return self.run_bash(
            # Not root here either: sudo only runs the command.
            'function sudo { "$@"; }\n' + script, check=check,
            PATH=self.path, AUXO_LVMSAN_TARGET_TOOL='tgtadm',
            AUXO_STORAGE_CMD=self.tool, OS_AUTH_URL='http://keystone',
            AUXO_IQN='iqn.2010-10.org.openstack:auxo-san1', **variables)

    def commands(self):
        """The logged commands by base name, without --config-file."""
        with open(self.log) as f:
            lines = [line.split() for line in f]
        return [' '.join([os.path.basename(argv[0])] + argv[1:])
                .replace(' --config-file %s' % self.conf, '')
                for argv in lines]

    def test_init_exports_then_adds_the_storage_under_its_names(self):
        self.run_lun('configure_cinder_backend_auxo_lvmsan san1; '
                     'init_cinder_backend_auxo_lvmsan san1')
        calls = self.commands()
        self.assertEqual(['truncate', 'tgt-admin', 'cinder-auxo-storage'],
                         [c.split()[0] for c in calls])
        # Without openrc's credentials: no volume type made by the tool.
        self.assertEqual(
            'cinder-auxo-storage add san1 --usage block --type iscsi '
            '--portal 127.0.0.1:3260 --iqn '
            'iqn.2010-10.org.openstack:auxo-san1 --lun 1 --backend-name '
            'san1 --volume-group auxo-san1 --volume-clear-size 128 auth=',
            calls[-1])
        self.assertEqual(
            {'state_dir': os.path.join(self.data_dir, 'cinder-auxo',
                                       'storages'),
             'device_timeout': '30',
             # cinder runs as the stack user: the LVs are given to it.
             'service_user': pwd.getpwuid(os.getuid()).pw_name},
            self.section('auxo_storage'))

    def test_chap_is_passed_on(self):
        self.run_lun('init_cinder_backend_auxo_lvmsan san1',
                     AUXO_LVMSAN_CHAP_USERNAME='u',
                     AUXO_LVMSAN_CHAP_PASSWORD='secret')
        self.assertTrue(self.commands()[-1].endswith(
            '--volume-clear-size 128 --chap-user u --chap-password secret '
            'auth='), self.commands()[-1])

    def test_cleanup_removes_the_storage_then_the_target(self):
        self.run_lun('init_cinder_backend_auxo_lvmsan san1; '
                     'cleanup_cinder_backend_auxo_lvmsan san1')
        calls = self.commands()
        self.assertEqual([
            'cinder-auxo-storage add san1 --usage block --type iscsi '
            '--portal 127.0.0.1:3260 --iqn '
            'iqn.2010-10.org.openstack:auxo-san1 --lun 1 --backend-name '
            'san1 --volume-group auxo-san1 --volume-clear-size 128 auth=',
            'cinder-auxo-storage remove san1 --wipe --discard-volumes auth=',
            'tgtadm --lld iscsi --mode target --op show',
            'tgt-admin --force --delete iqn.2010-10.org.openstack:auxo-san1'],
            calls[-4:])

    def test_a_storage_the_tool_keeps_keeps_its_target(self):
        self.run_lun('init_cinder_backend_auxo_lvmsan san1')
        self.fake_tool(fails='remove')
        proc = self.run_lun('cleanup_cinder_backend_auxo_lvmsan san1',
                            check=False)
        self.assertNotEqual(0, proc.returncode)
        self.assertIn('cinder-auxo-storage kept san1; target', proc.stderr)
        self.assertFalse([c for c in self.commands()
                          if c.startswith('tgt-admin --force')])

    def test_cleanup_without_a_record_of_the_tool_only_unexports(self):
        self.fake_tool(fails='add')
        self.run_lun('init_cinder_backend_auxo_lvmsan san1', check=False)
        self.run_lun('cleanup_cinder_backend_auxo_lvmsan san1')
        self.assertFalse([c for c in self.commands() if ' remove ' in c])
        self.assertTrue([c for c in self.commands()
                         if c.startswith('tgt-admin --force --delete')])

    def test_an_ipv6_portal_is_bracketed(self):
        self.run_lun('init_cinder_backend_auxo_lvmsan san1',
                     AUXO_LVMSAN_PORTAL_IP='fd00::1')
        self.assertIn(' --portal [fd00::1]:3260 ', self.commands()[-1])

    def test_the_shell_runs_no_initiator_command(self):
        self.run_lun('init_cinder_backend_auxo_lvmsan san1; '
                     'cleanup_cinder_backend_auxo_lvmsan san1')
        self.assertFalse([c for c in self.commands() if c.split()[0] in (
            'iscsiadm', 'pvcreate', 'vgcreate', 'vgs', 'vgremove')])


# devstack functions plugin.sh calls, recording their arguments.
DEVSTACK_STUBS = textwrap.dedent('''
    function echo_summary { :; }
    function is_ubuntu { true; }
    function install_package { echo "install_package $*"; }
    function setup_develop { echo "setup_develop $*"; }
    function start_service { echo "start_service $*"; }
    function openstack {
        echo "openstack $*"
        [[ $* != *"volume type show local1"* ]]
    }
    ''')


class TestPluginPhases(DevstackPluginTestCase):

    def run_phase(self, phase, **variables):
        variables.setdefault('CINDER_ENABLED_BACKENDS',
                             'lvm:lvmdriver-1,auxo_local:local1,'
                             'auxo_lvmsan:san1')
        proc = self.run_bash(DEVSTACK_STUBS + 'source %s %s' % (PLUGIN,
                                                                phase),
                             **variables)
        return proc.stdout.splitlines()

    def test_install(self):
        calls = self.run_phase('stack install')
        self.assertEqual(['install_package qemu-utils',
                          'install_package lvm2 open-iscsi',
                          'install_package targetcli-fb',
                          'setup_develop %s' % REPO,
                          'start_service iscsid'], calls)

    def test_install_local_only(self):
        calls = self.run_phase('stack install', AUXO_INSTALL='False',
                               CINDER_ENABLED_BACKENDS='auxo_local:local1')
        self.assertEqual(['install_package qemu-utils'], calls)

    def test_extra_makes_missing_volume_types(self):
        calls = self.run_phase('stack extra', REGION_NAME='RegionOne',
                               ENABLED_SERVICES='key,keystone,c-api,c-vol')
        region = '--os-region-name=RegionOne'
        # (the "volume type show" calls are silenced by plugin.sh)
        self.assertEqual([
            'openstack %s volume type create --description cinder-auxo '
            'auxo_local backend local1 --property '
            'volume_backend_name=local1 local1' % region,
            'openstack %s volume type set --property '
            'volume_backend_name=san1 san1' % region], calls)

    def test_extra_needs_keystone(self):
        calls = self.run_phase('stack extra', REGION_NAME='RegionOne',
                               ENABLED_SERVICES='c-api,c-vol')
        self.assertEqual([], calls)

    def test_post_config_writes_only_auxo_backends(self):
        script = textwrap.dedent('''
            function echo_summary { :; }
            source %s stack post-config
            ''') % PLUGIN
        self.run_bash(script, CINDER_ENABLED_BACKENDS=(
            'lvm:lvmdriver-1,auxo_local:local1,auxo_lvmsan:san1'),
            **REAL_ARRAY)
        self.assertEqual(['DEFAULT', 'local1', 'san1'],
                         self.read_conf().sections())
        self.assertEqual(SEED_SAN['volume_driver'],
                         self.section('san1')['volume_driver'])

    def test_post_config_installs_the_rootwrap_filters(self):
        conf_dir = os.path.join(self.tmp, 'etc-cinder')
        self.run_phase('stack post-config', CINDER_CONF_DIR=conf_dir,
                       CINDER_ENABLED_BACKENDS='auxo_local:local1')
        installed = os.path.join(conf_dir, 'rootwrap.d',
                                 'cinder-auxo.filters')
        with open(os.path.join(REPO, 'etc', 'cinder', 'rootwrap.d',
                               'cinder-auxo.filters')) as f:
            shipped = f.read()
        with open(installed) as f:
            self.assertEqual(shipped, f.read())
        self.assertEqual(0o644, os.stat(installed).st_mode & 0o777)

        self.run_phase('clean', CINDER_CONF_DIR=conf_dir)
        self.assertFalse(os.path.exists(installed))

    def compute(self, **variables):
        """Variables of a node running n-cpu, with the launcher installed."""
        bindir = os.path.join(self.tmp, 'nova-bin')
        os.mkdir(bindir)
        launcher = os.path.join(bindir, 'cinder-auxo-nova-compute')
        with open(launcher, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(launcher, 0o755)
        values = {'ENABLED_SERVICES': 'c-vol,n-cpu',
                  'NOVA_BIN_DIR': bindir,
                  'NOVA_CONF': os.path.join(self.tmp, 'nova.conf'),
                  'NOVA_CPU_CONF': '/etc/nova/nova-cpu.conf',
                  'SYSTEMD_DIR': os.path.join(self.tmp, 'systemd'),
                  'AUXO_LOCAL_MOUNT_POINT': '',
                  'CINDER_ENABLED_BACKENDS': 'auxo_local:local1,'
                                             'auxo_local:local2,'
                                             'auxo_lvmsan:san1'}
        values.update(REAL_ARRAY)
        values.update(variables)
        return values

    def dropin(self, values):
        return os.path.join(values['SYSTEMD_DIR'],
                            'devstack@n-cpu.service.d', 'auxo.conf')

    def test_post_config_runs_n_cpu_through_the_launcher(self):
        values = self.compute()
        self.run_phase('stack post-config', **values)
        with open(self.dropin(values)) as f:
            self.assertEqual(
                '[Service]\nExecStart=\nExecStart=%s/cinder-auxo-nova-compute '
                '--config-file /etc/nova/nova-cpu.conf\n' %
                values['NOVA_BIN_DIR'], f.read())
        # devstack copies nova.conf to nova-cpu.conf when it starts n-cpu.
        nova = configparser.ConfigParser(interpolation=None)
        nova.read(values['NOVA_CONF'])
        data = os.path.join(self.data_dir, 'cinder-auxo')
        self.assertEqual(
            {'storage_roots': '%s/local1,%s/local2' % (data, data),
             'lvm_conf_dir': os.path.join(data, 'nova-lvm')},
            dict(nova['auxo']))

    def test_shared_image_cache_is_a_storage_root(self):
        values = self.compute(AUXO_LOCAL_MOUNT_POINT='/opt/sata',
                              AUXO_IMAGE_BASE_PATH='/opt/cache',
                              CINDER_ENABLED_BACKENDS='auxo_local:local1')
        self.run_phase('stack post-config', **values)
        nova = configparser.ConfigParser(interpolation=None)
        nova.read(values['NOVA_CONF'])
        self.assertEqual('/opt/sata,/opt/cache',
                         nova['auxo']['storage_roots'])

    def test_no_launcher_without_n_cpu_libvirt_or_auxo_backend(self):
        for variables in ({'ENABLED_SERVICES': 'c-vol'},
                          {'VIRT_DRIVER': 'fake'},
                          {'CINDER_ENABLED_BACKENDS': 'lvm:lvmdriver-1'}):
            values = self.compute(**variables)
            self.run_phase('stack post-config', **values)
            self.assertFalse(os.path.exists(self.dropin(values)))
            self.assertFalse(os.path.exists(values['NOVA_CONF']))
            os.remove(os.path.join(values['NOVA_BIN_DIR'],
                                   'cinder-auxo-nova-compute'))
            os.rmdir(values['NOVA_BIN_DIR'])

    def test_missing_launcher_stops_the_stack(self):
        values = self.compute()
        os.remove(os.path.join(values['NOVA_BIN_DIR'],
                               'cinder-auxo-nova-compute'))
        proc = self.run_bash(DEVSTACK_STUBS + 'source %s stack post-config'
                             % PLUGIN, check=False, **values)
        self.assertNotEqual(0, proc.returncode)
        self.assertIn("cinder_auxo must be installed in nova's environment",
                      proc.stderr)
        self.assertFalse(os.path.exists(self.dropin(values)))

    def test_unstack_gives_n_cpu_back_to_devstack(self):
        values = self.compute()
        self.run_phase('stack post-config', **values)
        self.run_phase('unstack', **values)
        self.assertFalse(os.path.exists(os.path.dirname(
            self.dropin(values))))

    def test_unstack_and_clean_without_state_do_nothing(self):
        path, log = self.fake_commands()
        self.run_bash('source %s unstack; source %s clean' % (PLUGIN,
                                                              PLUGIN),
                      PATH=path)
        self.assertFalse(os.path.exists(log))


@ddt.ddt
class TestShellSyntax(base.BaseTestCase):

    @ddt.data(PLUGIN, LIB, SETTINGS, 'devstack/override-defaults', SHIM)
    def test_bash_n(self, path):
        proc = subprocess.run(['bash', '-n', path], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
