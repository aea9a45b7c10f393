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

"""The compute part of the all-in-one stack (``auxo-stack up --compute``).

Placement 16 and nova 34 (api, conductor, scheduler, and nova-compute
through ``cinder-auxo-nova-compute``), a private libvirtd running QEMU
under TCG, and a test desktop: a Debian cloud kernel with an initramfs
whose init (``guest-init.sh``) reads and writes its disks. Servers have
no network.

nova has no way to run without a network service: deleting any server
asks neutron for the server's ports. The stack has no networking, so
``no-network`` answers those questions on loopback with the truth (no
ports, no networks) and refuses every change. It stands in for a network
the tests never use; nothing it answers is under test.

Functions take the ``auxo-stack`` module as ``stack``: its process,
HTTP and keystone helpers are the ones used for the rest of the stack.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = '127.0.0.1'
NOVA_PORT = int(os.environ.get('AUXO_STACK_NOVA_PORT', '8774'))
PLACEMENT_PORT = int(os.environ.get('AUXO_STACK_PLACEMENT_PORT', '8778'))
NETWORK_PORT = int(os.environ.get('AUXO_STACK_NETWORK_PORT', '9696'))
NOVA_URL = 'http://%s:%d/v2.1' % (HOST, NOVA_PORT)
PLACEMENT_URL = 'http://%s:%d' % (HOST, PLACEMENT_PORT)
NETWORK_URL = 'http://%s:%d' % (HOST, NETWORK_PORT)
COMPUTE_HOST = 'auxo-compute'
FLAVOR = 'auxo-desktop'

# Start order; ``down`` stops them in reverse after the cinder part.
SERVICES = ['virtlogd', 'libvirtd', 'no-network', 'placement-api',
            'nova-api', 'nova-conductor', 'nova-scheduler', 'nova-compute']
SERVICE_USERS = ('nova', 'placement')
# nova 34 and placement 16 (the 2026.2 releases, paired with cinder 29)
# in one venv; the same pins as the hypervisor test stage.
PACKAGES = ['nova==34.0.0', 'openstack-placement==16.0.0',
            'libvirt-python', 'gunicorn', 'PyMySQL']
CONSTRAINTS = os.path.join(HERE, '..', 'hypervisor', 'nova-constraints.txt')
HOST_PACKAGES = ('libvirt-daemon', 'libvirt-daemon-driver-qemu',
                 'libvirt-clients', 'qemu-system-x86', 'libvirt-dev',
                 'pkg-config', 'gcc', 'python3-dev')
# The test desktop: a kernel with virtio as modules, a static busybox.
GUEST_DEBS = ('linux-image-cloud-amd64', 'busybox-static')
GUEST_MODULES = ('virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
                 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk')


class Paths(object):
    """Where the compute part keeps things, under the stack directory."""

    def __init__(self, stack):
        self.venv = os.path.join(stack.STACK, 'venv-nova')
        self.bin = os.path.join(self.venv, 'bin')
        self.etc = os.path.join(stack.ETC, 'nova')
        self.nova_conf = os.path.join(self.etc, 'nova.conf')
        self.placement_conf = os.path.join(self.etc, 'placement.conf')
        self.data = os.path.join(stack.DATA, 'nova')
        self.instances = os.path.join(self.data, 'instances')
        self.libvirt_run = os.path.join(stack.RUN, 'libvirt')
        self.libvirt_sock = os.path.join(self.libvirt_run, 'libvirt-sock')
        self.libvirt_uri = 'qemu:///system?socket=' + self.libvirt_sock
        self.guest = os.path.join(stack.STACK, 'guest')


# ---------------------------------------------------------------- install

def ensure_host_packages(stack):
    missing = [p for p in HOST_PACKAGES
               if subprocess.run(['dpkg', '-s', p], capture_output=True)
               .returncode]
    if missing:
        stack.say('installing %s from apt', ' '.join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        stack.run(['apt-get', 'update'], env=env, quiet=True)
        stack.run(['apt-get', 'install', '-y', '--no-install-recommends']
                  + missing, env=env, quiet=True)
    # Without libvirt-daemon-system nobody creates QEMU's user.
    for group in ('kvm', 'libvirt-qemu'):
        if subprocess.run(['getent', 'group', group],
                          capture_output=True).returncode:
            stack.run(['groupadd', '-r', group], quiet=True)
    if subprocess.run(['id', 'libvirt-qemu'], capture_output=True).returncode:
        stack.run(['useradd', '-r', '-g', 'libvirt-qemu', '-G', 'kvm',
                   '-d', '/var/lib/libvirt', '-s', '/usr/sbin/nologin',
                   'libvirt-qemu'], quiet=True)
    for path in ('/var/log/libvirt', '/var/lib/libvirt/qemu',
                 '/var/cache/libvirt/qemu'):
        os.makedirs(path, exist_ok=True)


def build_guest(stack, paths):
    """vmlinuz and initrd.img of the test desktop, built once."""
    kernel = os.path.join(paths.guest, 'vmlinuz')
    initrd = os.path.join(paths.guest, 'initrd.img')
    stamp = os.path.join(paths.guest, 'stamp')
    want = stack._fingerprint(os.path.join(HERE, 'guest-init.sh'),
                              os.path.abspath(__file__))
    if os.path.exists(stamp) and open(stamp).read().strip() == want:
        return kernel, initrd
    stack.say('building the test desktop in %s', paths.guest)
    shutil.rmtree(paths.guest, ignore_errors=True)
    os.makedirs(paths.guest)
    with tempfile.TemporaryDirectory(dir=paths.guest) as work:
        debs = os.path.join(work, 'debs')
        tree = os.path.join(work, 'tree')
        root = os.path.join(work, 'initramfs')
        os.makedirs(debs)
        # The metapackage names the current kernel package; fetch that.
        depends = stack.run(['apt-cache', 'depends', GUEST_DEBS[0]],
                            quiet=True).stdout.split()
        image = next(d for d in depends if d.startswith('linux-image-')
                     and d != GUEST_DEBS[0])
        stack.run(['apt-get', 'download', image, GUEST_DEBS[1]], cwd=debs,
                  quiet=True)
        for deb in sorted(os.listdir(debs)):
            stack.run(['dpkg-deb', '-x', os.path.join(debs, deb), tree],
                      quiet=True)
        release = image[len('linux-image-'):]
        modules = os.path.join(tree, 'lib', 'modules', release)
        for sub in ('bin', 'lib/modules', 'proc', 'sys', 'dev', 'tmp'):
            os.makedirs(os.path.join(root, sub))
        shutil.copy(os.path.join(tree, 'bin', 'busybox'),
                    os.path.join(root, 'bin', 'busybox'))
        found = {}
        for dirpath, _dirs, files in os.walk(modules):
            for name in files:
                found[name] = os.path.join(dirpath, name)
        for mod in GUEST_MODULES:
            shutil.copy(found[mod + '.ko'],
                        os.path.join(root, 'lib', 'modules', mod + '.ko'))
        shutil.copy(os.path.join(HERE, 'guest-init.sh'),
                    os.path.join(root, 'init'))
        os.chmod(os.path.join(root, 'init'), 0o755)
        shutil.copy(os.path.join(tree, 'boot', 'vmlinuz-' + release),
                    kernel)
        busybox = os.path.join(root, 'bin', 'busybox')
        names = subprocess.run(['find', '.'], cwd=root, check=True,
                               capture_output=True).stdout
        archive = subprocess.run([busybox, 'cpio', '-o', '-H', 'newc'],
                                 cwd=root, input=names, check=True,
                                 capture_output=True).stdout
        with open(initrd, 'wb') as f:
            f.write(archive)
    with open(stamp, 'w') as f:
        f.write(want + '\n')
    return kernel, initrd


# ---------------------------------------------------------------- config

def nova_conf_text(stack, paths):
    helper = '%s --config-file %s' % (
        os.path.join(paths.bin, 'privsep-helper'), paths.nova_conf)
    roots = ','.join(stack.mount_point(b) for b in stack.enabled_backends()
                     if b != stack.NFS_BACKEND)
    auth = stack.service_auth('nova')
    return f"""[DEFAULT]
debug = True
host = {COMPUTE_HOST}
my_ip = {HOST}
state_path = {paths.data}
instances_path = {paths.instances}
transport_url = rabbit://guest:guest@{HOST}:{stack.RABBIT_PORT}/
compute_driver = libvirt.LibvirtDriver
# No console proxies, no metadata service: servers have no network.
[vnc]
enabled = False
[spice]
enabled = False

[api]
auth_strategy = keystone
[wsgi]
api_paste_config = {os.path.join(paths.etc, 'api-paste.ini')}
[api_database]
connection = {stack.ensure_database('nova_api')}
[database]
connection = {stack.ensure_database('nova')}

[keystone_authtoken]
www_authenticate_uri = {stack.KEYSTONE_ROOT}
memcached_servers =
service_token_roles_required = True
{auth}

# cinder refuses to delete the attachment of an in-use volume unless the
# caller is a service: nova sends its service token along with the user's.
[service_user]
send_service_user_token = True
{auth}

[placement]
{auth}
[cinder]
os_region_name = {stack.REGION}
{auth}
[glance]
region_name = {stack.REGION}
[neutron]
{auth}

[scheduler]
discover_hosts_in_cells_interval = 2
[conductor]
workers = 1
[filter_scheduler]
# One small test host: nothing to balance.
enabled_filters = ComputeFilter,ImagePropertiesFilter

[libvirt]
# /dev/kvm exists on these machines but guests hang on it.
virt_type = qemu
connection_uri = {paths.libvirt_uri}

[oslo_concurrency]
lock_path = {paths.data}/locks
[os_brick]
lock_path = {paths.data}/locks
[oslo_messaging_notifications]
driver = noop

[nova_sys_admin]
helper_command = {helper}
[privsep_osbrick]
helper_command = {helper}
[vif_plug_linux_bridge_privileged]
helper_command = {helper}
[vif_plug_ovs_privileged]
helper_command = {helper}

[auxo]
storage_roots = {roots}
"""


def placement_conf_text(stack, paths):
    return f"""[DEFAULT]
debug = True
[api]
auth_strategy = keystone
[placement_database]
connection = {stack.ensure_database('placement')}
[keystone_authtoken]
www_authenticate_uri = {stack.KEYSTONE_ROOT}
memcached_servers =
{stack.service_auth('placement')}
"""


def libvirtd_conf_text(paths):
    return f"""unix_sock_dir = "{paths.libvirt_run}"
listen_tls = 0
listen_tcp = 0
"""


def write_configs(stack, paths):
    for path in (paths.etc, paths.instances, paths.libvirt_run,
                 os.path.join(paths.data, 'locks')):
        os.makedirs(path, exist_ok=True)
    with open(paths.nova_conf, 'w') as f:
        f.write(nova_conf_text(stack, paths))
    with open(paths.placement_conf, 'w') as f:
        f.write(placement_conf_text(stack, paths))
    with open(os.path.join(paths.etc, 'libvirtd.conf'), 'w') as f:
        f.write(libvirtd_conf_text(paths))
    shutil.copy(os.path.join(paths.venv, 'etc', 'nova', 'api-paste.ini'),
                paths.etc)


# ---------------------------------------------------------------- identity

def catalog():
    return (('nova', 'compute', NOVA_URL),
            ('placement', 'placement', PLACEMENT_URL),
            ('no-network', 'network', NETWORK_URL))


# ---------------------------------------------------------------- start

def nova_env():
    return dict(os.environ,
                OS_NOVA_CONFIG_DIR='', PYTHONWARNINGS='ignore')


def nova_manage(stack, paths, *args):
    return stack.run([os.path.join(paths.bin, 'nova-manage'),
                      '--config-file', paths.nova_conf] + list(args),
                     env=nova_env(), quiet=True)


def sync_databases(stack, paths):
    stack.run([os.path.join(paths.bin, 'placement-manage'),
               '--config-file', paths.placement_conf, 'db', 'sync'],
              env=nova_env(), quiet=True)
    nova_manage(stack, paths, 'api_db', 'sync')
    cells = nova_manage(stack, paths, 'cell_v2', 'list_cells').stdout
    if ' cell0 ' not in cells:
        nova_manage(stack, paths, 'cell_v2', 'map_cell0',
                    '--database_connection',
                    stack.ensure_database('nova_cell0'))
    if ' cell1 ' not in cells:
        nova_manage(stack, paths, 'cell_v2', 'create_cell', '--name',
                    'cell1', '--verbose')
    nova_manage(stack, paths, 'db', 'sync')


def start_libvirt(stack, paths):
    if not stack.running('virtlogd'):
        # virtlogd serves QEMU's console logs; foreground, so that the
        # harness knows its PID. A virtlogd of the system may already run.
        if os.path.exists('/run/libvirt/virtlogd-sock') and \
                subprocess.run(['pgrep', '-x', 'virtlogd'],
                               capture_output=True).returncode == 0:
            stack.say('a virtlogd already runs here; using it')
        else:
            stack.spawn('virtlogd', ['virtlogd'])
    if stack.running('libvirtd'):
        return
    # /dev/kvm exists but guests hang on it: libvirtd runs in a mount
    # namespace of its own where /dev/kvm is /dev/null, so libvirt probes
    # QEMU without KVM and runs every guest under TCG.
    stack.spawn('libvirtd', [
        'unshare', '-m', '--propagation', 'private', 'sh', '-c',
        'mount --bind /dev/null /dev/kvm && exec libvirtd -f "$1"', 'sh',
        os.path.join(paths.etc, 'libvirtd.conf')])
    stack.wait_for('libvirtd socket', lambda: os.path.exists(
        paths.libvirt_sock) or stack._fail_if_dead('libvirtd'), 30, 0.2)


def forget_strange_guests(stack, paths):
    """Undefine libvirt guests that this stack's nova does not know.

    libvirt keeps domain definitions in the system's directories, which
    outlive a stack directory: nova-compute refuses to start next to
    guests of a database it has never seen.
    """
    if stack.running('nova-compute'):
        return
    virsh = ['virsh', '-c', paths.libvirt_uri]
    listed = stack.run(virsh + ['list', '--all', '--uuid'],
                       quiet=True).stdout.split()
    if not listed:
        return
    known = set(stack.mariadb_sql(
        'SELECT uuid FROM nova.instances WHERE deleted = 0').stdout.split())
    for uuid in listed:
        if uuid in known:
            continue
        stack.say('undefining guest %s: unknown to this stack\'s nova', uuid)
        stack.run(virsh + ['destroy', uuid], quiet=True, check=False)
        stack.run(virsh + ['undefine', uuid], quiet=True, check=False)


GUNICORN_CONF = '''wsgi_app = %r
bind = '%s:%d'
workers = 1
threads = 4
worker_class = 'gthread'
timeout = 300
# Longer than any client's pause between requests: with gunicorn's 2 s,
# a poll every 2 s races the server closing its kept-alive connection
# ("Remote end closed connection without response").
keepalive = 75
'''


def start_services(stack, paths):
    env = nova_env()
    if not stack.running('no-network'):
        stack.spawn('no-network', [
            sys.executable, os.path.join(HERE, 'no-network'),
            '--port', str(NETWORK_PORT)])
    wsgi = {
        'placement-api': ('placement.wsgi.api:application', PLACEMENT_PORT,
                          dict(env, OS_PLACEMENT_CONFIG_DIR=paths.etc)),
        'nova-api': ('nova.wsgi.osapi_compute:application', NOVA_PORT,
                     dict(env, OS_NOVA_CONFIG_DIR=paths.etc)),
    }
    for name, (app, port, app_env) in wsgi.items():
        if stack.running(name):
            continue
        # nova and placement parse the process's command line as their
        # own: gunicorn runs with none and reads gunicorn.conf.py from its
        # working directory, as keystone's does.
        cwd = os.path.join(paths.etc, name)
        os.makedirs(cwd, exist_ok=True)
        with open(os.path.join(cwd, 'gunicorn.conf.py'), 'w') as f:
            f.write(GUNICORN_CONF % (app, HOST, port))
        stack.spawn(name, [os.path.join(paths.bin, 'gunicorn')],
                    env=app_env, cwd=cwd)
    daemons = {
        'nova-conductor': 'nova-conductor',
        'nova-scheduler': 'nova-scheduler',
        # nova-compute with cinder_auxo's libvirt volume drivers.
        'nova-compute': 'cinder-auxo-nova-compute',
    }
    for name, binary in daemons.items():
        if not stack.running(name):
            stack.spawn(name, [os.path.join(paths.bin, binary),
                               '--config-file', paths.nova_conf], env=env)


def nova(stack, method, path, body=None, timeout=60):
    return stack.http(method, NOVA_URL + path, body, headers={
        'OpenStack-API-Version': 'compute 2.93'}, timeout=timeout)


def nova_ready(stack):
    try:
        nova(stack, 'GET', '/flavors', timeout=5)
        return True
    except (OSError, ValueError, urllib.error.URLError):
        return stack._fail_if_dead('nova-api')


def compute_up(stack):
    stack._fail_if_dead('nova-compute')
    services = nova(stack, 'GET', '/os-services?binary=nova-compute')
    return any(s['host'] == COMPUTE_HOST and s['state'] == 'up'
               for s in services['services'])


def in_placement(stack):
    """nova-compute has registered its resource provider.

    The provider is named after the hypervisor (libvirt's host name),
    not the service host: look it up by the node's UUID.
    """
    stack._fail_if_dead('nova-compute')
    nodes = nova(stack, 'GET', '/os-hypervisors/detail')['hypervisors']
    ours = [n['id'] for n in nodes
            if n['service']['host'] == COMPUTE_HOST]
    if not ours:
        return False
    rps = stack.http('GET', PLACEMENT_URL + '/resource_providers', headers={
        'OpenStack-API-Version': 'placement 1.14'})['resource_providers']
    return any(rp['uuid'] in ours for rp in rps)


def ensure_flavor(stack):
    flavors = nova(stack, 'GET', '/flavors')['flavors']
    if any(f['name'] == FLAVOR for f in flavors):
        return
    # Booted from volume: no root disk of its own.
    nova(stack, 'POST', '/flavors', {'flavor': {
        'name': FLAVOR, 'ram': 256, 'vcpus': 1, 'disk': 0}})


def ensure_guest_images(stack, paths):
    """Kernel and initramfs of the test desktop as Glance aki/ari images.

    A root-disk image whose ``kernel_id``/``ramdisk_id`` name them boots
    by direct kernel boot; cinder copies those properties into the
    volume's image metadata, so a server booted from the volume does too.
    """
    kernel, initrd = build_guest(stack, paths)
    ids = {}
    for name, path, fmt in (('auxo-desktop-kernel', kernel, 'aki'),
                            ('auxo-desktop-initrd', initrd, 'ari')):
        with open(path, 'rb') as f:
            checksum = hashlib.md5(f.read()).hexdigest()
        found = stack.http('GET', stack.GLANCE_URL + '/v2/images?name=' +
                           name)['images']
        current = [i for i in found if i['status'] == 'active'
                   and i.get('checksum') == checksum]
        if current:
            ids[fmt] = current[0]['id']
            continue
        # A guest rebuilt since: the old images go.
        for old in found:
            stack.http('DELETE', stack.GLANCE_URL + '/v2/images/' +
                       old['id'])
        image = stack.http('POST', stack.GLANCE_URL + '/v2/images', {
            'name': name, 'disk_format': fmt, 'container_format': fmt,
            'visibility': 'public'})
        with open(path, 'rb') as f:
            stack.http('PUT', stack.GLANCE_URL + '/v2/images/%s/file'
                       % image['id'], f.read(), headers={
                           'Content-Type': 'application/octet-stream'},
                       timeout=120)
        ids[fmt] = image['id']
    return {'kernel_id': ids['aki'], 'ramdisk_id': ids['ari']}


def ensure_venv(stack):
    """nova's venv and what building it needs (libvirt-python)."""
    ensure_host_packages(stack)
    venv = Paths(stack).venv
    stack.ensure_venv(venv, PACKAGES, CONSTRAINTS, editable=stack.REPO)
    stack.remove_sqlite_retry(venv)


def up(stack):
    """Configure and start the compute part; its state.

    Its venv is built first, beside the others (``ensure_venv``, called
    by auxo-stack's ``ensure_venvs``).
    """
    started = time.monotonic()
    paths = Paths(stack)
    write_configs(stack, paths)
    if not any(stack.running(n) for n in SERVICES[3:]):
        sync_databases(stack, paths)
    start_libvirt(stack, paths)
    forget_strange_guests(stack, paths)
    start_services(stack, paths)
    stack.wait_for('nova API', lambda: nova_ready(stack), 120)
    stack.wait_for('nova-compute up', lambda: compute_up(stack), 180, 2)
    stack.wait_for('the compute node in placement',
                   lambda: in_placement(stack), 120, 2)
    # Map the new compute node to cell1 now rather than at the
    # scheduler's next periodic discovery.
    nova_manage(stack, paths, 'cell_v2', 'discover_hosts')
    ensure_flavor(stack)
    images = ensure_guest_images(stack, paths)
    stack.say('compute part up in %.0fs', time.monotonic() - started)
    return {
        'nova_endpoint': NOVA_URL,
        'flavor': FLAVOR,
        'guest_images': images,
        'instances_path': paths.instances,
        'libvirt_uri': paths.libvirt_uri,
        'nova_conf': paths.nova_conf,
        'compute_host': COMPUTE_HOST,
    }
