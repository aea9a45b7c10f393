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

"""The compute side of one attach, driven by a test in another process.

A compute node has nova and os-brick, not cinder; a functional test of the
storage VM (cinder_auxo/tests/functional/lvm/test_libvirt_domain.py) runs
this module with the python of a nova venv and sends it one JSON request a
line on stdin; each gets one JSON line back on stdout:

* ``{"op": "attach", "connection_info": {...}}``: the volume driver's
  ``connect_volume`` and ``get_config``, then a paused domain with that
  disk; answers ``{"xml": <disk XML>, "nbd": <URI of the guest's view>}``;
* ``{"op": "guest_io", "command": "write -P 0x62 1M 64k"}``: qemu-io on the
  guest's disk device; answers ``{"output": ...}``;
* ``{"op": "detach"}``: destroys the domain, then ``disconnect_volume``.

A failure answers ``{"error": <traceback>}``. The agent asserts nothing:
the test reads the data itself.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback

import libvirt
from nova import conf as nova_conf
import os_brick
from os_brick import privileged as brick_privileged

from cinder_auxo.hypervisor import conf as auxo_conf
from cinder_auxo.hypervisor import lvmsan
from cinder_auxo.tests.hypervisor import domain

CONF = nova_conf.CONF
DISK_INFO = {'type': 'disk', 'dev': 'vda', 'bus': 'virtio'}


class Host(object):
    """nova's Host, as far as get_config uses it: no volume secrets."""

    def find_secret(self, usage_type, usage_id):
        return None


class Agent(object):

    def __init__(self, uri, scratch):
        self.conn = libvirt.open(uri)
        self.scratch = scratch
        self.driver = lvmsan.LibvirtAuxoSanVolumeDriver(Host())
        self.info = None
        self.dom = None
        self.sock_dir = None

    def attach(self, connection_info):
        self.driver.connect_volume(connection_info, None)
        self.info = connection_info
        xml = self.driver.get_config(connection_info, DISK_INFO).to_xml()
        # QEMU runs as its own user and creates the NBD socket here.
        self.sock_dir = tempfile.mkdtemp(prefix='auxo-nbd-',
                                         dir=self.scratch)
        os.chmod(self.sock_dir, 0o777)
        self.dom, nbd = domain.start_paused(self.conn, xml, self.sock_dir)
        return {'xml': xml, 'nbd': nbd}

    def guest_io(self, command):
        return {'output': domain.guest_io(self.dom, command)}

    def detach(self):
        if self.dom is not None:
            domain.destroy(self.dom)
            self.dom = None
        if self.sock_dir is not None:
            shutil.rmtree(self.sock_dir, ignore_errors=True)
            self.sock_dir = None
        if self.info is not None:
            self.driver.disconnect_volume(self.info, None)
            self.info = None
        return {}


def configure(lvm_conf_dir, lock_path):
    CONF([], project='nova', default_config_files=[])
    auxo_conf.register(CONF)
    CONF.set_override('virt_type', 'qemu', group='libvirt')
    CONF.set_override('lvm_conf_dir', lvm_conf_dir, group='auxo')
    CONF.set_override('lock_path', lock_path, group='oslo_concurrency')
    # Root already, and no sudo: os-brick's privileged calls run here.
    brick_privileged.default.set_client_mode(False)
    os_brick.setup(CONF)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--libvirt-uri', required=True)
    parser.add_argument('--lvm-conf-dir', required=True)
    parser.add_argument('--lock-path', required=True)
    parser.add_argument('--scratch', required=True)
    args = parser.parse_args()
    configure(args.lvm_conf_dir, args.lock_path)
    agent = Agent(args.libvirt_uri, args.scratch)
    ops = {'attach': agent.attach, 'guest_io': agent.guest_io,
           'detach': agent.detach}
    try:
        for line in sys.stdin:
            request = json.loads(line)
            op = ops[request.pop('op')]
            try:
                reply = op(**request)
            except Exception:
                reply = {'error': traceback.format_exc()}
            sys.stdout.write(json.dumps(reply) + '\n')
            sys.stdout.flush()
    finally:
        agent.detach()


if __name__ == '__main__':
    main()
