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

"""A libvirt disk whose backing chain is written out, not probed.

nova's ``LibvirtConfigGuestDisk`` never formats ``<backingStore>``, so
libvirt probes the chain from the image headers and, with the DAC driver,
relabels every image it finds. Writing the chain that
``cinder_auxo.hypervisor.chain`` checked makes QEMU open exactly those
files (libvirt passes each layer with -blockdev), and lets a backing file
carry ``<seclabel model='dac' relabel='no'/>``: a shared cached base keeps
its owner and mode, so no QEMU process ever owns it. See doc/attach.md.
"""

from lxml import etree
from nova.virt.libvirt import config as vconfig


class BackingLayer(object):
    """One backing layer: source type (file|block), path, format."""

    def __init__(self, source_type, path, fmt, relabel=True):
        self.source_type = source_type
        self.path = path
        self.fmt = fmt
        self.relabel = relabel

    def element(self, below):
        store = etree.Element('backingStore', type=self.source_type)
        etree.SubElement(store, 'format', type=self.fmt)
        attr = 'file' if self.source_type == 'file' else 'dev'
        source = etree.SubElement(store, 'source', {attr: self.path})
        if not self.relabel:
            etree.SubElement(source, 'seclabel', model='dac', relabel='no')
        store.append(below)
        return store


class ChainDisk(vconfig.LibvirtConfigGuestDisk):
    """nova's disk config plus an explicit ``<backingStore>`` chain."""

    def __init__(self, **kwargs):
        super(ChainDisk, self).__init__(**kwargs)
        self.backing_layers = []

    @classmethod
    def from_disk(cls, conf, backing_layers):
        # nova's base get_config builds its own LibvirtConfigGuestDisk;
        # keep every attribute it set and add the chain.
        disk = cls()
        disk.__dict__.update(conf.__dict__)
        disk.backing_layers = list(backing_layers)
        return disk

    def format_dom(self):
        dev = super(ChainDisk, self).format_dom()
        # An empty element ends the chain: libvirt probes nothing further.
        below = etree.Element('backingStore')
        for layer in reversed(self.backing_layers):
            below = layer.element(below)
        source = dev.find('source')
        dev.insert(list(dev).index(source) + 1, below)
        return dev
