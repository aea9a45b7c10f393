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

"""Exceptions of the hypervisor side.

A compute node has nova and os-brick, not cinder, so these do not derive
from cinder's exceptions (``cinder_auxo.exception`` imports cinder). Each is
a message template filled from keyword arguments.
"""


class HypervisorException(Exception):
    message = 'cinder_auxo hypervisor error: %(reason)s'

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        try:
            self.msg = self.message % kwargs
        except (KeyError, TypeError):
            # A template bug must not hide the original error.
            self.msg = '%s %r' % (self.message, kwargs)
        super(HypervisorException, self).__init__(self.msg)


class OutsideStorageRoots(HypervisorException):
    message = ('Refusing to attach %(path)s: it resolves to %(real)s, which '
               'is not under any [auxo] storage_roots directory '
               '(%(roots)s)')


class UnsupportedFormat(HypervisorException):
    message = ('Refusing to attach %(path)s: disk format %(fmt)r is not '
               'one of %(allowed)s')


class UnsafeChain(HypervisorException):
    message = ('Refusing to attach %(path)s: layer %(layer)s %(reason)s')


class LVMError(HypervisorException):
    message = ('LVM on volume group %(vg)s failed: %(reason)s')
