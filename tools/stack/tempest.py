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

"""OpenStack's conformance suite against the stack (``auxo-stack tempest``).

tempest 47 and cinder-tempest-plugin 1.23 in a venv of their own, pinned
by ``tempest-constraints.txt``, with a tempest.conf written from what the
stack runs: the features LocalFileDriver has are enabled, the ones the
stack lacks (networking, live migration, consoles, image snapshots of
servers) are disabled, so tempest skips those tests itself and says why.
Tests that the configuration cannot express, and that fail for a reason
outside this driver, are listed with that reason in ``tempest-skips.txt``.

With the compute part up, servers boot the stack's test desktop (a kernel
and initramfs, no network): tempest's attach, detach and boot-from-volume
tests run against nova and this package's libvirt volume driver.
"""

import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTRAINTS = os.path.join(HERE, 'tempest-constraints.txt')
SKIPS = os.path.join(HERE, 'tempest-skips.txt')
PACKAGES = ['tempest', 'cinder-tempest-plugin']
# Flavors of tempest's servers: booted from an image they need a root
# disk (nova refuses zero-disk flavors to non-admins).
FLAVORS = (('auxo-tempest', 256, 1), ('auxo-tempest-alt', 320, 1))
IMAGE = 'auxo-tempest-desktop'
# What runs: cinder's API tests, the plugin's, and nova's tests of
# volumes and boot from volume. nova's attach tests (test_attach_volume*)
# run when asked (auxo-stack tempest --regex
# '^tempest\.api\.compute\.volumes\.'): through nova they attach and
# detach as tempest.api.volume's attachment tests already do, and took 9
# of the 22 minutes of test time, mostly waiting for the test guest under
# TCG to let go of a disk.
ATTACH_TESTS = r'tempest\.api\.compute\.volumes\.test_attach_volume'
TESTS = (r'^(tempest\.api\.volume\.'
         r'|cinder_tempest_plugin\.api\.volume\.'
         r'|(?!' + ATTACH_TESTS + r')tempest\.api\.compute\.volumes\.'
         r'|tempest\.api\.compute\.servers\.test_create_server'
         r'\.ServersTestBootFromVolume)')


def paths(stack):
    root = os.path.join(stack.STACK, 'tempest')
    return {'venv': os.path.join(stack.STACK, 'venv-tempest'),
            'root': root,
            'conf': os.path.join(root, 'etc', 'tempest.conf'),
            'logs': os.path.join(root, 'logs')}


def ensure_flavors(stack, compute):
    have = {f['name']: f['id'] for f in
            compute.nova(stack, 'GET', '/flavors')['flavors']}
    ids = []
    for name, ram, disk in FLAVORS:
        if name not in have:
            have[name] = compute.nova(stack, 'POST', '/flavors', {
                'flavor': {'name': name, 'ram': ram, 'vcpus': 1,
                           'disk': disk}})['flavor']['id']
        ids.append(have[name])
    return ids


def ensure_image(stack, guest_images):
    """The test desktop as a bootable Glance image (a blank root disk)."""
    found = stack.http('GET', stack.GLANCE_URL + '/v2/images?name=' +
                       IMAGE)['images']
    for image in found:
        if image['status'] == 'active' and \
                image.get('kernel_id') == guest_images['kernel_id'] and \
                image.get('ramdisk_id') == guest_images['ramdisk_id']:
            return image['id']
        stack.http('DELETE', stack.GLANCE_URL + '/v2/images/' + image['id'])
    image = stack.http('POST', stack.GLANCE_URL + '/v2/images', {
        'name': IMAGE, 'disk_format': 'qcow2', 'container_format': 'bare',
        'visibility': 'public', 'min_disk': 0,
        'kernel_id': guest_images['kernel_id'],
        'ramdisk_id': guest_images['ramdisk_id'],
        'os_command_line': 'console=ttyS0 panic=-1 quiet'})
    disk = os.path.join(stack.STACK, 'tempest', IMAGE + '.qcow2')
    os.makedirs(os.path.dirname(disk), exist_ok=True)
    stack.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '64M'],
              quiet=True)
    with open(disk, 'rb') as f:
        stack.http('PUT', stack.GLANCE_URL + '/v2/images/%s/file'
                   % image['id'], f.read(), headers={
                       'Content-Type': 'application/octet-stream'},
                   timeout=120)
    return image['id']


def conf_text(stack, where, compute_state, image_id, flavors):
    backends = [b for b in stack.enabled_backends()
                if b != stack.NFS_BACKEND]
    nova = compute_state is not None
    return f"""[DEFAULT]
log_dir = {where['logs']}
log_file = tempest.log

[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = {stack.ADMIN_PASSWORD}
admin_project_name = admin
admin_domain_name = Default
# no-network refuses to make networks for tempest's projects.
create_isolated_networks = False

[identity]
uri_v3 = {stack.KEYSTONE_URL}
auth_version = v3
region = {stack.REGION}
[identity-feature-enabled]
api_v2 = False

[service_available]
cinder = True
glance = True
nova = {nova}
# With nova, the stack's network API is ``no-network``: it lists no
# networks and makes none, so tempest must not try to (below); servers
# boot without a network, which nova allows when none exists. Tests
# that need a guest network are skipped by run_validation = False.
neutron = {nova}
swift = False

[compute]
image_ref = {image_id}
image_ref_alt = {image_id}
flavor_ref = {flavors[0]}
flavor_ref_alt = {flavors[1]}
min_compute_nodes = 1
build_timeout = 600
min_microversion = 2.1
max_microversion = 2.93
[compute-feature-enabled]
console_output = True
# What a one-host stack without networking, consoles or image upload of
# servers cannot do.
live_migration = False
block_migration_for_live_migration = False
volume_backed_live_migration = False
cold_migration = False
resize = False
vnc_console = False
spice_console = False
serial_console = False
rescue = False
stable_rescue = False
shelve = False
shelve_migrate = False
snapshot = False
interface_attach = False
change_password = False
config_drive = False
metadata_service = False
personality = False
suspend = False
pause = True
attach_encrypted_volume = False
# Multi-attach and swap are not in LocalFileDriver's capabilities.
volume_multiattach = False
swap_volume = False
# Extend of an attached volume is refused (doc/attach.md).
extend_attached_volume = False
hostname_fqdn_sanitization = False

[validation]
# No guest network: nothing is checked over SSH.
run_validation = False

[volume]
catalog_type = volumev3
backend_names = {','.join(backends)}
build_timeout = 300
volume_size = 1
min_microversion = 3.0
max_microversion = {stack.API_VERSION}
storage_protocol = local
vendor_name = cinder_auxo
[volume-feature-enabled]
api_v3 = True
snapshot = True
clone = True
backup = True
volume_revert = True
extend_attached_volume = False
extend_volume_with_snapshot = True
manage_volume = False
manage_snapshot = False
multi_backend = {len(backends) > 1}
cluster_active_active = False

[image-feature-enabled]
api_v1 = False
"""


def write_workspace(stack, where, text):
    os.makedirs(os.path.dirname(where['conf']), exist_ok=True)
    os.makedirs(where['logs'], exist_ok=True)
    with open(where['conf'], 'w') as f:
        f.write(text)
    # tempest run reads .stestr.conf from the working directory: the one
    # ``tempest init`` writes.
    top = os.path.join(stack._purelib(where['venv']), 'tempest')
    with open(os.path.join(where['root'], '.stestr.conf'), 'w') as f:
        f.write('[DEFAULT]\ntest_path=%s\ntop_dir=%s\n' % (
            os.path.join(top, 'test_discover'), top))


def summary(output):
    counts = {}
    for key in ('Passed', 'Skipped', 'Failed'):
        found = re.findall(r'^ - %s: (\d+)$' % key, output, re.M)
        counts[key.lower()] = int(found[-1]) if found else 0
    return counts


def run(stack, compute, regex=None, concurrency=2):
    """Configure and run tempest; its exit status."""
    where = paths(stack)
    compute_state = stack.load_state().get('compute')
    stack.ensure_venv(where['venv'], PACKAGES, CONSTRAINTS)
    image_id = flavors = None
    if compute_state:
        image_id = ensure_image(stack, compute_state['guest_images'])
        flavors = ensure_flavors(stack, compute)
    else:
        stack.say('no compute part: tempest runs without nova')
    write_workspace(stack, where, conf_text(
        stack, where, compute_state, image_id, flavors or [None, None]))
    return _run_tempest(stack, where, regex, concurrency)


def _run_tempest(stack, where, regex, concurrency):
    argv = [os.path.join(where['venv'], 'bin', 'tempest'), 'run',
            '--config-file', where['conf'], '--regex', regex or TESTS,
            '--exclude-list', SKIPS, '--concurrency', str(concurrency)]
    stack.say('tempest: %s', ' '.join(argv[1:]))
    proc = subprocess.Popen(argv, cwd=where['root'], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        print(line, end='', flush=True)
        lines.append(line)
    rc = proc.wait()
    counts = summary(''.join(lines))
    stack.say('tempest: %d passed, %d skipped, %d failed',
              counts['passed'], counts['skipped'], counts['failed'])
    return rc
