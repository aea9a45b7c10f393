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

"""What on a storage belongs to cinder's service user.

Distributions run cinder-volume as an unprivileged user (``cinder``) that
reaches root only through rootwrap. The engine reads and writes its
layers itself (qcow2 headers, ``qemu-img create``, ``rebase``), so:

* a file storage's directory (its mount point) is the service user's.
  0755: QEMU, under another user, must reach the files libvirt hands it.
* a block storage's LV device nodes are the service user's, through a
  udev rule on the volume group (as oVirt's vdsm owns its LVs). LVM waits
  for udev (``activation/udev_sync``), so a node is the user's when
  ``lvchange -ay`` returns. LVM commands themselves still run as root.

Without that user (cinder runs as root) nothing is changed.
"""

import collections
import grp
import os
import pwd

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

DEFAULT_USER = 'cinder'
Owner = collections.namedtuple('Owner', 'name uid group gid')
UDEV_DIR = '/etc/udev/rules.d'
# After lvm2's rules name the group (DM_VG_NAME) and after the default
# rules' GROUP="disk"; ":=" keeps later rules from changing it.
_RULE = """\
# cinder_auxo: the LVs of volume group %(vg)s belong to %(user)s, which
# runs cinder-volume. Written by cinder-auxo-storage; removed with the
# storage.
SUBSYSTEM=="block", ENV{DM_VG_NAME}=="%(vg)s", \
OWNER:="%(user)s", GROUP:="%(group)s", MODE:="0660"
"""


def service_user(name):
    """The Owner called ``name``; None if there is no such user.

    ``root`` is None too: a root cinder needs nothing given to it.
    """
    if not name or name == 'root':
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        LOG.warning('There is no user %s: the storage stays root\'s, for '
                    'a cinder that runs as root', name)
        return None
    return Owner(name, entry.pw_uid, grp.getgrgid(entry.pw_gid).gr_name,
                 entry.pw_gid)


def own_directory(path, user):
    """Give the storage's directory to ``user`` (an Owner, or None)."""
    if user is None:
        return
    os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o755)


def rule_path(vg, udev_dir=UDEV_DIR):
    return os.path.join(udev_dir, '61-cinder-auxo-%s.rules' % vg)


def rule_text(vg, user):
    return _RULE % {'vg': vg, 'user': user.name, 'group': user.group}


def own_volume_group(execute, vg, user, udev_dir=UDEV_DIR):
    """Install the group's udev rule and apply it to LVs active now."""
    if user is None:
        return
    path = rule_path(vg, udev_dir)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(rule_text(vg, user))
    os.rename(tmp, path)
    _reload(execute, vg)


def forget_volume_group(execute, vg, udev_dir=UDEV_DIR):
    path = rule_path(vg, udev_dir)
    if os.path.exists(path):
        os.unlink(path)
        _reload(execute, None)


def _reload(execute, vg):
    execute('udevadm', 'control', '--reload', run_as_root=True)
    if vg:
        execute('udevadm', 'trigger', '--action=change',
                '--subsystem-match=block',
                '--property-match=DM_VG_NAME=%s' % vg, run_as_root=True)
    execute('udevadm', 'settle', run_as_root=True)
