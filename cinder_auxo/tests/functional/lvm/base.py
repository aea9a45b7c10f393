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
"""LVMSANDriver on real LVM and a real iSCSI target: storage-VM only.

tools/storage-vm/run-tests.sh boots a VM whose init script exports a disk
as an iSCSI LUN (tgt on 127.0.0.1), logs in, makes the volume group on the
LUN and sets the AUXO_* variables read here. Anywhere else these tests skip.
"""

import os
import subprocess
import tempfile

from cinder import context as cinder_context
from cinder import coordination
from cinder import objects
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from cinder.volume.drivers import lvm as lvm_driver
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils

from cinder_auxo.drivers import lvmsan
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import service_user

MiB = base.MiB
GiB = base.GiB
BACKEND = 'storage-230fc138-a867-4bbe-b96b-3395f17818f1'

ENV = os.environ.get
IN_VM = ENV('AUXO_STORAGE_VM') == '1' and os.geteuid() == 0
SKIP_REASON = ('needs the storage VM (real LVM and iSCSI): run '
               'tools/storage-vm/run-tests.sh')


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True,
                          text=True).stdout


def sessions():
    out = subprocess.run(['iscsiadm', '-m', 'session'], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if ENV('AUXO_ISCSI_IQN', '-')
            in line]


def read_patterns(path, patterns, fmt='qcow2'):
    """Check several (byte, offset, length) ranges in one qemu-io run."""
    cmds = []
    for byte, offset, length in patterns:
        cmds += ['-c', 'read -P 0x%02x %d %d' % (byte, offset, length)]
    out = subprocess.run(['qemu-io', '-f', fmt] + cmds + [path], check=True,
                         capture_output=True, text=True).stdout
    if 'Pattern verification failed' in out or 'failed' in out.lower():
        raise AssertionError('qemu-io on %s: %s' % (path, out))


def lvs(vg):
    out = run('lvs', '--noheadings', '-o', 'lv_name,lv_attr', vg)
    return dict(line.split() for line in out.splitlines() if line.strip())


def written_sectors(path):
    """Sectors written to the dm device behind an LV since activation."""
    dm = os.path.basename(os.path.realpath(path))
    with open('/sys/block/%s/stat' % dm) as f:
        return int(f.read().split()[6])


def backend_configuration(backend):
    """cinder's Configuration of section ``backend`` for LVMSANDriver.

    Registers the section's options in cfg.CONF.
    """
    conf = configuration.Configuration(cinder_driver.volume_opts,
                                       config_group=backend)
    conf.append_config_values(cinder_driver.image_opts)
    conf.append_config_values(lvm_driver.volume_opts)
    conf.append_config_values(lvmsan.DRIVER_OPTS)
    return conf


def backend_settings(vg, workdir, **overrides):
    """The VM's storage section: its VG on the LUN the VM logged in to."""
    portal_ip, port = ENV('AUXO_ISCSI_PORTAL').rsplit(':', 1)
    values = {
        'volume_backend_name': BACKEND,
        'iscsi_helper': 'iscsisan',
        'iscsi_protocol': 'iscsi',
        'iscsi_ip_address': portal_ip,
        'iscsi_port': int(port),
        'iscsi_target_prefix': ENV('AUXO_ISCSI_IQN'),
        'target_lun': int(ENV('AUXO_ISCSI_LUN')),
        'volume_group': vg,
        'volume_clear': 'zero',
        'volume_clear_size': 1,
        'image_volume_cache_enabled': True,
        'image_base_path': '',
        'image_format': 'qcow2',
        'san_lvm_conf_dir': os.path.join(workdir, 'lvm'),
    }
    values.update(overrides)
    return values


def configure_cinder(workdir, backend_url=None):
    """cinder's options for a driver outside a test case; its coordinator.

    Locks, conversion and state under ``workdir``; coordination on
    ``backend_url`` (default: files under ``workdir``).
    """
    base.disable_privsep()
    objects.register_all()
    locks = os.path.join(workdir, 'locks')
    os.makedirs(locks, exist_ok=True)
    lockutils.set_defaults(locks)
    cfg.CONF.set_override('lock_path', locks, group='oslo_concurrency')
    cfg.CONF.set_override('image_conversion_dir',
                          os.path.join(workdir, 'conv'))
    cfg.CONF.set_override('state_path', workdir)
    cfg.CONF.set_override('backend_url', backend_url or 'file://' + locks,
                          group='coordination')
    coordination.COORDINATOR.start()


def san_driver(backend, ctxt, check=True, user=None, **service):
    """An LVMSANDriver on cfg.CONF's ``backend``, set up as at start-up.

    With ``user`` (a ServiceUser), every call into it runs as that user.
    ``service``: what cinder-volume hands a driver (``host``,
    ``cluster_name``).
    """
    drv = lvmsan.LVMSANDriver(configuration=backend_configuration(backend),
                              **service)
    if user is not None:
        drv = service_user.AsUser(drv, user)
    drv.do_setup(ctxt)
    if check:
        drv.check_for_setup_error()
    return drv


class LVMTestCase(base.FunctionalTestCase):
    """A driver over the VM's volume group, through cinder objects.

    The driver runs as root, or as ``driver_user`` (default: the VM's
    ``AUXO_VM_DRIVER_USER``), root then only through sudo and
    cinder-rootwrap (service_user); the test's own checks run as root.
    Under TCG each root command through rootwrap costs seconds, so the
    suite as a whole runs as cinder on request
    (``AUXO_VM_DRIVER_USER=cinder tools/storage-vm/run-tests.sh``) and
    test_as_cinder always does.
    """

    driver_user = ENV('AUXO_VM_DRIVER_USER') or None

    def setUp(self):
        if not IN_VM:
            self.skipTest(SKIP_REASON)
        super(LVMTestCase, self).setUp()
        base.disable_privsep()
        objects.register_all()
        self.vg = ENV('AUXO_VG')
        self.user = None
        if self.driver_user not in (None, 'root'):
            self.user = service_user.ServiceUser(self.driver_user)
            # What the test makes in its directories (oslotest's private
            # TMPDIR, self.tmp within it) stays writable by that user.
            self.addCleanup(os.umask, os.umask(0o002))
            service_user.share(tempfile.gettempdir(), self.user)
            service_user.install(self.vg, self.user)
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        lockutils.set_defaults(self.lock_path)
        self.conf.config(lock_path=self.lock_path, group='oslo_concurrency')
        self.conf.config(image_conversion_dir=os.path.join(self.tmp, 'conv'),
                         state_path=self.tmp)
        self.conf.config(backend_url='file://%s' % self.lock_path,
                         group='coordination')
        coordination.COORDINATOR.start()
        self.addCleanup(coordination.COORDINATOR.stop)
        self.ctxt = cinder_context.get_admin_context()
        self.volumes = []
        self.driver = self.make_driver()
        self.addCleanup(self._delete_all)

    def settings(self, **overrides):
        return backend_settings(self.vg, self.tmp, **overrides)

    def make_driver(self, setup=True, **overrides):
        backend_configuration(BACKEND)
        for key, value in self.settings(**overrides).items():
            self.conf.config(group=BACKEND, **{key: value})
        return san_driver(BACKEND, self.ctxt, setup, self.user)

    def _delete_all(self):
        # Each test starts from an empty group: drop whatever it left.
        subprocess.run(['lvremove', '-f', '-y', self.vg], capture_output=True)

    def volume(self, size=1, **kw):
        fields = {'status': 'available', 'attach_status': 'detached'}
        fields.update(kw)
        vol = fake_volume.fake_volume_obj(
            self.ctxt, id=uuidutils.generate_uuid(), size=size, **fields)
        self.volumes.append(vol)
        return vol

    def snapshot(self, vol):
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume_size=vol.size)
        snap.volume = vol
        self.driver.create_snapshot(snap)
        return snap

    def path(self, vol):
        return self.driver.engine.active(vol.id)
