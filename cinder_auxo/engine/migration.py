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

"""Moving a volume to another storage of the same host.

A desktop is a small overlay on a large cached base. Moving it copies only
what the desktop itself holds:

* the destination gets the image's base once, like any cached image: its
  own newest generation of the image when it has one (a Glance image never
  changes, so every generation of it reads the same), otherwise a
  flattened copy of the source's base, published as its next generation;
* the volume's own layers (its top and any anonymous layers above the
  base) become one new overlay on the destination's base. qemu-img
  rebase, from a work layer that first stands on the source volume, writes
  exactly the clusters where the source differs from the base;
* a volume on no base (made empty, raw, or flattened) is copied whole,
  sparse.

The new volume is published by rename on the destination, under its
chain lock, before the caller deletes the source: a crash leaves the
source intact and, at worst, an unpublished work file (removed at
start-up) or a published copy that a retry replaces.
"""

from oslo_log import log as logging

from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)


def _check_distinct(src, dst, top):
    for store in dst.stores:
        if store.owns(top.path):
            raise exception.AuxoException(
                reason='%s is a storage of both backends %s and %s: '
                       'nothing to move' % (store, src.volumes.storage_id,
                                            dst.volumes.storage_id))


def _drop_leftover(dst, volume_id):
    """Remove a copy left on ``dst`` by an interrupted move.

    cinder records the volume on the source storage, so no one can be
    using a copy of it on the destination.
    """
    if dst.find(naming.VOLUME, volume_id) is not None:
        LOG.warning('Removing volume %(id)s from %(dst)s: a copy left by an '
                    'interrupted migration', {'id': volume_id,
                                              'dst': dst.volumes.storage_id})
        dst.delete_volume(volume_id)


def _base_on(dst_cache, base, image_id):
    """The destination's base of ``image_id``; a copy of ``base`` if none.

    Callers hold the image's lock on the destination.
    """
    found = dst_cache.latest(image_id)
    if found is not None:
        dst_cache.store.touch(found.name)
        return found
    LOG.info('Copying the base of image %(image)s from %(src)s to the '
             'cache of %(dst)s', {'image': image_id, 'src': base.path,
                                  'dst': dst_cache.store.storage_id})
    work = dst_cache.engine.copy_to_temp(base.path, base.fmt,
                                         dst_cache.store, dst_cache.base_fmt)
    return dst_cache.rename_to_next_generation(image_id, work)


def move_volume(src, volume_id, dst, dst_cache, dst_fmt):
    """Copy volume ``volume_id`` from engine ``src`` to engine ``dst``.

    The source is left as it is: the caller deletes it once cinder's
    record can follow. Returns the new top Layer on ``dst``.
    """
    top = src.volume(volume_id)
    chain = src.chain(top)
    _check_distinct(src, dst, top)
    _drop_leftover(dst, volume_id)
    size = src.qemu.virtual_size(top.path, top.fmt)
    base = next((layer for layer in chain if layer.kind == naming.BASE),
                None)
    if base is None or top.fmt != naming.QCOW2:
        work = dst.copy_to_temp(top.path, top.fmt, dst.volumes, dst_fmt,
                                size)
        return dst.publish_volume(work, volume_id)
    image_id = naming.parse(base.name).ident
    with dst_cache.image_lock(image_id):
        dst_base = _base_on(dst_cache, base, image_id)
        work = dst.new_work_layer(dst.volumes, naming.QCOW2, size)
        with dst.volumes.remove_on_error(work.name):
            dst.qemu.create(work.path, naming.QCOW2, size,
                            backing=top.path, backing_fmt=top.fmt)
            # Safe mode: whatever differs between the source's chain and
            # the destination's base lands in the work layer.
            dst.qemu.rebase(work.path, naming.QCOW2, dst_base.path,
                            dst_base.fmt)
            dst.volumes.sync(work.name)
        layer = dst.publish_volume(work, volume_id)
    LOG.info('Moved volume %(id)s from %(src)s onto %(base)s of %(dst)s',
             {'id': volume_id, 'src': src.volumes.storage_id,
              'base': dst_base.name, 'dst': dst.volumes.storage_id})
    return layer
