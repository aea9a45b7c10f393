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

"""Connection info for volumes that are files on the consumer's own host.

``driver_volume_type`` is ``local``: os-brick's LocalConnector hands the
path to cinder's own data paths (upload, backup, migration), and a
hypervisor on the same host opens the file with the ``format`` given here,
never as raw bytes of a qcow2 file. See doc/attach.md.
"""

PROTOCOL = 'local'


def connection_info(volume_id, path, fmt, access_mode='rw'):
    return {
        'driver_volume_type': PROTOCOL,
        'data': {
            'volume_id': volume_id,
            'device_path': path,
            'format': fmt,
            'access_mode': access_mode,
            'discard': True,
        },
    }
