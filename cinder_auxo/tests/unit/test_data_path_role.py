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

"""Which attaches get a raw view: the decision table of doc/attach.md."""

from cinder import context as cinder_context
from cinder.tests.unit import fake_volume
import ddt

from cinder_auxo.drivers import base as driver_base
from cinder_auxo.tests.unit import base

R = driver_base.READS_DISK
W = driver_base.WRITES_DISK
TARGET = 'target:0b0fe1bb-7a0a-4b4a-9b0f-5d6fc1a0a4d2'


@ddt.ddt
class DataPathRoleTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        # status, attach_status, migration_status -> role
        ('available', 'detached', None, None),
        ('reserved', 'detached', None, None),
        ('in-use', 'attached', None, None),
        ('backing-up', 'detached', None, R),
        # An attached volume is the guest's: never a copy of it.
        ('backing-up', 'attached', None, None),
        ('maintenance', 'detached', 'migrating', R),
        ('retyping', 'attached', 'migrating', None),
        ('restoring-backup', 'detached', None, W),
        ('creating', 'detached', TARGET, W),
        # nova's swap target during the migration of an attached volume.
        ('reserved', 'attaching', TARGET, W),
        ('available', 'detached', 'success', None),
        ('available', 'detached', 'error', None),
    )
    def test_role(self, status, attach_status, migration_status, role):
        vol = fake_volume.fake_volume_obj(
            cinder_context.get_admin_context(), status=status,
            attach_status=attach_status, migration_status=migration_status)
        self.assertEqual(role, driver_base.data_path_role(vol))
