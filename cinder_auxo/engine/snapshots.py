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

"""Snapshot, revert and clone operations of the chain engine.

Mixed into ``ChainEngine``: these methods use its locating, validating and
layer-making core (``chain.py``). Every public method takes the storage's
chain lock; the private ones expect it held.
"""

from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import uuidutils

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
Layer = layer_mod.Layer

COPY = 'copy'
OVERLAY = 'overlay'


class SnapshotOps(object):

    # -- snapshots ---------------------------------------------------------

    def create_snapshot(self, volume_id, snapshot_id):
        """Freeze the volume's top layer as the snapshot.

        A new, empty overlay on it becomes the volume's top. Done again
        after a crash, it returns the snapshot made the first time.
        """
        with self.chain_lock():
            top = self.volume(volume_id)
            done = self.find(naming.SNAPSHOT, snapshot_id)
            if done is not None:
                if self._backing(top) == done:
                    LOG.info('Snapshot %s of volume %s already exists',
                             snapshot_id, volume_id)
                    return done
                raise exception.AuxoException(
                    reason='%s already exists' % done.path)
            frozen = Layer(top.store, naming.layer(naming.SNAPSHOT,
                                                   snapshot_id, top.fmt))
            self._freeze(top, frozen)
            return frozen

    def _freeze(self, top, frozen):
        """Rename ``top`` to ``frozen``; a new overlay on it is the top.

        The new top is made first, under ``.tmp-<volume>.next``, backed by
        the frozen name before it exists: at every instant the volume has a
        top, or start-up publishes the next one (``repair``).
        """
        depth = len(self.chain(top)) + 1
        if depth > self.max_depth:
            raise exception.ChainTooDeep(path=top.path, depth=depth,
                                         limit=self.max_depth)
        size = self.virtual_size(top)
        volume_id = naming.parse(top.name).ident
        new_top = Layer(top.store, naming.layer(naming.VOLUME, volume_id))
        nxt = Layer(top.store, naming.next_top(volume_id))
        self._make(nxt, size, backing=frozen, unsafe=True)
        with top.store.remove_on_error(nxt.name):
            self.rename_layer(top, frozen.name)
        try:
            self.rename_layer(nxt, new_top.name)
        except Exception:
            with excutils.save_and_reraise_exception():
                self.rename_layer(frozen, top.name)
                top.store.delete(nxt.name)
        LOG.info('Froze %s as %s; %s is the new active layer', top.name,
                 frozen.name, new_top.name)
        return new_top

    def delete_snapshot(self, snapshot_id):
        """Remove the snapshot, merging only its own delta."""
        with self.chain_lock():
            frozen = self.find(naming.SNAPSHOT, snapshot_id)
            if frozen is None:
                self._finish_pending_merge(snapshot_id)
                return
            kids = self.children(frozen)
            if not kids:
                below = self._backing(frozen)
                self.remove_layer(frozen, below)
                self._collect(below)
            elif len(kids) == 1:
                self._merge(frozen, kids[0])
            else:
                self._retire(frozen, kids)

    def _merge(self, frozen, child):
        """Fold ``frozen`` into its only child, moving the fewer bytes."""
        below = self._backing(frozen)
        self.chain(child)
        can_commit = (frozen.store is child.store and
                      frozen.store.atomic_replace and
                      frozen.fmt == child.fmt)
        if can_commit:
            commit_cost = self.qemu.allocated_bytes(child.path, child.fmt)
            rebase_cost = self.qemu.allocated_bytes(frozen.path, frozen.fmt)
        if can_commit and commit_cost < rebase_cost:
            LOG.info('Merging %s into %s by commit (%d bytes rather than '
                     '%d)', child.name, frozen.name, commit_cost,
                     rebase_cost)
            self._merge_by_commit(frozen, child)
            return
        LOG.info('Merging %s into %s by rebase', frozen.name, child.name)
        child.store.grow(child.name, self._layer_bytes(
            child.store, child.fmt,
            self.qemu.virtual_size(child.path, child.fmt)))
        self.repoint(child, below)
        child.store.sync(child.name)
        self.remove_layer(frozen, below)

    def _merge_by_commit(self, frozen, child):
        """Commit ``child`` into ``frozen``, publish the result as ``child``.

        The snapshot's name must never hold the child's later data, so the
        frozen layer leaves it before the commit writes (doc/design.md,
        "Merging by commit"): renamed to ``merge-<id>``, then the child is
        re-pointed at it. Start-up puts a merge interrupted before the
        re-pointing back, and finishes one interrupted after it.
        """
        work = Layer(frozen.store, naming.layer(
            naming.MERGE, naming.parse(frozen.name).ident, frozen.fmt))
        self.rename_layer(frozen, work.name)
        try:
            self.repoint(child, work, unsafe=True)
        except Exception:
            with excutils.save_and_reraise_exception():
                # Nothing was written yet: the snapshot is whole again.
                self.rename_layer(work, frozen.name)
        self.finish_merge(work, child)

    def _finish_pending_merge(self, snapshot_id):
        """A retried delete finishes a merge that failed half-way.

        (A full disk in the commit, say: the layer cannot go back to the
        snapshot's name once written, see ``_merge_by_commit``.)
        """
        work = self.find(naming.MERGE, snapshot_id)
        kids = self.children(work) if work else []
        if len(kids) != 1:
            LOG.info('Snapshot %s has no layer on %s; nothing to delete',
                     snapshot_id, self.volumes.storage_id)
            return
        LOG.info('Finishing the merge of %s into %s', kids[0].name,
                 work.name)
        self.finish_merge(work, kids[0])

    def finish_merge(self, work, child):
        """Commit ``child`` into ``work`` (again) and rename it over it.

        ``commit -d`` leaves the child intact, so doing it twice writes
        the same clusters and a crash at any point loses nothing.
        """
        self.qemu.commit(child.path, child.fmt)
        work.store.sync(work.name)
        self.rename_layer(work, child.name)
        # Its one child was the layer it replaced.
        self.index.forget(work)

    def _retire(self, frozen, kids):
        """Keep a shared snapshot layer under an anonymous name."""
        anon = Layer(frozen.store, naming.layer(
            naming.LAYER, naming.parse(frozen.name).ident, frozen.fmt))
        LOG.info('Snapshot layer %s has %d dependent layers; keeping it as '
                 '%s until the last is gone', frozen.name, len(kids),
                 anon.name)
        self.rename_layer(frozen, anon.name)
        for kid in kids:
            self.repoint(kid, anon, unsafe=True)

    def revert_to_snapshot(self, volume_id, snapshot_id):
        """Discard the volume's changes since the snapshot."""
        with self.chain_lock():
            top = self.volume(volume_id)
            frozen = self.snapshot(snapshot_id)
            if self.children(top):
                raise exception.LayerBusy(name=top.name,
                                          reason='layers depend on it')
            size = self.virtual_size(frozen)
            # Named as the volume's next top: should a crash come between
            # deleting the old top and the rename (stores without atomic
            # replace), start-up publishes it.
            nxt = Layer(top.store, naming.next_top(volume_id))
            work = self._make(nxt, size, backing=frozen)
            new_top = naming.layer(naming.VOLUME, volume_id)
            old_below = self._backing(top)
            if top.store.atomic_replace and top.name == new_top:
                self.rename_layer(work, new_top)
            else:
                self.remove_layer(top, old_below)
                self.rename_layer(work, new_top)
            if old_below is not None and old_below != frozen:
                self._collect(old_below)

    # -- clones ------------------------------------------------------------

    def clone_snapshot(self, snapshot_id, volume_id, size_bytes, fmt, mode):
        frozen = self.snapshot(snapshot_id)
        if mode == OVERLAY:
            return self.create_overlay(volume_id, size_bytes, frozen)
        return self.copy_to_volume(frozen, volume_id, size_bytes, fmt)

    def clone_volume(self, src_volume_id, volume_id, size_bytes, fmt, mode):
        if mode != OVERLAY:
            return self.copy_to_volume(self.volume(src_volume_id),
                                       volume_id, size_bytes, fmt)
        # Both volumes stand on the frozen layer; it goes with the last.
        return self.overlay_on_volume(src_volume_id, volume_id, size_bytes)

    def overlay_on_volume(self, src_volume_id, volume_id, size_bytes):
        """A new overlay on a frozen copy of another volume's content.

        The source's top is frozen into an anonymous layer (reused while
        the source has not been written since), so the source stays
        writable and the new volume never sees its later writes.
        """
        with self.chain_lock():
            top = self.volume(src_volume_id)
            below = self._backing(top)
            if (below is None or below.kind != naming.LAYER or
                    self.qemu.allocated_bytes(top.path, top.fmt)):
                below = Layer(top.store, naming.layer(
                    naming.LAYER, uuidutils.generate_uuid(), top.fmt))
                self._freeze(top, below)
            return self._overlay(volume_id, size_bytes, below)
