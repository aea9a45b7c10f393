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

"""Service and pool state as an operator reads it with the cinder CLI."""

import os
import subprocess

from cinder_auxo.tests.e2e import base


class BackendStateTest(base.E2ETestCase):

    def cli(self, *args):
        auth = self.stack['auth']
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(OS_AUTH_URL=auth['auth_url'],
                   OS_USERNAME=auth['username'],
                   OS_PASSWORD=auth['password'],
                   OS_PROJECT_NAME=auth['project_name'],
                   OS_USER_DOMAIN_ID=auth['user_domain_id'],
                   OS_PROJECT_DOMAIN_ID=auth['project_domain_id'],
                   OS_VOLUME_API_VERSION=self.stack['api_version'])
        proc = subprocess.run(
            [os.path.join(self.stack['cinder_venv'], 'bin', 'cinder')]
            + list(args), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(0, proc.returncode, proc.stdout)
        return proc.stdout

    def table(self, output):
        """The rows of a cinder CLI table, as lists of cell strings."""
        return [[cell.strip() for cell in line.strip('|').split('|')]
                for line in output.splitlines() if line.startswith('|')]

    def capabilities(self):
        return self.pool().to_dict()['capabilities']

    def test_cli_shows_service_up_and_pool_capacity(self):
        rows = self.table(self.cli('service-list', '--binary',
                                   'cinder-volume'))
        header = rows[0]
        services = {r[header.index('Host')]: r for r in rows[1:]}
        host = self.backend_info['service_host']
        self.assertIn(host, services, rows)
        self.assertEqual('up', services[host][header.index('State')])
        self.assertEqual('enabled', services[host][header.index('Status')])

        # One Property/Value table per pool.
        pools, props = {}, None
        for row in self.table(self.cli('get-pools', '--detail')):
            if row == ['Property', 'Value']:
                props = {}
            else:
                props[row[0]] = row[1]
                if row[0] == 'name':
                    pools[row[1]] = props
        self.assertIn(self.backend_info['host'], pools)
        props = pools[self.backend_info['host']]
        self.assertEqual('up', props['backend_state'])
        self.assertGreater(float(props['total_capacity_gb']), 0)
        self.assertGreater(float(props['free_capacity_gb']), 0)
        self.assertLessEqual(float(props['free_capacity_gb']),
                             float(props['total_capacity_gb']))
        self.assertEqual(self.backend, props['volume_backend_name'])

    def test_unusable_backend_directory_reports_down_then_recovers(self):
        self.assertEqual('up', self.capabilities()['backend_state'])
        away = self.mount_point + '.away'
        os.rename(self.mount_point, away)
        self.addCleanup(self._restore, away)

        caps = base.wait_until(
            'backend_state down',
            lambda: (lambda c: c if c.get('backend_state') == 'down'
                     else None)(self.capabilities()),
            base.STATS_TIMEOUT, interval=1)
        reason = caps.get('backend_state_reason')
        self.assertTrue(reason, caps)
        self.assertIn(self.mount_point, reason)
        self.assertIn('is down', self.new_log())

        os.rename(away, self.mount_point)
        base.wait_until(
            'backend_state up again',
            lambda: self.capabilities().get('backend_state') == 'up',
            base.STATS_TIMEOUT, interval=1)
        caps = self.capabilities()
        self.assertNotIn('backend_state_reason', caps)
        self.assertGreater(caps['total_capacity_gb'], 0)
        # And it serves again.
        vol = self.create_volume()
        self.delete_volume(vol.id)
        self.assert_backend_clean()

    def _restore(self, away):
        if os.path.exists(away) and not os.path.exists(self.mount_point):
            os.rename(away, self.mount_point)
