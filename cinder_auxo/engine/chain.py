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

"""Backing-file chains: the engine both drivers share.

Knows layer names and paths only; never cinder objects. A volume is its
active layer ``volume-<id>`` plus the read-only layers below it:

    base-<image>-g1  <-  snapshot-<s1>  <-  snapshot-<s2>  <-  volume-<v>

Rules kept here, for every store:

* only ``volume-*`` layers are ever written by a guest; a layer with
  children is written only to merge its single child into it;
* bases (``base-*``) are never written at all;
* every backing file met is checked to be a layer of one of our stores
  before qemu-img may open it (``_backing``);
* topology changes (create, rename, delete of layers, child look-ups)
  hold the storage's chain lock, so a child look-up is never stale when
  acted on;
* a layer is published, renamed, re-pointed or deleted only through
  ``rename_layer``, ``repoint`` and ``remove_layer``, which keep the child
  index (``index.py``) ahead of the headers.
"""

import os

from oslo_log import log as logging
from oslo_utils import uuidutils

from cinder_auxo.engine import index
from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo.engine import overlays
from cinder_auxo.engine import qemu
from cinder_auxo.engine import repair
from cinder_auxo.engine import sizes
from cinder_auxo.engine import snapshots
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
Layer = layer_mod.Layer
COPY = snapshots.COPY
OVERLAY = snapshots.OVERLAY

# Guards against loops in a hand-edited chain; the configured depth limit
# (max_depth) is what operators tune.
_WALK_LIMIT = 256


class ChainEngine(snapshots.SnapshotOps):
    """Chain operations over a volume store and a cache store."""

    def __init__(self, volumes, cache, qemu_img, lock, max_depth=16):
        """:param lock: callable(name) -> context manager, storage-wide."""
        self.volumes = volumes
        self.cache = cache
        self.stores = [volumes] if cache is volumes else [volumes, cache]
        self.qemu = qemu_img
        self._lock = lock
        self.max_depth = max_depth
        self.index = index.ChildIndex(self.stores, self._backing)
        self.sizes = sizes.ProvisionedSizes(volumes, self.virtual_size)
        self.overlays = overlays.BlankOverlays(qemu_img)

    # -- locating and validating ---------------------------------------

    def chain_lock(self):
        return self._lock('chain')

    def locate(self, path, referrer):
        """The layer of ours at ``path``; refuses anything else."""
        for store in self.stores:
            name = store.owns(path)
            if name:
                return Layer(store, name)
        raise exception.UnsafeBackingFile(
            path=referrer, backing=path,
            allowed=', '.join(repr(s) for s in self.stores))

    def _backing(self, layer):
        """The layer below ``layer`` (validated), or None."""
        return self.backing_at(layer.path, layer.fmt)

    def backing_at(self, path, fmt):
        """The layer of ours below the file at ``path``, or None."""
        if fmt != naming.QCOW2:
            return None
        name = qemu.read_backing_file(path)
        if name is None:
            return None
        if not os.path.isabs(name):
            name = os.path.join(os.path.dirname(path), name)
        return self.locate(name, path)

    def _parent_for_index(self, layer):
        """``layer``'s parent if the child index needs it, else None.

        An unusable or missing header is None: such a layer is nobody's
        child (``index.ChildIndex.stands_on``).
        """
        if not self.index.active:
            return None
        try:
            return self._backing(layer)
        except (FileNotFoundError, exception.UnsafeBackingFile,
                exception.MalformedLayer, exception.QemuImgError):
            return None

    def chain(self, layer):
        """[layer, its backing, ..., bottom]; every link validated.

        Raises (``UnsafeBackingFile``, ``MalformedLayer``,
        ``ChainTooDeep``) before anything opens the chain: callers run it
        for that check alone too.
        """
        layers = [layer]
        while len(layers) <= _WALK_LIMIT:
            below = self._backing(layers[-1])
            if below is None:
                return layers
            if below in layers:
                raise exception.UnsafeBackingFile(
                    path=layers[-1].path, backing=below.path,
                    allowed='an acyclic chain')
            layers.append(below)
        raise exception.ChainTooDeep(path=layer.path, depth=len(layers),
                                     limit=_WALK_LIMIT)

    def children(self, layer):
        """Layers whose direct backing file is ``layer``."""
        return self.index.children(layer)

    def find(self, kind, ident, store=None):
        """The layer of a volume/snapshot/layer id in either format."""
        store = store or self.volumes
        for fmt in naming.FORMATS:
            name = naming.layer(kind, ident, fmt)
            if store.exists(name):
                return Layer(store, name)
        return None

    def _require(self, kind, ident):
        layer = self.find(kind, ident)
        if layer is None:
            raise exception.LayerNotFound(name=naming.layer(kind, ident),
                                          storage=self.volumes.storage_id)
        return layer

    def volume(self, volume_id):
        return self._require(naming.VOLUME, volume_id)

    def snapshot(self, snapshot_id):
        return self._require(naming.SNAPSHOT, snapshot_id)

    # -- topology changes: the child index follows every one ----------

    def rename_layer(self, layer, new_name, below=False):
        """Rename (publish) ``layer``; the index knows the new name first.

        Replacing an existing layer (atomic stores) also drops what the
        index knew of the replaced one. ``below``: ``layer``'s parent when
        the caller knows it.
        """
        new = Layer(layer.store, new_name)
        if below is False:
            below = self._parent_for_index(layer)
        replaced = None
        if (self.index.active and layer.store.atomic_replace and
                layer.store.exists(new_name)):
            replaced = self._parent_for_index(new)
        self.index.link(below, new)
        with self.sizes.changing(layer.store, layer.name, new_name):
            layer.store.rename(layer.name, new_name)
        self.index.unlink(below, layer)
        if replaced != below:
            self.index.unlink(replaced, new)
        return new

    def repoint(self, layer, below, unsafe=False):
        """Rebase ``layer`` onto ``below`` (None: standalone)."""
        old = self._parent_for_index(layer)
        self.index.link(below, layer)
        self.qemu.rebase(layer.path, layer.fmt, below and below.path,
                         below and below.fmt, unsafe=unsafe)
        if old != below:
            self.index.unlink(old, layer)

    def remove_layer(self, layer, below=False):
        """Delete ``layer``, on which nothing stands.

        ``below``: its parent when the caller has read it already.
        """
        if below is False:
            below = self._parent_for_index(layer)
        layer.store.deactivate(layer.name)
        with self.sizes.changing(layer.store, layer.name):
            layer.store.delete(layer.name)
        self.index.unlink(below, layer)
        self.index.forget(layer)

    # -- making layers ---------------------------------------------------

    def _layer_bytes(self, store, fmt, size_bytes):
        """Space a layer needs: thick stores hold its worst case."""
        if not store.thick:
            return size_bytes
        return self.qemu.measure(size_bytes, fmt)

    def _make(self, layer, size_bytes, backing=None, unsafe=False):
        """Allocate and format a new layer; nothing is left on failure.

        The layer is formatted under a work name and published by rename:
        readers that do not take the chain lock (the stats poll, start-up
        clean-up after a crash) see it whole or not at all. Callers hold
        the chain lock. ``unsafe``: ``backing`` is not there yet (the
        caller has validated what will be).
        """
        if backing is not None and not unsafe:
            depth = len(self.chain(backing)) + 1
            if depth > self.max_depth:
                raise exception.ChainTooDeep(path=layer.path, depth=depth,
                                             limit=self.max_depth)
        store = layer.store
        if naming.is_temp(layer.name):
            work = layer
        else:
            if store.exists(layer.name):
                raise exception.AuxoException(
                    reason='%s already exists' % layer.path)
            work = self._temp(store, layer.fmt)
        self._allocate(work, layer.fmt, size_bytes)
        with store.remove_on_error(work.name):
            store.activate(work.name)
            if backing is not None and not unsafe:
                self.overlays.create(work, size_bytes, backing)
            else:
                self.qemu.create(work.path, layer.fmt, size_bytes,
                                 backing=backing and backing.path,
                                 backing_fmt=backing and backing.fmt,
                                 unsafe=unsafe)
            if work is not layer:
                self.rename_layer(work, layer.name, backing)
        return layer

    def _allocate(self, work, fmt, size_bytes):
        with self.sizes.changing(work.store, work.name):
            work.store.allocate(work.name, self._layer_bytes(
                work.store, fmt, size_bytes))

    def _temp(self, store, fmt):
        """A fresh work name; published later by rename."""
        return Layer(store, naming.temp(uuidutils.generate_uuid(),
                                        '.' + fmt))

    def create_volume(self, volume_id, size_bytes, fmt):
        layer = Layer(self.volumes, naming.layer(naming.VOLUME, volume_id,
                                                 fmt))
        with self.chain_lock():
            return self._make(layer, size_bytes)

    def create_overlay(self, volume_id, size_bytes, backing):
        """A new qcow2 volume whose backing file is ``backing``."""
        with self.chain_lock():
            return self._overlay(volume_id, size_bytes, backing)

    def _overlay(self, volume_id, size_bytes, backing):
        layer = Layer(self.volumes, naming.layer(naming.VOLUME, volume_id))
        if not backing.store.exists(backing.name):
            raise exception.LayerNotFound(name=backing.name,
                                          storage=backing.store.storage_id)
        size_bytes = max(size_bytes, self.virtual_size(backing))
        return self._make(layer, size_bytes, backing=backing)

    def work_overlay(self, size_bytes, backing):
        """A new qcow2 work layer on ``backing``, in the volume store.

        Published by ``replace_volume``.
        """
        with self.chain_lock():
            size_bytes = max(size_bytes, self.virtual_size(backing))
            return self._make(self._temp(self.volumes, naming.QCOW2),
                              size_bytes, backing=backing)

    def new_work_layer(self, store, fmt, size_bytes):
        """Allocate an empty work layer (``.tmp-*``).

        Sized for thick stores; the caller fills it and publishes it by
        rename.
        """
        work = self._temp(store, fmt)
        self._allocate(work, fmt, size_bytes)
        with store.remove_on_error(work.name):
            store.activate(work.name)
        return work

    def copy_to_temp(self, src_path, src_fmt, store, fmt, size_bytes=0):
        """Flatten ``src_path`` (and its chain) into a new work layer.

        The caller publishes the work layer by rename.
        """
        virtual = self.qemu.virtual_size(src_path, src_fmt)
        size_bytes = max(size_bytes, virtual)
        work = self.new_work_layer(store, fmt, size_bytes)
        with store.remove_on_error(work.name):
            if store.thick:
                # The LV exists: format it, then convert into it as is.
                self.qemu.create(work.path, fmt, virtual)
            self.qemu.convert(src_path, src_fmt, work.path, fmt,
                              skip_create=store.thick)
            if size_bytes > virtual and not (store.thick and
                                             fmt == naming.RAW):
                # (A raw LV already has its full size.)
                self.qemu.resize(work.path, fmt, size_bytes)
            store.sync(work.name)
        return work

    def copy_to_volume(self, source, volume_id, size_bytes, fmt):
        """A new, independent volume: ``source``'s chain, flattened."""
        self.chain(source)
        work = self.copy_to_temp(source.path, source.fmt, self.volumes, fmt,
                                 size_bytes)
        return self.publish_volume(work, volume_id)

    def publish_volume(self, work, volume_id):
        """Publish a filled work layer as a new volume.

        Nothing is left on failure.
        """
        dest = Layer(self.volumes, naming.layer(naming.VOLUME, volume_id,
                                                work.fmt))
        with work.store.remove_on_error(work.name):
            with self.chain_lock():
                if self.find(naming.VOLUME, volume_id) is not None:
                    raise exception.AuxoException(
                        reason='volume %s already exists in %s' %
                               (volume_id, self.volumes.storage_id))
                self.rename_layer(work, dest.name)
        return dest

    # -- volumes -----------------------------------------------------------

    def _below_unused_top(self, top, doing):
        """What ``top`` stands on, once nothing is known to stand on it.

        A broken or hostile top must still be removable: an unusable
        backing file is logged and left alone.
        """
        kids = self.children(top)
        if kids:
            raise exception.LayerBusy(
                name=top.name,
                reason='layers %s are backed by it' %
                       ', '.join(k.name for k in kids))
        try:
            return self._backing(top)
        except (exception.UnsafeBackingFile, exception.MalformedLayer,
                exception.QemuImgError) as e:
            LOG.warning('%s %s, whose chain is unusable: %s', doing,
                        top.path, e)
            return None

    def delete_volume(self, volume_id):
        with self.chain_lock():
            top = self.find(naming.VOLUME, volume_id)
            if top is None:
                LOG.info('Volume %s has no layer on %s; nothing to delete',
                         volume_id, self.volumes.storage_id)
                return
            below = self._below_unused_top(top, 'Deleting')
            self.remove_layer(top, below)
            self._collect(below)

    def _collect(self, layer):
        """Delete anonymous layers left without children, downwards.

        Bases are kept: unused bases are the image cache's to prune.
        """
        while layer is not None and layer.kind == naming.LAYER:
            if self.children(layer):
                return
            below = self._backing(layer)
            LOG.info('Removing layer %s: nothing depends on it any more',
                     layer.path)
            self.remove_layer(layer, below)
            layer = below

    def extend(self, volume_id, size_bytes):
        with self.chain_lock():
            top = self.volume(volume_id)
            top.store.grow(top.name, self._layer_bytes(top.store, top.fmt,
                                                       size_bytes))
            with self.sizes.changing(top.store, top.name):
                self.qemu.resize(top.path, top.fmt, size_bytes)

    def provisioned_bytes(self):
        """Sum of the virtual sizes of all volumes (see ``sizes``)."""
        return self.sizes.total()

    def virtual_size(self, layer):
        """A layer's virtual size from its header; no qemu-img run.

        Only for layers of ours: their headers were written by qemu-img
        for this engine.
        """
        if layer.fmt == naming.QCOW2:
            return qemu.read_header(layer.path)[1]
        return qemu.raw_size(layer.path)

    def active(self, volume_id):
        """(path, format) of the volume's top layer, chain validated."""
        top = self.volume(volume_id)
        self.chain(top)
        return top.path, top.fmt

    def replace_volume(self, volume_id, work):
        """Make the filled work layer ``work`` the volume's only layer.

        The old top goes, and the layers below it that nothing else
        needs. The new layer is published before the old one is deleted:
        a crash in between leaves the old content readable (see
        ``repair._drop_unwritten_raw``).
        """
        with self.chain_lock():
            top = self.volume(volume_id)
            below = self._below_unused_top(top, 'Replacing')
            new = Layer(self.volumes, naming.layer(naming.VOLUME, volume_id,
                                                   work.fmt))
            same_name = new.name == top.name
            if same_name and not top.store.atomic_replace:
                # LVM cannot rename over an LV: the old one goes first.
                self.remove_layer(top, below)
            self.rename_layer(work, new.name)
            if not same_name:
                self.remove_layer(top, below)
            self._collect(below)
        return new

    def flatten_to(self, volume_id, dest_path, dest_fmt):
        """Write the volume's whole content into a new file."""
        top = self.volume(volume_id)
        self.chain(top)
        self.qemu.convert(top.path, top.fmt, dest_path, dest_fmt)
    # -- start-up ----------------------------------------------------------

    def cleanup(self):
        """Undo or finish what a crash left behind (see ``repair``).

        Returns the names of the work files removed.
        """
        with self.chain_lock():
            return repair.repair(self)
