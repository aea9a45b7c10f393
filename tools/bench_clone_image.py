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

"""Warm-cache create-from-image against a full copy, in one run.

For a 1 GiB and a 50 GiB virtual-size image (with real data written into
them), prints the median and p95 latency of creating a volume from the
warm cache (a qcow2 overlay on the cached base) and of a full-copy clone of
the same base (what a cache-less create does after the download), the
bytes each writes to the storage, and their ratios. Not a test: figures
only. Usage: bench_clone_image.py [--runs N] [--dir DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from oslo_utils import uuidutils

from cinder_auxo.tests.functional import base

GiB = base.GiB
MiB = base.MiB


def make_image(path, virtual, data_bytes):
    """A qcow2 with ``data_bytes`` of data spread over its virtual size."""
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path,
                    str(virtual)], check=True)
    chunks = 16
    step = virtual // chunks
    cmds = []
    for i in range(chunks):
        cmds += ['-c', 'write -P 0x%02x %d %d' % (0x40 + i, i * step,
                                                  data_bytes // chunks)]
    subprocess.run(['qemu-io', '-f', 'qcow2'] + cmds + [path], check=True,
                   capture_output=True)


def measure(fn, runs):
    times, written = [], []
    for _i in range(runs):
        fn_result = fn()
        times.append(fn_result[0])
        written.append(fn_result[1])
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, statistics.median(written)


def bench(workdir, virtual, data_bytes, runs):
    mount = os.path.join(workdir, 'storage')
    locks = os.path.join(workdir, 'locks')
    os.makedirs(mount)
    os.makedirs(locks)
    engine, cache = base.build_engine('bench', mount, locks)
    image = os.path.join(workdir, 'image.qcow2')
    make_image(image, virtual, data_bytes)
    image_id = uuidutils.generate_uuid()
    meta = {'id': image_id, 'disk_format': 'qcow2'}

    def fetch(dest):
        shutil.copyfile(image, dest)

    # Warm the cache: the one download.
    cache.create_volume(image_id, meta, fetch, uuidutils.generate_uuid(),
                        virtual, 'qcow2')
    base_layer = cache.latest(image_id)

    def warm_create():
        before = base.tree_bytes(mount)
        start = time.perf_counter()
        cache.create_volume(image_id, meta, fetch,
                            uuidutils.generate_uuid(), virtual, 'qcow2')
        return time.perf_counter() - start, base.tree_bytes(mount) - before

    def full_copy():
        before = base.tree_bytes(mount)
        vid = uuidutils.generate_uuid()
        start = time.perf_counter()
        engine.copy_to_volume(base_layer, vid, virtual, 'qcow2')
        elapsed = time.perf_counter() - start
        written = base.tree_bytes(mount) - before
        engine.delete_volume(vid)
        return elapsed, written

    warm = measure(warm_create, runs)
    copy = measure(full_copy, max(3, runs // 4))
    shutil.rmtree(mount)
    return warm, copy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--dir', default=None,
                        help='work directory (default: a temporary one)')
    args = parser.parse_args()
    base.disable_privsep()
    workroot = tempfile.mkdtemp(prefix='auxo-bench-', dir=args.dir)
    cases = [('1 GiB', GiB, 256 * MiB), ('50 GiB', 50 * GiB, GiB)]
    print('%-8s %-22s %10s %10s %14s' % (
        'image', 'path', 'p50 s', 'p95 s', 'bytes written'))
    try:
        for label, virtual, data in cases:
            wd = os.path.join(workroot, label.replace(' ', ''))
            os.makedirs(wd)
            warm, copy = bench(wd, virtual, data, args.runs)
            for name, (p50, p95, written) in (
                    ('warm-cache overlay', warm), ('full-copy clone', copy)):
                print('%-8s %-22s %10.4f %10.4f %14d' % (
                    label, name, p50, p95, written))
            print('%-8s ratio full-copy/overlay: latency x%.0f, bytes '
                  'written x%.0f (image data %d MiB)' % (
                      label, copy[0] / warm[0],
                      copy[2] / max(warm[2], 1), data // MiB))
    finally:
        shutil.rmtree(workroot, ignore_errors=True)


if __name__ == '__main__':
    main()
