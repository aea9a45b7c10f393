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

"""``cinder-auxo-nova-compute``: nova-compute with cinder_auxo's drivers.

nova has had no volume driver extension point since Liberty: libvirt
volume drivers are looked up by ``driver_volume_type`` in the module dict
``nova.virt.libvirt.driver.VOLUME_DRIVERS`` (dotted class paths, imported
on first use). This launcher adds ours to that dict and runs nova-compute's
own ``main``; it refuses to start if nova no longer looks the way it was
tested (nova 34). doc/attach.md lists what a nova upgrade must re-check.
"""

import sys

from cinder_auxo.hypervisor import conf as auxo_conf

DRIVERS = {
    'local': 'cinder_auxo.hypervisor.local.LibvirtAuxoLocalVolumeDriver',
    'lvmsan': 'cinder_auxo.hypervisor.lvmsan.LibvirtAuxoSanVolumeDriver',
}
# What nova 34 maps these types to; anything else means someone else
# (a distribution patch, a newer nova) changed them: do not override.
EXPECTED = {
    'local': 'nova.virt.libvirt.volume.volume.LibvirtVolumeDriver',
    'lvmsan': None,
}


def register(volume_drivers=None):
    """Add cinder_auxo's drivers to nova's libvirt volume driver map."""
    if volume_drivers is None:
        from nova.virt.libvirt import driver
        volume_drivers = getattr(driver, 'VOLUME_DRIVERS', None)
    if not isinstance(volume_drivers, dict):
        raise RuntimeError('nova.virt.libvirt.driver.VOLUME_DRIVERS is '
                           'missing: this nova is not one cinder_auxo '
                           'supports (see doc/attach.md)')
    for name, path in DRIVERS.items():
        current = volume_drivers.get(name)
        if current not in (EXPECTED[name], path):
            raise RuntimeError('nova maps %r volumes to %s, not to %s: '
                               'refusing to replace it' %
                               (name, current, EXPECTED[name]))
        volume_drivers[name] = path
    return volume_drivers


def main():
    # Imported first, as nova-compute's own script does: nova.cmd sets up
    # its concurrency mode (eventlet or threads) on import.
    from nova.cmd import compute
    auxo_conf.register()
    register()
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
