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

"""SIGKILL at every step of every file-store operation (see harness.py).

``tools/bench_crash.py`` prints the same runs as a matrix.
"""

import ddt
import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslotest import base as oslo_base

from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.crash import harness
from cinder_auxo.tests.functional.crash import scenarios


class _CommitThenRename(scenarios.DeleteByCommit):
    """The merge order this package had: commit, then rename."""

    name = 'commit then rename'

    def op(self, env, ctx):
        def merge(frozen, child):
            env.engine.qemu.commit(child.path, child.fmt)
            frozen.store.rename(frozen.name, child.name)
        env.engine._merge_by_commit = merge
        super(_CommitThenRename, self).op(env, ctx)


@ddt.ddt
class CrashTestCase(oslo_base.BaseTestCase):

    def setUp(self):
        super(CrashTestCase, self).setUp()
        base.require_qemu(self)
        base.disable_privsep()
        # The restarts set the driver's options; they go with the test.
        self.useFixture(config_fixture.Config(cfg.CONF))
        self.root = self.useFixture(fixtures.TempDir(
            rootdir=harness.scratch_root())).path

    def _run(self, scenario, store='files'):
        rows = harness.run(scenario, self.root, store)
        # Every operation has steps, and each was reached by a kill.
        self.assertTrue(rows)
        return rows

    @ddt.data(*scenarios.ALL)
    def test_kill_at_every_step(self, scenario_cls):
        rows = self._run(scenario_cls())
        bad = ['%d %s: %s' % row for row in rows if row[2] != harness.OK]
        self.assertEqual([], bad)

    @ddt.data(*scenarios.NO_REPLACE_PATHS)
    def test_kill_at_every_step_without_atomic_replace(self, scenario_cls):
        # The engine's LVM paths (no rename over an existing layer); the
        # printing runner runs every scenario both ways.
        rows = self._run(scenario_cls(), 'files-noreplace')
        bad = ['%d %s: %s' % row for row in rows if row[2] != harness.OK]
        self.assertEqual([], bad)

    def test_harness_sees_the_old_commit_merge_hole(self):
        # The harness must be able to fail: the old order leaves the
        # snapshot's name holding the volume's later data.
        rows = self._run(_CommitThenRename())
        outcomes = {step: outcome for _k, step, outcome in rows}
        self.assertIn('reads wrong data',
                      outcomes['rename snapshot>volume'])
