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

"""LVMSANDriver run as the user cinder, through sudo and cinder-rootwrap.

As a distribution installs it: ``/etc/cinder/rootwrap.conf`` naming
cinder's filters and this package's, a sudo rule for cinder-rootwrap only,
and the storage tool's udev rule giving the group's LVs to cinder. The
driver runs in another process as that user (unprivileged_agent); this
test, as root, checks what it made by data.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys

from oslo_concurrency import processutils
from oslo_utils import uuidutils

from cinder_auxo.storage_admin import owner
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base

MiB = base.MiB
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
USER = 'cinder'
ETC = '/etc/cinder'
SUDOERS = '/etc/sudoers.d/cinder-auxo-test'


class UnprivilegedDriverTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        super(UnprivilegedDriverTestCase, self).setUp()
        try:
            self.user = pwd.getpwnam(USER)
        except KeyError:
            self.skipTest('the VM has no user %s: rebuild it (build.sh)'
                          % USER)
        self.work = os.path.join('/var/lib/cinder',
                                 uuidutils.generate_uuid())
        for sub in ('', 'images', 'locks'):
            os.makedirs(os.path.join(self.work, sub))
            os.chown(os.path.join(self.work, sub), self.user.pw_uid,
                     self.user.pw_gid)
        self.addCleanup(shutil.rmtree, self.work, True)
        self.write_etc()
        owner.own_volume_group(processutils.execute, self.vg,
                               owner.service_user(USER))
        self.addCleanup(owner.forget_volume_group, processutils.execute,
                        self.vg)

    def write_etc(self):
        os.makedirs(ETC, exist_ok=True)
        with open(os.path.join(sys.prefix, 'etc', 'cinder',
                               'rootwrap.conf')) as f:
            rootwrap = f.read()
        filters = [os.path.join(sys.prefix, 'etc', 'cinder', 'rootwrap.d'),
                   os.path.join(REPO, 'etc', 'cinder', 'rootwrap.d')]
        rootwrap = rootwrap.replace(
            'filters_path=/etc/cinder/rootwrap.d,/usr/share/cinder/rootwrap',
            'filters_path=' + ','.join(filters)).replace(
            'exec_dirs=', 'exec_dirs=%s/bin,' % sys.prefix)
        with open(os.path.join(ETC, 'rootwrap.conf'), 'w') as f:
            f.write(rootwrap)
        backend = dict(self.settings(
            san_lvm_conf_dir=os.path.join(self.work, 'lvm')))
        lines = ['[DEFAULT]', 'state_path = %s' % self.work,
                 'image_conversion_dir = %s/conv' % self.work,
                 'rootwrap_config = %s/rootwrap.conf' % ETC,
                 'enabled_backends = %s' % lvm_base.BACKEND,
                 '[oslo_concurrency]', 'lock_path = %s/locks' % self.work,
                 '[coordination]',
                 'backend_url = file://%s/locks' % self.work,
                 '[%s]' % lvm_base.BACKEND]
        lines += ['%s = %s' % item for item in sorted(backend.items())]
        conf = os.path.join(ETC, 'cinder.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chown(conf, 0, self.user.pw_gid)
        os.chmod(conf, 0o640)
        self.addCleanup(os.unlink, conf)
        path = ':'.join([sys.prefix + '/bin', '/usr/sbin', '/usr/bin',
                         '/sbin', '/bin'])
        with open(SUDOERS, 'w') as f:
            f.write('Defaults:%(u)s !requiretty\n'
                    'Defaults:%(u)s secure_path="%(path)s"\n'
                    '%(u)s ALL = (root) NOPASSWD: %(bin)s/cinder-rootwrap '
                    '%(etc)s/rootwrap.conf *\n' % {
                        'u': USER, 'path': path, 'bin': sys.prefix + '/bin',
                        'etc': ETC})
        os.chmod(SUDOERS, 0o440)
        self.addCleanup(os.unlink, SUDOERS)
        lvm_base.run('visudo', '-c', '-q', '-f', SUDOERS)

    def agent_env(self):
        env = dict(os.environ, HOME=self.work, USER=USER, PYTHONPATH=REPO,
                   PYTHONDONTWRITEBYTECODE='1')
        # The tests' scratch directory is root's; cinder's is /tmp.
        env.pop('TMPDIR', None)
        return env

    def owner_of(self, name):
        return os.stat(os.path.realpath('/dev/%s/%s' % (self.vg, name)))

    def test_the_driver_runs_as_cinder_through_rootwrap(self):
        image = self.image_file([(0x5a, 0, 4 * MiB)], size=64 * MiB)
        shutil.copy(image, os.path.join(self.work, 'image.qcow2'))
        proc = subprocess.run(
            [sys.executable, '-m',
             'cinder_auxo.tests.functional.lvm.unprivileged_agent',
             os.path.join(ETC, 'cinder.conf'), lvm_base.BACKEND,
             os.path.join(self.work, 'images'),
             os.path.join(self.work, 'image.qcow2')],
            user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[],
            cwd=REPO, capture_output=True, text=True, timeout=1200,
            env=self.agent_env())
        self.assertEqual(0, proc.returncode, proc.stderr[-4000:])
        made = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual((self.user.pw_uid, self.user.pw_uid),
                         (made['uid'], made['euid']))
        # Every LV the driver made is cinder's, through the udev rule.
        names = lvm_base.lvs(self.vg)
        self.assertIn('base-%s-g1' % made['image'], names)
        for name in names:
            st = self.owner_of(name)
            self.assertEqual((self.user.pw_uid, 0o660),
                             (st.st_uid, st.st_mode & 0o777), name)
        vol = '/dev/%s/volume-%s' % (self.vg, made['volume'])
        clone = '/dev/%s/volume-%s' % (self.vg, made['clone'])
        lvm_base.read_patterns(vol, [(0x5a, 0, 4 * MiB),
                                     (0, 4 * MiB, 4 * MiB)])
        lvm_base.read_patterns(clone, [(0x5a, 0, 4 * MiB)])
        info = json.loads(lvm_base.run('qemu-img', 'info', '-U', '-f',
                                       'qcow2', '--output=json', vol))
        self.assertEqual(2 * 1024 * MiB, info['virtual-size'])
        # The upload is the whole disk, flattened (qemu-img as root).
        lvm_base.run('qemu-img', 'compare', '-f', 'qcow2', '-F', 'qcow2',
                     made['upload'], vol)
        uploaded = json.loads(lvm_base.run(
            'qemu-img', 'info', '--output=json', made['upload']))
        self.assertNotIn('backing-filename', uploaded)
