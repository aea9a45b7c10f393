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

"""Cache listing and pruning, and the cinder-auxo-cache command."""

import json
import os
import subprocess
import sys
import textwrap
import time

from oslo_utils import uuidutils

from cinder_auxo.engine import cache_admin
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional import test_image_cache as tic

MiB = base.MiB
GiB = base.GiB


class CacheAdminTestCase(base.FunctionalTestCase):

    def setUp(self):
        super(CacheAdminTestCase, self).setUp()
        base.disable_privsep()
        self.glance = tic.Glance()
        self.admin = cache_admin.CacheAdmin(self.cache)

    def _cached(self, byte, used_volume=True):
        meta = self.glance.add(self.image_file([(byte, 0, 4 * MiB)]))
        vid = uuidutils.generate_uuid()
        self.cache.create_volume(meta['id'], meta,
                                 self.glance.fetcher(meta['id']), vid, GiB,
                                 'qcow2')
        if not used_volume:
            self.engine.delete_volume(vid)
        return meta['id'], vid

    def test_entries_describe_each_base(self):
        used, _vid = self._cached(0x01)
        unused, _vid = self._cached(0x02, used_volume=False)
        rows = {r['image_id']: r for r in self.admin.entries()}
        self.assertEqual(1, rows[used]['children'])
        self.assertEqual(0, rows[unused]['children'])
        for row in rows.values():
            self.assertEqual(1, row['generation'])
            self.assertGreater(row['bytes'], 4 * MiB - 1)
            self.assertAlmostEqual(time.time(), row['last_used'], delta=60)
            self.assertIsNone(row['backed_by'])

    def test_prune_by_age_keeps_used_and_recent_bases(self):
        used, _vid = self._cached(0x01)
        old, _vid = self._cached(0x02, used_volume=False)
        recent, _vid = self._cached(0x03, used_volume=False)
        day_ago = time.time() - 86400
        for image_id in (used, old):
            os.utime(self.cache.latest(image_id).path, (day_ago, day_ago))
        removed = self.admin.prune(max_age=3600)
        self.assertEqual(['base-%s-g1' % old], removed)
        self.assertIsNotNone(self.cache.latest(used))
        self.assertIsNotNone(self.cache.latest(recent))

    def test_prune_by_size_removes_least_recently_used_first(self):
        first, _vid = self._cached(0x01, used_volume=False)
        second, _vid = self._cached(0x02, used_volume=False)
        used, _vid = self._cached(0x03)
        now = time.time()
        os.utime(self.cache.latest(first).path, (now - 30, now - 30))
        one = self.cache.store.size(self.cache.latest(second).name)
        removed = self.admin.prune(max_bytes=2 * one + one // 2)
        self.assertEqual(['base-%s-g1' % first], removed)
        self.assertIsNotNone(self.cache.latest(used))

    def test_evict_only_unused(self):
        used, vid = self._cached(0x01)
        self.assertEqual([], self.admin.evict(used))
        self.engine.delete_volume(vid)
        self.assertEqual(['base-%s-g1' % used], self.admin.evict(used))


class CacheCommandTestCase(base.FunctionalTestCase):
    """cinder-auxo-cache against a real cinder.conf backend section."""

    def test_list_and_evict(self):
        base.disable_privsep()
        glance = tic.Glance()
        meta = glance.add(self.image_file([(0x01, 0, MiB)]))
        _engine, cache = base.build_engine('x', self.mount, self.lock_path)
        vid = uuidutils.generate_uuid()
        cache.create_volume(meta['id'], meta, glance.fetcher(meta['id']),
                            vid, GiB, 'qcow2')
        conf = os.path.join(self.tmp, 'cinder.conf')
        with open(conf, 'w') as f:
            f.write(textwrap.dedent('''\
                [DEFAULT]
                enabled_backends = local1
                state_path = %(tmp)s
                [oslo_concurrency]
                lock_path = %(locks)s
                [local1]
                volume_driver = cinder_auxo.drivers.local.LocalFileDriver
                volume_backend_name = local1
                mount_point = %(mount)s
                image_base_path =
                ''') % {'tmp': self.tmp, 'locks': self.lock_path,
                        'mount': self.mount})

        def run(*args):
            out = subprocess.run(
                [sys.executable, '-m', 'cinder_auxo.cmd.cache',
                 '--config-file', conf, '--backend', 'local1', '--json'] +
                list(args), capture_output=True, text=True, timeout=120)
            self.assertEqual(0, out.returncode, out.stderr[-2000:])
            return json.loads(out.stdout)

        rows = run('list')
        self.assertEqual([(meta['id'], 1, 1)],
                         [(r['image_id'], r['generation'], r['children'])
                          for r in rows])
        self.assertEqual([], run('evict', meta['id']))
        _engine.delete_volume(vid)
        self.assertEqual(['base-%s-g1' % meta['id']],
                         run('evict', meta['id']))
        self.assertEqual([], run('list'))
