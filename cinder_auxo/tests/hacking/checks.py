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

"""Local flake8 checks of cinder_auxo (registered in tox.ini).

Codes are AUX3xx; each check says what it forbids and why. Add a test for
every new check to ``cinder_auxo/tests/unit/test_hacking.py``.

- AUX301: log messages are not translated (OpenStack stopped translating
  logs in Pike); ``LOG.info(_('...'))`` is refused.
- AUX302: no mutable default argument (``def f(x=[])``, ``{}``, ``set()``,
  ``list()``, ``dict()``): the one object is shared by every call.
- AUX303: no ``print()`` in the package outside ``cinder_auxo/cmd/`` and the
  tests: the drivers run inside cinder-volume, whose stdout is no log.
- AUX304: no ``shell=True``: commands run as argv lists, so no file or
  volume name is ever parsed by a shell.

hacking's own H216 (third-party mock) and H906 (``LOG.warn``) are on by
default and not repeated here.
"""

import ast
import re

from hacking import core


TRANSLATED_LOG = re.compile(
    r".*\bLOG\.(audit|debug|info|warn|warning|error|critical|exception)"
    r"\(\s*_\(")
PRINT = re.compile(r"(^|.*[^\w.])print\s*\(")

MUTABLE_LITERALS = (ast.List, ast.Dict, ast.Set, ast.ListComp,
                    ast.DictComp, ast.SetComp)
MUTABLE_CALLS = frozenset(['list', 'dict', 'set', 'bytearray'])

# Where print() belongs: console scripts and tests (helper scripts that
# the functional tests run in a subprocess answer on stdout).
PRINT_ALLOWED = ('cinder_auxo/cmd/', 'cinder_auxo/tests/')


@core.flake8ext
def no_translate_logs(logical_line):
    """AUX301 log messages must not be translated.

    Okay: LOG.info('volume %s created', name)
    AUX301: LOG.info(_('volume %s created'), name)
    """
    if TRANSLATED_LOG.match(logical_line):
        yield (0, "AUX301 log messages must not be translated")


def _is_mutable(node):
    if isinstance(node, MUTABLE_LITERALS):
        return True
    return (isinstance(node, ast.Call) and
            isinstance(node.func, ast.Name) and
            node.func.id in MUTABLE_CALLS)


class NoMutableDefaultArgs(object):
    """AUX302 default arguments must not be mutable objects."""

    name = 'cinder_auxo_no_mutable_default_args'
    version = '1.0'
    message = ("AUX302 mutable default argument: every call shares one "
               "object; default to None")

    def __init__(self, tree, filename):
        self.tree = tree

    def run(self):
        functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        for node in ast.walk(self.tree):
            if not isinstance(node, functions):
                continue
            defaults = node.args.defaults + [
                d for d in node.args.kw_defaults if d is not None]
            for default in defaults:
                if _is_mutable(default):
                    yield (default.lineno, default.col_offset,
                           self.message, type(self))


@core.flake8ext
def no_print_in_package(logical_line, filename, noqa):
    """AUX303 no print() in the package outside cmd/ and the tests."""
    if noqa:
        return
    path = filename.replace('\\', '/')
    if 'cinder_auxo/' not in path:
        return
    if any(part in path for part in PRINT_ALLOWED):
        return
    if PRINT.match(logical_line):
        yield (0, "AUX303 print() in the package: use LOG; console "
                  "output belongs in cinder_auxo/cmd/")


class NoShell(object):
    """AUX304 commands run as argv lists, never through a shell."""

    name = 'cinder_auxo_no_shell'
    version = '1.0'
    message = ("AUX304 shell=True: pass an argv list (processutils.execute "
               "or subprocess without a shell)")

    def __init__(self, tree, filename):
        self.tree = tree

    def run(self):
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if (keyword.arg == 'shell' and
                        isinstance(keyword.value, ast.Constant) and
                        keyword.value.value):
                    yield (node.lineno, node.col_offset,
                           self.message, type(self))
