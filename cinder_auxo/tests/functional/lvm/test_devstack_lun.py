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
"""The devstack plugin's created LUN, for real: storage-VM only.

``init_cinder_backend_auxo_lvmsan`` exports a sparse file with tgt and has
cinder-auxo-storage log in and make the volume group, merging into the
section ``configure_cinder_backend_auxo_lvmsan`` wrote; cleanup removes
the storage and the target; a second stack.sh right after works. The
plugin's bash runs as devstack runs it, on the functions of
tools/stack/devstack-shim.sh.
"""

import os
import subprocess
import sys

from cinder_auxo.storage_admin import conffile
from cinder_auxo.tests.functional.lvm import test_storage_admin as admin

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
BACKEND = 'san1'
IQN = 'iqn.2010-10.org.openstack:auxo-' + BACKEND
VG = 'auxo-' + BACKEND


def tgt_targets():
    out = subprocess.run(['tgtadm', '--lld', 'iscsi', '--op', 'show',
                          '--mode', 'target'], capture_output=True,
                         text=True, timeout=60).stdout
    return [line.split(': ', 1)[1] for line in out.splitlines()
            if line.startswith('Target ')]


class DevstackLunTestCase(admin.StorageNodeTestCase):

    def setUp(self):
        super(DevstackLunTestCase, self).setUp()
        self.data_dir = os.path.join(self.tmp, 'data')
        os.mkdir(self.data_dir)
        # The tool as devstack's venv would install it.
        self.tool = os.path.join(self.tmp, 'cinder-auxo-storage')
        with open(self.tool, 'w') as f:
            f.write('#!/bin/sh\nexec %s -c "import sys; from '
                    'cinder_auxo.cmd import storage; '
                    'sys.exit(storage.main())" "$@"\n' % sys.executable)
        os.chmod(self.tool, 0o755)
        self.addCleanup(self.devstack, 'cleanup_cinder_backend_auxo_lvmsan '
                        '%s || true' % BACKEND, check=False)

    def devstack(self, script, check=True):
        env = dict(os.environ, CINDER_CONF=self.conf_path,
                   DATA_DIR=self.data_dir, AUXO_STORAGE_CMD=self.tool,
                   AUXO_LVMSAN_TARGET_TOOL='tgtadm',
                   AUXO_LVMSAN_PORTAL_IP='127.0.0.1',
                   AUXO_LVMSAN_LUN_SIZE='2G',
                   AUXO_LVMSAN_VOLUME_CLEAR_SIZE='1')
        prelude = ('set -e; cd %s; source tools/stack/devstack-shim.sh; '
                   'source devstack/settings; source devstack/lib/auxo; '
                   % REPO)
        out = subprocess.run(['bash', '-c', prelude + script], env=env,
                             capture_output=True, text=True, timeout=600)
        if check:
            self.assertEqual(0, out.returncode, out.stdout + out.stderr)
        return out

    def stack(self):
        # devstack's order: configure writes the sections and
        # enabled_backends, then init makes the storage.
        self.devstack('configure_cinder_backend_auxo_lvmsan %s; '
                      'iniset "$CINDER_CONF" DEFAULT enabled_backends '
                      '"storage-existing,%s"; '
                      'init_cinder_backend_auxo_lvmsan %s'
                      % (BACKEND, BACKEND, BACKEND))

    def test_stack_unstack_stack(self):
        self.stack()
        self.assertIn(IQN, tgt_targets())
        self.assertEqual(1, len(admin.sessions(IQN)))
        conf = conffile.ConfFile(self.conf_path)
        self.assertEqual(['storage-existing', BACKEND],
                         conf.enabled_backends())
        section = conf.items(BACKEND)
        self.assertEqual(VG, section['volume_group'])
        self.assertEqual('iscsisan', section['iscsi_helper'])
        self.assertEqual(IQN, section['iscsi_target_prefix'])
        # The section as written loads into the driver, which works on it.
        drv = self.san_driver(BACKEND)
        self.assertEqual(VG, drv.engine.volumes.vg_name)
        vol = self.volume()
        drv.create_volume(vol)
        drv.delete_volume(vol)

        self.devstack('cleanup_cinder_backend_auxo_lvmsan %s' % BACKEND)
        self.assertNotIn(IQN, tgt_targets())
        self.assertEqual([], admin.sessions(IQN))
        self.assertEqual([], admin.node_records(IQN))

        # The next stack.sh, at once: no reboot, no manual logout.
        self.stack()
        self.assertEqual(1, len(admin.sessions(IQN)))
        drv = self.san_driver(BACKEND)
        self.assertEqual(VG, drv.engine.volumes.vg_name)
