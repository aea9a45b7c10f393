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

"""New, empty qcow2 overlays for file stores, qemu-img run once per kind.

The bytes ``qemu-img create`` writes for an empty overlay depend only on
the backing file's path and format and the virtual size: a qcow2 header
holds no id and no time. Desktops by the thousand are overlays on a few
bases, so the first overlay of each kind is made by qemu-img and later
ones get the same bytes, written from memory: a warm create runs no
process. Thick stores (LVs) always run qemu-img.
"""

import errno

from cinder_auxo.engine import naming
from cinder_auxo import exception

# Kinds remembered (a base and a volume size each), and the largest
# overlay kept: a few clusters for any size a desktop has.
_KINDS = 64
_MAX_BYTES = 4 * 1024 * 1024


class BlankOverlays(object):

    def __init__(self, qemu_img):
        self.qemu = qemu_img
        self._written = {}

    def create(self, layer, size_bytes, backing):
        """Format the allocated, empty file of ``layer`` on ``backing``."""
        key = (backing.path, backing.fmt, int(size_bytes))
        data = self._written.get(key)
        if data is None or layer.store.thick:
            self.qemu.create(layer.path, naming.QCOW2, size_bytes,
                             backing=backing.path, backing_fmt=backing.fmt)
            if not layer.store.thick:
                self._remember(key, layer.path)
            return
        try:
            with open(layer.path, 'r+b') as f:
                f.write(data)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise exception.StorageFull(storage=layer.store.storage_id,
                                            reason=layer.path) from e
            raise

    def _remember(self, key, path):
        with open(path, 'rb') as f:
            data = f.read(_MAX_BYTES + 1)
        if len(data) > _MAX_BYTES:
            return
        if len(self._written) >= _KINDS:
            self._written.clear()
        self._written[key] = data
