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

"""Template deltas: a volume's own layers, shipped without its image.

A template desktop is an overlay chain on the cached base of image X. Its
*delta* is every layer above that base, collapsed into one standalone qcow2
with no backing file in its header: unallocated clusters mean "as in X",
zero clusters mean "zeroed since X". Applied onto X's base on another
storage (a header-only rebase), it reproduces the template exactly, and
only the diff travelled.
"""

import os

from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import units

from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)

_COPY_CHUNK = 4 * units.Mi


def image_base_of(engine, volume_id):
    """(image id, base Layer) under the volume's chain, or (None, None)."""
    layers = engine.chain(engine.volume(volume_id))
    bottom = layers[-1]
    if len(layers) < 2 or bottom.kind != naming.BASE:
        return None, None
    # The image the volume was made from is the lowest base above which
    # only volume-side layers (snapshots, layers) sit.
    for layer in layers[1:]:
        if layer.kind == naming.BASE:
            return naming.parse(layer.name).ident, layer
    return None, None


def export_delta(engine, volume_id, base_layer, dest_path):
    """Write the layers of ``volume_id`` above ``base_layer`` to a file.

    ``dest_path`` becomes a qcow2 with no backing file. Data the volume
    zeroed stays explicit (zero clusters), so nothing of the base leaks
    through where the template erased it.
    """
    top = engine.volume(volume_id)
    layers = engine.chain(top)
    if base_layer not in layers:
        raise exception.AuxoException(
            reason='%s is not in the chain of volume %s' % (base_layer.path,
                                                            volume_id))
    parent = layers[1]
    qemu = engine.qemu
    with fileutils.remove_path_on_error(dest_path):
        # Only the top layer's own clusters (zero clusters included) are
        # copied when the target is backed by the top's direct parent.
        qemu.convert_top_layer(top.path, top.fmt, parent.path, parent.fmt,
                               dest_path)
        if parent != base_layer:
            # Pull in every layer between the top and the base.
            qemu.rebase(dest_path, naming.QCOW2, base_layer.path,
                        base_layer.fmt)
        qemu.rebase(dest_path, naming.QCOW2, None, None, unsafe=True)
    return dest_path


def copy_bytes(src_path, dst_path, sparse):
    """Copy a file's bytes; ``sparse`` leaves holes for zero blocks.

    Thick stores (LVs) must get every byte: a hole there would keep the
    previous tenant's data.
    """
    zero = bytes(_COPY_CHUNK)
    size = os.path.getsize(src_path)
    with open(src_path, 'rb') as src, open(dst_path, 'r+b') as dst:
        while True:
            block = src.read(_COPY_CHUNK)
            if not block:
                break
            if sparse and block == zero[:len(block)]:
                dst.seek(len(block), os.SEEK_CUR)
            else:
                dst.write(block)
        if sparse:
            dst.truncate(size)
        dst.flush()
        os.fsync(dst.fileno())


def import_delta(engine, delta_path, store, parent_base):
    """A new work layer in ``store``: the delta, backed by ``parent_base``.

    The delta was verified (no backing file, no data-file, qcow2 check),
    so its container bytes are copied as they are and only its header is
    pointed at the parent base.
    """
    virtual = engine.qemu.virtual_size(delta_path, naming.QCOW2)
    parent_virtual = engine.qemu.virtual_size(parent_base.path,
                                              parent_base.fmt)
    if virtual < parent_virtual:
        raise exception.AuxoException(
            reason='delta %s (%d bytes) is smaller than its parent base %s '
                   '(%d bytes)' % (delta_path, virtual, parent_base.path,
                                   parent_virtual))
    work = engine.new_work_layer(store, naming.QCOW2, virtual)
    with store.remove_on_error(work.name):
        copy_bytes(delta_path, work.path, sparse=not store.thick)
        engine.qemu.rebase(work.path, naming.QCOW2, parent_base.path,
                           parent_base.fmt, unsafe=True)
        store.sync(work.name)
    return work
