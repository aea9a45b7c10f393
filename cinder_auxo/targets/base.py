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
"""Connection info for a LUN that an array (not cinder) exports.

The SAN driver never creates a target: the array already exports one LUN
that holds the volume group. A target here only knows that LUN's
coordinates, so it can

* build the os-brick ``connection_properties`` for it (consumer attach);
* say which device links the LUN appears as on a host, for the LVM device
  filter (``device_patterns``);
* say why this host cannot reach it (``problem``).

Volumes are LVs inside that LUN: the driver adds the LV and its format to
the connection info. A consumer must never be handed the LUN itself.
"""

import abc
import glob
import re

from cinder_auxo import exception

BY_PATH = '/dev/disk/by-path'


class SanTarget(object, metaclass=abc.ABCMeta):
    """One array LUN. Subclasses fill in the protocol details."""

    #: driver_volume_type of the connection info (os-brick protocol).
    protocol = None

    def __init__(self, configuration, execute, by_path=BY_PATH):
        self.configuration = configuration
        self._execute = execute
        self.by_path = by_path

    def _opt(self, name, default=None):
        value = self.configuration.safe_get(name)
        return default if value in (None, '') else value

    @property
    def lun(self):
        lun = self._opt('target_lun')
        if lun is None:
            raise exception.AuxoException(
                reason='target_lun is not set: the SAN driver needs the '
                       'LUN number of the array LUN that holds the volume '
                       'group')
        return int(lun)

    @abc.abstractmethod
    def connection_properties(self):
        """os-brick connection properties of the LUN (no LV yet)."""

    @abc.abstractmethod
    def device_patterns(self):
        """LVM/Python regexes of the LUN's device links on a host."""

    def devices(self):
        """Device links present on this host for the LUN."""
        rxs = [re.compile(p) for p in self.device_patterns()]
        return [p for p in sorted(glob.glob(self.by_path + '/*'))
                if any(rx.match(p) for rx in rxs)]

    def problem(self):
        """None, or why this host has no path to the LUN."""
        if not self.devices():
            return ('no device of LUN %d is present under %s' %
                    (self.lun, self.by_path))
        return None


def literal(text):
    """``text`` as a regex (LVM's and Python's) matching just that text."""
    return ''.join(c if (c.isalnum() or c in '-_:/,=@%') else '[%s]' % c
                   for c in text)
