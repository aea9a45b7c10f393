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

"""Unit-test base: an oslotest case with a recording executor."""

from unittest import mock

import fixtures
from oslo_concurrency import processutils
from oslotest import base


class FakeExecutor(object):
    """Records every argv; answers from a table of (argv prefix, result).

    A result is (stdout, stderr) or an exception instance to raise; the
    longest matching prefix answers. A command that no prefix matches
    fails the test: a fake that says yes to everything hides the commands
    a change adds.
    """

    def __init__(self):
        self.calls = []
        self.answers = []

    def on(self, prefix, result=('', '')):
        self.answers.append((tuple(prefix), result))

    def __call__(self, *cmd, **kwargs):
        self.calls.append(cmd)
        # The longest matching prefix answers (the first declared of
        # equals): a test narrows what its setUp said.
        best = None
        for prefix, result in self.answers:
            if cmd[:len(prefix)] == prefix and (
                    best is None or len(prefix) > len(best[0])):
                best = (prefix, result)
        if best is None:
            raise AssertionError('unexpected command %s' % (cmd,))
        if isinstance(best[1], Exception):
            raise best[1]
        return best[1]

    def ran(self, *prefix):
        return [c for c in self.calls if c[:len(prefix)] == prefix]

    def commands(self):
        return [c[1] for c in self.calls if c[0] == 'qemu-img']


class RecordingLocks(object):
    """Named locks that know which are held, innermost last.

    Not re-entrant, like tooz's: taking a held lock again fails the test.
    ``taken`` lists (name, names held when it was taken).
    """

    def __init__(self):
        self.held = []
        self.taken = []

    def get(self, name):
        return _RecordingLock(self, name)


class _RecordingLock(object):

    def __init__(self, locks, name):
        self.locks = locks
        self.name = name

    def __enter__(self):
        if self.name in self.locks.held:
            raise AssertionError('%s taken again while held' % self.name)
        self.locks.taken.append((self.name, tuple(self.locks.held)))
        self.locks.held.append(self.name)
        return self

    def __exit__(self, *exc_info):
        self.locks.held.remove(self.name)
        return False


def process_error(stderr, exit_code=1):
    return processutils.ProcessExecutionError(stdout='', stderr=stderr,
                                              exit_code=exit_code,
                                              cmd='qemu-img')


class TestCase(base.BaseTestCase):

    def setUp(self):
        super(TestCase, self).setUp()
        self.useFixture_sleep = mock.patch('time.sleep', autospec=True).start()
        self.addCleanup(mock.patch.stopall)
        self.execute = FakeExecutor()


def storages_owned_by_nobody(test):
    """Storage admin tests: no udev rule or chown unless a test asks.

    Who owns a storage is tested on its own (test_storage_cli's
    OwnerTestCase). Returns the udev rules directory used instead of
    /etc/udev/rules.d.
    """
    udev_dir = test.useFixture(fixtures.TempDir()).path
    test.useFixture(fixtures.MonkeyPatch(
        'cinder_auxo.storage_admin.owner.UDEV_DIR', udev_dir))
    test.useFixture(fixtures.MonkeyPatch(
        'cinder_auxo.storage_admin.owner.service_user', lambda name: None))
    return udev_dir
