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

"""Paused libvirt domains whose disk is read through an NBD export.

What a guest sees is read through an NBD export of the running domain's
disk (QMP ``block-export-add``), so the bytes come from QEMU's own view of
the chain; the guest's writes go through its disk device (HMP ``qemu-io``).
Used by the hypervisor tests (``base.LibvirtTestCase``) and by the storage
VM's compute agent (``compute_agent``); imports libvirt only.
"""

import json
import os
import uuid

import libvirt
import libvirt_qemu

DOMAIN = """<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>%(disk)s</devices>
</domain>"""


def start_paused(conn, disk_xml, sock_dir):
    """A paused domain with the disk; (domain, NBD URI of its vda).

    The export is read-only: the guest's device holds the write
    permission, and ``guest_io`` writes through that device. ``sock_dir``
    must be writable by QEMU's user.
    """
    name = 'auxo-hv-%s' % uuid.uuid4().hex[:12]
    dom = conn.createXML(DOMAIN % {'name': name, 'disk': disk_xml},
                         libvirt.VIR_DOMAIN_START_PAUSED)
    try:
        sock = os.path.join(sock_dir, 'nbd.sock')
        qmp(dom, 'nbd-server-start',
            addr={'type': 'unix', 'data': {'path': sock}})
        node = qmp(dom, 'query-block')[0]['inserted']['node-name']
        qmp(dom, 'block-export-add', type='nbd', id='vda',
            **{'node-name': node, 'name': 'vda', 'writable': False})
    except Exception:
        destroy(dom)
        raise
    return dom, 'nbd+unix:///vda?socket=%s' % sock


def guest_io(dom, command):
    """One qemu-io command on the guest's own disk device (HMP)."""
    # The QOM path of the guest's device, e.g.
    # /machine/peripheral/<id>/virtio-backend.
    qdev = qmp(dom, 'query-block')[0]['qdev']
    out = libvirt_qemu.qemuMonitorCommand(
        dom, 'qemu-io -d %s "%s"' % (qdev, command),
        libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
    if 'failed' in out.lower() or 'error' in out.lower():
        raise AssertionError('qemu-io %r in the domain: %s' % (command, out))
    return out


def qmp(dom, command, **arguments):
    cmd = {'execute': command}
    if arguments:
        cmd['arguments'] = arguments
    reply = json.loads(libvirt_qemu.qemuMonitorCommand(
        dom, json.dumps(cmd), 0))
    if 'error' in reply:
        raise AssertionError('QMP %s: %s' % (command, reply['error']))
    return reply['return']


def destroy(dom):
    try:
        dom.destroy()
    except libvirt.libvirtError as e:
        if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
