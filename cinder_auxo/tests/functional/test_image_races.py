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

"""Create, delete, prune and evict racing on one image, 20 processes.

Each worker is a process with its own engine, image cache and cache admin
over one storage directory and one lock directory, as cinder-volume and
cinder-auxo-cache processes of one host are. Rounds start together. In
each, every worker makes a volume from the image, writes its own pattern,
checks what it reads, and (but for a few in the last round) deletes it;
a quarter of them also prune by size, a quarter by age and a quarter
evict, before and after their create and after their delete, while the
others create and delete: a round starts on a base nobody uses. After
every other round, once every volume of the round is gone, the evicting
workers evict, so the next round downloads the image anew.

The end state is counted exactly: one download per base published, one
base left with exactly the surviving volumes as children, every survivor
reading the image and its own data through that base, nothing else in
the storage.
"""

import json
import multiprocessing
import os
import shutil
import subprocess
import time
import traceback

from oslo_utils import uuidutils

from cinder_auxo.engine import cache_admin
from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_image_cache as tic

MiB = base.MiB
GiB = base.GiB
STORAGE = 'storage-races'
WORKERS = 20
ROUNDS = 4
IMAGE_PATTERNS = [(0x6b, 0, 8 * MiB), (0x3c, 20 * MiB, MiB)]
OWN_LENGTH = 64 * 1024
PLAIN, PRUNE_SIZE, PRUNE_AGE, EVICT = range(4)


def _keeper(index):
    """Whether the worker keeps its last volume."""
    return index % 5 == 0


def _own_pattern(index, rnd):
    return 0x80 + index, 32 * MiB + rnd * MiB, OWN_LENGTH


class _Worker(object):
    """One process: its own engine over the shared storage and locks."""

    def __init__(self, test, index):
        self.index = index
        self.role = index % 4
        self.image_id = test.meta['id']
        self.meta = test.meta
        self.image = test.image
        self.downloads = test.downloads_log
        self.witness = test.witness
        self.record = {'created': [], 'deleted': [], 'removed': []}
        self.engine, self.cache = base.build_engine(
            STORAGE, test.mount, test.lock_path)
        self.admin = cache_admin.CacheAdmin(self.cache)

    def fetch(self, path):
        # One line per real download; O_APPEND lines do not interleave.
        with open(self.downloads, 'a') as f:
            f.write('%d\n' % self.index)
        shutil.copyfile(self.image, path)

    def create(self, rnd):
        vid = uuidutils.generate_uuid()
        layer, _downloaded = self.cache.create_volume(
            self.image_id, self.meta, self.fetch, vid, GiB, naming.QCOW2)
        # A second link to the base the volume got: its inode cannot be
        # reused, so "the same base" is exact even if one is re-published
        # under the same name.
        os.link(self.engine.chain(layer)[-1].path, self.witnessed(vid))
        byte, offset, length = _own_pattern(self.index, rnd)
        base.write_pattern(layer.path, byte, offset, length)
        self.record['created'].append([vid, byte, offset, length])
        # Read back while the others race: the image and its own data.
        for b, o, n in IMAGE_PATTERNS + [(byte, offset, length)]:
            base.read_pattern(layer.path, b, o, n)
        return vid

    def witnessed(self, vid):
        return os.path.join(self.witness, vid)

    def delete(self, vid):
        below = self.engine.chain(self.engine.volume(vid))[-1]
        if not os.path.samefile(self.witnessed(vid), below.path):
            raise AssertionError('volume %s no longer stands on the base it '
                                 'was made on' % vid)
        self.cache.delete_volume(vid)
        self.record['deleted'].append(vid)

    def trim(self):
        if self.role == PRUNE_SIZE:
            removed = self.admin.prune(max_bytes=1)
        elif self.role == PRUNE_AGE:
            removed = self.admin.prune(max_age=1, now=time.time() + 3600)
        elif self.role == EVICT:
            removed = self.admin.evict(self.image_id)
        else:
            removed = []
        self.record['removed'] += removed

    def run(self, barrier):
        for rnd in range(ROUNDS):
            barrier.wait()
            # Racing the creates: the base may be unused right now.
            self.trim()
            vid = self.create(rnd)
            self.trim()
            if not (rnd == ROUNDS - 1 and _keeper(self.index)):
                self.delete(vid)
            self.trim()
            barrier.wait()
            # Every volume of the round but the keepers' is gone: every
            # other round, the next one starts without a base.
            if self.role == EVICT and rnd % 2 == 0:
                self.record['removed'] += self.admin.evict(self.image_id)


def _work(test, index, barrier, result_path):
    record = {'error': None}
    try:
        base.disable_privsep()
        worker = _Worker(test, index)
        try:
            worker.run(barrier)
        finally:
            record.update(worker.record)
    except Exception:
        record['error'] = traceback.format_exc()
        barrier.abort()
    with open(result_path, 'w') as f:
        json.dump(record, f)


class ImageRacesTestCase(base.FunctionalTestCase):

    storage_id = STORAGE

    def setUp(self):
        super(ImageRacesTestCase, self).setUp()
        base.disable_privsep()
        self.image = self.image_file(IMAGE_PATTERNS)
        self.meta = tic.Glance().add(self.image)
        self.downloads_log = os.path.join(self.tmp, 'downloads.log')
        open(self.downloads_log, 'w').close()
        self.witness = os.path.join(self.tmp, 'witness')
        os.mkdir(self.witness)

    def _race(self):
        # fork: the workers start with cinder already imported.
        ctx = multiprocessing.get_context('fork')
        barrier = ctx.Barrier(WORKERS, timeout=120)
        results = [os.path.join(self.tmp, 'worker-%02d.json' % i)
                   for i in range(WORKERS)]
        procs = [ctx.Process(target=_work, args=(self, i, barrier, path))
                 for i, path in enumerate(results)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=240)
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
        records = []
        for path in results:
            with open(path) as f:
                records.append(json.load(f))
        errors = [r['error'] for r in records if r['error']]
        self.assertEqual([], errors[:1])
        return records

    def test_create_delete_prune_evict_race_on_one_image(self):
        records = self._race()
        created = {c[0]: c[1:] for r in records for c in r['created']}
        deleted = [v for r in records for v in r['deleted']]
        removed = [name for r in records for name in r['removed']]
        self.assertEqual(WORKERS * ROUNDS, len(created))
        self.assertEqual(len(deleted), len(set(deleted)))
        survivors = set(created) - set(deleted)
        keepers = [i for i in range(WORKERS) if _keeper(i)]
        self.assertEqual(len(keepers), len(survivors))

        # One generation, removed only when unused, re-downloaded after.
        image_id = self.meta['id']
        only = naming.base(image_id, 1, naming.QCOW2)
        self.assertEqual(set([only]), set(removed))
        with open(self.downloads_log) as f:
            downloads = len(f.read().split())
        # After every other round the evictors find the base unused.
        self.assertGreaterEqual(len(removed), ROUNDS // 2)
        self.assertEqual(len(removed) + 1, downloads)

        # Exactly one base, the current one, with exactly the survivors.
        engine, cache = self.make_engine()
        bases = cache.bases()
        self.assertEqual([only], [b.name for b in bases])
        children = set(naming.parse(k.name).ident
                       for k in engine.children(bases[0]))
        self.assertEqual(survivors, children)
        for b in bases:
            if not engine.children(b):
                self.assertEqual(cache.latest(image_id), b)

        # Nothing else in the storage: no work files, no stray layers.
        self.assertEqual(sorted(['_base'] + [
            naming.layer(naming.VOLUME, v, naming.QCOW2)
            for v in survivors]), self.listing())
        # Besides the base, only the child index (its entries are checked
        # against the headers by the index tests).
        self.assertEqual([only], sorted(
            n for n in os.listdir(cache.store.directory)
            if n != naming.INDEX_DIR))

        # The base is the image, bit for bit; each survivor reads it and
        # its own data through it.
        subprocess.run(['qemu-img', 'compare', '-f', 'qcow2', '-F', 'qcow2',
                        self.image, bases[0].path], check=True,
                       capture_output=True)
        for vid in survivors:
            top = engine.volume(vid)
            self.assertEqual([top, bases[0]], engine.chain(top))
            self.assertTrue(os.path.samefile(
                os.path.join(self.witness, vid), bases[0].path))
            byte, offset, length = created[vid]
            for b, o, n in IMAGE_PATTERNS + [(byte, offset, length)]:
                base.read_pattern(top.path, b, o, n)
            # Its other rounds' volumes were other layers.
            for rnd in range(ROUNDS - 1):
                base.read_pattern(top.path, 0, 32 * MiB + rnd * MiB,
                                  OWN_LENGTH)
