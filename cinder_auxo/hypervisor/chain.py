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

"""Check a file volume and its qcow2 backing chain before QEMU opens it.

Headers are read here, in Python: no qemu-img runs on a file a guest may
have written. A volume is attached only if

* its file and every backing file resolve under the storage roots;
* every layer that has a backing file records that file's format (a
  missing one would make libvirt and QEMU probe the format of a file a
  guest can write; libvirt 9 refuses such a chain below the first level);
* no layer uses an external data file (CVE-2024-32498);
* the chain is no deeper than ``MAX_DEPTH``.
"""

import os
import struct

from cinder_auxo.hypervisor import exception

FORMATS = ('raw', 'qcow2')
MAX_DEPTH = 64
QCOW2_MAGIC = b'QFI\xfb'
# magic, version, backing_file_offset, backing_file_size
_HEAD = struct.Struct('>4sIQI')
# version 3: incompatible features at 72, header length at 100
_V3_FEATURES = struct.Struct('>Q')
_V3_LENGTH = struct.Struct('>I')
_EXT = struct.Struct('>II')
_EXT_END = 0
_EXT_BACKING_FORMAT = 0xE2792ACA
_INCOMPAT_DATA_FILE = 1 << 2
_MAX_NAME = 1023
_MAX_HEADER = 65536


class Layer(object):
    def __init__(self, path, fmt):
        self.path = path
        self.fmt = fmt

    def __repr__(self):
        return 'Layer(%s, %s)' % (self.path, self.fmt)


def read_qcow2_header(path):
    """(backing file name or None, its recorded format or None, data file).

    ``data file`` is True when the layer keeps its data in an external
    file.
    """
    with open(path, 'rb') as f:
        head = f.read(_MAX_HEADER)
    if len(head) < 72 or head[:4] != QCOW2_MAGIC:
        raise ValueError('is not a qcow2 image')
    _magic, version, offset, size = _HEAD.unpack_from(head)
    data_file = False
    extensions = 72
    if version >= 3:
        if len(head) < 104:
            raise ValueError('has a truncated header')
        features = _V3_FEATURES.unpack_from(head, 72)[0]
        data_file = bool(features & _INCOMPAT_DATA_FILE)
        extensions = _V3_LENGTH.unpack_from(head, 100)[0]
    if not offset or not size:
        return None, None, data_file
    if size > _MAX_NAME or offset + size > len(head):
        raise ValueError('has an unreadable backing file name')
    backing = os.fsdecode(head[offset:offset + size])
    return backing, _extension_format(head, extensions), data_file


def _extension_format(head, start):
    """The backing format header extension, or None."""
    pos = start
    while pos + _EXT.size <= len(head):
        kind, length = _EXT.unpack_from(head, pos)
        pos += _EXT.size
        if kind == _EXT_END:
            return None
        if kind == _EXT_BACKING_FORMAT:
            return head[pos:pos + length].decode('ascii', 'replace')
        pos += (length + 7) & ~7
    return None


def under_roots(path, roots):
    """The real path of ``path`` if it is below one of ``roots``."""
    real = os.path.realpath(path)
    for root in roots:
        if real.startswith(root.rstrip(os.sep) + os.sep):
            return real
    return None


def check_file_chain(path, fmt, roots):
    """The layers of a file volume, top first, or a clear refusal.

    :param roots: resolved storage root directories.
    """
    if fmt not in FORMATS:
        raise exception.UnsupportedFormat(path=path, fmt=fmt,
                                          allowed=', '.join(FORMATS))
    layers = []
    current, current_fmt = path, fmt
    while True:
        real = under_roots(current, roots)
        if real is None:
            raise exception.OutsideStorageRoots(
                path=path, real=os.path.realpath(current),
                roots=', '.join(roots) or 'none configured')
        layers.append(Layer(real, current_fmt))
        if current_fmt == 'raw':
            return layers
        if len(layers) > MAX_DEPTH:
            raise exception.UnsafeChain(
                path=path, layer=real,
                reason='is deeper than %d layers' % MAX_DEPTH)
        backing, backing_fmt = _backing_of(path, real)
        if backing is None:
            return layers
        current = os.path.join(os.path.dirname(real), backing)
        current_fmt = backing_fmt


def _backing_of(path, real):
    try:
        backing, backing_fmt, data_file = read_qcow2_header(real)
    except (OSError, ValueError) as e:
        raise exception.UnsafeChain(path=path, layer=real, reason=str(e))
    if data_file:
        raise exception.UnsafeChain(
            path=path, layer=real, reason='uses an external data file')
    if backing is None:
        return None, None
    if backing_fmt is None:
        raise exception.UnsafeChain(
            path=path, layer=real,
            reason='does not record the format of its backing file %s '
                   '(rewrite it with qemu-img rebase -u -b <same file> -F '
                   '<format>)' % backing)
    if backing_fmt not in FORMATS:
        raise exception.UnsafeChain(
            path=path, layer=real,
            reason='has a backing file of format %r' % backing_fmt)
    return backing, backing_fmt
