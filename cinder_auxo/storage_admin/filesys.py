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

"""File storages: a filesystem on the LUN, mounted in two steps.

As the product this package replaces did, the filesystem is mounted at
``/mnt/<filesystem UUID>`` and a subdirectory of it is bind-mounted at the
storage's mount point, so the mount point never shows the filesystem's
root (``lost+found``) and a second storage could share the filesystem.

Persistence is ``/etc/fstab``, not systemd mount units: it works with or
without systemd (systemd turns fstab lines into units itself), and every
line this module writes carries the ``x-auxo-storage=<backend>`` option
(ignored by mount(8) and systemd, as every ``x-`` option is) by which
``forget`` finds exactly those lines again.
"""

import os

from oslo_concurrency import processutils

from cinder_auxo import exception
from cinder_auxo.storage_admin import conffile

FSTAB = '/etc/fstab'
MNT = '/mnt'
FILESYSTEMS = ('ext4', 'xfs')
TAG = 'x-auxo-storage='


def mkfs(execute, device, fstype, fs_uuid):
    """Make the filesystem with a UUID chosen here (its mount path)."""
    if fstype == 'ext4':
        cmd = ['mkfs.ext4', '-q', '-F', '-U', fs_uuid, device]
    elif fstype == 'xfs':
        cmd = ['mkfs.xfs', '-q', '-f', '-m', 'uuid=%s' % fs_uuid, device]
    else:
        raise exception.StorageAdminError(
            reason='filesystem %s is not one of %s' % (fstype,
                                                       ', '.join(FILESYSTEMS)))
    _run(execute, cmd)


def _run(execute, cmd):
    try:
        return execute(*cmd, run_as_root=True)
    except processutils.ProcessExecutionError as e:
        raise exception.StorageAdminError(
            reason='%s failed: %s' % (' '.join(cmd),
                                      (e.stderr or '').strip()))


def fs_mount_path(fs_uuid):
    return os.path.join(MNT, fs_uuid)


def mount(execute, source, target, bind=False):
    cmd = ['mount'] + (['--bind'] if bind else []) + [source, target]
    _run(execute, cmd)


def umount(execute, target):
    if os.path.ismount(target):
        _run(execute, ['umount', target])


def entries(name, device_uuid, fstype, fs_path, subdir, mount_point,
            netdev):
    """The two fstab lines of a file storage.

    ``nofail``: a LUN missing at boot must not stop the host booting;
    the driver reports the backend down instead. ``_netdev`` waits for the
    network (iSCSI).
    """
    opts = 'defaults,nofail' + (',_netdev' if netdev else '')
    return [
        'UUID=%s %s %s %s,%s%s 0 2\n' % (device_uuid, fs_path, fstype, opts,
                                         TAG, name),
        '%s %s none bind,nofail,x-systemd.requires-mounts-for=%s,%s%s 0 0\n'
        % (os.path.join(fs_path, subdir), mount_point, fs_path, TAG, name),
    ]


def _tagged(line, name):
    fields = line.split()
    return (len(fields) >= 4 and not line.lstrip().startswith('#') and
            TAG + name in fields[3].split(','))


def persist(lines, fstab=FSTAB):
    with open(fstab, 'rb') as f:
        data = f.read()
    if data and not data.endswith(b'\n'):
        data += b'\n'
    conffile.atomic_write(fstab, data + ''.join(lines).encode())


def persisted(name, fstab=FSTAB):
    try:
        with open(fstab) as f:
            return [line for line in f if _tagged(line, name)]
    except FileNotFoundError:
        return []


def forget(name, fstab=FSTAB):
    """Remove this storage's fstab lines, keeping every other byte."""
    with open(fstab, 'rb') as f:
        lines = f.read().decode('utf-8', 'surrogateescape').splitlines(
            keepends=True)
    kept = [line for line in lines if not _tagged(line, name)]
    if kept != lines:
        conffile.atomic_write(
            fstab, ''.join(kept).encode('utf-8', 'surrogateescape'))


def listing(path, limit=5):
    """Up to ``limit`` entries of a directory, for a refusal message."""
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    return names[:limit] + (['...'] if len(names) > limit else [])


def files_under(path):
    """Every regular file under ``path`` (volumes, layers, bases)."""
    found = []
    for root, _dirs, names in os.walk(path):
        found.extend(os.path.join(root, n) for n in names
                     if os.path.isfile(os.path.join(root, n)))
    return found
