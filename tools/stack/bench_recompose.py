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

"""Recompose N desktops onto a new template version, through cinder.

``auxo-stack bench-recompose [-n N] [--stock-count S]``: N desktops are
made from image v1 on ``local1`` (cinder_auxo, image cache on) and S on
``stock`` (the same driver with cinder's image-volume cache off: cinder's
full-copy path).
Image v2 is cached on ``local1`` first, as it is once its template has
been published there. Then ``cinder-auxo-recompose`` moves each set onto
v2 through cinder's os-reimage, and the run prints, per backend, the
wall time until every desktop is available again and the bytes
cinder-volume wrote meanwhile (``write_bytes`` of its processes, which
includes the qemu-img children they reaped), with the ratios.

Both images hold the same amount of data, as two versions of a template
do; v2 is a full image, not a delta, so that the stock path reimages
correct content too.

The stock path writes every desktop in full (cinder's reimage asks for a
non-sparse copy), so S stock desktops need S GiB free: 100 of them do not
fit on a CI disk. Its cost per desktop does not depend on how many others
there are (no shared state, one full copy each), so the stock figures for
N are S's scaled by N / S, and the report says so.
"""

import json
import os
import subprocess
import time

MiB = 1024 * 1024
GiB = 1024 * MiB


def write_bytes(stack, service='cinder-volume'):
    """Bytes the service's processes (and their reaped children) wrote."""
    total = 0
    for pid in stack.group_members(stack.read_pid(service)):
        try:
            with open('/proc/%d/io' % pid) as f:
                fields = dict(line.split(': ') for line in f.read().split(
                    '\n') if line)
        except OSError:
            continue
        total += int(fields['write_bytes'])
    return total


def create_desktops(stack, image_id, backend, count):
    ids = [stack.cinder('POST', '/volumes', {'volume': {
        'size': 1, 'imageRef': image_id, 'volume_type': backend,
        'name': 'auxo-recompose-bench'}})['volume']['id']
        for _ in range(count)]
    for volume_id in ids:
        stack.wait_volume(volume_id, 900)
    return ids


def recompose(stack, volume_ids, image_id, concurrency):
    env = dict(os.environ, OS_AUTH_URL=stack.KEYSTONE_URL,
               OS_USERNAME='admin', OS_PASSWORD=stack.ADMIN_PASSWORD,
               OS_PROJECT_NAME='admin', OS_USER_DOMAIN_ID='default',
               OS_PROJECT_DOMAIN_ID='default')
    argv = [os.path.join(stack.CINDER_VENV, 'bin', 'cinder-auxo-recompose'),
            '--json', '--to-image', image_id, '--concurrency',
            str(concurrency)]
    for volume_id in volume_ids:
        argv += ['--volume', volume_id]
    out = subprocess.run(argv, env=env, capture_output=True, text=True,
                         timeout=3600)
    if out.returncode:
        raise stack.StackError('recompose failed: %s' % out.stderr[-2000:])
    return json.loads(out.stdout)


def reads(path, byte, offset, length):
    out = subprocess.run(
        ['qemu-io', '-r', '-U', '-c', 'read -P %d %d %d' % (
            byte, offset, length), path], capture_output=True, text=True)
    return out.returncode == 0 and 'verification failed' not in out.stdout


def run(stack, count, data_mb, concurrency, stock_count=None):
    stock_count = min(count, stock_count or count)
    stack.ensure_stock_backend()
    stack.check_room(stack.STOCK_BACKEND, stock_count * GiB * 2 + 2 * GiB,
                     '%d full-copy desktops' % stock_count,
                     'lower --stock-count')
    backends = (stack.DEFAULT_BACKEND, stack.STOCK_BACKEND)
    counts = {stack.DEFAULT_BACKEND: count, stack.STOCK_BACKEND: stock_count}
    v1 = stack.bench_image(data_mb, 'auxo-recompose-v1', 0x71)
    v2 = stack.bench_image(data_mb, 'auxo-recompose-v2', 0x72)
    made = []
    results = {}
    try:
        stack.say('caching v2 on %s', stack.DEFAULT_BACKEND)
        made += create_desktops(stack, v2, stack.DEFAULT_BACKEND, 1)
        desktops = {}
        for backend in backends:
            stack.say('%d desktops of v1 on %s', counts[backend], backend)
            desktops[backend] = create_desktops(stack, v1, backend,
                                                counts[backend])
            made += desktops[backend]
        for backend in backends:
            stack.say('recomposing the %d desktops of %s onto v2',
                      counts[backend], backend)
            before = write_bytes(stack)
            started = time.monotonic()
            summary = recompose(stack, desktops[backend], v2, concurrency)
            elapsed = time.monotonic() - started
            written = write_bytes(stack) - before
            if sorted(summary['reimaged']) != sorted(desktops[backend]):
                raise stack.StackError('not every desktop of %s was '
                                       'reimaged: %s' % (backend, summary))
            # The first and last desktop now read v2.
            for volume_id in (desktops[backend][0], desktops[backend][-1]):
                path = os.path.join(stack.mount_point(backend),
                                    'volume-%s' % volume_id)
                if not reads(path, 0x72, 0, data_mb * MiB):
                    raise stack.StackError('%s does not read v2' % path)
            results[backend] = (elapsed, written)
    finally:
        stack.delete_volumes(made)
        for image_id in (v1, v2):
            stack.http('DELETE', stack.GLANCE_URL + '/v2/images/' + image_id)
    print('\ndesktops of 1 GiB, images of %d MiB data, %d reimages in '
          'flight' % (data_mb, concurrency))
    print('%-8s %9s %9s %12s %14s %16s' % (
        'backend', 'desktops', 'wall s', 's/desktop', 'MiB written',
        'MiB/desktop'))
    per_desktop = {}
    for backend in backends:
        elapsed, written = results[backend]
        n = counts[backend]
        per_desktop[backend] = (elapsed / n, written / n)
        print('%-8s %9d %9.1f %12.2f %14.1f %16.2f' % (
            backend, n, elapsed, elapsed / n, written / MiB,
            written / MiB / n))
    if stock_count < count:
        elapsed, written = per_desktop[stack.STOCK_BACKEND]
        print('%-8s %9d %9.1f %12.2f %14.1f %16.2f  (scaled from %d)' % (
            'stock', count, elapsed * count, elapsed, written * count / MiB,
            written / MiB, stock_count))
    ours = per_desktop[stack.DEFAULT_BACKEND]
    stock = per_desktop[stack.STOCK_BACKEND]
    print('stock/cache ratio per desktop: time %.1fx, bytes written %.0fx'
          % (stock[0] / ours[0], stock[1] / max(ours[1], 1)))
    print('%s: %d desktops recomposed in %.1f s (goal: under 60 s for 100)'
          % (stack.DEFAULT_BACKEND, count,
             results[stack.DEFAULT_BACKEND][0]))
    return 0
