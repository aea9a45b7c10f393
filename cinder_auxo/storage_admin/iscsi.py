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

"""iSCSI discovery, login and logout with open-iscsi's ``iscsiadm``.

os-brick's ``ISCSIConnector`` attaches one known LUN; an operator adding a
storage first has to see what a portal offers (SendTargets) and every LUN
of a target, so the session itself is handled here. Failures are turned
into the refusals an operator can act on: a portal that does not answer,
or CHAP credentials the target refuses.
"""

import glob
import os
import time

from oslo_concurrency import processutils
from oslo_log import log as logging

from cinder_auxo import exception
from cinder_auxo.targets import iscsisan

LOG = logging.getLogger(__name__)

BY_PATH = '/dev/disk/by-path'
# iscsiadm exit codes (iscsi_err.h).
_NO_OBJS_FOUND = 21
_LOGIN_AUTH_FAILED = 24
_NO_SESSIONS = 21
# A dead portal must fail in seconds, not after iscsiadm's 2 minutes.
_NODE_SETTINGS = (('node.session.initial_login_retry_max', '1'),
                  ('node.conn[0].timeo.login_timeout', '10'))


def portal(address):
    """``IP[:PORT]`` as iscsiadm's ``IP:PORT``."""
    if address.startswith('['):
        host, _sep, port = address.partition(']')
        host, port = host + ']', port.lstrip(':') or '3260'
    elif address.count(':') == 1:
        host, port = address.split(':')
    elif ':' in address:
        host, port = '[%s]' % address, '3260'
    else:
        host, port = address, '3260'
    return '%s:%d' % (host, int(port))


class Chap(object):

    def __init__(self, username, password):
        self.username = username
        self.password = password

    def __bool__(self):
        return bool(self.username)


def _iscsiadm(execute, *args, **kwargs):
    return execute('iscsiadm', *args, run_as_root=True, **kwargs)


def discover(execute, address, chap=None):
    """IQNs a portal offers through SendTargets, in its order.

    ``nonpersistent``: looking leaves no node records behind.
    """
    p = portal(address)
    base = ('-m', 'discoverydb', '-t', 'sendtargets', '-p', p)
    try:
        if chap:
            _iscsiadm(execute, *base, '-o', 'new')
            try:
                for key, value in (('authmethod', 'CHAP'),
                                   ('username', chap.username),
                                   ('password', chap.password)):
                    _iscsiadm(execute, *base, '-o', 'update', '-n',
                              'discovery.sendtargets.auth.' + key, '-v',
                              value)
                out, _err = _iscsiadm(execute, *base, '--discover', '-o',
                                      'nonpersistent')
            finally:
                _iscsiadm(execute, *base, '-o', 'delete',
                          check_exit_code=False)
        else:
            out, _err = _iscsiadm(execute, '-m', 'discovery', '-t',
                                  'sendtargets', '-p', p, '-o',
                                  'nonpersistent')
    except processutils.ProcessExecutionError as e:
        if e.exit_code == _LOGIN_AUTH_FAILED:
            raise exception.ISCSIAuthFailed(iqn='(discovery)', portal=p,
                                            reason=_why(e))
        raise exception.PortalUnreachable(portal=p, reason=_why(e))
    found = []
    for line in (out or '').splitlines():
        # 10.0.20.1:3260,1 iqn.2012-07.com.example:tgt0
        fields = line.split()
        if len(fields) == 2 and fields[1] not in found:
            found.append(fields[1])
    return found


def _why(e):
    return ((e.stderr or '').strip().splitlines() or [str(e)])[-1]


def sessions(execute):
    """(portal, iqn) of this host's iSCSI sessions."""
    out, _err = _iscsiadm(execute, '-m', 'session',
                          check_exit_code=[0, _NO_SESSIONS])
    return iscsisan.parse_sessions(out)


def logged_in(execute, address, iqn):
    return (portal(address), iqn) in sessions(execute)


def login(execute, address, iqn, chap=None):
    """Log in to ``iqn`` unless a session exists; True if this logged in.

    On a refusal the node record made here is deleted again, so nothing
    of the attempt is left behind.
    """
    p = portal(address)
    if logged_in(execute, p, iqn):
        return False
    node = ('-m', 'node', '-T', iqn, '-p', p)
    _iscsiadm(execute, *node, '-o', 'new')
    settings = list(_NODE_SETTINGS)
    if chap:
        settings += [('node.session.auth.authmethod', 'CHAP'),
                     ('node.session.auth.username', chap.username),
                     ('node.session.auth.password', chap.password)]
    else:
        settings += [('node.session.auth.authmethod', 'None')]
    try:
        for key, value in settings:
            _iscsiadm(execute, *node, '-o', 'update', '-n', key, '-v', value)
        _iscsiadm(execute, *node, '--login')
    except processutils.ProcessExecutionError as e:
        _delete_node(execute, p, iqn)
        if e.exit_code == _LOGIN_AUTH_FAILED:
            raise exception.ISCSIAuthFailed(iqn=iqn, portal=p,
                                            reason=_why(e))
        raise exception.PortalUnreachable(portal=p, reason=_why(e))
    return True


def _delete_node(execute, p, iqn):
    try:
        _iscsiadm(execute, '-m', 'node', '-T', iqn, '-p', p, '-o', 'delete',
                  check_exit_code=[0, _NO_OBJS_FOUND])
    except processutils.ProcessExecutionError as e:
        LOG.warning('Could not delete the iSCSI node record of %s at %s: '
                    '%s', iqn, p, _why(e))


def logout(execute, address, iqn):
    """Log out and forget the node record: a later login starts afresh."""
    p = portal(address)
    _iscsiadm(execute, '-m', 'node', '-T', iqn, '-p', p, '--logout',
              check_exit_code=[0, _NO_OBJS_FOUND])
    _delete_node(execute, p, iqn)


def rescan(execute, address, iqn):
    _iscsiadm(execute, '-m', 'node', '-T', iqn, '-p', portal(address),
              '--rescan')


def lun_links(address, iqn, by_path=BY_PATH):
    """{lun: by-path link} of a logged-in target's LUNs."""
    prefix = os.path.join(by_path, 'ip-%s-iscsi-%s-lun-' % (portal(address),
                                                            iqn))
    found = {}
    for link in glob.glob(glob.escape(prefix) + '*'):
        lun = link[len(prefix):]
        if lun.isdigit():
            found[int(lun)] = link
    return found


def lun_link(address, iqn, lun, by_path=BY_PATH):
    return os.path.join(by_path, 'ip-%s-iscsi-%s-lun-%d' % (
        portal(address), iqn, lun))


def wait_for_link(link, timeout=30, interval=0.5):
    """Wait for udev to make ``link``; its resolved device path."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(link):
        if time.monotonic() > deadline:
            raise exception.StorageAdminError(
                reason='no device %s appeared within %d s' % (link,
                                                              timeout))
        time.sleep(interval)
    return os.path.realpath(link)
