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

"""One host's device-mapper view of a volume group other hosts write too.

An LV is usable on a host through the dm device made when it was
activated there; that device keeps the extents it mapped then. When
another writer of the group (a cinder cluster, doc/cluster.md) renames,
removes or extends the LV, the device here goes stale: under the old name
it may map extents that now belong to a snapshot or to a new volume.
``refresh`` compares the group's LVs with this host's devices and puts
the devices right. It writes no LVM metadata.
"""

import os

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The lvs fields refresh() needs, in each LV's dict.
LV_FIELDS = ('lv_name', 'lv_uuid', 'lv_size', 'lv_dm_path', 'vg_uuid')


class DeviceMapper(object):
    """dmsetup, run as root: list, measure and remove devices."""

    def __init__(self, execute, root_helper):
        self._execute = execute
        self._root_helper = root_helper

    def _dmsetup(self, *args):
        out, _err = self._execute('dmsetup', *args,
                                  root_helper=self._root_helper,
                                  run_as_root=True)
        return out or ''

    def devices(self, vg_uuid):
        """{dm name: LV uuid, dashes dropped} of one group's devices."""
        out = self._dmsetup('info', '-c', '--noheadings', '--separator', '|',
                            '-o', 'name,uuid')
        # A dm uuid is LVM-<VG uuid><LV uuid>, dashes dropped.
        prefix = 'LVM-' + vg_uuid.replace('-', '')
        found = {}
        for line in out.splitlines():
            dm_name, _sep, uuid = line.strip().partition('|')
            if uuid.startswith(prefix):
                found[dm_name] = uuid[len(prefix):len(prefix) + 32]
        return found

    def sectors(self):
        """{dm name: sectors its table maps}."""
        sectors = {}
        for line in self._dmsetup('table').splitlines():
            dm_name, sep, table = line.partition(': ')
            fields = table.split()
            if sep and len(fields) >= 2 and fields[1].isdigit():
                sectors[dm_name] = sectors.get(dm_name, 0) + int(fields[1])
        return sectors

    def remove(self, dm_name):
        self._dmsetup('remove', dm_name)


def refresh(lvs, dm, is_layer, activate_all, reload):
    """Drop, add and resize this host's LV devices to match the group.

    A device whose LV was removed, or renamed, is removed before anything
    here opens it by that name. LVs of ours made elsewhere are activated
    (``activate_all``), extended ones reloaded (``reload(lv name)``).

    :param lvs: the group's LVs, dicts of ``LV_FIELDS``.
    :param dm: a ``DeviceMapper``.
    :param is_layer: callable(lv name) -> True for LVs of ours.
    :returns: {'removed': devices removed, 'activated': 1 if LVs were
        activated, 'reloaded': LVs reloaded}.
    """
    done = {'removed': 0, 'activated': 0, 'reloaded': 0}
    if not lvs:
        return done
    wanted = {lv['lv_uuid'].replace('-', ''): lv for lv in lvs}
    devices = dm.devices(lvs[0]['vg_uuid'])
    for dm_name, uuid in sorted(devices.items()):
        lv = wanted.get(uuid)
        if lv and os.path.basename(lv['lv_dm_path']) == dm_name:
            continue
        LOG.info('Removing device %(dm)s: its LV is %(now)s',
                 {'dm': dm_name,
                  'now': lv and 'now %s' % lv['lv_name'] or 'gone'})
        dm.remove(dm_name)
        del devices[dm_name]
        done['removed'] += 1
    ours = [lv for lv in lvs if is_layer(lv['lv_name'])]
    active = set(devices)
    if any(os.path.basename(lv['lv_dm_path']) not in active for lv in ours):
        activate_all()
        done['activated'] = 1
    sectors = dm.sectors()
    for lv in ours:
        dm_name = os.path.basename(lv['lv_dm_path'])
        if (dm_name in active and
                sectors.get(dm_name, 0) * 512 != int(lv['lv_size'])):
            reload(lv['lv_name'])
            done['reloaded'] += 1
    return done
