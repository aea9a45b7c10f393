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

"""cinder-auxo-recompose: move desktops onto a new template version.

    cinder-auxo-recompose --to-image NEW \\
        (--from-image OLD | --volume ID [--volume ID ...]) \\
        [--concurrency 4] [--dry-run] [--json]

Authenticates as the OpenStack clients do (``OS_AUTH_URL``,
``OS_USERNAME``... or the matching ``--os-*`` options) and asks cinder to
reimage each selected volume (``os-reimage``, volume API 3.68). On a
cinder_auxo storage that has the new template cached, a reimage is a
fresh overlay on its base: no image data is copied per desktop.

Volumes made from OLD (their image metadata says so) are selected in all
projects. Attached volumes are skipped: rebuild their servers through
nova, which reimages them itself. One line is printed per volume as it
finishes, then a summary; the exit status is 1 if any reimage failed.
"""

import argparse
import json
import sys
import time

from keystoneauth1 import adapter
from keystoneauth1 import loading

MICROVERSION = '3.68'
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 1800


def _parser():
    parser = argparse.ArgumentParser(
        prog='cinder-auxo-recompose',
        description='Reimage desktops onto a new template version.')
    parser.add_argument('--to-image', required=True,
                        help='the image (template version) to move to')
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--from-image',
                       help='every volume made from this image')
    which.add_argument('--volume', action='append', dest='volumes',
                       help='a volume id (repeatable)')
    parser.add_argument('--concurrency', type=int, default=4,
                        help='reimages in flight at once (default 4)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print what would be done, do nothing')
    parser.add_argument('--json', action='store_true',
                        help='print the summary as JSON')
    loading.register_auth_argparse_arguments(parser, sys.argv[1:],
                                             default='password')
    loading.register_session_argparse_arguments(parser)
    return parser


class Recompose(object):
    """The reimage of a set of volumes, through cinder's API."""

    def __init__(self, api, to_image, out=sys.stdout):
        """:param api: a keystoneauth Adapter on the block-storage API."""
        self.api = api
        self.to_image = to_image
        self.out = out

    def _volumes(self, query):
        return self.api.get('/volumes/detail?' + query).json()['volumes']

    def select(self, from_image=None, volume_ids=()):
        """(to reimage, skipped as [(volume, reason)])."""
        if from_image:
            volumes = [v for v in self._volumes('all_tenants=1')
                       if (v.get('volume_image_metadata') or {}).get(
                           'image_id') == from_image]
        else:
            volumes = [self.api.get('/volumes/%s' % vid).json()['volume']
                       for vid in volume_ids]
        chosen, skipped = [], []
        for vol in volumes:
            if vol.get('attachments') or vol['status'] == 'in-use':
                skipped.append((vol, 'attached: rebuild its server through '
                                     'nova'))
            elif vol['status'] != 'available':
                skipped.append((vol, 'status %s' % vol['status']))
            else:
                chosen.append(vol)
        return chosen, skipped

    def _start(self, vol):
        self.api.post('/volumes/%s/action' % vol['id'], json={
            'os-reimage': {'image_id': self.to_image,
                           'reimage_reserved': False}})

    def _state(self, vol):
        return self.api.get('/volumes/%s' % vol['id']).json()['volume'][
            'status']

    def run(self, volumes, concurrency):
        """Reimage ``volumes``; {'reimaged': [...], 'failed': [...]}."""
        pending = list(volumes)
        flying = {}
        result = {'reimaged': [], 'failed': []}
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while pending or flying:
            while pending and len(flying) < max(1, concurrency):
                vol = pending.pop(0)
                self._start(vol)
                flying[vol['id']] = (vol, time.monotonic())
            time.sleep(POLL_SECONDS)
            for vid, (vol, started) in list(flying.items()):
                status = self._state(vol)
                late = time.monotonic() > deadline
                if status in ('available', 'error') or late:
                    del flying[vid]
                    done = status == 'available'
                    result['reimaged' if done else 'failed'].append(vid)
                    self._say('%s %s in %.1f s%s' % (
                        vid, 'reimaged' if done else 'FAILED',
                        time.monotonic() - started,
                        '' if done else ' (status %s)' % status))
        return result

    def _say(self, line):
        print(line, file=self.out, flush=True)


def _api(args):
    auth = loading.load_auth_from_argparse_arguments(args)
    session = loading.load_session_from_argparse_arguments(args, auth=auth)
    return adapter.Adapter(session, service_type='block-storage',
                           interface='public',
                           default_microversion=MICROVERSION)


def main(argv=None, api=None):
    args = _parser().parse_args(argv)
    recompose = Recompose(api or _api(args), args.to_image,
                          out=sys.stderr if args.json else sys.stdout)
    chosen, skipped = recompose.select(args.from_image, args.volumes or ())
    for vol, reason in skipped:
        recompose._say('%s skipped: %s' % (vol['id'], reason))
    if args.dry_run:
        for vol in chosen:
            recompose._say('%s would be reimaged onto %s' % (
                vol['id'], args.to_image))
        result = {'reimaged': [], 'failed': []}
    else:
        started = time.monotonic()
        result = recompose.run(chosen, args.concurrency)
        result['seconds'] = round(time.monotonic() - started, 1)
    result['skipped'] = [{'id': vol['id'], 'reason': reason}
                         for vol, reason in skipped]
    result['selected'] = [vol['id'] for vol in chosen]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print('%d reimaged, %d failed, %d skipped' % (
            len(result['reimaged']), len(result['failed']),
            len(result['skipped'])))
    return 1 if result['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
