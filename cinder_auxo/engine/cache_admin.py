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

"""Seeing and trimming one storage's image cache.

Used by the drivers' periodic task and by ``cinder-auxo-cache``. Every
deletion re-checks, under the image's lock, that nothing depends on the
base any more.
"""

import time

from oslo_log import log as logging

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming

LOG = logging.getLogger(__name__)


class CacheAdmin(object):

    def __init__(self, image_cache):
        self.cache = image_cache
        self.engine = image_cache.engine
        self.store = image_cache.store

    def entries(self, count_children=True):
        """One dict per base: what an operator wants to see.

        Counting a base's children reads each child's header; without
        ``count_children`` a row only says whether one exists (``in_use``)
        and ``children`` is None.
        """
        rows = []
        with self.engine.chain_lock():
            for base in self.cache.bases():
                parsed = naming.parse(base.name)
                below = self.engine.chain(base)[1:]
                if count_children:
                    kids = len(self.engine.children(base))
                    in_use = kids > 0
                else:
                    kids = None
                    in_use = self.engine.index.has_children(base)
                rows.append({
                    'image_id': parsed.ident,
                    'generation': parsed.generation,
                    'name': base.name,
                    'format': parsed.fmt,
                    'bytes': self.store.size(base.name),
                    'children': kids,
                    'in_use': in_use,
                    'last_used': self.store.last_used(base.name),
                    'backed_by': below[0].name if below else None,
                    'chain_length': len(below) + 1,
                })
        return rows

    def _delete_if_unused(self, image_id, name, why):
        with self.cache.image_lock(image_id):
            return self.cache.delete_if_unused(
                layer_mod.Layer(self.store, name), why)

    def prune(self, max_age=0, max_bytes=0, now=None):
        """Delete unused bases by age, then by total size.

        Bases unused for more than ``max_age`` seconds go first, then the
        least recently used unused ones until the cache holds at most
        ``max_bytes``. 0 disables either rule. Returns the names removed.
        """
        now = now or time.time()
        removed = []
        rows = self.entries(count_children=False)
        unused = sorted((r for r in rows if not r['in_use']),
                        key=lambda r: r['last_used'] or now)
        if max_age:
            for row in list(unused):
                age = now - (row['last_used'] or now)
                if age > max_age and self._delete_if_unused(
                        row['image_id'], row['name'],
                        'unused for %d s (limit %d s)' % (age, max_age)):
                    removed.append(row['name'])
                    unused.remove(row)
        if max_bytes:
            total = sum(r['bytes'] for r in rows
                        if r['name'] not in removed)
            for row in unused:
                if total <= max_bytes:
                    break
                if self._delete_if_unused(
                        row['image_id'], row['name'],
                        'cache holds %d bytes (limit %d)' % (total,
                                                             max_bytes)):
                    removed.append(row['name'])
                    total -= row['bytes']
        if removed:
            # A removed delta base may leave its parent base unused too;
            # the next run takes care of it once it ages.
            LOG.info('Pruned %d cached bases of %s', len(removed),
                     self.store.storage_id)
        return removed

    def flatten_deep(self, max_chain, only_image=None):
        """Flatten bases whose chain is longer than ``max_chain``.

        The image (every image, or ``only_image``) gets a standalone new
        generation; older generations go when their last child does.
        """
        flattened = []
        for row in self.entries(count_children=False):
            if row['chain_length'] <= max_chain or (
                    only_image and row['image_id'] != only_image):
                continue
            image_id = row['image_id']
            with self.cache.image_lock(image_id):
                latest = self.cache.latest(image_id)
                if latest is None or latest.name != row['name']:
                    continue    # superseded meanwhile
                self.engine.chain(latest)
                work = self.engine.copy_to_temp(latest.path, latest.fmt,
                                                self.store,
                                                self.cache.base_fmt)
                new = self.cache.rename_to_next_generation(image_id, work)
                LOG.info('Flattened the %d-layer chain of image %s into %s',
                         row['chain_length'], image_id, new.path)
                flattened.append(new.name)
            self.cache.collect_superseded(image_id)
        return flattened

    def evict(self, image_id):
        return self.cache.evict(image_id)
