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

"""Provisioned capacity of a store, without reading every header each poll.

A volume's virtual size is in its top layer's header. Sizes are
remembered per (name, identity): a file renamed over another is a new
identity (an inode on a file store), and a header is read only for a name
not seen under that identity. While the store's listing stamp (a
directory's mtime) has not moved, not even the listing is read again.

The engine makes every change to a name inside ``changing`` (chain lock
held): if nothing else changed the store since the last look, the new
stamp is taken as seen and only the changed names are read again, so a
poll after the engine's own creates and deletes reads no listing either.
"""

import contextlib
import time

from oslo_log import log as logging

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)

# A directory's mtime ticks coarsely: a stamp this fresh may not show a
# change made in the same tick, so it is not trusted.
_FRESH_NS = 100 * 10 ** 6


class ProvisionedSizes(object):

    def __init__(self, store, virtual_size):
        """Sizes of the volumes of ``store``.

        :param virtual_size: callable(Layer) -> bytes, from the header.
        """
        self.store = store
        self._virtual_size = virtual_size
        self._known = {}     # name -> (identity, bytes)
        self._changed = set()
        self._stamp = None
        self._total = 0

    @contextlib.contextmanager
    def changing(self, store, *names):
        """The engine adds, removes, renames or rewrites ``names``."""
        if store is not self.store:
            yield
            return
        before = store.listing_stamp()
        try:
            yield
        finally:
            for name in names:
                seen = self._known.pop(name, None)
                if seen:
                    self._total -= seen[1]
            if self._stamp is not None and before == self._stamp:
                # Nothing else since the last look: follow this change.
                self._stamp = store.listing_stamp()
                self._changed.update(names)
            else:
                self._stamp = None

    def total(self):
        """Sum of the virtual sizes of every volume's top layer."""
        stamp = self.store.listing_stamp()
        if stamp is not None and stamp == self._stamp:
            self._read_changed()
            return self._total
        known = {}
        for name, identity in self.store.entries():
            seen = self._known.get(name)
            if identity is not None and seen and seen[0] == identity:
                known[name] = seen
                continue
            if not (naming.is_layer(name) and
                    naming.parse(name).kind == naming.VOLUME):
                continue
            size = self._read(name)
            if size is not None:
                known[name] = (identity, size)
        self._known = known
        self._changed.clear()
        self._total = sum(size for _identity, size in known.values())
        fresh = stamp is None or time.time_ns() - stamp < _FRESH_NS
        self._stamp = None if fresh else stamp
        return self._total

    def _read_changed(self):
        if not self._changed:
            return
        for name in self._changed:
            if (naming.is_layer(name) and
                    naming.parse(name).kind == naming.VOLUME and
                    self.store.exists(name)):
                size = self._read(name)
                if size is not None and name not in self._known:
                    # Identity unknown: the next listing reads it again.
                    self._known[name] = (None, size)
                    self._total += size
        self._changed.clear()

    def _read(self, name):
        layer = layer_mod.Layer(self.store, name)
        try:
            return self._virtual_size(layer)
        except FileNotFoundError:
            return None     # deleted since the listing
        except (exception.MalformedLayer, exception.QemuImgError) as e:
            # One damaged layer is that volume's problem, found on its
            # next attach; the storage itself stays usable. Counted as 0
            # (and warned about once) until its file changes.
            LOG.warning('Not counting %(path)s in the provisioned capacity '
                        'of %(storage)s: %(err)s',
                        {'path': layer.path, 'storage': self.store.storage_id,
                         'err': e.msg})
            return 0
