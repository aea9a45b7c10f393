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

"""qemu-img, wrapped once for every store.

Every call is an argument list run through an injected ``execute`` (cinder's
``utils.execute`` in production, a recorder in unit tests). Formats are
always passed explicitly (``-f``, ``-F``): a layer's format is known from
its name, never sniffed from guest-writable bytes. ``ProcessExecutionError``
is translated here, once, into ``QemuImgError`` or ``StorageFull``; a
header this module parses itself that makes no sense is ``MalformedLayer``.
"""

import errno
import json
import os
import struct

from oslo_concurrency import processutils
from oslo_log import log as logging

from cinder_auxo import exception
from cinder_auxo.hypervisor import chain as hv_chain

LOG = logging.getLogger(__name__)

QCOW2_MAGIC = b'QFI\xfb'
# qcow2 header: magic, version, backing_file_offset, backing_file_size,
# cluster_bits, size (the virtual size).
_QCOW2_HEADER = struct.Struct('>4sIQIIQ')
# A backing file name longer than this is not one qemu-img wrote.
_MAX_BACKING_NAME = 1023


def read_backing_file(path):
    """Return the backing file name in a qcow2 header, or None.

    Reads the header and the name itself; opens nothing else. Used to walk
    and validate chains before qemu-img is allowed to open them.
    """
    return read_header(path)[0]


def read_header(path):
    """(backing file name or None, virtual size) of a qcow2 layer."""
    with open(path, 'rb') as f:
        head = f.read(_QCOW2_HEADER.size)
        if len(head) < _QCOW2_HEADER.size:
            raise exception.MalformedLayer(path=path,
                                           reason='truncated qcow2 header')
        magic, _version, offset, size, _bits, virtual = (
            _QCOW2_HEADER.unpack(head))
        if magic != QCOW2_MAGIC:
            raise exception.MalformedLayer(path=path,
                                           reason='not a qcow2 layer')
        if not offset or not size:
            return None, virtual
        if size > _MAX_BACKING_NAME:
            raise exception.MalformedLayer(
                path=path, reason='backing file name of %d bytes' % size)
        f.seek(offset)
        name = f.read(size)
        return os.fsdecode(name), virtual


def read_backing_format(path):
    """The backing format a qcow2 layer records (``-F``), or None.

    None also for a layer without a backing file. The header extensions
    are parsed by the hypervisor side's reader: one parser for both.
    """
    try:
        return hv_chain.read_qcow2_header(path)[1]
    except ValueError as e:
        raise exception.MalformedLayer(path=path, reason=str(e)) from e


def _backing_args(option, backing, backing_fmt):
    # Every layer we write records its backing format: a missing one
    # makes QEMU probe the backing file, and libvirt refuses the chain.
    if not backing_fmt:
        raise exception.AuxoException(
            reason='no format given for backing file %s' % backing)
    return [option, backing, '-F', backing_fmt]


def raw_size(path):
    """Size of a raw file or block device."""
    with open(path, 'rb') as f:
        return f.seek(0, os.SEEK_END)


class QemuImg(object):
    """Thin argv builder around qemu-img for trusted, local layers."""

    def __init__(self, execute):
        self._execute = execute

    def _run(self, command, path, *args):
        cmd = ('qemu-img', command) + args
        try:
            out, _err = self._execute(*cmd)
        except processutils.ProcessExecutionError as e:
            stderr = (e.stderr or '').strip()
            if ('No space left' in stderr or
                    os.strerror(errno.ENOSPC) in stderr):
                raise exception.StorageFull(storage=os.path.dirname(path),
                                            reason=stderr) from e
            raise exception.QemuImgError(command=command, path=path,
                                         reason=stderr or e) from e
        return out

    def info(self, path, fmt):
        """Header facts of one layer (never its backing chain)."""
        out = self._run('info', path, '-f', fmt, '--output=json', '-U', path)
        return json.loads(out)

    def create(self, path, fmt, size_bytes=None, backing=None,
               backing_fmt=None, unsafe=False):
        """Format a new layer.

        ``unsafe`` (``-u``) names a backing file that need not exist yet;
        ``size_bytes`` is then required.
        """
        args = ['-f', fmt]
        if backing:
            args += _backing_args('-b', backing, backing_fmt)
            if unsafe:
                args.append('-u')
        if fmt == 'qcow2':
            # Small clusters and no preallocation: overlays stay sparse.
            args += ['-o', 'cluster_size=65536']
        args.append(path)
        if size_bytes is not None:
            args.append(str(int(size_bytes)))
        self._run('create', path, *args)

    def commit(self, path, fmt):
        """Write ``path``'s clusters into its direct backing layer.

        ``-d`` keeps ``path`` intact, so a crash in the middle leaves both
        layers readable with the same content as before.
        """
        self._run('commit', path, '-f', fmt, '-d', path)

    def rebase(self, path, fmt, backing, backing_fmt, unsafe=False):
        """Re-point ``path`` at ``backing``.

        Copies what differs between the old and new backing, unless
        ``unsafe``, which rewrites the header only.
        """
        args = ['-f', fmt]
        if unsafe:
            args.append('-u')
        if backing:
            args += _backing_args('-b', backing, backing_fmt)
        else:
            args += ['-b', '']
        args.append(path)
        self._run('rebase', path, *args)

    def convert(self, src, src_fmt, dst, dst_fmt, skip_create=False):
        """Flatten ``src`` (with its chain) into ``dst``; sparse-aware."""
        args = ['-f', src_fmt, '-O', dst_fmt]
        if skip_create:
            args.append('-n')
        args += [src, dst]
        self._run('convert', dst, *args)

    def check(self, path, fmt):
        """Refuse a qcow2 image whose metadata is corrupt or truncated.

        Exit status 3 (leaked clusters only) is harmless for a read-only
        source; 2 (corruption) and 1 (could not check) are not.
        """
        try:
            self._execute('qemu-img', 'check', '-f', fmt, '--output=json',
                          path, check_exit_code=[0, 3])
        except processutils.ProcessExecutionError as e:
            raise exception.QemuImgError(
                command='check', path=path,
                reason=(e.stdout or e.stderr or str(e)).strip()[:500]) from e

    def convert_top_layer(self, top, top_fmt, parent, parent_fmt, dst):
        """Copy only ``top``'s own clusters into a new qcow2 on ``parent``.

        Zero clusters are kept as such, so ``dst`` over ``parent`` reads
        exactly like ``top``.
        """
        args = ['-f', top_fmt, '-O', 'qcow2']
        args += _backing_args('-B', parent, parent_fmt)
        self._run('convert', dst, *(args + [top, dst]))

    def resize(self, path, fmt, size_bytes):
        self._run('resize', path, '-f', fmt, path, str(int(size_bytes)))

    def measure(self, size_bytes, fmt):
        """Bytes a fully written ``fmt`` image of that size can take."""
        out = self._run('measure', '<new>', '--output=json', '-O', fmt,
                        '--size', str(int(size_bytes)))
        return int(json.loads(out)['fully-allocated'])

    def allocated_bytes(self, path, fmt):
        """Bytes of guest data held by this layer itself (not its chain)."""
        if fmt != 'qcow2':
            return int(self.info(path, fmt)['virtual-size'])
        out = self._run('map', path, '-f', fmt, '--output=json', '-U', path)
        return sum(e['length'] for e in json.loads(out)
                   if e.get('data') and e.get('depth', 0) == 0)

    def virtual_size(self, path, fmt):
        return int(self.info(path, fmt)['virtual-size'])
