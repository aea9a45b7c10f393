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

"""Per-operation cost on LVs against the number of volumes (storage VM).

The LVM counterpart of tools/bench_scale.py: an LVMSANDriver on the VM's
volume group (real LVM on the iSCSI LUN) holds N desktops, overlay LVs on
one cached base LV, and create, snapshot, snapshot delete, delete and the
stats poll are timed at each N, with the number of LVM commands and LV
activations each operation ran. Not a test, and not in CI (filling 500
LVs takes minutes under TCG):

    LUN_SIZE=700G VM_TIMEOUT=14400 tools/storage-vm/run-tests.sh \\
        'python tools/storage-vm/bench_lvm_scale.py --sizes 10,500'

(A whole run took 89 minutes on a 2-core machine, most of it filling
the group: give the VM a timeout to match. Each size's figures are
printed as soon as they are measured; doc/scale.md has one run's.)

Each overlay LV is sized for its worst case (a 1 GiB volume takes about
1 GiB of the group), hence the large sparse LUN.
"""

import argparse
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench_lvm  # noqa: E402
import bench_scale  # noqa: E402
from cinder import context as cinder_context  # noqa: E402
from cinder import objects  # noqa: E402

from cinder_auxo.tests.functional import base  # noqa: E402
from cinder_auxo.tests.functional import test_local_driver  # noqa: E402

LVM_TOOLS = ('lvcreate', 'lvremove', 'lvrename', 'lvchange', 'lvextend',
             'lvs', 'vgs', 'pvs', 'vgchange', 'lvdisplay')


class CommandCounter(object):
    """Wraps a store's runner; counts LVM commands and activations."""

    def __init__(self, execute):
        self._execute = execute
        self.counts = collections.Counter()

    def __call__(self, *cmd, **kwargs):
        tool = next((c for c in cmd if c in LVM_TOOLS), None)
        if tool:
            self.counts['lvm'] += 1
            if tool in ('lvchange', 'vgchange') and '-a' in cmd and (
                    cmd[cmd.index('-a') + 1] == 'y'):
                self.counts['activations'] += 1
        return self._execute(*cmd, **kwargs)


class LVDesktops(bench_scale.Desktops):
    """bench_scale's desktops on the VM's volume group."""

    def __init__(self, workdir):
        objects.register_all()
        self.ctxt = cinder_context.get_admin_context()
        self.driver = bench_lvm.make_driver(workdir, True)
        self.counters = []
        for store in {id(s): s for s in self.driver.engine.stores}.values():
            counter = CommandCounter(store._execute)
            store._execute = counter
            self.counters.append(counter)
        self.images = test_local_driver.FileImageService(workdir)
        image = base.make_image(os.path.join(workdir, 'image.qcow2'),
                                [(0x40, 0, 4 * base.MiB)], size=base.GiB)
        self.meta = self.images.add(image)
        self.count = 0
        self.template = self.create()

    def fill(self, n):
        # Through the driver: an LV cannot be copied in place as a file.
        while self.count < n:
            self.create()

    def counted(self):
        total = collections.Counter()
        for counter in self.counters:
            total.update(counter.counts)
        return total


def commands_per_op(desk):
    """{op: (LVM commands, activations)} of one run of each operation."""
    out = {}

    def measure(op, fn, *args):
        before = desk.counted()
        result = fn(*args)
        after = desk.counted()
        out[op] = (after['lvm'] - before['lvm'],
                   after['activations'] - before['activations'])
        return result

    vol = measure('create', desk.create)
    snap = measure('snapshot', desk.snapshot, vol)
    measure('snapshot delete', desk.driver.delete_snapshot, snap)
    measure('delete', desk.delete, vol)
    measure('stats', desk.stats)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='10,500')
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(','))
    tmp = bench_lvm.start('bench-lvm-scale-')
    desk = LVDesktops(tmp)
    results, commands = {}, {}
    for n in sizes:
        desk.fill(n)
        commands[n] = commands_per_op(desk)
        results[n] = bench_scale.at_size(desk, n, args.runs)
        # A run cut short (the VM's timeout) keeps what it measured.
        print('N=%d: %s' % (n, json.dumps({'ms p50/p95': results[n],
                                           'lvm/activations': commands[n]})),
              flush=True)
    print('\nLVMSANDriver on the storage VM (TCG), %d runs per size' %
          args.runs)
    bench_scale.report(sizes, results, None)
    print('\nLVM commands / LV activations per operation:')
    print('%-16s' % 'op' + ''.join('%14s' % ('N=%d' % n) for n in sizes))
    for op in commands[sizes[0]]:
        print('%-16s' % op + ''.join(
            '%14s' % ('%d / %d' % commands[n][op]) for n in sizes))


if __name__ == '__main__':
    main()
