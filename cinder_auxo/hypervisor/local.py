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

"""nova libvirt volume driver for ``driver_volume_type = local``.

nova's own ``LibvirtVolumeDriver`` emits ``<disk type='block'>`` with a raw
driver: QEMU refuses a regular file there, and a raw driver would show the
guest a qcow2 container. This driver keeps nova's behaviour for block
devices and opens a regular file as ``<disk type='file'>`` with the
connection's ``format``, after ``chain.check_file_chain`` has accepted the
file and its backing chain. Registered by ``cinder_auxo.hypervisor.launcher``.
"""

import os
import stat

from nova.virt.libvirt.volume import volume

from cinder_auxo.hypervisor import chain
from cinder_auxo.hypervisor import conf as auxo_conf
from cinder_auxo.hypervisor import disk
from cinder_auxo.hypervisor import exception


def is_block_device(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError as e:
        raise exception.HypervisorException(
            reason='cannot attach %s: %s' % (path, e.strerror))


class LibvirtAuxoLocalVolumeDriver(volume.LibvirtVolumeDriver):
    """Block devices as upstream; files with their format and chain."""

    def get_config(self, connection_info, disk_info):
        data = connection_info['data']
        path = data['device_path']
        if is_block_device(path):
            return super(LibvirtAuxoLocalVolumeDriver, self).get_config(
                connection_info, disk_info)
        layers = chain.check_file_chain(path, data.get('format'),
                                        auxo_conf.storage_roots())
        # The base class's common settings (serial, qos, access mode,
        # discard, alias); LibvirtVolumeDriver's own would make it a block.
        conf = volume.LibvirtBaseVolumeDriver.get_config(
            self, connection_info, disk_info)
        conf.source_type = 'file'
        conf.source_path = layers[0].path
        conf.driver_format = layers[0].fmt
        conf.driver_cache = 'none'
        conf.driver_io = 'native'
        # Backing layers are shared, read-only bases: never relabelled.
        return disk.ChainDisk.from_disk(
            conf, [disk.BackingLayer('file', layer.path, layer.fmt,
                                     relabel=False)
                   for layer in layers[1:]])
