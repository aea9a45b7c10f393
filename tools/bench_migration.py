#!/usr/bin/env python3
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

"""Moving a desktop between two storages of one host, in one run.

A desktop is a 1 GiB volume made from a cached image holding 256 MiB of
data, plus 16 MiB of its own. Prints the median time and the bytes written
(to the destination, and for the generic copy also its temporary raw
export on the source) for:

* the driver's move (``migrate_volume``) when the destination already has
  the image's base (every desktop after the first);
* the same move when it does not (the first desktop also copies the base);
* cinder's generic copy of the same volume (a raw export of the source,
  the destination made a raw layer, ``volume_utils.copy_volume`` between
  them: what retype to another driver costs).

Not a test: figures only. Usage: bench_migration.py [--runs N] [--dir DIR]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

from cinder.volume import volume_utils
from oslo_concurrency import processutils
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.engine import migration
from cinder_auxo.engine import naming
from cinder_auxo.engine import views
from cinder_auxo.tests.functional import base

GiB = base.GiB
MiB = base.MiB
IMAGE_DATA = 256 * MiB
OWN_DATA = 16 * MiB


class Storages(object):

    def __init__(self, workdir):
        locks = os.path.join(workdir, 'locks')
        os.makedirs(locks)
        self.mounts = []
        self.engines = []
        for name in ('sata', 'ssd'):
            mount = os.path.join(workdir, name)
            os.makedirs(mount)
            self.mounts.append(mount)
            self.engines.append(base.build_engine(name, mount, locks))
        self.image = os.path.join(workdir, 'image.qcow2')
        base.make_image(self.image, [(0x40 + i, i * 64 * MiB, 16 * MiB)
                                     for i in range(IMAGE_DATA // (16 * MiB))],
                        size=GiB)
        self.image_id = uuidutils.generate_uuid()

    def written(self):
        """Bytes on the destination storage."""
        return base.tree_bytes(self.mounts[1])

    def desktop(self):
        engine, cache = self.engines[0]
        vid = uuidutils.generate_uuid()
        layer, _downloaded = cache.create_volume(
            self.image_id, {'id': self.image_id, 'disk_format': 'qcow2'},
            lambda dest: shutil.copyfile(self.image, dest), vid, GiB,
            naming.QCOW2)
        base.write_pattern(layer.path, 0x3d, 512 * MiB, OWN_DATA)
        return vid

    def evict_destination(self):
        _engine, cache = self.engines[1]
        for vid in [naming.parse(n).ident for n in os.listdir(self.mounts[1])
                    if n.startswith('volume-')]:
            self.engines[1][0].delete_volume(vid)
        cache.evict(self.image_id)


def timed(storages, operation, vid):
    """(seconds, bytes written) of one operation.

    Bytes: the destination's growth, plus what the operation wrote
    elsewhere for a while (it returns that).
    """
    before = storages.written()
    start = time.perf_counter()
    transient = operation(vid) or 0
    return (time.perf_counter() - start,
            storages.written() - before + transient)


def bench(workdir, runs):
    st = Storages(workdir)
    (src, _c0), (dst, dst_cache) = st.engines

    def move(vid):
        migration.move_volume(src, vid, dst, dst_cache, naming.QCOW2)
        src.delete_volume(vid)

    def generic(vid):
        reader = views.RawViews(src)
        source = reader.export(naming.VOLUME, vid)
        exported = base.allocated_bytes(source)
        dst.create_volume(vid, GiB, naming.QCOW2)
        target = views.RawViews(dst).raw_target(vid, GiB)
        volume_utils.copy_volume(source, target, GiB // units.Mi, '1M',
                                 sparse=True, execute=processutils.execute)
        reader.drop(vid)
        src.delete_volume(vid)
        return exported

    results = {}
    for label, operation, cold in (
            ('move, base cached there', move, False),
            ('move, base copied too', move, True),
            ('generic copy (raw)', generic, False)):
        samples = []
        if not cold:
            move(st.desktop())  # the destination's base, once
        for _i in range(runs):
            if cold:
                st.evict_destination()
            samples.append(timed(st, operation, st.desktop()))
        results[label] = (statistics.median(s[0] for s in samples),
                          statistics.median(s[1] for s in samples))
        st.evict_destination()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--dir', default=None,
                        help='work directory (default: a temporary one)')
    args = parser.parse_args()
    base.disable_privsep()
    workroot = tempfile.mkdtemp(prefix='auxo-bench-', dir=args.dir)
    try:
        results = bench(workroot, args.runs)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    print('desktop: 1 GiB volume, image data %d MiB, own data %d MiB' % (
        IMAGE_DATA // MiB, OWN_DATA // MiB))
    print('%-26s %10s %16s' % ('path', 'p50 s', 'bytes written'))
    for label, (seconds, written) in results.items():
        print('%-26s %10.3f %16d' % (label, seconds, written))
    fast = results['move, base cached there']
    slow = results['generic copy (raw)']
    print('generic/move: time x%.1f, bytes written x%.1f' % (
        slow[0] / fast[0], slow[1] / max(fast[1], 1)))


if __name__ == '__main__':
    main()
