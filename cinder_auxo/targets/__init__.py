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

"""Targets: connection info of the storage a driver's volumes live on.

Chosen by name (the SAN driver's ``iscsi_helper`` option) from a small
registry that other names can be added to with ``register``; the module is
imported on first use.
"""

from oslo_utils import importutils

from cinder_auxo import exception

_TARGETS = {
    'iscsisan': 'cinder_auxo.targets.iscsisan.ISCSISanTarget',
    'fcsan': 'cinder_auxo.targets.fcsan.FCSanTarget',
}


def register(name, class_path):
    """Make ``name`` select the target class at dotted ``class_path``."""
    _TARGETS[name] = class_path


def names():
    return sorted(_TARGETS)


def target_class(name):
    try:
        path = _TARGETS[name]
    except KeyError:
        raise exception.AuxoException(
            reason='unknown target helper %r (known: %s)' %
                   (name, ', '.join(names())))
    return importutils.import_class(path)


def get_target(name, configuration, execute, **kwargs):
    return target_class(name)(configuration, execute, **kwargs)
