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

"""The operations the crash harness interrupts, each with its set-up.

Ids are fixed (uuid5 of the scenario name), so the set-up, the reference
run and every interrupted run name the same layers. ``retry`` is what
cinder does next: the same call again; for a create, the failed volume is
deleted first (cinder's error volume) and the create is made again.
"""

import hashlib
import os
import uuid

from cinder_auxo.engine import cache_admin
from cinder_auxo.engine import chain
from cinder_auxo.tests.functional import base

MiB = base.MiB
SIZE = 16 * MiB
_NS = uuid.UUID('6f1b2b4e-6c0b-4c55-9a53-0c1de5a7c0a1')


def ident(*parts):
    return str(uuid.uuid5(_NS, '/'.join(parts)))


class Scenario(object):
    name = None

    def __init__(self):
        self.vol = ident(self.name, 'vol')
        self.new = ident(self.name, 'new')
        self.snap = ident(self.name, 'snap')
        self.image = ident(self.name, 'image')

    def volume(self, env, patterns, vol=None):
        """A qcow2 volume with (byte, offset, length) patterns written."""
        vol = vol or self.vol
        env.engine.create_volume(vol, SIZE, 'qcow2')
        self.write(env, patterns, vol)
        return vol

    def write(self, env, patterns, vol=None):
        path, fmt = env.engine.active(vol or self.vol)
        for byte, offset, length in patterns:
            base.write_pattern(path, byte, offset, length, fmt)

    def image_file(self, env, patterns):
        path = os.path.join(env.root, 'image-%s.qcow2' % self.name)
        if os.path.exists(path):
            os.unlink(path)
        base.make_image(path, patterns, SIZE)
        with open(path, 'rb') as f:
            digest = hashlib.sha512(f.read()).hexdigest()
        return path, {'id': self.image, 'disk_format': 'qcow2',
                      'size': os.path.getsize(path), 'os_hash_algo': 'sha512',
                      'os_hash_value': digest}

    def setup(self, env):
        return None

    def op(self, env, ctx):
        raise NotImplementedError()

    def retry(self, env, ctx):
        self.op(env, ctx)


class Create(Scenario):
    """A create: cinder deletes the failed volume, then creates again."""

    def retry(self, env, ctx):
        env.engine.delete_volume(self.new)
        self.op(env, ctx)


class SnapshotCreate(Scenario):
    name = 'snapshot create'

    def setup(self, env):
        self.volume(env, [(0x11, 0, MiB)])

    def op(self, env, ctx):
        env.engine.create_snapshot(self.vol, self.snap)


class _SnapshotDelete(Scenario):
    below, above = (), ()

    def setup(self, env):
        self.volume(env, self.below)
        env.engine.create_snapshot(self.vol, self.snap)
        self.write(env, self.above)

    def op(self, env, ctx):
        env.engine.delete_snapshot(self.snap)


class DeleteByCommit(_SnapshotDelete):
    name = 'delete by commit'
    # 2 MiB to commit: long enough to be killed in the middle.
    below = [(0x11, 0, 6 * MiB)]
    above = [(0x22, MiB, 2 * MiB)]


class DeleteByRebase(_SnapshotDelete):
    name = 'delete by rebase'
    below = [(0x11, 0, 64 * 1024)]
    above = [(0x22, MiB, 4 * MiB)]


class Retire(_SnapshotDelete):
    name = 'retire'
    below = [(0x11, 0, MiB)]
    above = [(0x22, MiB, MiB)]

    def setup(self, env):
        super(Retire, self).setup(env)
        env.engine.clone_snapshot(self.snap, self.new, SIZE, 'qcow2',
                                  chain.OVERLAY)


class Revert(Scenario):
    name = 'revert'

    def setup(self, env):
        self.volume(env, [(0x11, 0, MiB)])
        env.engine.create_snapshot(self.vol, self.snap)
        self.write(env, [(0x22, 0, 2 * MiB)])

    def op(self, env, ctx):
        env.engine.revert_to_snapshot(self.vol, self.snap)


class CloneCopy(Create):
    name = 'clone copy'

    def setup(self, env):
        self.volume(env, [(0x11, 0, MiB)])
        env.engine.create_snapshot(self.vol, self.snap)
        self.write(env, [(0x22, MiB, MiB)])

    def op(self, env, ctx):
        env.engine.clone_volume(self.vol, self.new, SIZE, 'qcow2', chain.COPY)


class CloneOverlay(CloneCopy):
    name = 'clone overlay'

    def op(self, env, ctx):
        env.engine.clone_volume(self.vol, self.new, SIZE, 'qcow2',
                                chain.OVERLAY)


class SnapshotOverlay(CloneCopy):
    name = 'snapshot overlay'

    def op(self, env, ctx):
        env.engine.clone_snapshot(self.snap, self.new, SIZE, 'qcow2',
                                  chain.OVERLAY)


class Extend(Scenario):
    name = 'extend'

    def setup(self, env):
        self.volume(env, [(0x11, SIZE - MiB, MiB)])

    def op(self, env, ctx):
        env.engine.extend(self.vol, 2 * SIZE)


class VolumeDelete(Scenario):
    name = 'volume delete'

    def setup(self, env):
        # The volume stands on an anonymous layer that goes with it.
        self.volume(env, [(0x11, 0, MiB)])
        env.engine.clone_volume(self.vol, self.new, SIZE, 'qcow2',
                                chain.OVERLAY)
        env.engine.delete_volume(self.new)

    def op(self, env, ctx):
        env.engine.delete_volume(self.vol)


class FromImage(Create):
    name = 'create from image'
    fmt = 'qcow2'

    def setup(self, env):
        return self.image_file(env, [(0x11, 0, MiB), (0x22, 4 * MiB, MiB)])

    def op(self, env, ctx):
        path, meta = ctx
        env.cache.create_volume(self.image, meta, env.fetcher(path),
                                self.new, SIZE, self.fmt)


class FromImageRaw(FromImage):
    name = 'create raw from image'
    fmt = 'raw'


class Prune(Scenario):
    name = 'prune'

    def setup(self, env):
        path, meta = self.image_file(env, [(0x11, 0, MiB)])
        env.cache.create_volume(self.image, meta, env.fetcher(path),
                                self.new, SIZE, 'qcow2')
        env.engine.delete_volume(self.new)

    def op(self, env, ctx):
        cache_admin.CacheAdmin(env.cache).prune(max_bytes=1)


class DeltaImport(Scenario):
    """A delta image published on its parent's base."""
    name = 'delta import'

    def setup(self, env):
        path, meta = self.image_file(env, [(0x11, 0, MiB)])
        parent = ident(self.name, 'parent')
        meta['id'] = parent
        env.cache.create_volume(parent, meta, env.fetcher(path), self.vol,
                                SIZE, 'qcow2')
        delta = os.path.join(env.root, 'delta-%s.qcow2' % self.name)
        if os.path.exists(delta):
            os.unlink(delta)
        base.make_image(delta, [(0x33, MiB, MiB)], SIZE)
        return delta, env.cache.latest(parent)

    def op(self, env, ctx):
        delta, parent = ctx
        parent = chain.Layer(env.cache.store, parent.name)
        env.cache.seed_delta(self.image, delta, parent)


class Flatten(DeltaImport):
    """The old generation stays: a volume stands on it."""
    name = 'flatten'

    def setup(self, env):
        delta, parent = super(Flatten, self).setup(env)
        env.cache.seed_delta(self.image, delta, parent)
        env.engine.create_overlay(self.new, SIZE, env.cache.latest(
            self.image))

    def op(self, env, ctx):
        cache_admin.CacheAdmin(env.cache).flatten_deep(1)


class FlattenUnused(Flatten):
    """The old generation goes once the new one is published."""
    name = 'flatten unused'

    def setup(self, env):
        super(FlattenUnused, self).setup(env)
        env.engine.delete_volume(self.new)


class VolumeDeleteLastChild(Scenario):
    """The driver's delete: a superseded base goes with its last child."""
    name = 'delete last child'

    def setup(self, env):
        path, meta = self.image_file(env, [(0x11, 0, MiB)])
        env.cache.create_volume(self.image, meta, env.fetcher(path),
                                self.vol, SIZE, 'qcow2')
        old = env.cache.latest(self.image)
        work = env.engine.copy_to_temp(old.path, old.fmt, env.cache.store,
                                       old.fmt)
        env.cache.rename_to_next_generation(self.image, work)

    def op(self, env, ctx):
        env.cache.delete_volume(self.vol)


# Where the engine's code path differs without atomic replace (LVM).
NO_REPLACE_PATHS = [DeleteByCommit, Revert]

ALL = [SnapshotCreate, DeleteByCommit, DeleteByRebase, Retire, Revert,
       CloneCopy, CloneOverlay, SnapshotOverlay, Extend, VolumeDelete,
       VolumeDeleteLastChild, FromImage, FromImageRaw, Prune, DeltaImport,
       Flatten, FlattenUnused]
