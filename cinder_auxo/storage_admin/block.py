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

"""Block storages: a PV and a volume group on the LUN.

Every LVM command here runs under an ``lvm.conf`` of its own whose filter
accepts only the LUN's device link (written by ``hypervisor.lvm``, the
same file the driver and nova use), so neither another host's volume
groups on other LUNs nor the host's own disks are ever read or written.
"""

import os
import re
import shutil

from cinder.brick.local_dev import lvm as brick_lvm
from oslo_concurrency import processutils

from cinder_auxo import exception
from cinder_auxo.hypervisor import lvm as hv_lvm

# pvcreate's metadata area: room for tens of thousands of LVs.
METADATA_SIZE = '64m'
_LVM = frozenset(['lvm', 'pvs', 'vgs', 'lvs', 'pvcreate', 'pvremove',
                  'vgcreate', 'vgremove', 'vgchange', 'lvchange', 'lvremove',
                  'lvdisplay', 'vgdisplay', 'pvdisplay'])


def pattern(link):
    """The LVM filter regex accepting exactly ``link``."""
    return '^%s$' % re.sub(r'([\\^$.|?*+()\[\]{}])', r'\\\1', link)


class VolumeGroup(object):
    """The VG ``name`` on the LUN at ``link``, seen through that LUN only."""

    def __init__(self, execute, name, link, conf_dir):
        self._execute = execute
        self.name = name
        self.link = link
        self.conf_dir = conf_dir

    def execute(self, *cmd, **kwargs):
        # brick prefixes LVM_SYSTEM_DIR to most commands, not vgcreate.
        if cmd and cmd[0] in _LVM:
            cmd = tuple(hv_lvm.env(self.conf_dir)) + tuple(cmd)
        kwargs.setdefault('run_as_root', True)
        return self._execute(*cmd, **kwargs)

    def _run(self, *cmd):
        try:
            return self.execute(*cmd)
        except processutils.ProcessExecutionError as e:
            raise exception.StorageAdminError(
                reason='%s failed on %s: %s' % (cmd[0], self.link,
                                                (e.stderr or '').strip()))

    def _conf(self):
        return hv_lvm.write_conf(self.conf_dir, self.name,
                                 [pattern(self.link)])

    def brick(self):
        """cinder's brick LVM object of the group (sizes, LVs)."""
        return brick_lvm.LVM(self.name, None, executor=self.execute,
                             lvm_conf=self._conf())

    def create(self):
        """pvcreate and vgcreate; the group is then opened with brick.

        brick's own ``create_vg=True`` runs vgcreate in cinder's privsep
        daemon (cinder 29 calls a privsep entry point that does not
        exist), without the LUN-only lvm.conf: it cannot be used here.
        """
        self._conf()
        # LVM's default metadata area (1 MiB, two copies of the text in
        # it) holds about a thousand LVs; a VDI storage holds thousands of
        # desktops, each an LV or more, with child index tags.
        self._run('pvcreate', '-q', '--metadatasize', METADATA_SIZE,
                  self.link)
        self._run('vgcreate', '-q', '-s', '4M', self.name, self.link)
        return self.brick()

    def exists(self):
        self._conf()
        try:
            self.execute('vgs', '--noheadings', '-o', 'vg_name', self.name)
        except processutils.ProcessExecutionError:
            return False
        return True

    def logical_volumes(self):
        return [lv['name'] for lv in self.brick().get_volumes()]

    def deactivate(self):
        self._conf()
        self._run('vgchange', '-a', 'n', self.name)

    def destroy(self):
        """Remove the VG and the PV label (the LUN's data is not read)."""
        self._conf()
        self._run('vgremove', '-f', '-y', self.name)
        self._run('pvremove', '-y', '-ff', self.link)

    def forget(self):
        shutil.rmtree(self.conf_dir, ignore_errors=True)


def wipe(execute, device):
    """Erase every signature blkid would see (LVM, filesystems, tables)."""
    try:
        execute('wipefs', '-a', '-q', device, run_as_root=True)
    except processutils.ProcessExecutionError as e:
        raise exception.StorageAdminError(
            reason='wipefs -a %s failed: %s' % (device,
                                                (e.stderr or '').strip()))


def conf_dir(state_dir, vg):
    return os.path.join(state_dir, 'lvm', vg)
