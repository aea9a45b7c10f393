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

"""The container interface the engine is written against.

A store holds layers (files in a directory, LVs in a volume group) by name.
It knows nothing of qcow2 or chains: that is the engine's business. Stores
are injected into the engine, so the same chain and cache code runs on both.
"""

import abc
import contextlib
import os

from oslo_utils import excutils


def fsync_path(path, flags=0):
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store(object, metaclass=abc.ABCMeta):
    """A flat namespace of layers on one storage.

    Capability flags, checked by the engine:

    * ``thick``: a layer's space is fixed when it is allocated (LVs); the
      engine sizes layers with ``qemu-img measure`` and grows them itself.
    * ``atomic_replace``: ``rename`` may atomically replace an existing
      layer (``rename(2)``); without it the engine never relies on it.
    * ``shared``: other hosts see the storage too (a SAN volume group), so
      its locks must hold across hosts (checked at start-up).
    * ``indexed``: the store keeps a child index (``add_child`` ...), so
      the children of its layers are found without reading every header
      (doc/scale.md). Without it the engine scans.
    * ``index_on_layer``: a layer's index entries are kept on the layer
      itself (tags of an LV), not under its name: they go with it when it
      is renamed, and a layer that does not exist has none.
    """

    thick = False
    atomic_replace = False
    shared = False
    indexed = False
    index_on_layer = False

    def __init__(self, storage_id):
        self.storage_id = storage_id

    @abc.abstractmethod
    def check(self):
        """Raise StorageUnavailable saying why the store cannot be used."""

    @abc.abstractmethod
    def path(self, name):
        """Absolute path of a layer (it need not exist)."""

    @abc.abstractmethod
    def owns(self, path):
        """Return the layer name if ``path`` resolves inside this store."""

    @abc.abstractmethod
    def exists(self, name):
        pass

    @abc.abstractmethod
    def allocate(self, name, size_bytes):
        """Make room for a new, empty layer. Fails if it exists."""

    @abc.abstractmethod
    def delete(self, name):
        """Remove a layer; a missing layer is not an error."""

    @abc.abstractmethod
    def rename(self, old, new):
        pass

    @abc.abstractmethod
    def list(self):
        """Names of every entry (layers and temporaries)."""

    @abc.abstractmethod
    def capacity(self):
        """(total_bytes, free_bytes)."""

    @abc.abstractmethod
    def size(self, name):
        """Bytes the layer occupies on the storage."""

    def grow(self, name, size_bytes):
        """Thick stores: make the layer at least ``size_bytes`` big."""

    def sync(self, name):
        """Make the layer's data durable (file or block device)."""
        fsync_path(self.path(name))

    def touch(self, name):
        """Record that the layer was just used (cache ageing)."""

    def last_used(self, name):
        """Seconds since the epoch of the last ``touch``, or None."""
        return None

    def apply_mode(self, name):
        """File stores: give the layer the mode its kind calls for.

        Returns True if the mode changed. Block stores keep backing LVs
        read-only by activation instead (``activate(read_only=True)``).
        """
        return False

    @contextlib.contextmanager
    def writable(self, name):
        """Let the engine rewrite a read-only layer's header, then restore.

        Only start-up repair uses it, with the chain lock held.
        """
        yield self.path(name)

    def owns_work(self, name):
        """May start-up repair remove the work layer ``name``?

        Only the writer that made it may, while other writers share the
        store: it could be theirs, still being filled.
        """
        return True

    def refresh_view(self):
        """Block stores: make this host's devices match the layers now.

        For a store that several writers change (a clustered SAN group),
        run by the driver each time it takes a lock other writers change
        layers under.
        """

    def activate(self, name):
        """Block stores: make the layer's device node usable."""

    def deactivate(self, name):
        """Block stores: release the layer's device node."""

    # -- child index (stores with ``indexed``) -----------------------------
    #
    # Entries are hints that may outlive what they name, never the reverse:
    # the engine records a child before any header names its parent, and
    # checks each entry's header before trusting it.

    def add_child(self, parent, child):
        """Durably record that layer ``child`` may stand on ``parent``."""
        raise NotImplementedError()

    def add_children(self, parent, children):
        """``add_child`` of each of ``children`` (start-up's repair)."""
        for child in sorted(children):
            self.add_child(parent, child)

    def drop_child(self, parent, child):
        """Forget one entry; a missing entry is not an error."""
        raise NotImplementedError()

    def child_names(self, parent):
        """Names recorded under ``parent``, in no particular order."""
        raise NotImplementedError()

    def drop_children(self, parent):
        """Forget every entry of ``parent`` (it is gone)."""
        raise NotImplementedError()

    def index(self):
        """{parent name: set of child names}: every entry."""
        raise NotImplementedError()

    # -- listing with identities (for caches of header facts) ------------

    def entries(self):
        """[(name, identity)] of every entry.

        The identity changes when the name is given to another layer (an
        inode number), or is None when the store cannot tell cheaply.
        """
        return [(name, None) for name in self.list()]

    @contextlib.contextmanager
    def cached_names(self):
        """``exists`` and ``list`` may answer from one listing meanwhile.

        For a caller holding the chain lock, which walks every layer
        (start-up repair): then only this store adds, renames or removes
        its names. A store whose listing is cheap ignores it.
        """
        yield

    def listing_stamp(self):
        """A value that changes when a name is added, removed or renamed.

        None when the store cannot tell cheaply.
        """
        return None

    @contextlib.contextmanager
    def remove_on_error(self, name):
        """Delete ``name`` if the block raises; the error propagates."""
        try:
            yield self.path(name)
        except Exception:
            with excutils.save_and_reraise_exception():
                self.delete(name)
