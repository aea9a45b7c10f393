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

"""Options of the hypervisor side, in nova.conf's ``[auxo]`` group.

Listed by ``oslo-config-generator --namespace cinder_auxo.hypervisor``;
``list_opts`` imports nothing from cinder or nova.
"""

import os

from oslo_config import cfg

from cinder_auxo.hypervisor import exception

GROUP = 'auxo'

hypervisor_opts = [
    cfg.ListOpt('storage_roots',
                default=[],
                help='Directories that hold the files of cinder_auxo '
                     '``local`` volumes on this compute node (the '
                     '``mount_point`` and ``image_base_path`` of every '
                     'LocalFileDriver backend this host serves). A volume '
                     'file, and every backing file of its qcow2 chain, must '
                     'resolve (symbolic links followed) inside one of them, '
                     'or the attach is refused.\n\n'
                     'Possible values:\n\n'
                     '* empty (default): every ``local`` file volume is '
                     'refused; block devices keep nova\'s own behaviour.\n'
                     '* absolute directory paths, e.g. '
                     '``/opt/ssd,/opt/sata``.'),
    cfg.StrOpt('lvm_conf_dir',
               default='/var/lib/nova/auxo-lvm',
               help='Where the ``lvmsan`` volume driver writes one '
                    '``lvm.conf`` per volume group, whose device filter '
                    'accepts only that group\'s SAN LUN.'),
]


def register(conf=cfg.CONF):
    conf.register_opts(hypervisor_opts, group=GROUP)


def storage_roots(conf=cfg.CONF):
    """The configured roots, resolved (symbolic links followed)."""
    register(conf)
    roots = []
    for root in conf.auxo.storage_roots:
        if not os.path.isabs(root):
            raise exception.HypervisorException(
                reason='[auxo] storage_roots entry %r is not an absolute '
                       'path' % root)
        roots.append(os.path.realpath(root))
    return roots


def list_opts():
    """For ``oslo-config-generator --namespace cinder_auxo.hypervisor``."""
    return [(GROUP, hypervisor_opts)]
