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

"""Who stands on whom: the children of a layer without a full scan.

A layer's parent is its qcow2 header's backing file; the header stays the
only truth. A store with ``indexed`` also keeps, per parent, the names of
the layers that may stand on it (files under ``.children/`` on a file
store, tags on the parent's LV on LVM; doc/scale.md):

* an entry is written, durably, before any published layer's header names
  that parent (``link``), so an entry can be stale but never missing
  (except where the entries are tags on the parent's LV, which go with it
  when it is renamed: ``renamed_away``);
* ``children`` reads the header of each entry only, and believes it;
* start-up (``check``) compares the index with a full header scan and
  repairs it, so what a crash or an older release left is made right
  before requests are served.

Stores without ``indexed`` are scanned. Callers hold the storage's chain
lock.
"""

from oslo_log import log as logging

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
Layer = layer_mod.Layer


class ChildIndex(object):

    def __init__(self, stores, backing):
        """Index over ``stores``.

        :param backing: callable(Layer) -> the validated Layer below, or
                        None.
        """
        self.stores = stores
        self._backing = backing
        # Without an indexed store no parent needs to be known on a
        # rename or a delete (on LVM, a header read may need activation).
        self.active = any(store.indexed for store in stores)

    def link(self, parent, child):
        """Record ``child`` under ``parent``; before a header says so."""
        if parent is not None and parent.store.indexed:
            parent.store.add_child(parent.name, child.name)

    def unlink(self, parent, child):
        """``child`` no longer stands on ``parent`` (or is gone)."""
        if parent is not None and parent.store.indexed:
            parent.store.drop_child(parent.name, child.name)

    def forget(self, layer):
        """``layer`` is gone: drop its entries."""
        if layer.store.indexed:
            layer.store.drop_children(layer.name)

    def stands_on(self, candidate, layer):
        """True if ``candidate``'s backing file is ``layer``."""
        try:
            return self._backing(candidate) == layer
        except FileNotFoundError:
            return False
        except (exception.UnsafeBackingFile, exception.MalformedLayer,
                exception.QemuImgError) as e:
            # Not backed by any of our layers (or no qcow2 at all):
            # whatever it is, it does not depend on ``layer``.
            LOG.debug('%s is not a child of anything: %s', candidate.path, e)
            return False
        except OSError as e:
            # A layer we cannot read cannot be proven not to depend on
            # ``layer``: refuse to act on a guess.
            raise exception.LayerBusy(
                name=layer.name,
                reason='cannot read %s: %s' % (candidate.path, e))

    def children(self, layer):
        """Layers whose direct backing file is ``layer``."""
        return list(self._children(layer))

    def has_children(self, layer):
        """True if a layer stands on ``layer``; stops at the first."""
        return any(True for _kid in self._children(layer))

    def _children(self, layer):
        if not layer.store.indexed:
            for candidate in self._candidates():
                if self.stands_on(candidate, layer):
                    yield candidate
            return
        for name in layer.store.child_names(layer.name):
            if not _is_qcow2_layer(name):
                continue
            for store in self.stores:
                candidate = Layer(store, name)
                if (store.exists(name) and
                        self.stands_on(candidate, layer)):
                    yield candidate

    def _candidates(self):
        for store in self.stores:
            for name in store.list():
                if _is_qcow2_layer(name):
                    yield Layer(store, name)

    def scan(self):
        """{parent Layer: set of child names}, from every header."""
        found = {}
        for candidate in self._candidates():
            try:
                below = self._backing(candidate)
            except (FileNotFoundError, exception.UnsafeBackingFile,
                    exception.MalformedLayer, exception.QemuImgError):
                continue
            if below is not None:
                found.setdefault(below, set()).add(candidate.name)
        return found

    def check(self):
        """Make the index agree with the headers; (missing, stale).

        Missing entries are added (what a crash between two syncs, or a
        release without the index, left); entries no header backs are
        removed.
        """
        truth = self.scan()
        missing = stale = 0
        for parent, names in truth.items():
            if not parent.store.indexed or self.renamed_away(parent):
                continue
            lacking = names - set(parent.store.child_names(parent.name))
            if lacking:
                LOG.warning('Child index of %s lacked %s; adding them',
                            parent.path, ', '.join(sorted(lacking)))
                parent.store.add_children(parent.name, lacking)
                missing += len(lacking)
        for store in self.stores:
            if not store.indexed:
                continue
            for parent, names in store.index().items():
                real = truth.get(Layer(store, parent), set())
                for name in names - real:
                    store.drop_child(parent, name)
                    stale += 1
                if not real:
                    store.drop_children(parent)
        return missing, stale

    @staticmethod
    def renamed_away(parent):
        """True for a parent whose entries went with it in a rename.

        An interrupted retire renamed a shared snapshot's LV to
        ``layer-<id>`` before re-pointing its children, whose headers
        still name the snapshot. Its tags are on ``layer-<id>`` now, and
        there is no LV left to tag: start-up repair re-points the children
        (``repair._repair_link``), recording them there again.
        """
        return (parent.store.index_on_layer and
                not parent.store.exists(parent.name))


def _is_qcow2_layer(name):
    return naming.is_layer(name) and naming.fmt_of(name) == naming.QCOW2
