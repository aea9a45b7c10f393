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

"""What cinder itself is told: volume types, and the volume service.

With credentials in the environment (``OS_AUTH_URL`` and the usual
``OS_*`` variables, or ``OS_AUTH_TYPE=noauth`` with ``CINDER_ENDPOINT``)
the cinder API is used; without, the commands to run are printed.
"""

import os

from oslo_concurrency import processutils
from oslo_log import log as logging

from cinder_auxo import exception

LOG = logging.getLogger(__name__)

API_VERSION = '3.66'


def client_from_env(env=None):
    """A cinderclient from the environment, or None without credentials."""
    env = os.environ if env is None else env
    # Imported here: the other commands need no cinder client at all.
    from cinderclient import client
    from keystoneauth1 import session as ks_session
    if env.get('OS_AUTH_TYPE') == 'noauth' and env.get('CINDER_ENDPOINT'):
        from cinderclient.contrib import noauth
        auth = noauth.CinderNoAuthPlugin(
            env.get('OS_USER_ID', 'admin'), env.get('OS_PROJECT_ID', 'admin'),
            endpoint=env['CINDER_ENDPOINT'])
        sess = ks_session.Session(auth=auth)
        return client.Client(API_VERSION, session=sess,
                             endpoint_override=env['CINDER_ENDPOINT'])
    if not env.get('OS_AUTH_URL'):
        return None
    from keystoneauth1 import loading
    auth = loading.get_plugin_loader('password').load_from_options(
        auth_url=env['OS_AUTH_URL'], username=env.get('OS_USERNAME'),
        password=env.get('OS_PASSWORD'),
        project_name=env.get('OS_PROJECT_NAME'),
        user_domain_name=env.get('OS_USER_DOMAIN_NAME', 'Default'),
        project_domain_name=env.get('OS_PROJECT_DOMAIN_NAME', 'Default'))
    return client.Client(API_VERSION, session=ks_session.Session(auth=auth),
                         region_name=env.get('OS_REGION_NAME'))


class Cinder(object):
    """The few cinder API calls a storage's life needs; prints without."""

    def __init__(self, client, out):
        self.client = client
        self.out = out

    def create_type(self, name, backend):
        commands = ('    cinder type-create %s\n'
                    '    cinder type-key %s set volume_backend_name=%s'
                    % (name, name, backend))
        if self.client is None:
            self.out('No cinder credentials: create the volume type with\n'
                     + commands)
            return
        try:
            vtype = self.client.volume_types.create(name)
            vtype.set_keys({'volume_backend_name': backend})
        except Exception as e:
            # The storage is made already; only the type is missing.
            LOG.warning('Creating volume type %s failed: %s', name, e)
            self.out('The volume type was not created (%s); create it '
                     'with\n%s' % (e, commands))
            return
        self.out('Volume type %s created (volume_backend_name=%s)'
                 % (name, backend))

    def delete_type(self, name):
        if self.client is None:
            self.out('No cinder credentials: delete the volume type with\n'
                     '    cinder type-delete %s' % name)
            return
        try:
            for vtype in self.client.volume_types.list():
                if vtype.name == name:
                    self.client.volume_types.delete(vtype)
                    self.out('Volume type %s deleted' % name)
        except Exception as e:
            LOG.warning('Deleting volume type %s failed: %s', name, e)
            self.out('The volume type was not deleted (%s); delete it with'
                     '\n    cinder type-delete %s' % (e, name))

    def volumes_on(self, backend):
        """IDs of cinder's volumes on ``backend``; None without cinder."""
        if self.client is None:
            return None
        found = []
        try:
            volumes = self.client.volumes.list(
                search_opts={'all_tenants': 1})
        except Exception as e:
            # Credentials were given: cinder's answer is required.
            raise exception.StorageAdminError(
                reason='cinder could not be asked for volumes: %s' % e)
        for vol in volumes:
            host = getattr(vol, 'os-vol-host-attr:host', None) or ''
            if host.split('#')[0].endswith('@' + backend):
                found.append(vol.id)
        return found


def restart_volume_service(execute, service, backend, out):
    """Restart cinder-volume under systemd, or say what to restart."""
    if not os.path.isdir('/run/systemd/system'):
        out('Restart %s (not run by systemd here) to load the change of '
            'backend %s' % (service, backend))
        return False
    try:
        execute('systemctl', 'is-active', '--quiet', service,
                run_as_root=True)
    except processutils.ProcessExecutionError:
        out('%s is not active under systemd; start it to use backend %s'
            % (service, backend))
        return False
    execute('systemctl', 'restart', service, run_as_root=True)
    out('Restarted %s' % service)
    return True
