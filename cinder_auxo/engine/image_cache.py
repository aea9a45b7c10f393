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

"""The per-storage image cache: one verified, immutable base per image.

The first volume made from image X on a storage downloads X once into a
work file, verifies it (Glance checksum, cinder's format inspector, no
backing file, no qcow2 data-file, virtual size), converts it to the base
format and publishes it atomically as ``base-<X>-g<N>``. Every later volume
from X is an overlay on that base. Creates of one image are serialized by
an external lock per storage and image, re-checked once held, so
concurrent creates download exactly once.
"""

import contextlib
import errno
import hashlib

from cinder import exception as cinder_exception
from cinder.image import image_utils
from oslo_log import log as logging
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.engine import chain as chain_mod
from cinder_auxo.engine import delta
from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)

_HASH_CHUNK = 4 * units.Mi

# Glance image properties of a delta image (see doc/templates.md).
DELTA_PARENT = 'auxo_delta_parent'
DELTA_PARENT_CHECKSUM = 'auxo_delta_parent_checksum'


def _file_digest(path, algo):
    if algo == 'md5':
        h = hashlib.md5(usedforsecurity=False)
    else:
        h = hashlib.new(algo)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_HASH_CHUNK), b''):
            h.update(block)
    return h.hexdigest()


class ImageSource(object):
    """Where an image comes from: its id, Glance metadata and a fetcher.

    ``parent`` is None for a standalone image; for a delta image, a
    callable returning the ImageSource of the image it is a delta of
    (looked up only when the delta has to be built).
    """

    def __init__(self, image_id, meta, fetch, parent=None):
        self.image_id = image_id
        self.meta = meta
        self.fetch = fetch
        self.parent = parent

    @property
    def parent_checksum(self):
        return (self.meta.get('properties') or {}).get(
            DELTA_PARENT_CHECKSUM)


class ImageCache(object):
    """Bases of one storage, over the engine's cache store."""

    def __init__(self, engine, scratch, lock, base_fmt=naming.QCOW2):
        """Set up the cache.

        :param scratch: a FileStore where downloads land first.
        :param lock: callable(name) -> context manager, storage-wide.
        """
        self.engine = engine
        self.store = engine.cache
        self.scratch = scratch
        self._lock = lock
        self.base_fmt = base_fmt

    def image_lock(self, image_id):
        return self._lock('image-%s' % naming.check_uuid(image_id,
                                                         'image id'))

    # -- looking -------------------------------------------------------

    def bases(self, image_id=None):
        """Published bases, oldest generation first."""
        found = []
        for name in self.store.list():
            if not naming.is_layer(name):
                continue
            parsed = naming.parse(name)
            if parsed.kind != naming.BASE:
                continue
            if image_id is None or parsed.ident == image_id:
                found.append((parsed.ident, parsed.generation,
                              chain_mod.Layer(self.store, name)))
        found.sort(key=lambda t: t[:2])
        return [layer for _i, _g, layer in found]

    def latest(self, image_id):
        bases = self.bases(image_id)
        return bases[-1] if bases else None

    # -- creating volumes ------------------------------------------------

    def create_volume(self, image_id, image_meta, fetch, volume_id,
                      size_bytes, volume_fmt, parent=None):
        """Make ``volume_id`` from the cached base of ``image_id``.

        :param fetch: callable(path) writing the image's bytes to path.
        :param parent: for a delta image, callable() -> ImageSource of the
                       image it is a delta of (see ``held_base``).
        :returns: the new volume's Layer and whether it was downloaded.
        """
        def make(base):
            if volume_fmt == naming.QCOW2:
                return self.engine.create_overlay(volume_id, size_bytes,
                                                  base)
            return self.engine.copy_to_volume(base, volume_id, size_bytes,
                                              volume_fmt)
        source = ImageSource(image_id, image_meta, fetch, parent)
        return self._on_base(source, size_bytes, make)

    def reimage_volume(self, image_id, image_meta, fetch, volume_id,
                       size_bytes, parent=None):
        """Put an existing volume on a fresh overlay on the image's base.

        What the volume held is discarded; layers it shared (snapshots,
        bases) stay for whoever else uses them. Arguments and result as
        for ``create_volume``.
        """
        def make(base):
            work = self.engine.work_overlay(size_bytes, base)
            with work.store.remove_on_error(work.name):
                return self.engine.replace_volume(volume_id, work)
        source = ImageSource(image_id, image_meta, fetch, parent)
        return self._on_base(source, size_bytes, make)

    def _on_base(self, source, size_bytes, make):
        """(make(base), downloaded) with the image's base held."""
        self._check_virtual_size(source.image_id,
                                 source.meta.get('virtual_size'), size_bytes)
        with self.held_base(source, size_bytes) as (base, downloaded):
            self._check_virtual_size(source.image_id,
                                     self.engine.virtual_size(base),
                                     size_bytes)
            return make(base), downloaded

    @contextlib.contextmanager
    def held_base(self, source, size_bytes=0):
        """Yield (base, downloaded) with the image's lock held.

        The base cannot be evicted while the caller builds on it.
        """
        with self.image_lock(source.image_id):
            base = self.latest(source.image_id)
            downloaded = base is None
            if downloaded:
                base = self._build(source, size_bytes)
            else:
                LOG.debug('Image %s is cached as %s', source.image_id,
                          base.path)
            self.store.touch(base.name)
            yield base, downloaded

    @staticmethod
    def _check_virtual_size(image_id, virtual_size, size_bytes):
        if virtual_size and size_bytes:
            image_utils.check_virtual_size(virtual_size,
                                           -(-size_bytes // units.Gi),
                                           image_id)

    def _build(self, source, size_bytes):
        image_id, image_meta = source.image_id, source.meta
        parent = source.parent() if source.parent else None
        LOG.info('Downloading image %(image)s into the cache of storage '
                 '%(storage)s%(delta)s',
                 {'image': image_id, 'storage': self.store.storage_id,
                  'delta': ' (a delta over image %s)' % parent.image_id
                  if parent else ''})
        work = chain_mod.Layer(self.scratch, naming.temp(
            uuidutils.generate_uuid(), '.download'))
        if image_meta.get('size'):
            image_utils.check_available_space(self.scratch.path(work.name),
                                              image_meta['size'], image_id)
        try:
            self._fetch(source, work)
            self._verify(image_id, image_meta, work.path, size_bytes)
            if parent is None:
                return self._publish(image_id, work)
            self._check_parent(source, parent)
            with self.held_base(parent) as (parent_base, _downloaded):
                return self.publish_delta(image_id, work.path, parent_base)
        finally:
            self.scratch.delete(work.name)

    def _fetch(self, source, work):
        try:
            source.fetch(work.path)
        except OSError as e:
            # (cinder's own fetch says ImageTooBig for this.)
            if e.errno != errno.ENOSPC:
                raise
            raise exception.StorageFull(
                storage=self.scratch.storage_id,
                reason='downloading image %s into %s' % (source.image_id,
                                                         work.path)) from e

    @staticmethod
    def _check_parent(source, parent):
        """The delta must have been made against this very parent."""
        expected = source.parent_checksum
        actual = (parent.meta.get('os_hash_value') or
                  parent.meta.get('checksum'))
        if not expected or expected != actual:
            raise exception.ImageUnacceptable(
                image_id=source.image_id,
                reason='it is a delta over image %s with checksum %s, but '
                       'that image\'s checksum is now %s' %
                       (parent.image_id, expected, actual))

    def publish_delta(self, image_id, delta_path, parent_base):
        """Publish a verified delta on ``parent_base`` as a new base.

        It becomes the next generation of ``image_id``. The caller holds
        both images' locks.
        """
        work = delta.import_delta(self.engine, delta_path, self.store,
                                  parent_base)
        return self.rename_to_next_generation(image_id, work)

    def seed_delta(self, image_id, delta_path, parent_base):
        """Give this storage image ``image_id`` from a delta made here.

        Used right after a delta upload: the storage the template lives on
        gets the new base without downloading what it just uploaded.
        """
        with self.image_lock(image_id):
            if self.latest(image_id) is not None:
                return self.latest(image_id)
            parent_id = naming.parse(parent_base.name).ident
            with self.image_lock(parent_id):
                if not parent_base.store.exists(parent_base.name):
                    raise exception.LayerNotFound(
                        name=parent_base.name, storage=self.store.storage_id)
                return self.publish_delta(image_id, delta_path, parent_base)

    def _verify(self, image_id, image_meta, path, size_bytes):
        algo = image_meta.get('os_hash_algo')
        expected = image_meta.get('os_hash_value')
        if not (algo and expected) and image_meta.get('checksum'):
            algo, expected = 'md5', image_meta['checksum']
        if algo and expected:
            actual = _file_digest(path, algo)
            if actual != expected:
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='%s checksum of the download is %s, Glance says '
                           '%s' % (algo, actual, expected))
        else:
            LOG.warning('Image %s has no checksum in Glance; its download '
                        'cannot be verified', image_id)
        try:
            # Runs cinder's format inspector first: refuses images whose
            # content does not match a safe format.
            info = image_utils.qemu_img_info(path, run_as_root=False)
        except cinder_exception.Invalid as e:
            # Invalid's own message is only "Unacceptable parameters."
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='%s (cinder\'s format inspector)' %
                       (e.kwargs.get('reason') or e.msg)) from e
        if info.backing_file is not None:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='the image names a backing file (%s); images must '
                       'be standalone' % info.backing_file)
        disk_format = image_meta.get('disk_format')
        image_utils.check_image_format(
            path, disk_format and image_utils.fixup_disk_format(disk_format),
            image_id, data=info, run_as_root=False)
        if info.file_format == naming.QCOW2:
            try:
                self.engine.qemu.check(path, naming.QCOW2)
            except exception.QemuImgError as e:
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='qcow2 metadata is damaged or truncated: %s' %
                           e.msg) from e
        self._check_virtual_size(image_id, info.virtual_size, size_bytes)
        return info

    def _publish(self, image_id, download):
        src_fmt = image_utils.qemu_img_info(download.path,
                                            run_as_root=False).file_format
        work = self.engine.copy_to_temp(download.path, src_fmt, self.store,
                                        self.base_fmt)
        return self.rename_to_next_generation(image_id, work)

    def rename_to_next_generation(self, image_id, work):
        """Publish a filled work layer as the image's newest base."""
        with work.store.remove_on_error(work.name):
            with self.engine.chain_lock():
                latest = self.latest(image_id)
                generation = (naming.parse(latest.name).generation + 1
                              if latest else 1)
                base = chain_mod.Layer(self.store, naming.base(
                    image_id, generation, work.fmt))
                self.engine.rename_layer(work, base.name)
        LOG.info('Published image %(image)s as %(base)s',
                 {'image': image_id, 'base': base.path})
        return base

    # -- releasing -------------------------------------------------------

    def unused(self, image_id=None):
        return [b for b in self.bases(image_id)
                if not self.engine.index.has_children(b)]

    def delete_if_unused(self, base, why):
        """Delete ``base`` unless a layer depends on it; True if deleted.

        The one place a base is deleted. The caller holds the image's
        lock (no new child can appear through the cache); the children
        are counted again under the chain lock, where they are made.
        """
        with self.engine.chain_lock():
            if (not base.store.exists(base.name) or
                    self.engine.index.has_children(base)):
                return False
            LOG.info('Removing cached base %s: %s', base.path, why)
            self.engine.remove_layer(base)
            return True

    def evict(self, image_id, why='evicted'):
        """Delete the unused bases of one image; the names removed."""
        with self.image_lock(image_id):
            return [b.name for b in self.bases(image_id)
                    if self.delete_if_unused(b, why)]

    def collect_superseded(self, image_id):
        """Delete unused bases older than the image's newest one."""
        with self.image_lock(image_id):
            return [b.name for b in self.bases(image_id)[:-1]
                    if self.delete_if_unused(
                        b, 'superseded by a newer generation')]

    def images_under(self, volume_id):
        """Ids of the images whose bases the volume's chain stands on."""
        top = self.engine.find(naming.VOLUME, volume_id)
        if top is None:
            return []
        try:
            return [naming.parse(layer.name).ident
                    for layer in self.engine.chain(top)
                    if layer.kind == naming.BASE]
        except exception.AuxoException as e:
            LOG.warning('Volume %s has an unusable chain: %s', volume_id, e)
            return []

    def release(self, image_ids, retired=None):
        """Collect the bases that volumes just left; the names removed.

        A superseded generation goes with its last child. Every unused
        base of an image that ``retired(image_id)`` says is gone for good
        (deleted from Glance) goes too: nobody can make a volume from it
        any more, so it is no longer a cache of anything.
        """
        removed = []
        for image_id in dict.fromkeys(image_ids):
            if retired is not None and retired(image_id):
                # Every unused generation, the superseded ones included.
                removed += self.evict(image_id, 'image %s no longer exists'
                                      % image_id)
            else:
                removed += self.collect_superseded(image_id)
        return removed

    def delete_volume(self, volume_id):
        """Delete a volume; a superseded base goes with its last child."""
        images = self.images_under(volume_id)
        self.engine.delete_volume(volume_id)
        self.release(images)

    def cleanup(self):
        """Start-up: what a crash left in the cache; the names removed.

        Downloads in a scratch directory of the cache's own, and
        superseded bases whose last child went just before the crash.
        """
        removed = []
        if not any(self.scratch is store for store in self.engine.stores):
            for name in self.scratch.list():
                if naming.is_temp(name):
                    LOG.warning('Removing %s left by an interrupted '
                                'download', self.scratch.path(name))
                    self.scratch.delete(name)
                    removed.append(name)
        for image_id in sorted({naming.parse(b.name).ident
                                for b in self.bases()}):
            removed += self.collect_superseded(image_id)
        return removed

    def usage(self):
        """Bytes the cache occupies."""
        return sum(self.store.size(b.name) for b in self.bases())
