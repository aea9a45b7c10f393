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

"""Per-operation cost of the file store against the number of volumes.

A LocalFileDriver (cinder's objects, real qemu-img, real files) holds N
desktops, all overlays on one cached base. At each N, each of these is
timed ``--runs`` times through the driver and printed as p50 / p95 in ms:

* create: a warm create from the cached image (``clone_image``);
* snapshot, snapshot delete (a merge into the volume's top), delete;
* stats: ``get_volume_stats(refresh=True)`` right after a create or a
  delete changed the listing, and ``stats idle``: again after 0.15 s with
  nothing changed (a directory's mtime younger than 0.1 s is not trusted);
* scan: a full header scan of the storage (what every delete, snapshot
  delete and base collection did before the child index), for scale.

Then the ratio of the largest N to the smallest (goal: at most 1.5), and
the warm create p50 next to a bare ``qemu-img create`` of the same overlay
in the same run (goal: at most 20 ms). The storage is filled between sizes
with copies of a volume the driver made, published by the engine's own
rename (so the index knows them). Not a test: figures only.

Usage: bench_scale.py [--sizes 10,100,1000,5000] [--runs N] [--dir DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from cinder import context as cinder_context
from cinder import objects
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import uuidutils

from cinder_auxo.drivers import local
from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_local_driver

BACKEND = 'storage-bench-scale'
OPS = ('create', 'snapshot', 'snapshot delete', 'delete', 'stats',
       'stats idle', 'scan')


class Desktops(object):
    """A driver on a fresh storage, and the cinder objects around it."""

    def __init__(self, workdir):
        self.mount = os.path.join(workdir, 'storage')
        locks = os.path.join(workdir, 'locks')
        for d in (self.mount, locks, os.path.join(workdir, 'conv')):
            os.makedirs(d)
        objects.register_all()
        lockutils.set_defaults(locks)
        cfg.CONF.set_override('image_conversion_dir',
                              os.path.join(workdir, 'conv'))
        self.ctxt = cinder_context.get_admin_context()
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=BACKEND)
        self.driver = local.LocalFileDriver(configuration=conf)
        for key, value in (('mount_point', self.mount),
                           ('volume_backend_name', BACKEND),
                           ('image_volume_cache_enabled', True),
                           ('image_cache_maintenance_interval', 0)):
            cfg.CONF.set_override(key, value, group=BACKEND)
        self.driver.do_setup(self.ctxt)
        self.driver.check_for_setup_error()
        self.images = test_local_driver.FileImageService(workdir)
        image = base.make_image(os.path.join(workdir, 'image.qcow2'),
                                [(0x40, 0, 4 * base.MiB)], size=base.GiB)
        self.meta = self.images.add(image)
        self.count = 0
        self.template = self.create()   # also downloads the base

    @property
    def engine(self):
        return self.driver.engine

    def volume(self):
        return fake_volume.fake_volume_obj(
            self.ctxt, id=uuidutils.generate_uuid(), size=1,
            status='available', attach_status='detached')

    def create(self):
        vol = self.volume()
        _update, cloned = self.driver.clone_image(self.ctxt, vol, None,
                                                  self.meta, self.images)
        assert cloned
        self.count += 1
        return vol

    def delete(self, vol):
        self.driver.delete_volume(vol)
        self.count -= 1

    def snapshot(self, vol):
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id,
            volume=vol)
        self.driver.create_snapshot(snap)
        return snap

    def fill(self, n):
        """Bring the storage to ``n`` volumes with copies of the template."""
        src = self.engine.volume(self.template.id)
        store = self.engine.volumes
        while self.count < n:
            work = layer_mod.Layer(store, naming.temp(
                uuidutils.generate_uuid(), '.qcow2'))
            shutil.copyfile(src.path, work.path)
            self.engine.rename_layer(work, naming.layer(
                naming.VOLUME, uuidutils.generate_uuid()))
            self.count += 1

    def stats(self):
        self.driver.get_volume_stats(refresh=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def at_size(desk, n, runs):
    desk.fill(n)
    samples = {op: [] for op in OPS}
    for _i in range(runs):
        ms, vol = timed(desk.create)
        samples['create'].append(ms)
        samples['stats'].append(timed(desk.stats)[0])
        time.sleep(0.15)
        samples['stats idle'].append(timed(desk.stats)[0])
        ms, snap = timed(desk.snapshot, vol)
        samples['snapshot'].append(ms)
        samples['snapshot delete'].append(
            timed(desk.driver.delete_snapshot, snap)[0])
        samples['delete'].append(timed(desk.delete, vol)[0])
        samples['stats'].append(timed(desk.stats)[0])
    for _i in range(max(1, runs // 4)):
        samples['scan'].append(timed(desk.engine.index.scan)[0])
    return {op: (statistics.median(v), _p95(v)) for op, v in samples.items()}


def _p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def bare_create(workdir, runs):
    """p50 ms of ``qemu-img create`` of the same overlay on the same base."""
    cache = os.path.join(workdir, 'storage', '_base')
    base_path = os.path.join(cache, next(n for n in sorted(os.listdir(cache))
                                         if naming.is_layer(n)))
    times = []
    for i in range(runs):
        dest = os.path.join(workdir, 'bare-%d.qcow2' % i)
        ms, _r = timed(subprocess.run, [
            'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base_path,
            '-F', 'qcow2', '-o', 'cluster_size=65536', dest,
            str(base.GiB)], check=True)
        times.append(ms)
        os.unlink(dest)
    return statistics.median(times)


def report(sizes, results, bare):
    print('%-16s' % 'ms p50/p95' + ''.join('%18s' % ('N=%d' % n)
                                           for n in sizes))
    for op in OPS:
        print('%-16s' % op + ''.join(
            '%18s' % ('%.2f/%.2f' % results[n][op]) for n in sizes))
    first, last = sizes[0], sizes[-1]
    print('p50 ratio N=%d / N=%d (goal <= 1.5; scan is the old cost):'
          % (last, first))
    for op in OPS:
        print('  %-16s x%.2f' % (op, results[last][op][0] /
                                 max(results[first][op][0], 1e-6)))
    create = statistics.median(results[n]['create'][0] for n in sizes)
    if bare is None:
        print('warm create p50 %.1f ms' % create)
        return
    print('warm create p50 %.1f ms (goal <= 20), bare qemu-img create '
          '%.1f ms' % (create, bare))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='10,100,1000,5000',
                        help='comma-separated volume counts, ascending')
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--dir', default=None,
                        help='work directory (default: a temporary one)')
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(','))
    logging.register_options(cfg.CONF)
    cfg.CONF([], project='bench_scale')
    logging.set_defaults(default_log_levels=['cinder_auxo=WARNING',
                                             'cinder=WARNING'])
    logging.setup(cfg.CONF, 'bench_scale')
    base.disable_privsep()
    workroot = tempfile.mkdtemp(prefix='auxo-bench-', dir=args.dir)
    start = time.time()
    try:
        desk = Desktops(workroot)
        results = {}
        for n in sizes:
            results[n] = at_size(desk, n, args.runs)
            print('N=%d done (%.0f s)' % (n, time.time() - start),
                  flush=True)
        bare = bare_create(workroot, args.runs)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    report(sizes, results, bare)


if __name__ == '__main__':
    main()
