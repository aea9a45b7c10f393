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

"""Add and remove storages, all or nothing.

``add`` makes the storage step by step and pushes the undo of each step;
a refusal or a failure anywhere runs the undo steps in reverse (logout,
PV/VG, mounts, fstab, cinder.conf), so nothing half-done is left. Only
what ``--force`` destroyed on the LUN cannot come back: it says so first.
``remove`` refuses while the storage holds anything (LVs, files, cinder
volumes), then undoes what ``add`` recorded.

``add`` can be run again for a block storage it has made (devstack does,
on every ``stack.sh``): the same request finds its record, logs in again
if the session is gone and checks that the volume group is there. A LUN
that already carries the volume group named by ``--volume-group`` is
taken as it is, logical volumes and all.
"""

import os

from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import uuidutils

from cinder_auxo import exception
from cinder_auxo.storage_admin import block
from cinder_auxo.storage_admin import conffile
from cinder_auxo.storage_admin import filesys
from cinder_auxo.storage_admin import iscsi
from cinder_auxo.storage_admin import luns
from cinder_auxo.storage_admin import owner
from cinder_auxo.storage_admin import sections
from cinder_auxo.storage_admin import state

LOG = logging.getLogger(__name__)

# What must be the same for ``add`` to take a recorded storage again.
_SAME = ('usage', 'type', 'portal', 'iqn', 'lun')


class Undo(object):
    """Undo steps, run newest first when the work fails."""

    def __init__(self):
        self.steps = []

    def push(self, what, func, *args):
        self.steps.append((what, func, args))

    def run(self):
        for what, func, args in reversed(self.steps):
            try:
                func(*args)
            except Exception:
                LOG.exception('Rollback step failed: %s', what)
        self.steps = []


class StorageAdmin(object):

    def __init__(self, execute, cinder_conf, state_dir, cinder, out,
                 by_path=iscsi.BY_PATH, sysfs='/sys', fstab=filesys.FSTAB,
                 device_timeout=30, service_user=owner.DEFAULT_USER,
                 udev_dir=None):
        self.execute = execute
        self.cinder_conf = cinder_conf
        self.state_dir = state_dir
        self.cinder = cinder
        self.out = out
        self.by_path = by_path
        self.sysfs = sysfs
        self.fstab = fstab
        self.device_timeout = device_timeout
        # Who runs cinder-volume: it owns the storages' files and LVs.
        self.service_user = service_user
        self.udev_dir = udev_dir or owner.UDEV_DIR

    # -- looking -----------------------------------------------------------

    def iscsi_luns(self, portal, iqn, chap=None):
        """The target's LUNs; a session opened only to look is closed."""
        made = iscsi.login(self.execute, portal, iqn, chap)
        try:
            if not made:
                iscsi.rescan(self.execute, portal, iqn)
            self.execute('udevadm', 'settle', run_as_root=True)
            return luns.iscsi_luns(self.execute, portal, iqn, self.by_path,
                                   self.sysfs)
        finally:
            if made:
                iscsi.logout(self.execute, portal, iqn)

    # -- add -----------------------------------------------------------------

    def _check_new(self, req):
        conf = conffile.ConfFile(self.cinder_conf)
        # A section of the storage's own name is fine when it is the
        # section to merge into (devstack names both after its backend).
        if req.name in conf.sections() and req.name != req.backend:
            raise exception.StorageNameInUse(
                name=req.name, where='%s or %s' % (self.state_dir,
                                                   self.cinder_conf))
        if req.backend in conf.sections():
            self._check_section(conf, req)
        for record in state.all_records(self.state_dir):
            for key, value in (('backend', req.backend),
                               ('volume_group', req.volume_group)):
                if value and record.get(key) == value:
                    raise exception.StorageNameInUse(
                        name=value, where='%s of storage %s' % (
                            key, record['name']))
        if req.usage == 'local':
            if not os.path.isdir(req.mount_point or ''):
                raise exception.StorageAdminError(
                    reason='%s is not a directory' % req.mount_point)
        elif req.usage == 'file' and filesys.listing(req.mount_point):
            raise exception.MountPointNotEmpty(
                path=req.mount_point,
                entries=', '.join(filesys.listing(req.mount_point)))
        for record in state.all_records(self.state_dir):
            if req.mount_point and record.get('mount_point') == \
                    req.mount_point:
                raise exception.StorageNameInUse(
                    name=req.mount_point, where='storage %s' %
                    record['name'])

    @staticmethod
    def _check_section(conf, req):
        """Refuse, before any work, a section ``add`` could not merge into.

        What is not known yet (a generated volume group, the WWPN of an
        FC LUN found later) is compared when the section is written.
        """
        sections.check_mergeable(conf, req.backend)
        known = sections.section(req, {'backend': req.backend,
                                       'volume_group': req.volume_group})
        unknown = {'volume_group': req.volume_group is None,
                   'fc_target_wwpns': not req.wwpn}
        sections.check_agrees(conf, req.backend, [
            (k, v) for k, v in known if not unknown.get(k)])

    def add(self, req):
        req.validate()
        if state.exists(self.state_dir, req.name):
            return self._add_again(req)
        self._check_new(req)
        record = {'name': req.name, 'usage': req.usage, 'type': req.type,
                  'backend': req.backend or 'storage-%s' %
                  uuidutils.generate_uuid(),
                  'mount_point': req.mount_point}
        undo = Undo()
        try:
            if req.type != 'local':
                self._connect(req, record, undo)
                self._claim_lun(req, record)
            if req.usage == 'block':
                self._make_vg(req, record, undo)
            elif req.usage == 'file':
                self._make_fs(req, record, undo)
            conf = self._edit_section(req, record)
            state.save(self.state_dir, record)
            undo.push('state', state.delete, self.state_dir, req.name)
            conf.save()
        except Exception:
            with excutils.save_and_reraise_exception():
                LOG.warning('Adding storage %s failed; rolling back',
                            req.name)
                undo.run()
        self.out('Storage %s added as backend %s' % (req.name,
                                                     record['backend']))
        return record

    def _add_again(self, req):
        """Take a recorded block storage again, for the same request."""
        record = state.load(self.state_dir, req.name)
        wanted = dict(record, usage=req.usage, type=req.type,
                      portal=req.portal, iqn=req.iqn, lun=req.lun,
                      backend=req.backend or record['backend'],
                      volume_group=req.volume_group or
                      record.get('volume_group'))
        if req.usage != 'block' or any(
                record.get(k) != wanted[k]
                for k in _SAME + ('backend', 'volume_group')):
            raise exception.StorageNameInUse(
                name=req.name, where='storage %s in %s is another storage'
                % (req.name, self.state_dir))
        undo = Undo()
        try:
            self._connect(req, record, undo)
            vg = self._vg(record)
            if not vg.exists():
                raise exception.StorageAdminError(
                    reason='storage %s is recorded but its volume group %s '
                           'is not on %s; remove it first' % (
                               req.name, vg.name, record['device']))
            self._own_vg(record, undo)
            conf = self._edit_section(req, record, again=True)
            state.save(self.state_dir, record)
            conf.save()
        except Exception:
            with excutils.save_and_reraise_exception():
                undo.run()
        self.out('Storage %s is there already (backend %s, volume group %s)'
                 % (req.name, record['backend'], record['volume_group']))
        return record

    def _connect(self, req, record, undo):
        if req.type == 'iscsi':
            record.update(portal=req.portal, iqn=req.iqn, lun=req.lun)
            made = iscsi.login(self.execute, req.portal, req.iqn, req.chap)
            # The storage that logged in hands that on to the others on
            # the same target: the last one removed logs out.
            record['logged_in'] = made or any(
                r.get('logged_in') for r in state.all_records(self.state_dir)
                if (r.get('portal'), r.get('iqn')) == (req.portal, req.iqn))
            if made:
                undo.push('logout', iscsi.logout, self.execute, req.portal,
                          req.iqn)
            else:
                iscsi.rescan(self.execute, req.portal, req.iqn)
            link = iscsi.lun_link(req.portal, req.iqn, req.lun, self.by_path)
        else:
            link = self._fc_link(req)
            record.update(wwpn=req.wwpn, lun=req.lun)
        iscsi.wait_for_link(link, self.device_timeout)
        record['device'] = link

    def _fc_link(self, req):
        for lun in luns.fc_luns(self.execute, self.sysfs, self.by_path):
            if lun['lun'] == req.lun and req.wwpn in (None, lun['wwpn']):
                req.wwpn = lun['wwpn']
                return lun['path']
        raise exception.StorageAdminError(
            reason='no FC LUN %s is visible%s' % (
                req.lun, ' through %s' % req.wwpn if req.wwpn else ''))

    def _claim_lun(self, req, record):
        device = record['device']
        for other in state.all_records(self.state_dir):
            if other.get('device') == device:
                raise exception.LunInUse(
                    device=device, what='storage %s' % other['name'])
        sig = luns.signature(self.execute, device)
        found = luns.describe(sig)
        if not found:
            return
        if req.volume_group and sig.get('VG') == req.volume_group:
            record['vg_reused'] = True
            self.out('%s carries volume group %s already: taken as it is'
                     % (device, req.volume_group))
            return
        if not req.force:
            raise exception.LunInUse(device=device, what=found)
        self.out('--force: destroying %s on %s' % (found, device))
        if 'VG' in sig:
            # An active LV would keep the old group's dm devices open.
            vg = block.VolumeGroup(self.execute, sig['VG'], device,
                                   self._lvm_dir(sig['VG']))
            vg.deactivate()
            vg.forget()
        block.wipe(self.execute, device)

    def _lvm_dir(self, vg):
        return block.conf_dir(self.state_dir, vg)

    def _make_vg(self, req, record, undo):
        record['volume_group'] = (req.volume_group or
                                  uuidutils.generate_uuid())
        vg = self._vg(record)
        undo.push('lvm conf', vg.forget)
        if record.get('vg_reused'):
            if not vg.exists():
                raise exception.StorageAdminError(
                    reason='blkid sees volume group %s on %s, LVM does not'
                    % (vg.name, record['device']))
            self._own_vg(record, undo)
            return
        undo.push('wipe', block.wipe, self.execute, record['device'])
        vg.create()
        undo.push('vg', vg.destroy)
        self._own_vg(record, undo)

    def _own_vg(self, record, undo):
        undo.push('udev rule', owner.forget_volume_group, self.execute,
                  record['volume_group'], self.udev_dir)
        owner.own_volume_group(self.execute, record['volume_group'],
                               owner.service_user(self.service_user),
                               self.udev_dir)

    def _make_fs(self, req, record, undo):
        fs_uuid = uuidutils.generate_uuid()
        fs_path = filesys.fs_mount_path(fs_uuid)
        record.update(fs_uuid=fs_uuid, fstype=req.fstype, fs_path=fs_path,
                      subdir=req.name)
        undo.push('wipe', block.wipe, self.execute, record['device'])
        filesys.mkfs(self.execute, record['device'], req.fstype, fs_uuid)
        os.makedirs(fs_path)
        undo.push('rmdir', os.rmdir, fs_path)
        filesys.mount(self.execute, record['device'], fs_path)
        undo.push('umount', filesys.umount, self.execute, fs_path)
        os.makedirs(os.path.join(fs_path, req.name))
        owner.own_directory(os.path.join(fs_path, req.name),
                            owner.service_user(self.service_user))
        if not os.path.isdir(req.mount_point):
            os.makedirs(req.mount_point)
            record['made_mount_point'] = True
            undo.push('rmdir', os.rmdir, req.mount_point)
        filesys.mount(self.execute, os.path.join(fs_path, req.name),
                      req.mount_point, bind=True)
        undo.push('umount', filesys.umount, self.execute, req.mount_point)
        filesys.persist(filesys.entries(
            record['backend'], fs_uuid, req.fstype, fs_path, req.name,
            req.mount_point, netdev=req.type == 'iscsi'), self.fstab)
        undo.push('fstab', filesys.forget, record['backend'], self.fstab)

    def _edit_section(self, req, record, again=False):
        """cinder.conf with the storage's section, to be saved last."""
        conf = conffile.ConfFile(self.cinder_conf)
        done = sections.write(conf, record['backend'],
                              sections.section(req, record))
        record.update(sections.again(record, done) if again else done)
        return conf

    # -- remove --------------------------------------------------------------

    def in_use(self, record, discard=False):
        """Why the storage cannot go yet, or None.

        ``discard``: the logical volumes of a block storage are not a
        reason (cinder's volumes, when cinder can be asked, still are).
        """
        reasons = []
        try:
            held = self._held(record, discard)
        except exception.AuxoException as e:
            held = ['cannot look at it (%s)' % e.msg]
        reasons.extend(held)
        try:
            volumes = self.cinder.volumes_on(record['backend'])
        except exception.AuxoException as e:
            volumes = None
            reasons.append(e.msg)
        if volumes:
            reasons.append('cinder has %d volume(s) on backend %s: %s' % (
                len(volumes), record['backend'], ', '.join(volumes[:5])))
        return '; '.join(reasons) or None

    def _held(self, record, discard=False):
        # A storage that cannot be seen may hold anything: no guessing.
        device = record.get('device')
        if device and not os.path.exists(device):
            raise exception.StorageAdminError(
                reason='its LUN %s is not present; log in to it first' %
                device)
        if record['usage'] == 'file' and not os.path.ismount(
                record['mount_point']):
            raise exception.StorageAdminError(
                reason='%s is not mounted; mount it first (mount -a)' %
                record['mount_point'])
        if record['usage'] == 'block':
            vg = self._vg(record)
            if discard or not vg.exists():
                return []
            lvs = vg.logical_volumes()
            return (['volume group %s holds %d LV(s) (volumes, snapshots or '
                     'cached bases): %s' % (vg.name, len(lvs),
                                            ', '.join(lvs[:5]))]
                    if lvs else [])
        files = filesys.files_under(record['mount_point'])
        return (['%s holds %d file(s) (volumes, snapshots or cached '
                 'bases): %s' % (record['mount_point'], len(files),
                                 ', '.join(files[:5]))] if files else [])

    def _vg(self, record):
        return block.VolumeGroup(self.execute, record['volume_group'],
                                 record['device'],
                                 self._lvm_dir(record['volume_group']))

    def remove(self, name, wipe=False, discard=False):
        """Undo ``add``, refusing while the storage holds anything.

        ``discard`` (with ``wipe``, block storages only) destroys the
        logical volumes left in the group with it. It is for test nodes
        whose cinder database goes with the node (devstack's unstack):
        nothing there refers to those LVs.
        """
        record = state.load(self.state_dir, name)
        if discard and not (wipe and record['usage'] == 'block'):
            raise exception.StorageAdminError(
                reason='discarding volumes needs --wipe and a block storage')
        why = self.in_use(record, discard)
        if why:
            raise exception.StorageInUse(name=name, reason=why)
        if record['usage'] == 'block':
            vg = self._vg(record)
            if vg.exists():
                vg.deactivate()
                if wipe:
                    vg.destroy()
            vg.forget()
            owner.forget_volume_group(self.execute, vg.name, self.udev_dir)
        elif record['usage'] == 'file':
            self._unmount(record)
        if wipe and record.get('device'):
            block.wipe(self.execute, record['device'])
        conf = conffile.ConfFile(self.cinder_conf)
        sections.unwrite(conf, record)
        conf.save()
        if record['type'] == 'iscsi':
            self._release_session(record)
        state.delete(self.state_dir, name)
        self.out('Storage %s (backend %s) removed' % (name,
                                                      record['backend']))
        return record

    def _unmount(self, record):
        filesys.umount(self.execute, record['mount_point'])
        filesys.umount(self.execute, record['fs_path'])
        filesys.forget(record['backend'], self.fstab)
        if os.path.isdir(record['fs_path']):
            os.rmdir(record['fs_path'])
        if record.get('made_mount_point') and \
                os.path.isdir(record['mount_point']):
            os.rmdir(record['mount_point'])

    def _release_session(self, record):
        """Log out unless another storage (or someone else) uses it."""
        key = (record['portal'], record['iqn'])
        others = [r['name'] for r in state.all_records(self.state_dir)
                  if r['name'] != record['name'] and
                  (r.get('portal'), r.get('iqn')) == key]
        if others or not record.get('logged_in'):
            self.out('iSCSI session to %s kept (used by %s)' % (
                record['iqn'], ', '.join(others) or 'a login made before '
                'this storage was added'))
            return
        iscsi.logout(self.execute, record['portal'], record['iqn'])
