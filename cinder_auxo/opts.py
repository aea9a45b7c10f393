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

"""Every configuration option of cinder_auxo, in one place.

Options are registered in each backend section by the drivers
(``configuration.append_config_values``). The option names of the product
this package replaces are kept exactly as operators wrote them; where
upstream cinder renamed an option (``iscsi_*`` became ``target_*`` in 2018)
the old name is a deprecated alias of ours, and the current cinder name is
still honoured (see ``cinder_auxo.targets``).

Options that cinder itself already defines (``image_volume_cache_enabled``,
``volume_group``, ``volume_clear``, ``volume_clear_size``, ``chap_username``,
``chap_password``, ``target_*``) are used as cinder defines them and are not
registered again here.
"""

import itertools

from oslo_config import cfg


image_cache_opts = [
    cfg.StrOpt('image_base_path',
               default='',
               help='Directory that holds this storage\'s cached image '
                    'bases (one qcow2 or raw file per image and '
                    'generation). Every volume created from an image is an '
                    'overlay whose backing file is that base.\n\n'
                    'Possible values:\n\n'
                    '* empty (default): the cache lives on the storage '
                    'itself, in ``<mount_point>/_base`` for the file '
                    'driver, as LVs of the volume group for the SAN '
                    'driver.\n'
                    '* an absolute directory path on the same host.\n\n'
                    'Related options:\n\n'
                    '* image_volume_cache_enabled: turns the cache on.\n'
                    '* image_format: the format bases are stored in.'),
    cfg.StrOpt('image_format',
               default='qcow2',
               choices=[('qcow2', 'bases are qcow2; overlays are small'),
                        ('raw', 'bases are raw files or LVs')],
               help='On-disk format of the cached image bases.'),
    cfg.IntOpt('image_cache_max_chain_depth',
               default=16, min=2,
               help='Deepest backing chain the drivers build. A snapshot '
                    'that would make a chain deeper fails with a clear '
                    'error instead of slowing every read of the volume.'),
]

template_opts = [
    cfg.StrOpt('image_upload_mode',
               default='full',
               choices=[('full', 'upload-to-image sends the whole volume'),
                        ('delta', 'a volume made from a cached image sends '
                                  'only its own layers; the new image is a '
                                  'delta over the original (qcow2 only)')],
               help='How upload-to-image sends a volume. A volume\'s '
                    'metadata key ``auxo_image_upload_mode`` (full|delta) '
                    'overrides this per volume. A delta image can only be '
                    'used by storages running this driver; see '
                    'doc/templates.md.'),
    cfg.IntOpt('image_cache_max_base_chain',
               default=4, min=1,
               help='Longest chain of cached bases (an image, its deltas) '
                    'before the periodic task flattens it into a new, '
                    'standalone base generation.'),
    cfg.IntOpt('image_cache_max_age',
               default=0, min=0,
               help='Seconds after which a cached base that no volume uses '
                    'is removed by the periodic task. 0: never by age.'),
    cfg.IntOpt('image_cache_max_size_gb',
               default=0, min=0,
               help='Largest size of the image cache; the least recently '
                    'used unused bases are removed beyond it. 0: no limit.'),
    cfg.IntOpt('image_cache_maintenance_interval',
               default=600, min=0,
               help='Seconds between runs of the image cache periodic task '
                    '(flatten long chains, prune). 0 disables it; '
                    '``cinder-auxo-cache`` does the same on demand.'),
]

chain_opts = [
    cfg.StrOpt('volume_clone_mode',
               default='copy',
               choices=[('copy', 'volume-from-snapshot and clone make a '
                                 'flattened, independent copy'),
                        ('overlay', 'volume-from-snapshot and clone make a '
                                    'qcow2 overlay on a frozen layer: no '
                                    'data is copied, the new volume '
                                    'depends on that layer')],
               help='How volume-from-snapshot and volume clone are made. '
                    '``copy`` (the default) costs the copy but leaves no '
                    'dependency between volumes; ``overlay`` is instant '
                    'and keeps the source layer until its last dependent '
                    'volume is deleted.'),
]

local_opts = [
    cfg.StrOpt('mount_point',
               help='Directory (normally a mounted file system, such as '
                    '/opt/ssd or /opt/sata) that holds the volume files of '
                    'this backend. It must exist, be writable and, for a '
                    'real mount, be mounted before cinder-volume starts: '
                    'the driver reports the backend down otherwise.'),
    cfg.StrOpt('volume_type',
               default='qcow2',
               choices=[('qcow2', 'volumes are qcow2 files; '
                                  'create-from-image is an overlay'),
                        ('raw', 'volumes are sparse raw files; '
                                'create-from-image copies the cached base')],
               help='On-disk format of new volumes of this backend. '
                    'Snapshots of a raw volume are qcow2 layers above it, '
                    'so a raw volume becomes a qcow2 chain once it has '
                    'been snapshotted.'),
]

# The SAN driver's target options keep the names of the product this
# package replaces. Upstream cinder removed its iscsi_* options in 2018 and
# its target_helper only accepts cinder's own helpers, so these are
# registered here under the old names; where they are unset, the current
# cinder names (target_ip_address, target_port, target_prefix,
# target_protocol) are read instead.
san_opts = [
    cfg.StrOpt('iscsi_helper',
               default='iscsisan',
               help='How the SAN driver reaches the array LUN that holds '
                    '``volume_group``. The driver creates no target: the '
                    'array exports the LUN already.\n\n'
                    'Possible values:\n\n'
                    '* iscsisan: the LUN of an iSCSI array '
                    '(iscsi_ip_address, iscsi_port, iscsi_target_prefix, '
                    'target_lun, chap_username, chap_password).\n'
                    '* fcsan: the LUN of a Fibre Channel array '
                    '(target_lun, fc_target_wwpns or discovery).\n\n'
                    'Unlike cinder\'s target_helper, this never names a '
                    'Linux target daemon.'),
    cfg.StrOpt('iscsi_ip_address',
               help='Portal address of the iSCSI array. Empty: cinder\'s '
                    'target_ip_address.'),
    cfg.PortOpt('iscsi_port',
                help='Portal port of the iSCSI array. Empty: cinder\'s '
                     'target_port (3260).'),
    cfg.StrOpt('iscsi_target_prefix',
               help='The whole IQN of the array target that exports the '
                    'LUN (the name is historical: it is not a prefix). '
                    'Empty: cinder\'s target_prefix, if that is a whole '
                    'IQN.'),
    cfg.StrOpt('iscsi_protocol',
               choices=['iscsi', 'iser'],
               help='Transport to the iSCSI array. Empty: cinder\'s '
                    'target_protocol.'),
    cfg.IntOpt('target_lun',
               min=0,
               help='LUN number, on the array target, of the LUN that holds '
                    'the volume group. Required by iscsisan and fcsan.'),
    cfg.ListOpt('fc_target_wwpns',
                default=[],
                help='WWPNs of the FC array ports that export the LUN. '
                     'Empty: discovered on this host from the LUN\'s '
                     '/dev/disk/by-path links or sysfs.'),
    cfg.StrOpt('san_lvm_conf_dir',
               default='$state_path/auxo-lvm',
               help='Directory under which the SAN driver writes one '
                    'lvm.conf per volume group, whose device filter lets '
                    'LVM read only the SAN LUN.'),
]


# cinder-auxo-storage reads these from cinder.conf, the file it edits.
storage_admin_opts = [
    cfg.StrOpt('state_dir',
               default='/var/lib/cinder/auxo-storages',
               help='Where cinder-auxo-storage records what it made for '
                    'each storage (one JSON file per storage: the LUN, '
                    'volume group, mounts, iSCSI session), so that '
                    '``remove`` undoes exactly that, and the per-VG '
                    'lvm.conf files it runs LVM with.'),
    cfg.StrOpt('volume_service',
               default='cinder-volume',
               help='systemd unit of the cinder-volume service that '
                    'cinder-auxo-storage restarts after a change (for '
                    'example devstack@c-vol). Without systemd it only '
                    'says what to restart.'),
    cfg.IntOpt('device_timeout',
               default=30, min=1,
               help='Seconds to wait for a LUN\'s device link after an '
                    'iSCSI login or rescan.'),
    cfg.StrOpt('service_user',
               default='cinder',
               help='The user cinder-volume runs as. A new file storage\'s '
                    'directory is given to it, and a block storage\'s LVs '
                    'are, through a udev rule on the volume group '
                    '(/etc/udev/rules.d/61-cinder-auxo-<vg>.rules): the '
                    'drivers read and write their layers without root. '
                    'With root, or a user that does not exist, nothing '
                    'changes owner.'),
]


def list_opts():
    """All options, for ``oslo-config-generator --namespace cinder_auxo``.

    Backend options belong in each backend's own section; the generator
    shows them under ``backend_defaults``, where cinder also documents its
    per-backend options.
    """
    return [
        ('backend_defaults', itertools.chain(image_cache_opts,
                                             template_opts, chain_opts,
                                             local_opts, san_opts)),
        ('auxo_storage', storage_admin_opts),
    ]
