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

"""Layers as files in one directory (LocalFileDriver, and image caches)."""

import contextlib
import errno
import os
import shutil
import stat

from oslo_log import log as logging

from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.stores import base

LOG = logging.getLogger(__name__)

# A layer's mode follows its kind (doc/attach.md, "Shared bases"). A top
# is its volume's own (libvirt relabels it for the QEMU using it); layers
# below a top are opened by every QEMU that uses them, under its own user,
# and are never relabelled.
_PRIVATE = 0o640
_MODES = {
    naming.BASE: 0o444,         # never written again
    naming.SNAPSHOT: 0o644,     # frozen; the engine still merges into them
    naming.LAYER: 0o644,
    naming.MERGE: 0o644,
}


def mode_of(name):
    """The mode of a layer, work file or export called ``name``."""
    if not naming.is_layer(name):
        return _PRIVATE
    return _MODES.get(naming.parse(name).kind, _PRIVATE)


def _is_name(name):
    return naming.is_layer(name) or naming.is_temp(name)


class FileStore(base.Store):
    """A directory of layer files. Files are sparse; rename is atomic.

    A file takes the mode of its name's kind when it gets that name
    (``allocate``, ``rename``), see ``mode_of``.
    """

    atomic_replace = True
    indexed = True

    def __init__(self, storage_id, directory, create=False):
        super(FileStore, self).__init__(storage_id)
        self.directory = os.path.abspath(directory)
        self._create = create

    def __repr__(self):
        return 'FileStore(%s)' % self.directory

    def check(self):
        if self._create and not os.path.isdir(self.directory):
            parent = os.path.dirname(self.directory)
            if os.path.isdir(parent):
                try:
                    # o+x: every QEMU reaches the bases by path (search,
                    # not listing).
                    os.makedirs(self.directory, mode=0o751, exist_ok=True)
                except OSError as e:
                    raise exception.StorageUnavailable(
                        storage=self.storage_id,
                        reason='cannot create %s: %s' % (self.directory,
                                                         e.strerror))
        if not os.path.isdir(self.directory):
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='directory %s does not exist (is the file system '
                       'mounted?)' % self.directory)
        if self._create:
            self._searchable()
        if not os.access(self.directory, os.R_OK | os.W_OK | os.X_OK):
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='directory %s is not readable and writable by this '
                       'service' % self.directory)
        st = os.statvfs(self.directory)
        if st.f_flag & os.ST_RDONLY:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='%s is on a read-only file system' % self.directory)

    def _searchable(self):
        """A directory this store made is searchable by every QEMU.

        (Older releases made it 0750: no QEMU could open a base in it.)
        """
        mode = stat.S_IMODE(os.stat(self.directory).st_mode)
        if not mode & stat.S_IXOTH:
            LOG.info('Letting QEMU processes reach the layers in %s (o+x)',
                     self.directory)
            os.chmod(self.directory, mode | stat.S_IXOTH)

    def path(self, name):
        if not (naming.is_layer(name) or naming.is_temp(name) or
                naming.is_export(name)):
            raise exception.InvalidName(name=name, reason='not a layer name')
        return os.path.join(self.directory, name)

    def owns(self, path):
        real = os.path.realpath(path)
        if os.path.dirname(real) != os.path.realpath(self.directory):
            return None
        name = os.path.basename(real)
        return name if naming.is_layer(name) else None

    def exists(self, name):
        return os.path.exists(self.path(name))

    def allocate(self, name, size_bytes):
        path = self.path(name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         mode_of(name))
        except OSError as e:
            raise self._translate(e, path)
        os.close(fd)
        return path

    def delete(self, name):
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass

    def rename(self, old, new):
        # The mode first: ``new`` never appears writable when it must not.
        os.chmod(self.path(old), mode_of(new))
        os.rename(self.path(old), self.path(new))
        self._sync_dir()

    def list(self):
        try:
            return sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []

    def capacity(self):
        usage = shutil.disk_usage(self.directory)
        return usage.total, usage.free

    def size(self, name):
        return os.stat(self.path(name)).st_blocks * 512

    def apply_mode(self, name):
        path = self.path(name)
        mode = mode_of(name)
        if stat.S_IMODE(os.stat(path).st_mode) == mode:
            return False
        os.chmod(path, mode)
        return True

    @contextlib.contextmanager
    def writable(self, name):
        path = self.path(name)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        os.chmod(path, mode | stat.S_IWUSR)
        try:
            yield path
        finally:
            os.chmod(path, mode)

    def touch(self, name):
        # Metadata only: a base's content is never written.
        os.utime(self.path(name))

    def last_used(self, name):
        return os.stat(self.path(name)).st_mtime

    def sync(self, name):
        super(FileStore, self).sync(name)
        self._sync_dir()

    def _sync_dir(self, directory=None):
        base.fsync_path(directory or self.directory, os.O_DIRECTORY)

    def entries(self):
        try:
            with os.scandir(self.directory) as it:
                # d_ino comes with the listing: no stat per name.
                return [(e.name, e.inode()) for e in it]
        except FileNotFoundError:
            return []

    def listing_stamp(self):
        return os.stat(self.directory).st_mtime_ns

    # -- child index: .children/<parent>/<child>, empty files ------------

    def _index_dir(self, parent=None):
        top = os.path.join(self.directory, naming.INDEX_DIR)
        if parent is None:
            return top
        self.path(parent)   # validates the name
        return os.path.join(top, parent)

    def add_child(self, parent, child):
        self.path(child)
        directory = self._index_dir(parent)
        entry = os.path.join(directory, child)
        if os.path.exists(entry):
            return
        try:
            os.makedirs(directory, mode=0o750)
            # A new directory is durable once its parent is synced.
            self._sync_dir(self._index_dir())
            self._sync_dir()
        except FileExistsError:
            pass
        except OSError as e:
            raise self._translate(e, directory)
        try:
            os.close(os.open(entry, os.O_CREAT | os.O_WRONLY, 0o640))
        except OSError as e:
            raise self._translate(e, entry)
        self._sync_dir(directory)

    def drop_child(self, parent, child):
        self.path(child)
        directory = self._index_dir(parent)
        try:
            os.unlink(os.path.join(directory, child))
            # The last entry of a parent renamed away (a retired or merged
            # snapshot) takes its directory along. Entries are only added
            # under the chain lock, as here.
            os.rmdir(directory)
        except (FileNotFoundError, OSError) as e:
            if e.errno not in (errno.ENOENT, errno.ENOTEMPTY):
                raise self._translate(e, directory)

    def child_names(self, parent):
        try:
            return os.listdir(self._index_dir(parent))
        except FileNotFoundError:
            return []

    def drop_children(self, parent):
        shutil.rmtree(self._index_dir(parent), ignore_errors=True)

    def index(self):
        found = {}
        try:
            parents = os.listdir(self._index_dir())
        except FileNotFoundError:
            return found
        for parent in filter(_is_name, parents):
            found[parent] = set(filter(_is_name, self.child_names(parent)))
        return found

    def _translate(self, e, path):
        if e.errno == errno.ENOSPC:
            return exception.StorageFull(storage=self.storage_id,
                                         reason=path)
        if e.errno == errno.EEXIST:
            return exception.AuxoException(reason='%s already exists' % path)
        return exception.StorageUnavailable(
            storage=self.storage_id, reason='%s: %s' % (path, e.strerror))
