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

"""The backend sections ``add`` writes, in the seed's shape.

The keys and their order are those of the product this package replaces
(README, "cinder.conf"), so a storage made by hand and one made by
``cinder-auxo-storage`` read the same.
"""

LVMSAN_DRIVER = 'cinder_auxo.drivers.lvmsan.LVMSANDriver'
LOCAL_DRIVER = 'cinder_auxo.drivers.local.LocalFileDriver'


def _cache():
    return [('image_volume_cache_enabled', 'True'),
            ('image_base_path', ''),
            ('image_format', 'qcow2')]


def san(req, record):
    items = [('volume_driver', LVMSAN_DRIVER),
             ('volume_backend_name', record['backend'])]
    if req.type == 'iscsi':
        ip, _sep, port = req.portal.rpartition(':')
        items += [('iscsi_protocol', 'iscsi'),
                  ('iscsi_port', port),
                  ('iscsi_ip_address', ip.strip('[]')),
                  ('iscsi_helper', 'iscsisan'),
                  ('iscsi_target_prefix', req.iqn)]
    else:
        items += [('iscsi_helper', 'fcsan'),
                  ('fc_target_wwpns', req.wwpn or '')]
    items += [('target_lun', req.lun),
              ('volume_clear_size', req.volume_clear_size),
              ('volume_group', record['volume_group']),
              ('chap_username', req.chap.username or ''),
              ('chap_password', req.chap.password or '')]
    return items + _cache()


def local(req, record):
    return [('volume_driver', LOCAL_DRIVER),
            ('volume_backend_name', record['backend']),
            ('mount_point', req.mount_point),
            ('image_base_path', ''),
            ('volume_type', 'qcow2'),
            ('image_format', 'qcow2'),
            ('image_volume_cache_enabled', 'True')]


def section(req, record):
    return san(req, record) if req.usage == 'block' else local(req, record)
