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

"""The local flake8 checks: each on lines it must refuse and accept, and
flake8 run with the repository's configuration on a file that breaks them
all."""

import ast
import os
import subprocess
import sys
import textwrap

import ddt
import fixtures

from cinder_auxo.tests.hacking import checks
from cinder_auxo.tests.unit import base

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                    '..', '..', '..'))


def codes(results):
    """The codes of a logical-line check's (offset, message) results."""
    return [message.split()[0] for _offset, message in results]


def tree_check(cls, source):
    tree = ast.parse(textwrap.dedent(source))
    return [(line, msg.split()[0])
            for line, _col, msg, _cls in cls(tree, 'x.py').run()]


@ddt.ddt
class LocalChecksTestCase(base.TestCase):

    @ddt.data("LOG.info(_('created %s'), name)",
              "LOG.error( _(\"x\"))",
              "self.LOG.warning(_('x'))",
              "LOG.exception(_('x'))")
    def test_translated_log_refused(self, line):
        self.assertEqual(['AUX301'],
                         codes(checks.no_translate_logs(line)))

    @ddt.data("LOG.info('created %s', name)",
              "raise exception.X(_('x'))",
              "msg = _('x')")
    def test_untranslated_log_accepted(self, line):
        self.assertEqual([], list(checks.no_translate_logs(line)))

    def test_mutable_defaults_refused(self):
        source = """
            def f(a, b=[], c={}, d=set(), *, e=dict(), f=[x for x in y]):
                pass

            class C(object):
                async def g(self, h=list()):
                    pass

            k = lambda m={1}: m
            """
        self.assertEqual([(2, 'AUX302')] * 5 + [(6, 'AUX302'),
                                                (9, 'AUX302')],
                         tree_check(checks.NoMutableDefaultArgs, source))

    def test_immutable_defaults_accepted(self):
        source = """
            def f(a, b=None, c=(), d='x', *, e=frozenset(), f=0, g=X):
                pass
            """
        self.assertEqual([],
                         tree_check(checks.NoMutableDefaultArgs, source))

    @ddt.data('./cinder_auxo/drivers/local.py',
              '/src/cinder_auxo/engine/chain.py')
    def test_print_in_package_refused(self, filename):
        self.assertEqual(['AUX303'], codes(checks.no_print_in_package(
            "print('x')", filename, False)))

    @ddt.data(('./cinder_auxo/cmd/cache.py', "print('x')", False),
              ('./cinder_auxo/tests/functional/helper.py', "print(1)", False),
              ('./tools/bench_clone_image.py', "print('x')", False),
              ('./cinder_auxo/drivers/local.py', "print('x')", True),
              ('./cinder_auxo/drivers/local.py', "self.print_stats()",
               False))
    @ddt.unpack
    def test_print_accepted(self, filename, line, noqa):
        self.assertEqual([], list(checks.no_print_in_package(
            line, filename, noqa)))

    def test_shell_refused(self):
        source = """
            subprocess.run('ls ' + path, shell=True)
            processutils.execute('rm -rf x', shell=1)
            subprocess.run(['ls', path], shell=False)
            processutils.execute('qemu-img', 'info', path)
            """
        self.assertEqual([(2, 'AUX304'), (3, 'AUX304')],
                         tree_check(checks.NoShell, source))


class Flake8ConfigTestCase(base.TestCase):
    """flake8 loads the local checks through tox.ini's local-plugins."""

    def test_flake8_reports_every_local_check(self):
        bad = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(bad, 'cinder_auxo', 'bad.py')
        os.makedirs(os.path.dirname(path))
        with open(path, 'w') as f:
            f.write(textwrap.dedent("""\
                import subprocess

                LOG = None


                def f(a, b=[]):
                    LOG.info(_('x'))
                    subprocess.run('ls', shell=True)
                    print(a, b)
                """))
        run = subprocess.run(
            [sys.executable, '-m', 'flake8', '--config',
             os.path.join(REPO, 'tox.ini'), '--select', 'AUX',
             '--no-show-source', path],
            cwd=REPO, capture_output=True, text=True)
        found = sorted(line.split(': ', 1)[1].split()[0]
                       for line in run.stdout.splitlines() if ': ' in line)
        self.assertEqual(['AUX301', 'AUX302', 'AUX303', 'AUX304'], found,
                         run.stdout + run.stderr)
