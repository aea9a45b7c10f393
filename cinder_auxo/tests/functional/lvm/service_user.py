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

"""The storage VM's drivers run as cinder, through sudo and rootwrap.

As a distribution installs cinder: ``/etc/cinder/rootwrap.conf`` naming
cinder's filters and this package's, a sudo rule for cinder-rootwrap and
nothing else, and the storage tool's udev rule giving the group's LVs to
cinder. Every call into a driver (``AsUser``) is made with the process's
real and effective ids set to cinder's; only the saved id stays root, so
the test itself (its checks, its clean-up) runs as root between calls.
A command the driver runs is cinder's entirely (exec drops the saved id),
so its root commands go through ``sudo cinder-rootwrap`` and its filters,
as cinder-volume's do.
"""

import contextlib
import functools
import os
import pwd
import sys
import threading

from oslo_concurrency import processutils

from cinder_auxo.storage_admin import owner

NAME = 'cinder'
ETC = '/etc/cinder'
SUDOERS = '/etc/sudoers.d/cinder-auxo-test'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
# The stack's writer of rootwrap.conf and the sudo rule (standard library
# only, outside the package).
sys.path.insert(0, os.path.join(REPO, 'tools', 'stack'))
import cinder_rootwrap  # noqa: E402


class ServiceUser(object):
    """The user ``name``; ``acting()`` runs a block as that user."""

    def __init__(self, name=NAME):
        entry = pwd.getpwnam(name)
        self.name = name
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.groups = os.getgrouplist(name, entry.pw_gid)
        self._depth = 0
        self._mutex = threading.RLock()

    @contextlib.contextmanager
    def acting(self):
        # Re-entrant: a driver call made from within another one.
        with self._mutex:
            if self._depth == 0:
                root_groups = os.getgroups()
                os.setgroups(self.groups)
                os.setresgid(self.gid, self.gid, 0)
                os.setresuid(self.uid, self.uid, 0)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.setresuid(0, 0, 0)
                    os.setresgid(0, 0, 0)
                    os.setgroups(root_groups)


class AsUser(object):
    """``obj`` whose every method runs as ``user``; attributes pass."""

    def __init__(self, obj, user):
        object.__setattr__(self, '_obj', obj)
        object.__setattr__(self, '_user', user)

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with self._user.acting():
                return attr(*args, **kwargs)
        return call

    def __setattr__(self, name, value):
        setattr(self._obj, name, value)


def share(path, user):
    """Let ``user`` write the tree under ``path`` beside root.

    Group ``user``, group-writable, set-gid directories: what root makes
    in it later (under umask 002) stays the user's to write.
    """
    for top, dirs, files in os.walk(path):
        os.chown(top, -1, user.gid)
        os.chmod(top, 0o2775)
        for name in files:
            full = os.path.join(top, name)
            os.chown(full, -1, user.gid)
            os.chmod(full, os.stat(full).st_mode | 0o060)


_installed = set()


def install(vg, user):
    """Once per process: rootwrap, sudo and the group's udev rule."""
    if vg in _installed:
        return
    os.makedirs(ETC, exist_ok=True)
    conf = os.path.join(ETC, 'rootwrap.conf')
    with open(conf, 'w') as f:
        f.write(cinder_rootwrap.rootwrap_conf(sys.prefix, [
            os.path.join(sys.prefix, 'etc', 'cinder', 'rootwrap.d'),
            os.path.join(REPO, 'etc', 'cinder', 'rootwrap.d')]))
    cinder_rootwrap.install_sudoers(SUDOERS, cinder_rootwrap.sudoers(
        user.name, sys.prefix, conf, 'cinder_auxo storage VM tests'))
    owner.own_volume_group(processutils.execute, vg,
                           owner.service_user(user.name))
    _installed.add(vg)
