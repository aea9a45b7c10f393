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

"""cinder-auxo-recompose: selection, skips, failures and the summary.

The end-to-end suite runs it against real cinder (test_reimage); here a
small stand-in of the volume API plays the state changes cinder makes.
"""

import io
import json
from unittest import mock

from cinder_auxo.cmd import recompose
from cinder_auxo.tests.unit import base

OLD, NEW = 'image-old', 'image-new'


class Response(object):

    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class VolumeAPI(object):
    """GET volumes and POST os-reimage, as cinder answers them."""

    def __init__(self, volumes, broken=()):
        self.volumes = {v['id']: v for v in volumes}
        self.broken = set(broken)
        self.reimaged = []

    def get(self, url):
        if url.startswith('/volumes/detail'):
            return Response({'volumes': list(self.volumes.values())})
        return Response({'volume': self.volumes[url.split('/')[2]]})

    def post(self, url, json):
        vid = url.split('/')[2]
        self.reimaged.append((vid, json['os-reimage']['image_id']))
        vol = self.volumes[vid]
        # The reimage has finished by the next poll.
        vol['status'] = 'error' if vid in self.broken else 'available'
        vol['volume_image_metadata'] = {'image_id': NEW}


def volume(vid, image=OLD, status='available', attachments=()):
    return {'id': vid, 'status': status, 'attachments': list(attachments),
            'volume_image_metadata': {'image_id': image} if image else None}


class RecomposeTestCase(base.TestCase):

    def setUp(self):
        super(RecomposeTestCase, self).setUp()
        self.patch(recompose, 'POLL_SECONDS', 0)

    def _main(self, api, *args):
        out = io.StringIO()
        with mock.patch('sys.stdout', out), \
                mock.patch('sys.stderr', io.StringIO()):
            rc = recompose.main(['--to-image', NEW, '--json'] + list(args),
                                api=api)
        return rc, json.loads(out.getvalue())

    def test_selects_by_image_and_skips_what_it_must(self):
        api = VolumeAPI([
            volume('d1'), volume('d2'), volume('other', image='x'),
            volume('data', image=None),
            volume('busy', status='in-use', attachments=[{'id': 'a'}]),
            volume('odd', status='error')])
        rc, summary = self._main(api, '--from-image', OLD)
        self.assertEqual(0, rc)
        self.assertEqual(['d1', 'd2'], sorted(summary['reimaged']))
        self.assertEqual([('d1', NEW), ('d2', NEW)], sorted(api.reimaged))
        self.assertEqual({'busy': 'attached: rebuild its server through '
                                  'nova', 'odd': 'status error'},
                         {s['id']: s['reason'] for s in summary['skipped']})

    def test_a_failure_is_reported_and_sets_the_exit_status(self):
        api = VolumeAPI([volume('d1'), volume('d2')], broken=['d2'])
        rc, summary = self._main(api, '--volume', 'd1', '--volume', 'd2',
                                 '--concurrency', '1')
        self.assertEqual(1, rc)
        self.assertEqual((['d1'], ['d2']), (summary['reimaged'],
                                            summary['failed']))

    def test_dry_run_changes_nothing(self):
        api = VolumeAPI([volume('d1')])
        rc, summary = self._main(api, '--from-image', OLD, '--dry-run')
        self.assertEqual((0, [], ['d1']), (rc, api.reimaged,
                                           summary['selected']))
