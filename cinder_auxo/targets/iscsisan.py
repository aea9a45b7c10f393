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
"""``iscsisan``: the volume group's LUN on an iSCSI array.

The target IQN, portal and LUN are the array's; nothing is created on it.
Options, in order of precedence (the first set wins):

* portal address: ``iscsi_ip_address``, then cinder's
  ``target_ip_address``;
* portal port: ``iscsi_port``, then ``target_port``;
* target IQN: ``iscsi_target_prefix`` (the seed's name for the whole IQN of
  the array target), then ``target_prefix`` when it is a whole IQN;
* ``target_lun``; CHAP from ``chap_username`` / ``chap_password``;
* ``iscsi_protocol``, then ``target_protocol`` (``iscsi`` or ``iser``).
"""

from oslo_concurrency import processutils

from cinder_auxo import exception
from cinder_auxo.targets import base

# iscsiadm -m session exits 21 when there is no session at all.
_NO_SESSIONS = 21


def parse_sessions(out):
    """(portal, iqn) pairs from the output of ``iscsiadm -m session``."""
    found = []
    for line in (out or '').splitlines():
        # tcp: [1] 10.0.20.1:3260,1 iqn.2012-07.com.example:tgt0 (non-flash)
        fields = line.split()
        if len(fields) >= 4:
            found.append((fields[2].rsplit(',', 1)[0], fields[3]))
    return found


class ISCSISanTarget(base.SanTarget):

    @property
    def protocol(self):
        return self._opt('iscsi_protocol') or self._opt('target_protocol',
                                                        'iscsi')

    @property
    def portal(self):
        ip = self._opt('iscsi_ip_address') or self._opt('target_ip_address')
        if not ip:
            raise exception.AuxoException(
                reason='iscsi_ip_address (or target_ip_address) is not set')
        port = self._opt('iscsi_port') or self._opt('target_port', 3260)
        if ':' in ip and not ip.startswith('['):
            ip = '[%s]' % ip
        return '%s:%d' % (ip, int(port))

    @property
    def iqn(self):
        iqn = self._opt('iscsi_target_prefix')
        if not iqn:
            prefix = self._opt('target_prefix')
            # cinder's default target_prefix ends in ':' (a prefix for
            # the targets it creates); only a whole IQN names the array's.
            if prefix and not prefix.endswith(':'):
                iqn = prefix
        if not iqn:
            raise exception.AuxoException(
                reason='iscsi_target_prefix is not set: it must be the IQN '
                       'of the array target that exports the LUN')
        return iqn

    def connection_properties(self):
        props = {
            'target_discovered': False,
            'target_portal': self.portal,
            'target_iqn': self.iqn,
            'target_lun': self.lun,
        }
        user = self._opt('chap_username')
        password = self._opt('chap_password')
        if user and password:
            props.update(auth_method='CHAP', auth_username=user,
                         auth_password=password)
        return props

    def device_patterns(self):
        return ['^%s/ip-%s-iscsi-%s-lun-%d$' % (
            base.literal(self.by_path), base.literal(self.portal),
            base.literal(self.iqn), self.lun)]

    def sessions(self):
        """(portal, iqn) of this host's iSCSI sessions."""
        try:
            out, _err = self._execute('iscsiadm', '-m', 'session',
                                      check_exit_code=[0, _NO_SESSIONS],
                                      run_as_root=True)
        except processutils.ProcessExecutionError as e:
            raise exception.AuxoException(
                reason='iscsiadm -m session failed: %s' % (e.stderr or e))
        return parse_sessions(out)

    def problem(self):
        try:
            portal, iqn = self.portal, self.iqn
            if (portal, iqn) not in self.sessions():
                return ('no iSCSI session to %s at %s' % (iqn, portal))
        except exception.AuxoException as e:
            return e.msg
        return super(ISCSISanTarget, self).problem()
