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

"""List filters of a project member, as cinder's resource_filters.json allows.

An admin may filter on anything; a member only on what that file names.
Without the file (cinder logs "resource query filters file does not
exist") every filter of a member is refused, and tempest's list-by-name
tests fail. Desktop users and portals find volumes by name.
"""

import uuid

from cinderclient import exceptions as cinder_exc

from cinder_auxo.tests.e2e import base


class ListFilterTest(base.E2ETestCase):

    def member_volume(self, member, name):
        vol = member.volumes.create(1, name=name,
                                    volume_type=self.volume_type)
        self.addCleanup(self._cleanup_volume, vol.id)
        return self.wait_volume(vol.id, 'available')

    def member_snapshot(self, member, volume_id):
        snap = member.volume_snapshots.create(volume_id)
        self.addCleanup(self._cleanup_snapshot, snap.id)
        return self.wait_snapshot(snap.id, 'available')

    def test_member_lists_volumes_by_name(self):
        member = self.member_cinder()
        prefix = 'auxo-e2e-filter-%s' % uuid.uuid4().hex[:8]
        first = self.member_volume(member, prefix + '-a')
        second = self.member_volume(member, prefix + '-b')
        self.assertEqual({first.id, second.id},
                         {v.id for v in member.volumes.list()})

        for vol in (first, second):
            found = member.volumes.list(search_opts={'name': vol.name})
            self.assertEqual([vol.id], [v.id for v in found])
        self.assertEqual([], member.volumes.list(
            search_opts={'name': prefix + '-none'}))

    def test_member_lists_snapshots_by_volume(self):
        member = self.member_cinder()
        vol = self.member_volume(member, 'auxo-e2e-filter-a')
        other = self.member_volume(member, 'auxo-e2e-filter-b')
        snap = self.member_snapshot(member, vol.id)
        self.member_snapshot(member, other.id)

        found = member.volume_snapshots.list(
            search_opts={'volume_id': vol.id})
        self.assertEqual([snap.id], [s.id for s in found])

    def test_member_filter_not_in_the_file_is_refused(self):
        member = self.member_cinder()
        with self.assertRaises(cinder_exc.BadRequest) as ctx:
            member.volumes.list(search_opts={'name': 'auxo-e2e-filter',
                                             'auxo_no_such_key': 'x'})
        # Only the key the file does not name; without the file cinder
        # refuses "name" too.
        self.assertIn('Invalid filters auxo_no_such_key are found',
                      str(ctx.exception))
