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

"""qcow2 header surgery for tests. Imports nothing: the hypervisor tests
run where cinder is not installed, the functional tests where nova is
not."""

import struct

_EXT_BACKING_FORMAT = 0xE2792ACA


def drop_backing_format(path):
    """Make ``path`` look written by ``qemu-img create -b`` without -F.

    qemu-img 7 no longer writes such layers; the header extension that
    records the format becomes the end of the extension list (qemu stops
    reading extensions there).
    """
    with open(path, 'r+b') as f:
        head = f.read(65536)
        version = struct.unpack_from('>I', head, 4)[0]
        pos = struct.unpack_from('>I', head, 100)[0] if version >= 3 else 72
        while pos + 8 <= len(head):
            kind, length = struct.unpack_from('>II', head, pos)
            if kind == 0:
                break
            if kind == _EXT_BACKING_FORMAT:
                f.seek(pos)
                f.write(struct.pack('>I', 0))
                return
            pos += 8 + ((length + 7) & ~7)
    raise AssertionError('%s records no backing format' % path)
