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
"""cinder-auxo-cache takes its locks through a started coordinator."""

from unittest import mock

from cinder import coordination

from cinder_auxo.cmd import cache
from cinder_auxo.engine import cache_admin
from cinder_auxo.tests.unit import base

IMG = '11111111-2222-4333-8444-555555555555'


class CacheCLITestCase(base.TestCase):

    def test_evict_runs_with_the_coordinator_started(self):
        order = mock.Mock()
        coord = mock.patch.object(coordination, 'COORDINATOR',
                                  autospec=True).start()
        coord.start.side_effect = lambda: order('start')
        coord.stop.side_effect = lambda: order('stop')
        mock.patch.object(cache, 'load_driver', autospec=True).start()
        evict = mock.patch.object(cache_admin.CacheAdmin, 'evict',
                                  autospec=True).start()

        def evicted(admin, image_id):
            order('evict')
            return []
        evict.side_effect = evicted
        self.assertEqual(0, cache.main(['--backend', 'san', 'evict', IMG]))
        self.assertEqual([mock.call('start'), mock.call('evict'),
                          mock.call('stop')], order.mock_calls)

    def test_coordinator_stops_when_the_command_fails(self):
        coord = mock.patch.object(coordination, 'COORDINATOR',
                                  autospec=True).start()
        mock.patch.object(cache, 'load_driver', autospec=True).start()
        mock.patch.object(cache_admin.CacheAdmin, 'evict', autospec=True,
                          side_effect=RuntimeError('boom')).start()
        self.assertRaises(RuntimeError, cache.main,
                          ['--backend', 'san', 'evict', IMG])
        coord.stop.assert_called_once_with()
