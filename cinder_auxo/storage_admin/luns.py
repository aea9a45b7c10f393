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

"""What LUNs this host sees, and what each already carries.

iSCSI LUNs are read from the target's ``/dev/disk/by-path`` links; FC LUNs
from sysfs (``class/fc_transport`` for the target ports' WWPNs, then the
SCSI devices behind each port), the same places ``targets.fcsan`` looks.
"""

import glob
import os

from oslo_concurrency import processutils

from cinder_auxo.storage_admin import iscsi

# blkid -p exits 2 when it finds no signature at all.
_BLKID_NOTHING = 2


def size_bytes(device, sysfs='/sys'):
    name = os.path.basename(os.path.realpath(device))
    try:
        with open(os.path.join(sysfs, 'class', 'block', name, 'size')) as f:
            return int(f.read().strip()) * 512
    except (OSError, ValueError):
        return None


def signature(execute, device):
    """What is on ``device``: {} or {'TYPE': 'ext4', 'UUID': ...}.

    ``blkid -p`` reads the device itself (no cache), so a PV, a
    filesystem or a partition table made elsewhere is seen too.
    """
    try:
        out, _err = execute('blkid', '-p', '-o', 'export', device,
                            run_as_root=True,
                            check_exit_code=[0, _BLKID_NOTHING])
    except processutils.ProcessExecutionError as e:
        return {'TYPE': 'unreadable (%s)' % (e.stderr or '').strip()}
    found = {}
    for line in (out or '').splitlines():
        key, sep, value = line.partition('=')
        if sep:
            found[key] = value
    if found.get('TYPE') == 'LVM2_member':
        vg = pv_volume_group(execute, device)
        if vg:
            found['VG'] = vg
    if 'TYPE' not in found and 'PTTYPE' in found:
        found['TYPE'] = 'partition table (%s)' % found['PTTYPE']
    return found


def pv_volume_group(execute, device):
    """The VG of the PV on ``device``, looking at that device only."""
    rules = '[ "a|^%s$|", "r|.*|" ]' % device
    try:
        out, _err = execute(
            'pvs', '--noheadings', '-o', 'vg_name', '--config',
            'devices { global_filter = %s use_devicesfile = 0 }' % rules,
            device, run_as_root=True)
    except processutils.ProcessExecutionError:
        return None
    return out.strip() or None


def describe(sig):
    """A short phrase for a signature: 'a PV of VG x', 'an ext4 ...'."""
    kind = sig.get('TYPE')
    if not kind:
        return ''
    if kind == 'LVM2_member':
        return 'an LVM PV%s' % (' of VG %s' % sig['VG'] if 'VG' in sig
                                else '')
    return 'a %s signature%s' % (kind, ' (UUID %s)' % sig['UUID']
                                 if 'UUID' in sig else '')


def iscsi_luns(execute, address, iqn, by_path=iscsi.BY_PATH, sysfs='/sys'):
    found = []
    for lun, link in sorted(iscsi.lun_links(address, iqn, by_path).items()):
        found.append(_lun(execute, link, sysfs, lun=lun))
    return found


def _lun(execute, link, sysfs, **fields):
    device = os.path.realpath(link)
    fields.update(path=link, device=device,
                  size=size_bytes(device, sysfs),
                  carries=describe(signature(execute, link)))
    return fields


def fc_ports(sysfs='/sys'):
    """{'H:C:T': target WWPN} of the FC transport targets."""
    ports = {}
    for target in glob.glob(os.path.join(sysfs, 'class', 'fc_transport',
                                         'target*')):
        try:
            with open(os.path.join(target, 'port_name')) as f:
                wwpn = f.read().strip().lower()
        except OSError:
            continue
        ports[os.path.basename(target)[len('target'):]] = (
            wwpn[2:] if wwpn.startswith('0x') else wwpn)
    return ports


def fc_luns(execute, sysfs='/sys', by_path=iscsi.BY_PATH, dev='/dev'):
    """LUNs behind the FC target ports, each once per (WWPN, LUN)."""
    ports = fc_ports(sysfs)
    found = []
    for hctl_dir in sorted(glob.glob(os.path.join(
            sysfs, 'class', 'scsi_device', '*'))):
        hctl = os.path.basename(hctl_dir)
        hct, _sep, lun = hctl.rpartition(':')
        if hct not in ports:
            continue
        blocks = glob.glob(os.path.join(hctl_dir, 'device', 'block', '*'))
        if not blocks:
            continue
        name = os.path.basename(blocks[0])
        links = glob.glob(os.path.join(by_path, '*fc-0x%s-lun-%s' % (
            ports[hct], lun)))
        link = links[0] if links else os.path.join(dev, name)
        found.append({'wwpn': ports[hct], 'lun': int(lun), 'path': link,
                      'device': os.path.join(dev, name),
                      'size': size_bytes(name, sysfs),
                      'carries': describe(signature(execute, link))})
    return found
