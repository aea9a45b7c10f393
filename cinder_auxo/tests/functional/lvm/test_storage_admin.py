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
"""cinder-auxo-storage against a real tgt target: storage-VM only.

The VM's init script runs tgtd on 127.0.0.1:3260 (target 1, the LVM
suite's LUN). These tests add two targets of their own, backed by sparse
files: ``admin`` with LUNs 1 and 2, and ``chap`` with LUN 1 behind a CHAP
account. The CLI runs in-process (``cmd.storage.main``) with the real
command runner: real iscsiadm, LVM, mkfs, mount. Anywhere else they skip.
"""

import json
import os
import subprocess

from cinder import context as cinder_context
from cinder import coordination
from cinder import objects
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
import ddt
import fixtures
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils
from oslotest import base as oslo_base

from cinder_auxo.cmd import storage as cli
from cinder_auxo.drivers import local
from cinder_auxo.storage_admin import conffile
from cinder_auxo.storage_admin import filesys
from cinder_auxo.storage_admin import state
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base

PORTAL = '127.0.0.1:3260'
ADMIN_IQN = 'iqn.2012-07.org.auxo.test:admin'
CHAP_IQN = 'iqn.2012-07.org.auxo.test:chap'
CHAP_USER = 'auxo-admin'
CHAP_SECRET = 'right-secret-42'
LUN_DIR = '/var/tmp/auxo-admin-luns'
# tids 2 and 3: tid 1 is the LVM suite's target.
TARGETS = ((2, ADMIN_IQN, (1, 2)), (3, CHAP_IQN, (1,)))
# Sparse: room for a 1 GiB volume as a qcow2 LV and its metadata.
LUN_SIZE = 2 * base.GiB

CINDER_CONF = """\
# cinder.conf of the storage management node (test)
[DEFAULT]
# backends this node already serves
enabled_backends = storage-existing
debug = False

[auxo_storage]
state_dir = %(state)s

[storage-existing]
volume_driver = cinder_auxo.drivers.local.LocalFileDriver
mount_point = /opt/existing
"""


def tgtadm(*args):
    subprocess.run(('tgtadm', '--lld', 'iscsi') + args, check=True,
                   capture_output=True, timeout=60)


def export_targets():
    os.makedirs(LUN_DIR, exist_ok=True)
    for tid, iqn, lun_numbers in TARGETS:
        tgtadm('--op', 'new', '--mode', 'target', '--tid', str(tid),
               '-T', iqn)
        for lun in lun_numbers:
            backing = os.path.join(LUN_DIR, '%d-%d.img' % (tid, lun))
            with open(backing, 'wb') as f:
                f.truncate(LUN_SIZE)
            tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', str(tid),
                   '--lun', str(lun), '-b', backing)
        tgtadm('--op', 'bind', '--mode', 'target', '--tid', str(tid),
               '-I', 'ALL')
    tgtadm('--op', 'new', '--mode', 'account', '--user', CHAP_USER,
           '--password', CHAP_SECRET)
    tgtadm('--op', 'bind', '--mode', 'account', '--tid', '3', '--user',
           CHAP_USER)


def unexport_targets():
    for tid, iqn, _luns in TARGETS:
        subprocess.run(['iscsiadm', '-m', 'node', '-T', iqn, '--logout'],
                       capture_output=True, timeout=60)
        subprocess.run(['iscsiadm', '-m', 'node', '-T', iqn, '-o',
                        'delete'], capture_output=True, timeout=60)
        subprocess.run(['tgtadm', '--lld', 'iscsi', '--op', 'delete',
                        '--mode', 'target', '--tid', str(tid), '--force'],
                       capture_output=True, timeout=60)
    subprocess.run(['tgtadm', '--lld', 'iscsi', '--op', 'delete', '--mode',
                    'account', '--user', CHAP_USER], capture_output=True)
    subprocess.run(['rm', '-rf', LUN_DIR])


def blank_luns():
    """Log out and zero every test LUN: what a failed test left goes."""
    for _tid, iqn, _luns in TARGETS:
        for op in (['--logout'], ['-o', 'delete']):
            subprocess.run(['iscsiadm', '-m', 'node', '-T', iqn] + op,
                           capture_output=True, timeout=60)
    if not os.path.isdir(LUN_DIR):
        return
    for name in os.listdir(LUN_DIR):
        # tgtd keeps the file open: cut it and grow it back, sparse.
        with open(os.path.join(LUN_DIR, name), 'r+b') as f:
            f.truncate(0)
            f.truncate(LUN_SIZE)


def sessions(iqn):
    out = subprocess.run(['iscsiadm', '-m', 'session'], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if iqn in line.split()]


def node_records(iqn):
    out = subprocess.run(['iscsiadm', '-m', 'node'], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if iqn in line.split()]


class StorageNodeTestCase(oslo_base.BaseTestCase):
    """A storage management node: its cinder.conf, locks and helpers."""

    def setUp(self):
        if not lvm_base.IN_VM:
            self.skipTest(lvm_base.SKIP_REASON)
        super(StorageNodeTestCase, self).setUp()
        base.disable_privsep()
        objects.register_all()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.conf_path = os.path.join(self.tmp, 'cinder.conf')
        self.original = CINDER_CONF % {'state': os.path.join(self.tmp,
                                                             'state')}
        with open(self.conf_path, 'w') as f:
            f.write(self.original)
        with open(filesys.FSTAB, 'rb') as f:
            self.fstab = f.read()
        lock_path = os.path.join(self.tmp, 'locks')
        os.mkdir(lock_path)
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        lockutils.set_defaults(lock_path)
        self.conf.config(lock_path=lock_path, group='oslo_concurrency')
        self.conf.config(image_conversion_dir=os.path.join(self.tmp, 'conv'),
                         state_path=self.tmp)
        self.conf.config(backend_url='file://%s' % lock_path,
                         group='coordination')
        coordination.COORDINATOR.start()
        self.addCleanup(coordination.COORDINATOR.stop)
        self.ctxt = cinder_context.get_admin_context()
        self.addCleanup(cfg.CONF.clear)
        self.addCleanup(self.leave_clean)

    def leave_clean(self):
        # Only after a failure is there anything to do here.
        state_dir = os.path.join(self.tmp, 'state')
        for record in state.all_records(state_dir):
            for path in (record.get('mount_point'), record.get('fs_path')):
                if path and os.path.ismount(path):
                    subprocess.run(['umount', path], capture_output=True)
            if record.get('volume_group'):
                subprocess.run(
                    ['env', 'LVM_SYSTEM_DIR=%s/lvm/%s' % (
                        state_dir, record['volume_group']), 'vgchange',
                     '-a', 'n', record['volume_group']], capture_output=True)
        with open(filesys.FSTAB, 'wb') as f:
            f.write(self.fstab)
        blank_luns()

    # -- helpers -----------------------------------------------------------

    def cli(self, *argv):
        """(exit status, printed lines) of one cinder-auxo-storage run."""
        lines = []
        stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        rc = cli.main(['--config-file', self.conf_path] + list(argv),
                      out=lines.append)
        stderr.seek(0)
        return rc, '\n'.join(lines) + stderr.read()

    def ok(self, *argv):
        rc, out = self.cli(*argv)
        self.assertEqual(0, rc, out)
        return out

    def refused(self, *argv):
        rc, out = self.cli(*argv)
        self.assertEqual(cli.REFUSED, rc, out)
        return out

    def add_block(self, name, lun=1, *extra):
        return self.cli('add', name, '--usage', 'block', '--type', 'iscsi',
                        '--portal', PORTAL, '--iqn', ADMIN_IQN, '--lun',
                        str(lun), '--volume-clear-size', '1', *extra)

    def conf_now(self):
        with open(self.conf_path) as f:
            return f.read()

    def backend_of(self, name):
        with open(os.path.join(self.tmp, 'state', name + '.json')) as f:
            return json.load(f)['backend']

    def assert_pristine(self):
        """cinder.conf and fstab as before; no session, no node left."""
        self.assertEqual(self.original, self.conf_now())
        with open(filesys.FSTAB, 'rb') as f:
            self.assertEqual(self.fstab, f.read())
        self.assertEqual([], sessions(ADMIN_IQN) + sessions(CHAP_IQN))
        self.assertEqual([], node_records(ADMIN_IQN) +
                         node_records(CHAP_IQN))

    def load_conf(self):
        # The file as written, read the way cinder-volume reads it.
        cfg.CONF(['--config-file', self.conf_path], project='cinder',
                 default_config_files=[])

    def san_driver(self, backend):
        self.load_conf()
        return lvm_base.san_driver(backend, self.ctxt)

    def file_driver(self, backend):
        self.load_conf()
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=backend)
        drv = local.LocalFileDriver(configuration=conf)
        drv.do_setup(self.ctxt)
        drv.check_for_setup_error()
        return drv

    def volume(self):
        return fake_volume.fake_volume_obj(
            self.ctxt, id=uuidutils.generate_uuid(), size=1,
            status='available', attach_status='detached')


@ddt.ddt
class StorageAdminTestCase(StorageNodeTestCase):

    @classmethod
    def setUpClass(cls):
        super(StorageAdminTestCase, cls).setUpClass()
        if lvm_base.IN_VM:
            export_targets()

    @classmethod
    def tearDownClass(cls):
        if lvm_base.IN_VM:
            unexport_targets()
        super(StorageAdminTestCase, cls).tearDownClass()

    # -- the block storage's life ------------------------------------------

    def test_block_storage_life(self):
        out = self.ok('discover', '--portal', PORTAL)
        self.assertIn(ADMIN_IQN, out.split())
        self.assertIn(CHAP_IQN, out.split())
        luns = json.loads(self.ok('luns', '--portal', PORTAL, '--iqn',
                                  ADMIN_IQN, '--format', 'json'))
        self.assertEqual([1, 2], [lun['lun'] for lun in luns])
        self.assertEqual([LUN_SIZE] * 2, [lun['size'] for lun in luns])
        self.assertEqual(['', ''], [lun['carries'] for lun in luns])
        # luns logged in only to look: it logged out again.
        self.assertEqual([], sessions(ADMIN_IQN))

        rc, out = self.add_block('san1')
        self.assertEqual(0, rc, out)
        self.assertIn('cinder type-create san1', out)
        backend = self.backend_of('san1')
        self.assertEqual(1, len(sessions(ADMIN_IQN)))
        conf = conffile.ConfFile(self.conf_path)
        self.assertEqual(['storage-existing', backend],
                         conf.enabled_backends())
        section = conf.items(backend)
        self.assertEqual('iscsisan', section['iscsi_helper'])
        self.assertEqual(ADMIN_IQN, section['iscsi_target_prefix'])
        rows = json.loads(self.ok('list', '--format', 'json'))
        self.assertEqual([('san1', 'up')], [(r['name'], r['state'])
                                            for r in rows])
        self.assertGreater(rows[0]['total'], base.GiB)

        drv = self.san_driver(backend)
        self.assertEqual(section['volume_group'], drv.engine.volumes.vg_name)
        vol = self.volume()
        drv.create_volume(vol)
        out = self.refused('remove', 'san1')
        self.assertIn('1 LV(s)', out)
        drv.delete_volume(vol)
        self.ok('remove', 'san1', '--wipe')
        self.assert_pristine()

        # At once: no reboot, no manual logout.
        rc, out = self.add_block('san1')
        self.assertEqual(0, rc, out)
        self.ok('remove', 'san1')
        self.assert_pristine()

        # Removed without --wipe, the LUN keeps its PV: refused, and the
        # refusal logs out again.
        rc, out = self.add_block('san2')
        self.assertEqual(cli.REFUSED, rc, out)
        self.assertIn('already carries an LVM PV of VG', out)
        self.assert_pristine()
        rc, out = self.add_block('san2', 1, '--force')
        self.assertEqual(0, rc, out)
        self.assertIn('--force: destroying an LVM PV of VG', out)
        rows = json.loads(self.ok('status', 'san2', '--format', 'json'))
        self.assertEqual('up', rows[0]['state'], rows)
        self.ok('remove', 'san2', '--wipe')
        self.assert_pristine()

    # -- a file storage on the second LUN ------------------------------------

    @ddt.data('ext4', 'xfs')
    def test_file_storage_life(self, fs):
        mount_point = os.path.join(self.tmp, 'opt-share')
        out = self.ok('add', 'share1', '--usage', 'file', '--type', 'iscsi',
                      '--portal', PORTAL, '--iqn', ADMIN_IQN, '--lun', '2',
                      '--mount-point', mount_point, '--fs', fs)
        backend = self.backend_of('share1')
        with open(os.path.join(self.tmp, 'state', 'share1.json')) as f:
            record = json.load(f)
        self.assertTrue(os.path.ismount(record['fs_path']))
        self.assertEqual(fs, subprocess.run(
            ['findmnt', '-n', '-o', 'FSTYPE', record['fs_path']],
            capture_output=True, text=True).stdout.strip())
        self.assertTrue(os.path.ismount(mount_point))
        self.assertEqual(2, len(filesys.persisted(backend)))
        self.assertEqual(local.__name__ + '.LocalFileDriver',
                         conffile.ConfFile(self.conf_path).get(
                             backend, 'volume_driver'))

        drv = self.file_driver(backend)
        vol = self.volume()
        drv.create_volume(vol)
        layer, _fmt = drv.engine.active(vol.id)
        # The volume is on the LUN's filesystem, under its subdirectory.
        self.assertTrue(os.path.exists(os.path.join(
            record['fs_path'], 'share1', os.path.basename(layer))))
        out = self.refused('remove', 'share1')
        self.assertIn('file(s)', out)
        drv.delete_volume(vol)
        out = self.ok('remove', 'share1')
        self.assertFalse(os.path.ismount(mount_point))
        self.assertFalse(os.path.exists(record['fs_path']))
        self.assert_pristine()

    # -- refusals ----------------------------------------------------------

    def test_portal_that_does_not_answer_is_refused(self):
        rc, out = self.cli('add', 'dead', '--usage', 'block', '--type',
                           'iscsi', '--portal', '127.0.0.1:3299', '--iqn',
                           ADMIN_IQN, '--lun', '1')
        self.assertEqual(cli.REFUSED, rc, out)
        self.assertIn('did not answer', out)
        self.assertEqual(cli.REFUSED,
                         self.cli('discover', '--portal',
                                  '127.0.0.1:3299')[0])
        self.assert_pristine()

    def test_wrong_chap_secret_is_refused(self):
        rc, out = self.cli('add', 'chap1', '--usage', 'block', '--type',
                           'iscsi', '--portal', PORTAL, '--iqn', CHAP_IQN,
                           '--lun', '1', '--chap-user', CHAP_USER,
                           '--chap-password', 'wrong-secret-1')
        self.assertEqual(cli.REFUSED, rc, out)
        self.assertIn('wrong CHAP', out)
        self.assert_pristine()
        # The right secret gets in.
        luns = json.loads(self.ok(
            'luns', '--portal', PORTAL, '--iqn', CHAP_IQN, '--chap-user',
            CHAP_USER, '--chap-password', CHAP_SECRET, '--format', 'json'))
        self.assertEqual([1], [lun['lun'] for lun in luns])
        self.assert_pristine()

    def test_name_in_use_and_non_empty_mount_point_are_refused(self):
        directory = os.path.join(self.tmp, 'ssd')
        os.mkdir(directory)
        self.ok('add', 'ssd', '--usage', 'local', '--type', 'local',
                '--mount-point', directory)
        with_ssd = self.conf_now()
        out = self.refused('add', 'ssd', '--usage', 'local', '--type',
                           'local', '--mount-point', directory)
        self.assertIn('already in use', out)
        busy = os.path.join(self.tmp, 'busy')
        os.mkdir(busy)
        open(os.path.join(busy, 'someone-elses'), 'w').close()
        out = self.refused('add', 'share2', '--usage', 'file', '--type',
                           'iscsi', '--portal', PORTAL, '--iqn', ADMIN_IQN,
                           '--lun', '2', '--mount-point', busy)
        self.assertIn('is not empty (someone-elses)', out)
        self.assertEqual(with_ssd, self.conf_now())
        self.ok('remove', 'ssd')
        self.assert_pristine()
