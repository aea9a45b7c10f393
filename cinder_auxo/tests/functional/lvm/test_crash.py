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
"""SIGKILL at every step of engine operations on real LVM (storage VM).

The crash harness (functional/crash/harness.py) over the VM's volume
group, restarted through LVMSANDriver's start-up. Each kill costs a
set-up of the scenario on LVs, a driver start and the checks, minutes
under TCG, so these run on request:

    AUXO_VM_CRASH='snapshot create,delete by commit' \
        tools/storage-vm/run-tests.sh

(``all`` for every operation, with a VM_TIMEOUT of hours;
``tools/bench_crash.py --lvm`` prints the same runs as a matrix.)
"""

import os

import ddt

from cinder_auxo.tests.functional.crash import harness
from cinder_auxo.tests.functional.crash import scenarios
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional.lvm import crash

WANTED = os.environ.get('AUXO_VM_CRASH', '')


def wanted(scenario_cls):
    return WANTED == 'all' or scenario_cls.name in WANTED.split(',')


@ddt.ddt
class LVMCrashTestCase(lvm_base.LVMTestCase):

    def setUp(self):
        if not WANTED:
            self.skipTest('on request: AUXO_VM_CRASH=all or a list of '
                          'scenario names')
        super(LVMCrashTestCase, self).setUp()

    @ddt.data(*[cls for cls in scenarios.ALL if wanted(cls)] or
              scenarios.ALL)
    def test_kill_at_every_step(self, scenario_cls):
        rows = crash.run(scenario_cls(),
                         os.path.join(self.tmp, 'crash'))
        for row in rows:
            print('%-22s %3d  %-26s %s' % ((scenario_cls.name,) + row))
        self.assertTrue(rows)
        bad = ['%d %s: %s' % row for row in rows if row[2] != harness.OK]
        self.assertEqual([], bad)
