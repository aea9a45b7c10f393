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

"""Base of the end-to-end suite: a running stack, its clients, its files.

The stack is the one ``tools/stack/auxo-stack up`` starts; its description
(endpoints, backends, mount points, logs) is ``stack.json`` in the stack
directory (``$AUXO_STACK_DIR``, default ``.stack/`` at the repository root).
A stack that is not up is a failure, never a skip: this suite is the proof
that the driver works under real cinder.

Backend files are checked with qemu-img and qemu-io, read-only and with
``-U`` (no lock), while no cinder operation is in flight on them.
"""

import json
import os
import pwd
import re
import subprocess
import tempfile
import time
import unittest
import uuid

from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from glanceclient import Client as GlanceClient
from keystoneauth1.identity import v3 as ks_identity
from keystoneauth1 import session as ks_session

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
STACK_DIR = os.path.abspath(os.environ.get('AUXO_STACK_DIR') or
                            os.path.join(REPO, '.stack'))

MiB = 1024 * 1024
GiB = 1024 * MiB

HTTP_TIMEOUT = 60
VOLUME_TIMEOUT = 120
DELETE_TIMEOUT = 60
# Stats reach the scheduler every backend_stats_polling_interval (5 s).
STATS_TIMEOUT = 45


def load_stack():
    path = os.path.join(STACK_DIR, 'stack.json')
    if not os.path.exists(path):
        raise AssertionError(
            'no stack description at %s: start the stack with '
            '"tools/stack/auxo-stack up" (or set AUXO_STACK_DIR)' % path)
    with open(path) as f:
        return json.load(f)


def wait_until(what, predicate, timeout, interval=0.25):
    """Poll predicate until it returns a true value; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s'
                                 % (timeout, what))
        time.sleep(interval)


def execute(*argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise AssertionError('%s failed (%d): %s' % (
            ' '.join(argv), proc.returncode, proc.stdout))
    return proc.stdout


# ------------------------------------------------------------ image files

def make_image(path, virtual_size, writes=(), backing=None,
               backing_fmt='raw'):
    """A qcow2 file with known patterns: writes = [(byte, offset, len)]."""
    argv = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    if backing:
        argv += ['-b', backing, '-F', backing_fmt]
    execute(*(argv + [path, str(virtual_size)]))
    for byte, offset, length in writes:
        # -U: a hostile backing file is only named, never opened for write.
        execute('qemu-io', '-f', 'qcow2', '-c',
                'write -P %d %d %d' % (byte, offset, length), path)
    return path


def qemu_info(path):
    return json.loads(execute('qemu-img', 'info', '-U', '--output=json',
                              path))


def read_matches(path, byte, offset, length, fmt='qcow2'):
    """True if [offset, offset+length) of the image reads as byte."""
    proc = subprocess.run(
        ['qemu-io', '-r', '-U', '-f', fmt, '-c',
         'read -P %d %d %d' % (byte, offset, length), path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode == 0 and 'verification failed' not in proc.stdout


def write_pattern(path, byte, offset, length, fmt='qcow2'):
    """Write through the volume file, as a guest of the volume would."""
    execute('qemu-io', '-f', fmt, '-c',
            'write -P %d %d %d' % (byte, offset, length), path)


# ------------------------------------------------------------ test base

class E2ETestCase(unittest.TestCase):
    """One test of the suite; each cleans up every object it made."""

    maxDiff = None
    # Set to a backend name from stack.json to run on another backend.
    backend = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = load_stack()
        cls.backend = cls.backend or cls.stack['default_backend']
        cls.backend_info = cls.stack['backends'][cls.backend]
        cls.mount_point = cls.backend_info['mount_point']
        cls.volume_type = cls.backend_info['volume_type']
        cls.volume_log = cls.stack['logs']['cinder-volume']
        cls.scheduler_log = cls.stack['logs']['cinder-scheduler']
        # The admin of the admin project, through keystone; both clients
        # find their endpoints in the catalog.
        auth = ks_identity.Password(**cls.stack['auth'])
        cls.session = ks_session.Session(auth=auth, timeout=HTTP_TIMEOUT)
        cls.cinder = cinder_client.Client(cls.stack['api_version'],
                                          session=cls.session)
        cls.glance = GlanceClient('2', session=cls.session)
        cls._check_stack_up()

    @classmethod
    def _check_stack_up(cls):
        try:
            services = cls.cinder.services.list(binary='cinder-volume')
        except Exception as exc:
            raise AssertionError('the cinder API at %s does not answer '
                                 '(%s): is the stack up?'
                                 % (cls.stack['cinder_endpoint'], exc))
        host = cls.backend_info['service_host']
        states = {s.host: s.state for s in services}
        if states.get(host) != 'up':
            raise AssertionError('cinder-volume %s is not up: %s'
                                 % (host, states))
        if not os.path.isdir(cls.mount_point):
            raise AssertionError('backend directory %s is missing'
                                 % cls.mount_point)

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory(prefix='auxo-e2e-')
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.log_offset = os.path.getsize(self.volume_log)
        self.scheduler_log_offset = os.path.getsize(self.scheduler_log)
        self.files_before = set(self.backend_files())

    # -------------------------------------------------------- glance

    def upload_image(self, path, container_format='bare',
                     disk_format='qcow2', name=None):
        image = self.glance.images.create(
            name=name or 'auxo-e2e-%s' % self.id().rsplit('.', 1)[-1],
            disk_format=disk_format, container_format=container_format,
            visibility='community')
        self.addCleanup(self._delete_image, image['id'])
        with open(path, 'rb') as f:
            self.glance.images.upload(image['id'], f)
        wait_until('image %s active' % image['id'],
                   lambda: self.glance.images.get(
                       image['id'])['status'] == 'active', 60)
        return image['id']

    def _delete_image(self, image_id):
        try:
            self.glance.images.delete(image_id)
        except Exception:
            pass

    def pattern_image(self, writes, virtual_size=64 * MiB):
        """Upload a fresh qcow2 image with the given patterns."""
        path = os.path.join(self.tmp, 'image-%d.qcow2' % len(os.listdir(
            self.tmp)))
        make_image(path, virtual_size, writes)
        return self.upload_image(path)

    # -------------------------------------------------------- cinder

    def create_volume(self, size=1, status='available', **kwargs):
        """Create a volume (cleaned up at the end) and wait for status."""
        kwargs.setdefault('volume_type', self.volume_type)
        vol = self.cinder.volumes.create(size, **kwargs)
        self.addCleanup(self._cleanup_volume, vol.id)
        if status:
            return self.wait_volume(vol.id, status)
        return vol

    def member_cinder(self):
        """A cinder client of a member (not admin) of a new project.

        The project and its user are deleted at the end.
        """
        identity = {'service_type': 'identity', 'interface': 'public'}
        name = 'auxo-e2e-%s' % uuid.uuid4().hex[:12]
        password = uuid.uuid4().hex
        project = self.session.post(
            '/projects', endpoint_filter=identity,
            json={'project': {'name': name, 'domain_id': 'default'}}
        ).json()['project']
        self.addCleanup(self.session.delete, '/projects/%s' % project['id'],
                        endpoint_filter=identity)
        user = self.session.post(
            '/users', endpoint_filter=identity,
            json={'user': {'name': name, 'domain_id': 'default',
                           'password': password,
                           'default_project_id': project['id']}}
        ).json()['user']
        self.addCleanup(self.session.delete, '/users/%s' % user['id'],
                        endpoint_filter=identity)
        role = self.session.get('/roles?name=member',
                                endpoint_filter=identity).json()['roles'][0]
        self.session.put('/projects/%s/users/%s/roles/%s' % (
            project['id'], user['id'], role['id']), endpoint_filter=identity)
        auth = ks_identity.Password(
            auth_url=self.stack['auth']['auth_url'], username=name,
            password=password, user_domain_id='default',
            project_id=project['id'])
        session = ks_session.Session(auth=auth, timeout=HTTP_TIMEOUT)
        return cinder_client.Client(self.stack['api_version'],
                                    session=session)

    def delta_upload(self, volume, name):
        """upload-to-image in delta mode; returns the new image id."""
        self.cinder.volumes.set_metadata(
            volume, {'auxo_image_upload_mode': 'delta'})
        _resp, body = self.cinder.volumes.upload_to_image(
            volume, False, name, 'bare', 'qcow2', 'community', False)
        image_id = body['os-volume_upload_image']['image_id']
        self.addCleanup(self._delete_image, image_id)
        wait_until('image %s active' % image_id,
                   lambda: self.glance.images.get(
                       image_id)['status'] == 'active', 120)
        self.wait_volume(volume.id, 'available')
        return image_id

    def wait_volume(self, volume_id, status, timeout=VOLUME_TIMEOUT):
        def reached():
            vol = self.cinder.volumes.get(volume_id)
            if vol.status == status:
                return vol
            if vol.status in ('error', 'error_extending',
                              'error_restoring') and status != vol.status:
                raise AssertionError(
                    'volume %s went to %s instead of %s; volume log:\n%s'
                    % (volume_id, vol.status, status,
                       self.log_errors(volume_id)))
            return None
        return wait_until('volume %s %s' % (volume_id, status), reached,
                          timeout)

    def delete_volume(self, volume_id, cascade=False):
        self.cinder.volumes.delete(volume_id, cascade=cascade)
        self.wait_gone(self.cinder.volumes, volume_id)

    def _cleanup_volume(self, volume_id):
        try:
            vol = self.cinder.volumes.get(volume_id)
        except cinder_exc.NotFound:
            return
        if vol.status not in ('available', 'error'):
            try:
                self.wait_volume(volume_id, 'available')
            except AssertionError:
                self.cinder.volumes.reset_state(vol, 'error')
        self.delete_volume(volume_id, cascade=True)

    def create_snapshot(self, volume_id):
        snap = self.cinder.volume_snapshots.create(volume_id)
        self.addCleanup(self._cleanup_snapshot, snap.id)
        return self.wait_snapshot(snap.id, 'available')

    def wait_snapshot(self, snapshot_id, status, timeout=VOLUME_TIMEOUT):
        def reached():
            snap = self.cinder.volume_snapshots.get(snapshot_id)
            if snap.status == status:
                return snap
            if snap.status.startswith('error'):
                raise AssertionError(
                    'snapshot %s went to %s; volume log:\n%s'
                    % (snapshot_id, snap.status,
                       self.log_errors(snapshot_id)))
            return None
        return wait_until('snapshot %s %s' % (snapshot_id, status),
                          reached, timeout)

    def delete_snapshot(self, snapshot_id):
        self.cinder.volume_snapshots.delete(snapshot_id)
        self.wait_gone(self.cinder.volume_snapshots, snapshot_id)

    def _cleanup_snapshot(self, snapshot_id):
        try:
            self.cinder.volume_snapshots.get(snapshot_id)
        except cinder_exc.NotFound:
            return
        self.delete_snapshot(snapshot_id)

    def wait_gone(self, manager, object_id, timeout=DELETE_TIMEOUT):
        def gone():
            try:
                obj = manager.get(object_id)
            except cinder_exc.NotFound:
                return True
            if obj.status.startswith('error'):
                raise AssertionError('%s went to %s while deleting; volume '
                                     'log:\n%s' % (object_id, obj.status,
                                                   self.log_errors(object_id)))
            return False
        wait_until('%s deleted' % object_id, gone, timeout)

    # -------------------------------------------------------- backend

    def volume_path(self, volume_id):
        for name in ('volume-%s' % volume_id, 'volume-%s.raw' % volume_id):
            path = os.path.join(self.mount_point, name)
            if os.path.exists(path):
                return path
        raise AssertionError('no backend file for volume %s in %s: %s'
                             % (volume_id, self.mount_point,
                                sorted(os.listdir(self.mount_point))))

    def snapshot_path(self, snapshot_id):
        return os.path.join(self.mount_point, 'snapshot-%s' % snapshot_id)

    def base_dir(self):
        return os.path.join(self.mount_point, '_base')

    def cache_cli(self, *args):
        """cinder-auxo-cache on the test's backend; its JSON output.

        Run as cinder's own user, as an operator runs it (README): its
        locks and files are cinder's.
        """
        user = self.stack.get('cinder_user', 'root')
        ids = {}
        if user != 'root':
            gid = pwd.getpwnam(user).pw_gid
            ids = dict(user=user, group=gid,
                       extra_groups=os.getgrouplist(user, gid))
        out = subprocess.run(
            [os.path.join(self.stack['cinder_venv'], 'bin',
                          'cinder-auxo-cache'),
             '--config-file', self.stack['cinder_conf'], '--backend',
             self.backend, '--json'] + list(args),
            capture_output=True, text=True, timeout=120, **ids)
        self.assertEqual(0, out.returncode, out.stderr[-3000:])
        return json.loads(out.stdout)

    def bases_of(self, image_id):
        if not os.path.isdir(self.base_dir()):
            return []
        return sorted(os.path.join(self.base_dir(), n)
                      for n in os.listdir(self.base_dir())
                      if re.match(r'^base-%s-g\d+(\.raw)?$' % image_id, n))

    def backing_of(self, path):
        info = qemu_info(path)
        backing = info.get('full-backing-filename') or info.get(
            'backing-filename')
        if backing and not os.path.isabs(backing):
            backing = os.path.join(os.path.dirname(path), backing)
        return backing

    def fmt_of(self, path):
        return 'raw' if path.endswith('.raw') else 'qcow2'

    def assert_reads(self, path, byte, offset, length):
        if not read_matches(path, byte, offset, length, self.fmt_of(path)):
            raise AssertionError(
                '%s does not read 0x%02x at [%d, +%d); chain:\n%s'
                % (path, byte, offset, length,
                   execute('qemu-img', 'info', '-U', '--backing-chain',
                           path)))

    def write(self, volume_id, byte, offset, length):
        path = self.volume_path(volume_id)
        write_pattern(path, byte, offset, length, self.fmt_of(path))

    def backend_files(self):
        """Every entry below the mount point, relative to it."""
        found = []
        for root, dirs, files in os.walk(self.mount_point):
            for name in dirs + files:
                found.append(os.path.relpath(os.path.join(root, name),
                                             self.mount_point))
        return sorted(found)

    def assert_backend_clean(self):
        """Nothing is left of this test but image-cache bases."""
        now = self.backend_files()
        work = [p for p in now if os.path.basename(p).startswith('.tmp-')]
        self.assertEqual([], work, 'work files left in the backend')
        left = [p for p in now if p not in self.files_before and
                p != '_base' and not re.match(
                    r'^_base/base-[0-9a-f-]{36}-g\d+(\.raw)?$', p) and
                # The child index's directories stay; entries must not.
                not re.match(r'^(_base/)?\.children$', p)]
        self.assertEqual([], left, 'files left in the backend directory')

    def assert_no_files_of(self, *object_ids):
        left = [p for p in self.backend_files()
                if any(i in p for i in object_ids)]
        self.assertEqual([], left, 'backend files of deleted objects')

    # -------------------------------------------------------- logs

    def new_log(self):
        with open(self.volume_log, errors='replace') as f:
            f.seek(self.log_offset)
            return f.read()

    def log_errors(self, *needles):
        """WARNING and ERROR lines of cinder-volume, then of the scheduler.

        A request the scheduler could not place never reaches the volume
        service; its reason (a filter, a backend reported down) is in the
        scheduler's log.
        """
        with open(self.scheduler_log, errors='replace') as f:
            f.seek(self.scheduler_log_offset)
            scheduler = f.read()
        lines = [line for text in (self.new_log(), scheduler)
                 for line in text.splitlines()
                 if (' ERROR ' in line or ' WARNING ' in line) and
                 (not needles or any(n in line for n in needles))]
        return '\n'.join(lines[-40:])

    def request_errors(self, object_id):
        """WARNING and ERROR lines of the requests that touched object_id.

        cinder tags every line of a request with its request ids; the
        explanation of a failure may come from any layer of that request.
        """
        lines = [line for line in self.new_log().splitlines()
                 if ' ERROR ' in line or ' WARNING ' in line]
        request_ids = set()
        for line in lines:
            if object_id in line:
                request_ids.update(re.findall(r'\breq-[0-9a-f-]{36}\b', line))
        return '\n'.join(line for line in lines
                         if any(r in line for r in request_ids))

    def download_count(self, image_id):
        with open(self.volume_log, errors='replace') as f:
            return sum(1 for line in f
                       if 'Downloading image %s' % image_id in line)

    def pool(self):
        for pool in self.cinder.pools.list(detailed=True):
            if pool.name == self.backend_info['host']:
                return pool
        raise AssertionError('pool %s not reported by the scheduler'
                             % self.backend_info['host'])
