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

"""The consumer side of ``lvmsan`` connections, on any host.

A volume is one LV (its top layer) of a volume group on an array LUN, with
qcow2 backing layers in other LVs of that group. A consumer reaches the LUN
with os-brick, looks at it through an ``lvm.conf`` whose device filter
accepts only the LUN, activates the volume's LVs (backing ones read-only at
the device-mapper level) and never writes VG metadata. Used by nova (the
``lvmsan`` libvirt volume driver) and by cinder's own data paths
(``LVMSANDriver``), so it imports nothing from cinder.
doc/attach-lvmsan.md describes the connection info.
"""

import glob
import os
import re

from oslo_concurrency import processutils
from oslo_log import log as logging

from cinder_auxo.hypervisor import exception

LOG = logging.getLogger(__name__)

LVM_CONF = """\
# Written by cinder_auxo for volume group %(vg)s: LVM sees only the LUN.
devices {
    global_filter = [ %(accept)s"r|.*|" ]
    use_devicesfile = 0
}
allocation {
    wipe_signatures_when_zeroing_new_lvs = 0
}
global {
    event_activation = 0
}
"""
# LVM reserves LV names starting with "snapshot"; cinder prefixes "_".
_RESERVED_PREFIX = 'snapshot'
_MANGLE = '_'


def lv_name(name):
    """The LV name of a layer name."""
    if name.startswith(_RESERVED_PREFIX):
        return _MANGLE + name
    return name


def activate_args(vg, lv, active_now, read_only=False):
    """lvchange arguments that activate (or refresh) one LV.

    Never writes VG metadata. ``read_only`` makes the dm device refuse
    writes (``activation/read_only_volume_list``).
    """
    target = '%s/%s' % (vg, lv)
    if active_now:
        args = ['lvchange', '--refresh']
    else:
        args = ['lvchange', '-a', 'y', '-K', '--yes']
    if read_only:
        args += ['--config',
                 'activation { read_only_volume_list = [ "%s" ] }' % target]
    return args + [target]


def deactivate_args(vg, lv):
    return ['lvchange', '-a', 'n', '%s/%s' % (vg, lv)]


def is_gone(stderr):
    """Whether an lvchange failure only says that the LV does not exist."""
    return 'not found' in stderr or 'Failed to find' in stderr


def write_conf(conf_dir, vg, patterns):
    """Write (if changed) the lvm.conf that sees only ``patterns``."""
    accept = ''.join('"a|%s|", ' % p for p in patterns)
    text = LVM_CONF % {'vg': vg, 'accept': accept}
    path = os.path.join(conf_dir, 'lvm.conf')
    os.makedirs(conf_dir, mode=0o750, exist_ok=True)
    try:
        with open(path) as f:
            if f.read() == text:
                return path
    except FileNotFoundError:
        pass
    # Rename: a concurrent LVM command never reads half a file.
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)
    return path


def env(conf_dir):
    return ['env', 'LC_ALL=C', 'LVM_SYSTEM_DIR=%s' % conf_dir]


BY_GLOB = '/dev/disk/by-*/*'


def lun_devices(patterns, by=BY_GLOB):
    found = []
    for pattern in patterns:
        rx = re.compile(pattern)
        found.extend(p for p in sorted(glob.glob(by)) if rx.match(p))
    return found


class GroupView(object):
    """One volume group as a consumer sees it: through the LUN only."""

    def __init__(self, data, execute, conf_dir, root_helper=None,
                 by_glob=BY_GLOB):
        self.vg = data['volume_group']
        self.by_glob = by_glob
        self.patterns = list(data['device_patterns'])
        self._execute = execute
        self.conf_dir = os.path.join(conf_dir, self.vg)
        self._root_helper = root_helper

    def run(self, *args):
        return self._execute(*(env(self.conf_dir) + list(args)),
                             run_as_root=True, root_helper=self._root_helper)

    def _fail(self, what, e):
        detail = (e.stderr or '').strip() or str(e)
        return exception.LVMError(vg=self.vg, reason='%s: %s' % (what, detail))

    def refresh(self):
        """Re-read the group's metadata from the LUN, or say why not."""
        if not lun_devices(self.patterns, self.by_glob):
            raise exception.LVMError(
                vg=self.vg, reason='no block device of the SAN LUN is '
                'present (looked for %s)' % ', '.join(self.patterns))
        write_conf(self.conf_dir, self.vg, self.patterns)
        try:
            self.run('vgs', '--noheadings', '-o', 'vg_name', self.vg)
        except processutils.ProcessExecutionError as e:
            raise self._fail('vgs', e)

    def is_active(self, lv):
        return os.path.exists('/dev/%s/%s' % (self.vg, lv))

    def activate(self, lv, read_only=False):
        args = activate_args(self.vg, lv, self.is_active(lv), read_only)
        try:
            self.run(*args)
        except processutils.ProcessExecutionError as e:
            raise self._fail('activating %s' % lv, e)

    def deactivate(self, lv):
        try:
            self.run(*deactivate_args(self.vg, lv))
        except processutils.ProcessExecutionError as e:
            if not is_gone(e.stderr or ''):
                raise self._fail('deactivating %s' % lv, e)


class SanLVConnector(object):
    """Attach and detach one ``lvmsan`` volume on this host.

    Reaches the LUN with os-brick (idempotent: an existing session is
    reused), activates the volume's backing LVs read-only and its top LV
    read-write, and hands back the top LV's path with its disk format.
    Disconnect deactivates the LVs this volume alone uses and leaves the LUN
    session: other volumes live on it.

    :param execute: runs a command as root (``run_as_root=True``);
        os-brick's privileged ``rootwrap.execute`` on a compute node.
    """

    def __init__(self, root_helper, execute, conf_dir, use_multipath=False,
                 device_scan_attempts=3):
        self._root_helper = root_helper
        self._execute = execute
        self._conf_dir = conf_dir
        self._use_multipath = use_multipath
        self._scan_attempts = device_scan_attempts

    def lun_connector(self, data):
        # Imported here: os-brick is heavy and unit tests of the LVM steps
        # do not need it.
        from os_brick.initiator import connector
        return connector.InitiatorConnector.factory(
            data['lun_protocol'], self._root_helper,
            use_multipath=self._use_multipath,
            device_scan_attempts=self._scan_attempts)

    def group(self, data):
        return GroupView(data, self._execute, self._conf_dir,
                         self._root_helper)

    def connect_volume(self, data):
        lun = self.lun_connector(data).connect_volume(data['lun'])
        LOG.debug('LUN of volume group %s is %s', data['volume_group'],
                  lun.get('path'))
        group = self.group(data)
        group.refresh()
        for layer in reversed(data['backing']):
            group.activate(lv_name(layer['name']), read_only=True)
        group.activate(lv_name(data['layer']))
        return {'type': 'block', 'path': data['device_path'],
                'format': data['format'], 'lun_path': lun.get('path')}

    def disconnect_volume(self, data, device_info, force=False,
                          ignore_errors=False):
        group = self.group(data)
        group.deactivate(lv_name(data['layer']))
        for layer in data['backing']:
            try:
                group.deactivate(lv_name(layer['name']))
            except exception.LVMError as e:
                # Still open under another volume attached here.
                LOG.debug('Keeping %s active: %s', layer['name'], e.msg)

    def check_valid_device(self, path, run_as_root=True):
        # os-brick's own check (one block read through dd, as root), the
        # one its connectors use; this object carries the _execute and
        # _root_helper it expects of an executor.
        from os_brick import utils as brick_utils
        return brick_utils.check_valid_device(self, path)
