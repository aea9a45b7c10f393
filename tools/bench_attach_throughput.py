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

"""What a desktop reads and writes through its qcow2 chain, in one run.

The chain is built by the engine as a desktop's is: the cached base of an
image (every cluster holds data), a snapshot layer (a quarter of the
disk, in 1 MiB stripes) and the active overlay above it (another quarter).
Beside it, on the same file system, a flat raw file of the same size,
every byte written. ``qemu-img bench`` then reads the whole disk
sequentially, writes it (the overlay allocates its clusters: a desktop's
first writes) and writes it again (clusters already allocated), through
each, with the cache and AIO mode QEMU uses for these volumes
(``cache=none``, ``aio=native``) when the file system supports O_DIRECT,
else through the page cache (said in the output). Prints the median MB/s
(10^6 bytes) of each and the chain/raw ratio.

Not a test: figures only. Usage:
bench_attach_throughput.py [--runs N] [--size-mib N] [--dir DIR]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile

from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base

MiB = base.MiB
BUFFER = MiB
DEPTH = 4


def supports_o_direct(directory):
    probe = os.path.join(directory, '.o-direct-probe')
    try:
        fd = os.open(probe, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def build_chain(workdir, size):
    """(path of the active overlay, list of the chain's layer paths)."""
    mount = os.path.join(workdir, 'storage')
    locks = os.path.join(workdir, 'locks')
    os.makedirs(mount)
    os.makedirs(locks)
    engine, cache = base.build_engine('bench', mount, locks)
    image = os.path.join(workdir, 'image.qcow2')
    base.make_image(image, [(0x40, 0, size)], size=size)
    image_id = uuidutils.generate_uuid()
    volume_id = uuidutils.generate_uuid()
    cache.create_volume(image_id, {'id': image_id, 'disk_format': 'qcow2'},
                        lambda dest: shutil.copyfile(image, dest), volume_id,
                        size, naming.QCOW2)
    os.unlink(image)
    _stripes(engine.volume(volume_id).path, 0x51, 0, size)
    engine.create_snapshot(volume_id, uuidutils.generate_uuid())
    top = engine.volume(volume_id)
    _stripes(top.path, 0x52, 2 * MiB, size)
    return top.path, [layer.path for layer in engine.chain(top)]


def _stripes(path, byte, start, size):
    """1 MiB of ``byte`` every 4 MiB from ``start``: a quarter of the disk."""
    commands = []
    for offset in range(start, size, 4 * MiB):
        commands += ['-c', 'write -P 0x%02x %d %d' % (byte, offset, MiB)]
    subprocess.run(['qemu-io', '-f', 'qcow2'] + commands + [path],
                   check=True, capture_output=True)


def build_raw(workdir, size):
    path = os.path.join(workdir, 'flat.raw')
    base.make_image(path, [(0x40, 0, size)], size=size, fmt='raw')
    return path


def bench_once(path, fmt, size, write, cache_mode):
    """Seconds ``qemu-img bench`` takes to go over the whole disk once."""
    args = ['qemu-img', 'bench', '-f', fmt, '-t', cache_mode,
            '-c', str(size // BUFFER), '-s', str(BUFFER), '-d', str(DEPTH)]
    if cache_mode == 'none':
        args.append('-n')   # aio=native, as the disk XML says
    if write:
        args += ['-w', '--pattern=0x%02x' % 0x60]
    out = subprocess.run(args + [path], check=True, capture_output=True,
                         text=True).stdout
    return float(re.search(r'Run completed in ([0-9.]+) seconds', out)
                 .group(1))


def mb_per_s(size, seconds):
    return size / seconds / 1e6


def bench(workdir, size, runs, cache_mode):
    top, layers = build_chain(workdir, size)
    raw = build_raw(workdir, size)
    targets = (('qcow2, %d layers (base, snapshot, overlay)' % len(layers),
                top, 'qcow2'),
               ('one flat raw file', raw, 'raw'))
    results = {}
    for kind, write in (('read', False), ('write', True),
                        ('rewrite', True)):
        for label, path, fmt in targets:
            # (The first write pass allocates the overlay's clusters; it
            # runs once, the others are medians.)
            count = 1 if kind == 'write' else runs
            results[(kind, label)] = statistics.median(
                mb_per_s(size, bench_once(path, fmt, size, write, cache_mode))
                for _i in range(count))
    return [t[0] for t in targets], results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--size-mib', type=int, default=512)
    parser.add_argument('--dir', default=None,
                        help='work directory (default: a temporary one); '
                             'put it on the file system the volumes use')
    args = parser.parse_args()
    base.disable_privsep()
    workroot = tempfile.mkdtemp(prefix='auxo-bench-', dir=args.dir)
    size = args.size_mib * MiB
    try:
        direct = supports_o_direct(workroot)
        cache_mode = 'none' if direct else 'writeback'
        labels, results = bench(workroot, size, args.runs, cache_mode)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    print('disk: %d MiB in %s, %d KiB requests, queue depth %d' % (
        args.size_mib, os.path.dirname(workroot), BUFFER // 1024, DEPTH))
    if direct:
        print('cache=none, aio=native (O_DIRECT)')
    else:
        print('no O_DIRECT on this file system: cache=writeback, so the '
              'page cache is measured as well')
    print('chain: %s; raw: %s' % tuple(labels))
    print('%-8s %12s %12s %10s' % ('', 'chain MB/s', 'raw MB/s',
                                   'chain/raw'))
    for kind in ('read', 'write', 'rewrite'):
        chain_mbs = results[(kind, labels[0])]
        raw_mbs = results[(kind, labels[1])]
        print('%-8s %12.0f %12.0f %10.2f' % (kind, chain_mbs, raw_mbs,
                                             chain_mbs / raw_mbs))


if __name__ == '__main__':
    main()
