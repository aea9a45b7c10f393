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

"""Real libvirt + QEMU (TCG) fixtures for the hypervisor-side tests.

Run by tools/hypervisor/run-tests.sh in a venv with nova 34; it starts a
libvirtd of its own and exports AUXO_LIBVIRT_URI. Domains and what their
guest sees: ``domain``.
"""

import hashlib
import os
import stat
import subprocess
import tempfile
import uuid

import fixtures
import libvirt
from nova import conf as nova_conf
from oslo_config import fixture as config_fixture
from oslotest import base as oslo_base

from cinder_auxo.hypervisor import conf as auxo_conf
from cinder_auxo.tests.hypervisor import domain

MiB = 1024 * 1024
SCRATCH = os.environ.get('AUXO_HV_SCRATCH', '/var/tmp')
CONF = nova_conf.CONF


class FakeHost(object):
    """nova's Host, as far as get_config uses it: no volume secrets."""

    def find_secret(self, usage_type, usage_id):
        return None


def qemu_img(*args):
    subprocess.run(('qemu-img',) + args, check=True, capture_output=True)


def qemu_io(target, command, fmt):
    cmd = ['qemu-io', '-f', fmt, '-c', command, target]
    if target.startswith('nbd'):
        # The domain's export is read-only.
        cmd.insert(1, '-r')
    run = subprocess.run(cmd, capture_output=True, text=True)
    out = run.stdout + run.stderr
    if run.returncode:
        raise AssertionError('qemu-io %r on %s: %s' % (command, target, out))
    if 'Pattern verification failed' in out or 'failed' in out.lower():
        raise AssertionError('qemu-io %r on %s: %s' % (command, target, out))
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(MiB), b''):
            h.update(block)
    return h.hexdigest()


def owner_mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


class HypervisorTestCase(oslo_base.BaseTestCase):

    def setUp(self):
        super(HypervisorTestCase, self).setUp()
        # Readable by QEMU's own user (libvirt-qemu), as a storage root is.
        # oslotest points TMPDIR at a private 0700 directory: not here.
        self.root = tempfile.mkdtemp(prefix='auxo-hv-', dir=SCRATCH)
        os.chmod(self.root, 0o755)
        self.addCleanup(subprocess.run, ['rm', '-rf', self.root])
        self.conf = self.useFixture(config_fixture.Config(CONF))
        auxo_conf.register(CONF)
        self.conf.config(virt_type='qemu', group='libvirt')
        self.conf.config(storage_roots=[self.root], group='auxo')
        self.useFixture(fixtures.Timeout(120, gentle=True))

    def path(self, name):
        return os.path.join(self.root, name)

    def disk_info(self):
        return {'type': 'disk', 'dev': 'vda', 'bus': 'virtio'}

    def connection(self, path, fmt, **extra):
        data = {'volume_id': str(uuid.uuid4()), 'device_path': path,
                'format': fmt, 'access_mode': 'rw', 'discard': True}
        data.update(extra)
        return {'driver_volume_type': 'local', 'data': data,
                'serial': data['volume_id']}


class LibvirtTestCase(HypervisorTestCase):
    """Adds a libvirt connection and running (paused) domains."""

    def setUp(self):
        super(LibvirtTestCase, self).setUp()
        uri = os.environ.get('AUXO_LIBVIRT_URI')
        if not uri:
            self.fail('AUXO_LIBVIRT_URI is not set: run '
                      'tools/hypervisor/run-tests.sh')
        self.conn = libvirt.open(uri)
        self.addCleanup(self.conn.close)

    def start(self, disk_xml):
        """A paused domain with the disk; its vda exported over NBD.

        See ``domain.start_paused``; the domain goes with the test.
        """
        sock_dir = tempfile.mkdtemp(prefix='auxo-nbd-', dir=SCRATCH)
        os.chmod(sock_dir, 0o777)
        self.addCleanup(subprocess.run, ['rm', '-rf', sock_dir])
        dom, nbd = domain.start_paused(self.conn, disk_xml, sock_dir)
        self.addCleanup(self.stop, dom)
        return dom, nbd

    def guest_io(self, dom, command):
        return domain.guest_io(dom, command)

    def qmp(self, dom, command, **arguments):
        return domain.qmp(dom, command, **arguments)

    def stop(self, dom):
        domain.destroy(dom)
