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
"""Two services of one cinder cluster write one volume group at once.

Run by tools/storage-vm/two-writers.sh in two storage VMs logged in to one
iSCSI LUN, cinder's locks on a real etcd on the host. Each node runs
LVMSANDriver in cluster ``auxo-pair`` as host ``<node>@lvmsan``; they meet
and share what they made through keys in that etcd (``/auxo-pair/``).

``writer --node a|b``
    1. both nodes, at the same moment, make volumes from one image no
       node has cached: one download and one base in all;
    2. each runs its share of the mixed operations (volumes from the
       image, data written, snapshots, snapshot and volume deletes,
       extends) on volumes and snapshots either node made, one operation
       per volume at a time as cinder's statuses allow;
    3. both check by data every volume and snapshot, ``vgck`` and the
       child index;
    4. node a makes a volume from a second uncached image and hangs in
       its convert, holding the image's lock: the host kills its VM.
       Node b then makes a volume from that image (once etcd lets the
       dead node's lock go) and carries on with more operations, leaving
       the dead node's work LV alone.
``restart --node a``
    node a's service started again: its start-up repair removes its own
    work LV, the interrupted create retried makes an overlay of the base
    node b made; every volume and snapshot reads its data; then
    everything is deleted and the cache evicted: the group ends empty.

Each prints what it checked; exits 1 if a check failed. Storage VM only.
"""

import json
import os
import random
import sys
import time

from cinder import coordination
import etcd3gw
from oslo_config import cfg
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional.lvm import failover
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
CONF = cfg.CONF
WORK = '/var/tmp/auxo/two-writers'
CLUSTER = 'auxo-pair'
PREFIX = '/auxo-pair/'
# Fixed, so that both nodes offer cinder the same images.
FIRST = '6a1d6a9e-3c0e-4c43-9f58-1f6b0f5a0001'
SECOND = '6a1d6a9e-3c0e-4c43-9f58-1f6b0f5a0002'
IMAGE_DATA = {FIRST: (0x7e, 0, 8 * MiB), SECOND: (0x3c, 0, 4 * MiB)}
EACH_FIRST = 2        # volumes each node makes at the same moment
OPS = 50              # mixed operations per node (100 in all)
AFTER_KILL = 10       # node b's operations once node a is dead
VOLUME_GB = 1
# Thick LVs the size of their volume: the group (a 100 GiB LUN) keeps
# room for this many volumes, extends and snapshots.
MOST_VOLUMES = 12


class Pair(object):
    """The two nodes' shared notes: keys in the coordination's etcd."""

    def __init__(self, backend_url):
        hostport = backend_url.split('://', 1)[1].split('/')[0]
        host, port = hostport.rsplit(':', 1)
        self.etcd = etcd3gw.client(host=host, port=int(port))

    @staticmethod
    def _text(value):
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key, value):
        self.etcd.put(PREFIX + key, json.dumps(value))

    def get(self, key):
        values = self.etcd.get(PREFIX + key)
        return json.loads(self._text(values[0])) if values else None

    def delete(self, key):
        self.etcd.delete(PREFIX + key)

    def items(self, prefix):
        found = {}
        for value, meta in self.etcd.get_prefix(PREFIX + prefix):
            key = self._text(meta['key'])[len(PREFIX + prefix):]
            found[key] = json.loads(self._text(value))
        return found

    def wait(self, key, timeout=3600):
        deadline = time.monotonic() + timeout
        while self.get(key) is None:
            if time.monotonic() > deadline:
                raise RuntimeError('waited %d s for %s' % (timeout, key))
            time.sleep(1)
        return self.get(key)

    def meet(self, node, step):
        """Both nodes reach ``step``."""
        self.put('at/%s/%s' % (step, node), True)
        for other in ('a', 'b'):
            self.wait('at/%s/%s' % (step, other))


def image_service(images_dir):
    """Both images, raw so that both nodes make the very same bytes."""
    images = test_local_driver.FileImageService(images_dir)
    for image_id, (byte, offset, length) in sorted(IMAGE_DATA.items()):
        path = os.path.join(WORK, image_id)
        with open(path, 'wb') as f:
            f.truncate(64 * MiB)
            f.seek(offset)
            f.write(bytes([byte]) * length)
        meta = images.add(path, disk_format='raw')
        del images.meta[meta['id']]
        os.rename(os.path.join(images_dir, meta['id']),
                  os.path.join(images_dir, image_id))
        meta['id'] = image_id
        images.meta[image_id] = meta
    return images


class Writer(object):

    def __init__(self, node, backend_url, out):
        self.node = node
        self.out = out
        self.pair = Pair(backend_url)
        self.check = failover.Checks()
        self.rand = random.Random(node)
        images_dir = os.path.join(WORK, 'images')
        os.makedirs(images_dir)
        self.images = image_service(images_dir)
        self.drv, self.ctxt, took = failover.start_driver(
            backend_url, host='%s@lvmsan' % node, cluster_name=CLUSTER)
        self.engine = self.drv.engine
        self.vg = os.environ['AUXO_VG']
        self.say('start-up (do_setup, check_for_setup_error) %.1f s' % took)
        self.counts = {}
        # What this node's refreshes of its view found to put right.
        self.refreshed = {'runs': 0}
        refresh = self.engine.volumes.refresh_view

        def counting():
            done = refresh()
            self.refreshed['runs'] += 1
            for key, value in done.items():
                self.refreshed[key] = self.refreshed.get(key, 0) + value
            return done
        self.engine.volumes.refresh_view = counting

    def say(self, text):
        print('%s: %s' % (self.node, text))
        sys.stdout.flush()

    # -- the shared notes: volumes, snapshots, claims ---------------------

    def claim(self, volume_id):
        """One operation per volume at a time, as cinder's statuses do."""
        lock = coordination.COORDINATOR.get_lock('auxo-pair-claim-%s' %
                                                 volume_id)
        return lock if lock.acquire(blocking=False) else None

    def volume(self, volume_id, size=None):
        size = size or self.pair.get('vol/%s' % volume_id)['size']
        return failover.volume_obj(self.ctxt, volume_id, size)

    def top(self, volume_id):
        # What a consumer's attach does first: activate the top as it is.
        self.engine.volumes.refresh_view()
        return self.engine.active(volume_id)[0]

    def write(self, volume_id, note):
        """New data in a volume, as its guest writes it."""
        n = len(note['patterns'])
        pattern = (0x20 + (n * 7 + ord(self.node)) % 0xd0,
                   (16 + 2 * n) * MiB, MiB)
        base.write_pattern(self.top(volume_id), *pattern)
        note['patterns'].append(pattern)
        self.pair.put('vol/%s' % volume_id, note)

    # -- operations --------------------------------------------------------

    def create(self, image_id=FIRST):
        vol = self.volume(uuidutils.generate_uuid(), VOLUME_GB)
        result = self.drv.clone_image(self.ctxt, vol, None,
                                      self.images.meta[image_id], self.images)
        if result != (None, True):
            raise AssertionError('clone_image gave %s' % (result,))
        note = {'size': VOLUME_GB, 'patterns': [IMAGE_DATA[image_id]],
                'by': self.node}
        self.pair.put('vol/%s' % vol.id, note)
        return vol.id

    def snapshot(self, volume_id, note):
        snap = failover.snapshot_obj(self.ctxt, uuidutils.generate_uuid(),
                                     self.volume(volume_id))
        self.drv.create_snapshot(snap)
        self.pair.put('snap/%s' % snap.id, {'volume': volume_id,
                                            'patterns': note['patterns']})
        note['snapshots'] = note.get('snapshots', 0) + 1
        self.write(volume_id, note)

    def delete_snapshot(self, volume_id, note):
        snaps = {sid: s for sid, s in self.pair.items('snap/').items()
                 if s['volume'] == volume_id}
        if not snaps:
            return False
        sid = self.rand.choice(sorted(snaps))
        self.drv.delete_snapshot(failover.snapshot_obj(
            self.ctxt, sid, self.volume(volume_id)))
        self.pair.delete('snap/%s' % sid)
        note['snapshots'] -= 1
        self.pair.put('vol/%s' % volume_id, note)
        return True

    def delete_volume(self, volume_id, note):
        if note.get('snapshots'):
            return False
        self.drv.delete_volume(self.volume(volume_id, note['size']))
        self.pair.delete('vol/%s' % volume_id)
        return True

    def extend(self, volume_id, note):
        if note['size'] >= 3:
            return False
        self.drv.extend_volume(self.volume(volume_id), note['size'] + 1)
        note['size'] += 1
        self.pair.put('vol/%s' % volume_id, note)
        return True

    def one_operation(self):
        vols = self.pair.items('vol/')
        kind = self.rand.choice(['create', 'write', 'snapshot', 'snapshot',
                                 'delete snapshot', 'delete snapshot',
                                 'delete volume', 'extend'])
        if len(vols) < 4 or kind == 'create' and len(vols) < MOST_VOLUMES:
            self.create()
            return 'create'
        if kind == 'create':
            kind = 'delete volume'
        for volume_id in self.rand.sample(sorted(vols), len(vols)):
            lock = self.claim(volume_id)
            if lock is None:
                continue
            try:
                note = self.pair.get('vol/%s' % volume_id)
                if note is None:
                    continue
                done = {
                    'write': lambda: self.write(volume_id, note) or True,
                    'snapshot': lambda: self.snapshot(volume_id,
                                                      note) or True,
                    'delete snapshot': lambda: self.delete_snapshot(
                        volume_id, note),
                    'delete volume': lambda: self.delete_volume(volume_id,
                                                                note),
                    'extend': lambda: self.extend(volume_id, note),
                }[kind]()
            finally:
                lock.release()
            if done:
                return kind
        if len(vols) >= MOST_VOLUMES:
            return 'nothing'
        self.create()
        return 'create'

    def operations(self, count):
        self.counts = {}
        started = time.monotonic()
        for i in range(count):
            kind = self.one_operation()
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if i % 10 == 9:
                self.say('%d operations, %.0f s' % (
                    i + 1, time.monotonic() - started))
        took = time.monotonic() - started
        self.say('%d operations in %.0f s (%s)' % (
            count, took, ', '.join('%s %d' % kv
                                   for kv in sorted(self.counts.items()))))
        self.say('view refreshes so far: %s' % ', '.join(
            '%s %d' % kv for kv in sorted(self.refreshed.items())))

    # -- checks ------------------------------------------------------------

    def check_all(self, when):
        self.engine.volumes.refresh_view()
        vols, snaps = self.pair.items('vol/'), self.pair.items('snap/')
        bad = []
        for vid, note in sorted(vols.items()):
            ok, detail = failover.reads(self.engine.active(vid)[0],
                                        note['patterns'])
            if ok:
                size = self.engine.virtual_size(self.engine.volume(vid))
                ok = size == note['size'] * units.Gi
                detail = 'virtual size %d' % size
            if not ok:
                bad.append('volume %s: %s' % (vid[:8], detail))
        for sid, snap in sorted(snaps.items()):
            ok, detail = failover.reads(self.engine.snapshot(sid).path,
                                        snap['patterns'])
            if not ok:
                bad.append('snapshot %s: %s' % (sid[:8], detail))
        self.check('%s: %d volumes and %d snapshots read their data' % (
            when, len(vols), len(snaps)), not bad, '; '.join(bad))
        self.check('%s: the volume group is consistent (vgck)' % when,
                   *failover.group_consistent(self.vg))
        gaps = base.index_gaps(self.engine)
        self.check('%s: the child index is whole' % when, not gaps, gaps)
        return vols, snaps

    def work_lvs(self):
        """{work LV: its tags}."""
        out = lvm_base.run('lvs', '--noheadings', '--separator', '|', '-o',
                           'lv_name,lv_tags', self.vg)
        found = {}
        for line in out.splitlines():
            lv, _sep, tags = line.strip().partition('|')
            if naming.is_temp(lv):
                found[lv] = tags
        return found

    def bases(self, image_id):
        return [n for n in failover.lv_names(self.vg)
                if n.startswith('base-%s' % image_id)]


def writer(node, backend_url, out):
    # The host boots node a once node b (the LUN's target) runs this.
    with open(os.path.join(out, 'ready'), 'w') as f:
        f.write('started\n')
    w = Writer(node, backend_url, out)
    pair = w.pair
    # (The host starts a fresh etcd for each run.)
    pair.meet(node, 'started')

    # 1. Both nodes, one uncached image, at once.
    started = time.monotonic()
    for _ in range(EACH_FIRST):
        w.create()
    pair.put('downloads/%s' % node, w.images.downloads)
    w.say('%d volumes from the uncached image in %.1f s, %d download(s)' %
          (EACH_FIRST, time.monotonic() - started, w.images.downloads))
    pair.meet(node, 'first')
    downloads = sum(pair.items('downloads/').values())
    w.check('one download of the first image by both nodes',
            downloads == 1, '%d downloads' % downloads)
    w.check('one base of the first image', len(w.bases(FIRST)) == 1,
            w.bases(FIRST))

    # 2. and 3. The mixed operations, then every check.
    w.operations(OPS)
    pair.meet(node, 'mixed')
    w.check_all('after %d operations on two nodes' % (2 * OPS))
    pair.meet(node, 'checked')

    # 4. Node a dies holding a lock; node b carries on.
    if node == 'a':
        pair.put('pending', uuidutils.generate_uuid())
        marker = os.path.join(out, 'holding')
        failover.hang_in_convert(w.engine.qemu, marker, SECOND)
        w.say('a volume from the second image: hangs in its convert')
        vol = w.volume(pair.get('pending'), VOLUME_GB)
        w.drv.clone_image(w.ctxt, vol, None, w.images.meta[SECOND],
                          w.images)
        w.say('the hanging convert returned')
        return 1
    pair.wait('killed')
    theirs = w.work_lvs()
    w.say('node a is dead; work LVs %s' % theirs)
    started = time.monotonic()
    before = w.images.downloads
    w.create(SECOND)
    w.say('a volume from the second image in %.1f s (the dead node held '
          'its lock)' % (time.monotonic() - started))
    w.check('node b downloaded the second image once',
            w.images.downloads - before == 1,
            '%d downloads' % (w.images.downloads - before))
    w.operations(AFTER_KILL)
    w.check_all('node b alone, after the kill')
    left = w.work_lvs()
    w.check('the dead node\'s work LV is left to it',
            len(theirs) == 1 and left == theirs and all(
                lvm_store.writer_tag('a@lvmsan') in tags.split(',')
                for tags in left.values()), left)
    pair.put('b-done', True)
    w.say('%d check(s) failed; waiting for node a\'s restart' %
          w.check.failed)
    pair.put('b-failed', w.check.failed)
    with open(os.path.join(out, 'waiting'), 'w') as f:
        f.write('%d\n' % w.check.failed)
    # Node b exports the LUN: it stays up until node a is done.
    pair.wait('restart-done', timeout=3 * 3600)
    return 1 if w.check.failed else 0


def restart(node, backend_url, out):
    w = Writer(node, backend_url, out)
    pair = w.pair
    pair.wait('b-done')
    left = w.work_lvs()
    w.check('start-up repair removed this node\'s work LV', not left, left)
    pending = pair.get('pending')
    vol = w.volume(pending, VOLUME_GB)
    result = w.drv.clone_image(w.ctxt, vol, None, w.images.meta[SECOND],
                               w.images)
    pair.put('vol/%s' % pending, {'size': VOLUME_GB, 'by': 'a',
                                  'patterns': [IMAGE_DATA[SECOND]]})
    w.check('the interrupted create, retried, is an overlay of the base '
            'node b made', result == (None, True) and
            w.images.downloads == 0 and len(w.bases(SECOND)) == 1,
            '%s, %d downloads, bases %s' % (result, w.images.downloads,
                                            w.bases(SECOND)))
    vols, snaps = w.check_all('after the restart')
    for sid, snap in sorted(snaps.items()):
        w.drv.delete_snapshot(failover.snapshot_obj(
            w.ctxt, sid, w.volume(snap['volume'])))
    for vid, note in sorted(vols.items()):
        w.drv.delete_volume(w.volume(vid, note['size']))
    for image_id in (FIRST, SECOND):
        w.drv.image_cache.evict(image_id)
    left = failover.lv_names(w.vg)
    w.check('after deleting everything and evicting the cache, the group '
            'is empty', not left, left)
    w.check('the volume group is consistent (vgck)',
            *failover.group_consistent(w.vg))
    failed = w.check.failed + (pair.get('b-failed') or 0)
    w.say('%d check(s) failed here, %s on node b' % (
        w.check.failed, pair.get('b-failed')))
    pair.put('restart-done', True)
    return 1 if failed else 0


def main(argv=None):
    args = failover.role_arguments(
        __doc__, ('writer', 'restart'), WORK, argv,
        (('--node',), {'choices': ('a', 'b'), 'required': True}))
    role = writer if args.role == 'writer' else restart
    return role(args.node, args.backend_url, args.out)


if __name__ == '__main__':
    sys.exit(main())
