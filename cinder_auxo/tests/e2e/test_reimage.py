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

"""Recompose: desktops reimaged onto a new template version, through cinder.

20 desktops are made from template version 1 and written to; version 2 is
published as a delta upload of a template desktop; cinder's os-reimage
(volume API 3.68) moves every desktop onto it. Each then reads version
2's content, holds nothing of its own (no image bytes were written for
it), and stands on version 2's cached base; a data volume that was never
reimaged is byte-identical. Version 1 is then deleted from Glance: its
cached base goes with the last desktop that moves off it.
"""

import json
import os
import subprocess

from cinder_auxo.tests.e2e import base

MiB = base.MiB
V1, V2, OWN, DATA = 0x71, 0x72, 0x3d, 0x5e
DESKTOPS = 20


class ReimageTest(base.E2ETestCase):

    def recompose(self, *args):
        """cinder-auxo-recompose as an operator runs it; its summary."""
        auth = self.stack['auth']
        env = dict(os.environ, OS_AUTH_URL=auth['auth_url'],
                   OS_USERNAME=auth['username'],
                   OS_PASSWORD=auth['password'],
                   OS_PROJECT_NAME=auth['project_name'],
                   OS_USER_DOMAIN_ID=auth['user_domain_id'],
                   OS_PROJECT_DOMAIN_ID=auth['project_domain_id'])
        out = subprocess.run(
            [os.path.join(self.stack['cinder_venv'], 'bin',
                          'cinder-auxo-recompose'), '--json'] + list(args),
            env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(0, out.returncode, out.stderr[-3000:])
        return json.loads(out.stdout)

    def test_recompose_desktops_onto_a_delta_template(self):
        v1 = self.pattern_image([(V1, 0, 8 * MiB)])
        desktops = [self.create_volume(imageRef=v1)
                    for _i in range(DESKTOPS)]
        for i, desktop in enumerate(desktops):
            self.write(desktop.id, OWN, (16 + i) * MiB, MiB)
        data = self.create_volume()
        self.write(data.id, DATA, 0, 4 * MiB)
        data_ref = os.path.join(self.tmp, 'data.raw')
        base.execute('qemu-img', 'convert', '-U', '-O', 'raw',
                     self.volume_path(data.id), data_ref)

        template = self.create_volume(imageRef=v1)
        self.write(template.id, V2, 4 * MiB, MiB)
        v2 = self.delta_upload(template, 'auxo-e2e-template-v2')
        # The upload left version 2's base on this storage, standing on
        # version 1's. Flattened here (as the periodic task does a long
        # chain), version 2 stands alone, so version 1's base can go
        # once nothing else stands on it.
        self.cache_cli('flatten', '--max-chain', '1', '--image', v2)
        v2_bases = self.bases_of(v2)
        self.assertEqual(1, len(v2_bases), v2_bases)
        self.assertIsNone(self.backing_of(v2_bases[0]))
        v1_bases = self.bases_of(v1)
        self.assertEqual(1, len(v1_bases), v1_bases)

        # An attached desktop is left for nova to rebuild.
        attached = self.create_volume(imageRef=v1)
        attachment = self.cinder.attachments.create(
            attached.id, {'host': 'compute-1', 'platform': 'x86_64',
                          'os_type': 'linux', 'multipath': False},
            None, 'rw')['id']
        self.addCleanup(self.detach, attachment)
        self.cinder.attachments.complete(attachment)
        self.wait_volume(attached.id, 'in-use')
        summary = self.recompose('--from-image', v1, '--to-image', v2,
                                 '--concurrency', '4')
        self.assertEqual(sorted([d.id for d in desktops] + [template.id]),
                         sorted(summary['reimaged']))
        self.assertEqual([], summary['failed'])
        self.assertEqual([attached.id], [s['id'] for s in summary['skipped']])
        for i, desktop in enumerate(desktops):
            self.wait_volume(desktop.id, 'available')
            path = self.volume_path(desktop.id)
            self.assert_reads(path, V1, 0, 4 * MiB)
            self.assert_reads(path, V2, 4 * MiB, MiB)
            self.assert_reads(path, V1, 5 * MiB, 3 * MiB)
            self.assert_reads(path, 0, (16 + i) * MiB, MiB)
            # A fresh overlay on version 2's cached base.
            self.assertEqual(v2_bases[0], self.backing_of(path))
            self.assertLess(os.stat(path).st_blocks * 512, MiB)
        base.execute('qemu-img', 'compare', '-U', '-f', 'raw', '-F',
                     'qcow2', data_ref, self.volume_path(data.id))

        # Version 1 is retired (deleted from Glance). Its base stays while
        # the attached desktop stands on it, and goes with it.
        self.glance.images.delete(v1)
        self.assertEqual(v1_bases, self.bases_of(v1))
        self.detach(attachment)
        self.wait_volume(attached.id, 'available')
        self.assertEqual([attached.id], self.recompose(
            '--volume', attached.id, '--to-image', v2)['reimaged'])
        self.wait_volume(attached.id, 'available')
        self.assert_reads(self.volume_path(attached.id), V2, 4 * MiB, MiB)
        self.assertEqual([], self.bases_of(v1))
        self.assertEqual(v2_bases, self.bases_of(v2))

    def detach(self, attachment_id):
        try:
            self.cinder.attachments.delete(attachment_id)
        except base.cinder_exc.NotFound:
            pass
