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

"""Shared fixtures for functional tests: real qemu-img, real files."""

import os
import shutil
import subprocess
import tempfile

import fixtures
from oslo_concurrency import lockutils
from oslo_concurrency import processutils
from oslotest import base as oslo_base

from cinder_auxo.engine import chain
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.stores import files

MiB = 1024 * 1024
GiB = 1024 * MiB


def require_qemu(testcase):
    if not shutil.which('qemu-img') or not shutil.which('qemu-io'):
        testcase.fail('qemu-img and qemu-io are required (apt-get install '
                      'qemu-utils)')


def qemu_io(path, command, fmt='qcow2'):
    """Run one qemu-io command; a pattern mismatch raises."""
    out = subprocess.run(['qemu-io', '-f', fmt, '-c', command, path],
                         check=True, capture_output=True, text=True).stdout
    if 'Pattern verification failed' in out or 'failed' in out.lower():
        raise AssertionError('qemu-io %r on %s: %s' % (command, path, out))
    return out


def write_pattern(path, byte, offset, length, fmt='qcow2'):
    qemu_io(path, 'write -P 0x%02x %d %d' % (byte, offset, length), fmt)


def read_pattern(path, byte, offset, length, fmt='qcow2'):
    """Assert that [offset, offset+length) of the disk reads ``byte``."""
    qemu_io(path, 'read -P 0x%02x %d %d' % (byte, offset, length), fmt)


def make_image(path, patterns, size=64 * MiB, fmt='qcow2'):
    """A standalone image with (byte, offset, length) patterns written."""
    subprocess.run(['qemu-img', 'create', '-q', '-f', fmt, path, str(size)],
                   check=True)
    for byte, offset, length in patterns:
        write_pattern(path, byte, offset, length, fmt)
    return path


def listing(directory):
    """Sorted names in a store directory, its child index left out."""
    return sorted(n for n in os.listdir(directory) if n != naming.INDEX_DIR)


def index_gaps(engine):
    """{parent: child names} the header scan finds and the index lacks."""
    gaps = {}
    for parent, names in engine.index.scan().items():
        # (An LV renamed away took its entries along: the headers that
        # still name it are start-up repair's, ChildIndex.renamed_away.)
        if parent.store.indexed and not engine.index.renamed_away(parent):
            lacking = names - set(parent.store.child_names(parent.name))
            if lacking:
                gaps[parent.name] = lacking
    return gaps


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


def tree_bytes(directory):
    """Bytes allocated by every file below ``directory``."""
    total = 0
    for root, _dirs, names in os.walk(directory):
        for name in names:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


class FunctionalTestCase(oslo_base.BaseTestCase):
    """A storage directory, an engine and an image cache over it."""

    storage_id = 'storage-functional'

    def setUp(self):
        super(FunctionalTestCase, self).setUp()
        require_qemu(self)
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.mount = os.path.join(self.tmp, 'storage')
        os.mkdir(self.mount)
        self.lock_path = os.path.join(self.tmp, 'locks')
        os.mkdir(self.lock_path)
        self.engine, self.cache = self.make_engine()
        # Whatever a test did, the index must know every child.
        self.addCleanup(self.assert_index_complete)

    def assert_index_complete(self):
        if os.path.isdir(self.mount):
            self.assertEqual({}, index_gaps(self.engine))

    def make_engine(self, max_depth=16, base_fmt=naming.QCOW2):
        return build_engine(self.storage_id, self.mount, self.lock_path,
                            max_depth=max_depth, base_fmt=base_fmt)

    def vpath(self, volume_id, fmt='qcow2'):
        return self.engine.volumes.path(naming.layer(naming.VOLUME,
                                                     volume_id, fmt))

    def listing(self):
        return listing(self.mount)

    def image_file(self, patterns, size=64 * MiB, fmt='qcow2'):
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix='.' + fmt)
        os.close(fd)
        os.unlink(path)
        return make_image(path, patterns, size, fmt)


def build_engine(storage_id, mount, lock_path, max_depth=16,
                 base_fmt=naming.QCOW2):
    volumes = files.FileStore(storage_id, mount)
    cache = files.FileStore(storage_id, os.path.join(mount, '_base'),
                            create=True)
    cache.check()

    def lock(name):
        return lockutils.lock('%s-%s' % (storage_id, name), external=True,
                              lock_path=lock_path)

    engine = chain.ChainEngine(volumes, cache,
                               qemu.QemuImg(processutils.execute), lock,
                               max_depth=max_depth)
    return engine, image_cache.ImageCache(engine, cache, lock,
                                          base_fmt=base_fmt)


def disable_privsep():
    """Run cinder's privileged format inspector in-process.

    Tests run as the files' owner; no privsep daemon is wanted.
    """
    from cinder import privsep
    privsep.sys_admin_pctxt.set_client_mode(False)
