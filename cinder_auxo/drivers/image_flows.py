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

"""Images in and out of a storage, for both drivers.

* ``clone_image``: create-from-image through the storage's cached base;
  a delta image is built over its parent's base; a ``cinder://`` image
  whose volume lives on this storage is served as an overlay on a frozen
  layer of that volume (zero-copy registration).
* ``copy_image_to_volume``: the stock full copy (cache disabled).
* ``copy_volume_to_image``: a full upload of the whole chain, or, in delta
  mode, only the layers above the image base (doc/templates.md).
* A periodic task flattens long base chains and prunes the cache.
"""

import os
import urllib.parse

from cinder import exception as cinder_exception
from cinder.image import image_utils
from cinder import objects
from cinder.volume import volume_utils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_service import loopingcall
from oslo_utils import fileutils
from oslo_utils import timeutils
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.engine import cache_admin
from cinder_auxo.engine import delta
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import naming
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.import_opt('image_conversion_dir', 'cinder.image.image_utils')

UPLOAD_MODE_KEY = 'auxo_image_upload_mode'
UPLOAD_PREFIX = 'auxo-upload-'
DELTA_FLAG = 'auxo_delta'
DELTA_NOTE = 'auxo_delta_note'


def _props(image_meta):
    return image_meta.get('properties') or {}


def _cinder_volume_ids(image_location):
    """Volume ids of the image's ``cinder://`` locations."""
    if not image_location:
        return []
    direct_url, locations = image_location
    urls = [direct_url] + [loc.get('url') for loc in locations or []]
    ids = []
    for url in urls:
        if not url or not url.startswith('cinder://'):
            continue
        candidate = urllib.parse.urlparse(url).path.rsplit('/', 1)[-1] or (
            urllib.parse.urlparse(url).netloc)
        if uuidutils.is_uuid_like(candidate):
            ids.append(candidate)
    return ids


class ImageFlowsMixin(object):

    # -- create from image -------------------------------------------------

    def clone_image(self, context, volume, image_location, image_meta,
                    image_service):
        """Serve create-from-image from this storage's cached base."""
        if not self.configuration.safe_get('image_volume_cache_enabled'):
            return None, False
        if volume.encryption_key_id:
            return None, False
        # The time is logged: the driver's share of a create, which the
        # stack's benchmark reads back.
        watch = timeutils.StopWatch().start()
        image_id = image_meta['id']
        size = volume.size * units.Gi
        source_volume = self._local_image_volume(context, image_location)
        if source_volume:
            self.engine.overlay_on_volume(source_volume, volume.name_id,
                                          size)
            LOG.info('Volume %(volume)s created from image %(image)s as an '
                     'overlay on image volume %(src)s (no copy) in '
                     '%(ms).1f ms',
                     {'volume': volume.id, 'image': image_id,
                      'src': source_volume, 'ms': watch.elapsed() * 1000})
            return None, True
        source = self._image_source(context, image_service, image_meta)
        try:
            _layer, downloaded = self.image_cache.create_volume(
                image_id, image_meta, source.fetch, volume.name_id, size,
                self._volume_fmt, parent=source.parent)
        except cinder_exception.ImageUnacceptable as e:
            LOG.error('Refusing image %(image)s for volume %(volume)s: '
                      '%(reason)s', {'image': image_id, 'volume': volume.id,
                                     'reason': e.msg})
            raise
        LOG.info('Volume %(volume)s created from image %(image)s via the '
                 'cache of %(storage)s (%(how)s) in %(ms).1f ms',
                 {'volume': volume.id, 'image': image_id,
                  'storage': self._storage_id,
                  'how': 'downloaded' if downloaded else 'cached',
                  'ms': watch.elapsed() * 1000})
        return None, True

    def _image_source(self, context, image_service, image_meta):
        image_id = image_meta['id']

        def fetch(path):
            image_utils.fetch(context, image_service, image_id, path,
                              None, None)

        parent_id = _props(image_meta).get(image_cache.DELTA_PARENT)

        def parent():
            try:
                parent_meta = image_service.show(context, parent_id)
            except cinder_exception.ImageNotFound as e:
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='it is a delta over image %s, which is gone; '
                           'publish a full image of it' % parent_id) from e
            return self._image_source(context, image_service, parent_meta)

        return image_cache.ImageSource(image_id, image_meta, fetch,
                                       parent if parent_id else None)

    def _local_image_volume(self, context, image_location):
        """Layer id of an image volume (``cinder://``) on this storage.

        Only a detached one is shared.
        """
        for vid in _cinder_volume_ids(image_location):
            try:
                src = objects.Volume.get_by_id(context, vid)
            except cinder_exception.VolumeNotFound:
                continue
            if self.engine.find(naming.VOLUME, src.name_id) is None:
                continue
            if src.attach_status == 'attached':
                LOG.info('Image volume %s is attached; not sharing it', vid)
                continue
            return src.name_id
        return None

    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        """Create-from-image without the cache, and reimage.

        cinder's os-reimage (and nova's rebuild of a volume-backed server)
        lands here with a volume that holds a desktop. Where the storage's
        cache can serve the image, the volume moves onto a fresh overlay
        on the cached base: no image bytes are written for it. Otherwise
        the image is converted in full into a work layer. Either way the
        new layer replaces the volume's chain in one rename, so a crash
        leaves the old content or the new (on file storages).

        The bases the volume stood on are collected if it was their last
        child and they are superseded (the same image's older generation
        included), or their image was deleted from Glance (a retired
        template version).
        """
        left = self.image_cache.images_under(volume.name_id)
        self._write_image(context, volume, image_service, image_id,
                          disable_sparse)
        if left:
            deleted = self._deleted_from_glance(context, image_service)
            # The image just written exists: no need to ask Glance.
            self.image_cache.release(
                left, retired=lambda i: i != image_id and deleted(i))

    @staticmethod
    def _deleted_from_glance(context, image_service):
        def retired(image_id):
            try:
                image_service.show(context, image_id)
            except cinder_exception.ImageNotFound:
                return True
            except Exception as e:
                LOG.warning('Cannot tell whether image %(image)s still '
                            'exists; its cached bases stay: %(error)s',
                            {'image': image_id, 'error': e})
            return False
        return retired

    def _write_image(self, context, volume, image_service, image_id,
                     disable_sparse):
        if self._reimage_from_cache(context, volume, image_service,
                                    image_id):
            return
        store = self.engine.volumes
        if not store.atomic_replace:
            return self._convert_in_place(context, volume, image_service,
                                          image_id, disable_sparse)
        fmt = self._volume_fmt
        size = volume.size * units.Gi
        work = self.engine.new_work_layer(store, fmt, size)
        with store.remove_on_error(work.name):
            image_utils.fetch_to_volume_format(
                context, image_service, image_id, work.path, fmt,
                self.configuration.volume_dd_blocksize, size=volume.size,
                run_as_root=False, disable_sparse=disable_sparse)
            # The converted file has the image's virtual size: grow it.
            if self.engine.qemu.virtual_size(work.path, fmt) < size:
                self.engine.qemu.resize(work.path, fmt, size)
            store.sync(work.name)
            self.engine.replace_volume(volume.name_id, work)

    def _convert_in_place(self, context, volume, image_service, image_id,
                          disable_sparse):
        # Without an atomic rename (LVs) the top layer is overwritten.
        path, fmt = self.engine.active(volume.name_id)
        image_utils.fetch_to_volume_format(
            context, image_service, image_id, path, fmt,
            self.configuration.volume_dd_blocksize, size=volume.size,
            run_as_root=False, disable_sparse=disable_sparse)
        self.engine.extend(volume.name_id, volume.size * units.Gi)

    def _reimage_from_cache(self, context, volume, image_service, image_id):
        """Serve the image from the cache if it can; True if it did."""
        if (not self.configuration.safe_get('image_volume_cache_enabled') or
                self._volume_fmt != naming.QCOW2 or
                volume.encryption_key_id or
                not self.engine.volumes.atomic_replace):
            return False
        image_meta = image_service.show(context, image_id)
        source = self._image_source(context, image_service, image_meta)
        _layer, downloaded = self.image_cache.reimage_volume(
            image_id, image_meta, source.fetch, volume.name_id,
            volume.size * units.Gi, parent=source.parent)
        LOG.info('Volume %(volume)s now holds image %(image)s: a new '
                 'overlay on the cache of %(storage)s (%(how)s)',
                 {'volume': volume.id, 'image': image_id,
                  'storage': self._storage_id,
                  'how': 'downloaded' if downloaded else 'cached'})
        return True

    # -- upload to image ---------------------------------------------------

    def _upload_mode(self, volume):
        metadata = getattr(volume, 'metadata', None) or {}
        return (metadata.get(UPLOAD_MODE_KEY) or
                self.configuration.image_upload_mode)

    def _upload_suffix(self):
        """What the names of this backend's upload files end with.

        cinder's ``init_host`` deletes the files of ``image_conversion_dir``
        that end with the backend's ``host@backend``; ours do too.
        """
        host = getattr(self, 'host', None)
        return '-' + (volume_utils.extract_host(host, 'backend') if host
                      else self._storage_id)

    def remove_upload_leftovers(self):
        """Start-up: delete the upload files a crash left; their names.

        Also done by cinder's ``init_host``, but only when the service is
        not in a cluster (it matches the cluster's name then).
        """
        tmp_dir = CONF.image_conversion_dir
        suffix = self._upload_suffix()
        try:
            names = os.listdir(tmp_dir)
        except FileNotFoundError:
            return []
        removed = [name for name in sorted(names)
                   if name.startswith(UPLOAD_PREFIX) and
                   name.endswith(suffix)]
        for name in removed:
            fileutils.delete_if_exists(os.path.join(tmp_dir, name))
        return removed

    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        tmp_dir = CONF.image_conversion_dir
        fileutils.ensure_tree(tmp_dir)
        tmp = os.path.join(tmp_dir, '%s%s%s' % (
            UPLOAD_PREFIX, uuidutils.generate_uuid(), self._upload_suffix()))
        try:
            if self._upload_mode(volume) == 'delta':
                self._upload_delta(context, volume, image_service,
                                   image_meta, tmp)
            else:
                self._upload_full(context, volume, image_service,
                                  image_meta, tmp)
        finally:
            fileutils.delete_if_exists(tmp)

    def _upload_full(self, context, volume, image_service, image_meta, tmp):
        """The whole chain, in the image's disk format."""
        disk_format = image_meta['disk_format']
        self.engine.flatten_to(volume.name_id, tmp,
                               image_utils.fixup_disk_format(disk_format))
        if _props(image_meta).get(image_cache.DELTA_PARENT):
            # Cinder copies the source image's properties to the new
            # image; a full image must not claim to be a delta.
            image_service.update(context, image_meta['id'], {'properties': {
                image_cache.DELTA_PARENT: '',
                image_cache.DELTA_PARENT_CHECKSUM: '',
                DELTA_FLAG: 'False', DELTA_NOTE: ''}}, purge_props=False)
        image_utils.upload_volume(context, image_service, image_meta, tmp,
                                  volume_format=disk_format,
                                  run_as_root=False, compress=False)

    def _upload_delta(self, context, volume, image_service, image_meta, tmp):
        """Only the layers above the image base; see doc/templates.md."""
        parent_id, parent_base = delta.image_base_of(self.engine,
                                                     volume.name_id)
        if parent_id is None:
            LOG.warning('Volume %s was not made from a cached image: '
                        'uploading it in full', volume.id)
            return self._upload_full(context, volume, image_service,
                                     image_meta, tmp)
        if image_meta['disk_format'] != naming.QCOW2:
            raise exception.AuxoException(
                reason='a delta upload is a qcow2 image; upload volume %s '
                       'with --disk-format qcow2' % volume.id)
        parent_meta = image_service.show(context, parent_id)
        checksum = (parent_meta.get('os_hash_value') or
                    parent_meta.get('checksum'))
        delta.export_delta(self.engine, volume.name_id, parent_base, tmp)
        image_service.update(context, image_meta['id'], {'properties': {
            image_cache.DELTA_PARENT: parent_id,
            image_cache.DELTA_PARENT_CHECKSUM: checksum,
            DELTA_FLAG: 'True',
            DELTA_NOTE: 'Only the changes over image %s: usable by '
                        'cinder_auxo storages only. Publish a full image '
                        'to boot it elsewhere.' % parent_id}},
            purge_props=False)
        image_utils.upload_volume(context, image_service, image_meta, tmp,
                                  volume_format=naming.QCOW2,
                                  run_as_root=False, compress=False)
        LOG.info('Uploaded volume %(volume)s as image %(image)s: a delta of '
                 '%(bytes)d bytes over image %(parent)s',
                 {'volume': volume.id, 'image': image_meta['id'],
                  'bytes': os.path.getsize(tmp), 'parent': parent_id})
        try:
            self.image_cache.seed_delta(image_meta['id'], tmp, parent_base)
        except exception.AuxoException as e:
            # The upload succeeded; this storage will download it instead.
            LOG.warning('Could not seed the cache of %(storage)s with image '
                        '%(image)s: %(err)s', {'storage': self._storage_id,
                                               'image': image_meta['id'],
                                               'err': e.msg})

    # -- cache maintenance -------------------------------------------------

    def _start_cache_maintenance(self):
        interval = self.configuration.image_cache_maintenance_interval
        if not interval:
            return
        self._maintenance = loopingcall.FixedIntervalLoopingCall(
            self.maintain_image_cache)
        self._maintenance.start(interval=interval, initial_delay=interval,
                                stop_on_exception=False)

    def maintain_image_cache(self):
        """Flatten long base chains, then prune; never raises."""
        admin = cache_admin.CacheAdmin(self.image_cache)
        conf = self.configuration
        try:
            admin.flatten_deep(conf.image_cache_max_base_chain)
            admin.prune(max_age=conf.image_cache_max_age,
                        max_bytes=conf.image_cache_max_size_gb * units.Gi)
        except Exception:
            LOG.exception('Image cache maintenance of %s failed',
                          self._storage_id)
