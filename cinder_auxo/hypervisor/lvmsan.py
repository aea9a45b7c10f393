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

"""nova libvirt volume driver for ``driver_volume_type = lvmsan``.

connect: ``lvm.SanLVConnector`` logs in to the LUN through os-brick (when
needed), refreshes LVM through the storage's device filter and activates
the volume's LVs, the backing ones read-only. The disk is
``<disk type='block'>`` with the connection's format and its backing LVs
written out as ``<backingStore>``. disconnect deactivates those LVs and
leaves the LUN session for the other volumes. doc/attach-lvmsan.md.
"""

import os

from nova import conf as nova_conf
from nova import utils
from nova.virt.libvirt.volume import volume
from os_brick.privileged import rootwrap

from cinder_auxo.hypervisor import chain
from cinder_auxo.hypervisor import conf as auxo_conf
from cinder_auxo.hypervisor import disk
from cinder_auxo.hypervisor import exception
from cinder_auxo.hypervisor import lvm

CONF = nova_conf.CONF


def check_paths(data):
    """Every device path is an LV of the connection's volume group."""
    vg_dir = '/dev/%s' % data['volume_group']
    layers = [(data['device_path'], data['format'])] + [
        (b['device_path'], b['format']) for b in data['backing']]
    for path, fmt in layers:
        if fmt not in chain.FORMATS:
            raise exception.UnsupportedFormat(
                path=path, fmt=fmt, allowed=', '.join(chain.FORMATS))
        if os.path.dirname(os.path.normpath(path)) != vg_dir:
            raise exception.HypervisorException(
                reason='refusing %s: not an LV of volume group %s' %
                (path, data['volume_group']))


class LibvirtAuxoSanVolumeDriver(volume.LibvirtBaseVolumeDriver):
    """qcow2 chains on LVs of a volume group on a SAN LUN."""

    def __init__(self, host):
        super(LibvirtAuxoSanVolumeDriver, self).__init__(
            host, is_block_dev=True)
        auxo_conf.register(CONF)
        self.connector = lvm.SanLVConnector(
            utils.get_root_helper(), rootwrap.execute,
            CONF.auxo.lvm_conf_dir,
            use_multipath=CONF.libvirt.volume_use_multipath,
            device_scan_attempts=CONF.libvirt.num_volume_scan_tries)

    def connect_volume(self, connection_info, instance):
        data = connection_info['data']
        check_paths(data)
        self.connector.connect_volume(data)

    def disconnect_volume(self, connection_info, instance, force=False):
        self.connector.disconnect_volume(connection_info['data'], None,
                                         force=force)

    def get_config(self, connection_info, disk_info):
        data = connection_info['data']
        check_paths(data)
        conf = super(LibvirtAuxoSanVolumeDriver, self).get_config(
            connection_info, disk_info)
        conf.source_type = 'block'
        conf.source_path = data['device_path']
        conf.driver_format = data['format']
        conf.driver_cache = 'none'
        conf.driver_io = 'native'
        # Backing LVs are read-only device-mapper devices: libvirt may
        # relabel their device nodes, the kernel still refuses writes.
        return disk.ChainDisk.from_disk(
            conf, [disk.BackingLayer('block', b['device_path'], b['format'])
                   for b in data['backing']])
