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
"""A volume from an image, in a libvirt domain on this storage VM.

The cinder side (LVMSANDriver, this process) makes the volume: a cached
base LV and an overlay LV. The compute side is nova's: the ``lvmsan``
libvirt volume driver in a nova venv without cinder, run as a separate
process (``cinder_auxo.tests.hypervisor.compute_agent``); it logs in to the
LUN through os-brick, activates the LVs, writes the disk XML with nova's
config classes and starts a paused domain on it. The data is read here:
what the guest sees through an NBD export of the domain's disk, and the
LVs themselves after the detach.
"""

import hashlib
import json
import os
import select
import subprocess

from lxml import etree

from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
GiB = base.GiB
KiB64 = 64 * 1024
ENV = os.environ.get
AGENT = 'cinder_auxo.tests.hypervisor.compute_agent'
REPLY_TIMEOUT = 300

# What the image holds: (byte, offset, length).
IMAGE = [(0x7e, 0, 4 * MiB), (0x5d, 24 * MiB, 2 * MiB)]
# What the guest writes: into the image's data, into a hole of the image,
# and past the image's end (the volume is larger).
GUEST_WRITES = [(0x62, MiB, KiB64), (0x63, 8 * MiB, MiB),
                (0x64, 25 * MiB, KiB64), (0x65, 512 * MiB, KiB64)]
# What the guest sees of its 1 GiB disk before it writes: the image, then
# zeros (around the write past the image, and at the disk's end).
IMAGE_VIEW = [(0x7e, 0, 4 * MiB), (0x00, 4 * MiB, 20 * MiB),
              (0x5d, 24 * MiB, 2 * MiB), (0x00, 26 * MiB, 38 * MiB),
              (0x00, 511 * MiB, 2 * MiB), (0x00, GiB - MiB, MiB)]
# ... and after: the image with the guest's writes on top.
WRITTEN_VIEW = [(0x7e, 0, MiB), (0x62, MiB, KiB64),
                (0x7e, MiB + KiB64, 3 * MiB - KiB64),
                (0x00, 4 * MiB, 4 * MiB), (0x63, 8 * MiB, MiB),
                (0x00, 9 * MiB, 15 * MiB), (0x5d, 24 * MiB, MiB),
                (0x64, 25 * MiB, KiB64),
                (0x5d, 25 * MiB + KiB64, MiB - KiB64),
                (0x00, 26 * MiB, 38 * MiB), (0x00, 511 * MiB, MiB),
                (0x65, 512 * MiB, KiB64),
                (0x00, 512 * MiB + KiB64, MiB - KiB64),
                (0x00, GiB - MiB, MiB)]


def read_patterns(target, patterns, fmt=None):
    """Check (byte, offset, length) ranges of a disk read-only, in one run.

    ``target`` may be an NBD URI (the domain's export is read-only) or a
    ``json:`` description; ``fmt`` None lets qemu-io probe neither.
    """
    cmd = ['qemu-io', '-r']
    if fmt:
        cmd += ['-f', fmt]
    for byte, offset, length in patterns:
        cmd += ['-c', 'read -P 0x%02x %d %d' % (byte, offset, length)]
    run = subprocess.run(cmd + [target], capture_output=True, text=True)
    out = run.stdout + run.stderr
    if run.returncode or 'failed' in out.lower():
        raise AssertionError('qemu-io on %s: %s' % (target, out))


def top_alone(path):
    """The qcow2 on ``path`` with no backing file: only its own clusters."""
    return 'json:' + json.dumps({
        'driver': 'qcow2', 'backing': None,
        'file': {'driver': 'host_device', 'filename': path}})


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(4 * MiB), b''):
            h.update(block)
    return h.hexdigest()


class ComputeAgent(object):
    """The compute_agent process: one JSON request, one JSON reply."""

    def __init__(self, python, workdir, lock_path):
        self.log = os.path.join(workdir, 'compute-agent.log')
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(
                [python, '-m', AGENT,
                 '--libvirt-uri', ENV('AUXO_LIBVIRT_URI'),
                 '--lvm-conf-dir', os.path.join(workdir, 'compute-lvm'),
                 '--lock-path', lock_path, '--scratch', '/var/tmp'],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True, bufsize=1)

    def call(self, op, **args):
        self.proc.stdin.write(json.dumps(dict(args, op=op)) + '\n')
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [],
                                    REPLY_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ''
        if not line:
            raise AssertionError('compute agent: no reply to %s; log:\n%s'
                                 % (op, self.log_tail()))
        reply = json.loads(line)
        if 'error' in reply:
            raise AssertionError('compute agent %s: %s' % (op,
                                                           reply['error']))
        return reply

    def log_tail(self):
        with open(self.log) as f:
            return f.read()[-4000:]

    def close(self):
        # End of input: the agent detaches whatever is left and exits.
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=REPLY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LibvirtDomainTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        super(LibvirtDomainTestCase, self).setUp()
        self.python = ENV('AUXO_NOVA_PYTHON')
        if not self.python:
            self.skipTest('this storage VM image has no nova venv: rebuild '
                          'it with tools/storage-vm/build.sh')
        if not ENV('AUXO_LIBVIRT_URI'):
            self.fail('libvirtd did not start in the storage VM (see '
                      'libvirt-log in the run directory)')
        self.images = test_local_driver.FileImageService(self.tmp)

    def agent(self):
        agent = ComputeAgent(self.python, self.tmp, self.lock_path)
        self.addCleanup(agent.close)
        return agent

    def assert_disk_xml(self, xml, data):
        disk = etree.fromstring(xml)
        self.assertEqual('block', disk.get('type'))
        self.assertEqual('qcow2', disk.find('driver').get('type'))
        self.assertEqual(data['device_path'], disk.find('source').get('dev'))
        store = disk.find('backingStore')
        self.assertEqual(
            (data['backing'][0]['device_path'], data['backing'][0]['format']),
            (store.find('source').get('dev'),
             store.find('format').get('type')))

    def assert_attrs(self, data, state):
        attrs = lvm_base.lvs(self.vg)
        for path in [data['device_path']] + [
                b['device_path'] for b in data['backing']]:
            self.assertEqual(state, attrs[os.path.basename(path)][4], path)

    def test_guest_reads_the_image_and_writes_only_the_top_lv(self):
        image = self.image_file(IMAGE)
        meta = self.images.add(image)
        vol = self.volume()
        self.assertEqual((None, True), self.driver.clone_image(
            self.ctxt, vol, None, meta, self.images))
        info = self.driver.initialize_connection(vol, {'initiator': 'x'})
        data = info['data']
        self.assertEqual(1, len(data['backing']))
        base_path = data['backing'][0]['device_path']
        base_digest = sha256(base_path)

        # The compute host starts with no session and no active LV.
        lvm_base.run('vgchange', '-a', 'n', self.vg)
        lvm_base.run('iscsiadm', '-m', 'node', '--logoutall=all')
        self.assertEqual([], lvm_base.sessions())

        agent = self.agent()
        attached = agent.call('attach', connection_info=info)
        self.assert_disk_xml(attached['xml'], data)
        self.assertEqual(1, len(lvm_base.sessions()))
        self.assert_attrs(data, 'a')
        base_dm = os.path.basename(os.path.realpath(base_path))
        with open('/sys/block/%s/ro' % base_dm) as f:
            self.assertEqual('1', f.read().strip())

        read_patterns(attached['nbd'], IMAGE_VIEW, 'raw')
        for byte, offset, length in GUEST_WRITES:
            agent.call('guest_io', command='write -P 0x%02x %d %d' %
                       (byte, offset, length))
        read_patterns(attached['nbd'], WRITTEN_VIEW, 'raw')

        agent.call('detach')
        self.assert_attrs(data, '-')
        # The LUN session stays for the other volumes.
        self.assertEqual(1, len(lvm_base.sessions()))

        for path in (data['device_path'], base_path):
            lvm_base.run('lvchange', '-a', 'y', '%s/%s' % (
                self.vg, os.path.basename(path)))
        self.assertEqual(base_digest, sha256(base_path))
        # The guest's writes, and only they, are in the top LV.
        read_patterns(top_alone(data['device_path']),
                      [(0x00, 0, MiB), (0x00, 24 * MiB, MiB)] + GUEST_WRITES)
        self.assertEqual(
            sum(length for _, _, length in GUEST_WRITES),
            self.driver.engine.qemu.allocated_bytes(data['device_path'],
                                                    'qcow2'))
        read_patterns(data['device_path'], WRITTEN_VIEW, 'qcow2')
