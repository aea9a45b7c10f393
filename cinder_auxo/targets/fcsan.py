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
"""``fcsan``: the volume group's LUN on a Fibre Channel array.

The array's target WWPNs come from ``fc_target_wwpns`` or, when that is
empty, are discovered on this host: first from the LUN's
``/dev/disk/by-path/*-fc-0x<wwpn>-lun-<n>`` links, then from sysfs (the FC
transport targets that have a SCSI device for LUN ``target_lun``). No zoning
or masking is changed.
"""

import glob
import os
import re

from cinder_auxo import exception
from cinder_auxo.targets import base

_FC_LINK = re.compile(r'^(?:.*-)?fc-0x(?P<wwpn>[0-9a-fA-F]{16})'
                      r'-lun-(?P<lun>[0-9]+)$')


class FCSanTarget(base.SanTarget):

    protocol = 'fibre_channel'

    def __init__(self, configuration, execute, by_path=base.BY_PATH,
                 sysfs='/sys'):
        super(FCSanTarget, self).__init__(configuration, execute, by_path)
        self.sysfs = sysfs

    def _from_by_path(self):
        found = set()
        for link in glob.glob(os.path.join(self.by_path, '*')):
            m = _FC_LINK.match(os.path.basename(link))
            if m and int(m.group('lun')) == self.lun:
                found.add(m.group('wwpn').lower())
        return found

    def _from_sysfs(self):
        found = set()
        pattern = os.path.join(self.sysfs, 'class', 'fc_transport', 'target*')
        for target in glob.glob(pattern):
            hct = os.path.basename(target)[len('target'):]
            lun_dev = os.path.join(self.sysfs, 'class', 'scsi_device',
                                   '%s:%d' % (hct, self.lun))
            if not os.path.exists(lun_dev):
                continue
            try:
                with open(os.path.join(target, 'port_name')) as f:
                    wwpn = f.read().strip()
            except OSError:
                continue
            if wwpn.startswith('0x'):
                wwpn = wwpn[2:]
            if re.fullmatch('[0-9a-fA-F]{16}', wwpn):
                found.add(wwpn.lower())
        return found

    @property
    def wwpns(self):
        configured = self._opt('fc_target_wwpns') or []
        wwpns = [w.lower().replace(':', '').replace('0x', '', 1)
                 for w in configured]
        if not wwpns:
            wwpns = sorted(self._from_by_path() or self._from_sysfs())
        if not wwpns:
            raise exception.AuxoException(
                reason='no FC target port with LUN %d was found on this '
                       'host (by-path links under %s, sysfs under %s); set '
                       'fc_target_wwpns' % (self.lun, self.by_path,
                                            self.sysfs))
        return wwpns

    def connection_properties(self):
        return {
            'target_discovered': False,
            'target_wwn': self.wwpns,
            'target_lun': self.lun,
        }

    def device_patterns(self):
        return ['^%s/(pci-.*-)?fc-0x%s-lun-%d$' % (
            base.literal(self.by_path), wwpn, self.lun)
            for wwpn in self.wwpns]

    def problem(self):
        try:
            self.wwpns
        except exception.AuxoException as e:
            return e.msg
        return super(FCSanTarget, self).problem()
