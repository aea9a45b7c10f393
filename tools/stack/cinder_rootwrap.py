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

"""Root for an unprivileged cinder: rootwrap.conf and its sudo rule.

What a distribution's cinder package installs, for a cinder living in a
virtualenv: cinder's own rootwrap.conf with the filter directories given
and the venv's ``bin/`` searched first (its privsep-helper), and a sudo
rule that lets the service user run cinder-rootwrap with that file and
nothing else. Used by the stack (auxo-stack) and by the storage VM's
tests; standard library only.
"""

import os
import subprocess


def rootwrap_conf(venv, filter_dirs):
    """The text of the venv's rootwrap.conf, reading ``filter_dirs``."""
    with open(os.path.join(venv, 'etc', 'cinder', 'rootwrap.conf')) as f:
        text = f.read()
    return text.replace(
        'filters_path=/etc/cinder/rootwrap.d,/usr/share/cinder/rootwrap',
        'filters_path=' + ','.join(filter_dirs)).replace(
        'exec_dirs=', 'exec_dirs=%s,' % os.path.join(venv, 'bin'))


def sudoers(user, venv, conf, comment):
    """``user`` may run the venv's cinder-rootwrap with ``conf`` only."""
    path = os.pathsep.join([os.path.join(venv, 'bin'), '/usr/local/sbin',
                            '/usr/local/bin', '/usr/sbin', '/usr/bin',
                            '/sbin', '/bin'])
    rootwrap = os.path.join(venv, 'bin', 'cinder-rootwrap')
    return (''.join('# %s\n' % line for line in comment.splitlines()) +
            f'Defaults:{user} !requiretty\n'
            f'Defaults:{user} secure_path="{path}"\n'
            f'{user} ALL = (root) NOPASSWD: {rootwrap} {conf} *\n')


def install_sudoers(path, text):
    """Write the rule if it changed, checked by visudo; True if written."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o440)
    check = subprocess.run(['visudo', '-c', '-f', tmp],
                           capture_output=True, text=True)
    if check.returncode:
        os.unlink(tmp)
        raise RuntimeError('visudo refused %s: %s' % (
            path, (check.stdout + check.stderr).strip()))
    os.replace(tmp, path)
    return True
