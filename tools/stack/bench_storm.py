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

"""A provisioning storm through cinder, and where its time goes.

``auxo-stack bench --burst N [--parallel P]``: N desktops are requested
from one image, P requests in flight, first on ``local1`` (its cache
warmed by one create) and then on ``stock`` (cinder's image-volume cache
off: a full copy each). For each backend the run prints how long the API
took to accept every create and until every volume was available, and
the median time each create spent in each service.

The split comes from the services' own logs. Every create is sent with
its own ``X-OpenStack-Request-ID``, which cinder carries as the global
request id into every log line of the API, the scheduler and the volume
service; the first and last line of each service bound its share, the
gaps between them are RPC queueing, and the driver's own time is the one
its create line reports. "total" runs from the API's first line to the
volume service's last (the volume is available then), so it leaves out
the client's polling.
"""

import collections
from concurrent import futures
import datetime
import os
import re
import time
import urllib.error
import uuid

GiB = 1024 * 1024 * 1024
SERVICES = ('cinder-api', 'cinder-scheduler', 'cinder-volume')
STAMP = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \d+ \w+ \S+ '
                   r'\[(req-[0-9a-f-]{36}) ')
STAGES = ('api', 'to scheduler', 'scheduler', 'to volume', 'volume manager',
          'driver', 'total')


def log_offsets(stack):
    """Where each service's log ends now; the storm's lines follow."""
    offsets = {}
    for service in SERVICES:
        path = os.path.join(stack.LOGS, service + '.log')
        offsets[service] = os.path.getsize(path) if os.path.exists(
            path) else 0
    return offsets


def service_spans(stack, offsets, request_ids):
    """{request id: {service: (first, last) datetime}} from the logs."""
    wanted = set(request_ids)
    spans = collections.defaultdict(dict)
    for service in SERVICES:
        path = os.path.join(stack.LOGS, service + '.log')
        with open(path, errors='replace') as f:
            f.seek(offsets[service])
            for line in f:
                m = STAMP.match(line)
                if not m or m.group(2) not in wanted:
                    continue
                at = datetime.datetime.strptime(m.group(1),
                                                '%Y-%m-%d %H:%M:%S.%f')
                first, _last = spans[m.group(2)].get(service, (at, at))
                spans[m.group(2)][service] = (first, at)
    return spans


def split(spans, driver_ms):
    """{stage: [seconds per create]} for the creates every log saw."""
    out = collections.defaultdict(list)
    for request_id, by_service in spans.items():
        if len(by_service) != len(SERVICES):
            continue
        api, sched, vol = (by_service[s] for s in SERVICES)
        out['api'].append((api[1] - api[0]).total_seconds())
        out['to scheduler'].append(
            max(0.0, (sched[0] - api[1]).total_seconds()))
        out['scheduler'].append((sched[1] - sched[0]).total_seconds())
        out['to volume'].append(
            max(0.0, (vol[0] - sched[1]).total_seconds()))
        out['volume manager'].append((vol[1] - vol[0]).total_seconds())
        out['total'].append((vol[1] - api[0]).total_seconds())
    out['driver'] = [ms / 1000.0 for ms in driver_ms]
    return out


def storm(stack, image_id, backend, count, parallel):
    """(accepted s, available s, {stage: [s]}) for count creates."""
    request_ids = ['req-%s' % uuid.uuid4() for _i in range(count)]

    def create(i):
        return stack.http(
            'POST', stack.CINDER_URL + '/volumes',
            {'volume': {'size': 1, 'imageRef': image_id,
                        'volume_type': backend,
                        'name': 'auxo-storm-%d' % i}},
            {'OpenStack-API-Version': 'volume ' + stack.API_VERSION,
             'X-OpenStack-Request-ID': request_ids[i]},
            timeout=300)['volume']['id']

    offsets = log_offsets(stack)
    ids = []
    t0 = time.monotonic()
    try:
        with futures.ThreadPoolExecutor(parallel) as pool:
            jobs = [pool.submit(create, i) for i in range(count)]
        accepted = time.monotonic() - t0
        failed = []
        for job in jobs:
            try:
                ids.append(job.result())
            except (OSError, urllib.error.URLError) as exc:
                failed.append(exc)
        if failed:
            raise stack.StackError('%d of %d creates failed; the first: %s'
                                   % (len(failed), count, failed[0]))
        for volume_id in ids:
            stack.wait_volume(volume_id, 1800)
        available = time.monotonic() - t0
        spans = service_spans(stack, offsets, request_ids)
        driver = stack.driver_create_ms(ids)
    finally:
        stack.delete_volumes(ids)
    return accepted, available, split(spans, driver)


def run(stack, count, parallel, image_data_mb):
    stack.ensure_stock_backend()
    stack.check_room(stack.STOCK_BACKEND,
                     count * image_data_mb * 1024 * 1024 * 2 + 2 * GiB,
                     '%d full copies of %d MiB' % (count, image_data_mb),
                     'lower --burst or --image-data-mb')
    image_id = stack.bench_image(image_data_mb)
    results = {}
    try:
        stack.say('warming the cache of %s', stack.DEFAULT_BACKEND)
        stack.timed_creates(image_id, stack.DEFAULT_BACKEND, 1)
        for backend in (stack.DEFAULT_BACKEND, stack.STOCK_BACKEND):
            stack.say('%d creates on %s, %d at a time', count, backend,
                      parallel)
            results[backend] = storm(stack, image_id, backend, count,
                                     parallel)
    finally:
        stack.http('DELETE', stack.GLANCE_URL + '/v2/images/%s' % image_id)
    print('\n%d creates from one image (1 GiB, %d MiB of data), %d in '
          'flight' % (count, image_data_mb, parallel))
    print('%-8s %12s %14s' % ('backend', 'accepted s', 'available s'))
    for backend, (accepted, available, _stages) in results.items():
        print('%-8s %12.1f %14.1f' % (backend, accepted, available))
    ours = results[stack.DEFAULT_BACKEND][1]
    stock = results[stack.STOCK_BACKEND][1]
    print('stock/cache ratio, all available: %.1fx' % (stock / ours))
    print('\nwhere a create spends its time, p50 (p95) in seconds, from '
          'the services\' logs:')
    print('%-16s' % 'stage' + ''.join('%20s' % b for b in results))
    for stage in STAGES:
        row = '%-16s' % stage
        for _accepted, _available, stages in results.values():
            values = stages.get(stage)
            row += ('%20s' % ('%.3f (%.3f)' % (
                stack.percentile(values, 50), stack.percentile(values, 95)))
                if values else '%20s' % '-')
        print(row)
    counted = {b: len(r[2].get('api', [])) for b, r in results.items()}
    print('(creates found in all three logs: %s; the stock driver does '
          'not log a cache create)' % ', '.join(
              '%s %d' % item for item in counted.items()))
    return 0
