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

"""Cinder's driver calls, mapped once onto the engine for both drivers.

Drivers supply the stores and the lock (``_build_engine``) and the
connection info; everything else (image cache, snapshots, clones, revert,
upload, stats) is here. Per-volume state is never kept on the driver: the
layer names in the store are the only record.
"""

import os

from cinder import exception as cinder_exception
from cinder.image import image_utils
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import fileutils
from oslo_utils import units
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.import_opt('image_conversion_dir', 'cinder.image.image_utils')


def _attached(volume):
    return volume.attach_status == 'attached' or volume.status == 'in-use'


class ChainDriverMixin(object):
    """Implements cinder's volume calls over a ChainEngine.

    Subclasses provide ``_build_engine()`` returning
    ``(engine, image_cache)`` and ``_connection_info(volume, path, fmt)``.
    """

    engine = None
    image_cache = None

    # -- helpers -------------------------------------------------------

    @property
    def _volume_fmt(self):
        return self.configuration.safe_get('volume_type') or naming.QCOW2

    @property
    def _clone_mode(self):
        return self.configuration.volume_clone_mode

    def _refuse_if_attached(self, volume, operation):
        if _attached(volume):
            raise exception.VolumeAttached(volume=volume.id,
                                           status=volume.status,
                                           operation=operation)

    def _setup_engine(self):
        self.engine, self.image_cache = self._build_engine()

    def _check_engine(self):
        """Common part of check_for_setup_error."""
        try:
            processutils.execute('qemu-img', '--version')
        except (OSError, processutils.ProcessExecutionError) as e:
            raise exception.StorageUnavailable(
                storage=self._storage_id,
                reason='qemu-img cannot be run (%s); install qemu-utils' % e)
        for store in self.engine.stores:
            store.check()
        removed = self.engine.cleanup()
        if removed:
            LOG.warning('Removed %d work files of interrupted operations on '
                        '%s: %s', len(removed), self._storage_id,
                        ', '.join(removed))

    @property
    def _storage_id(self):
        return (self.configuration.safe_get('volume_backend_name') or
                self.configuration.config_group)

    # -- volumes ---------------------------------------------------------

    def create_volume(self, volume):
        self.engine.create_volume(volume.id, qemu.gib(volume.size),
                                  self._volume_fmt)

    def delete_volume(self, volume):
        below = None
        top = self.engine.find(naming.VOLUME, volume.id)
        if top is not None:
            chain_layers = self.engine.chain(top)
            below = chain_layers[-1]
        self.engine.delete_volume(volume.id)
        if below is not None and below.kind == naming.BASE:
            self.image_cache.collect_superseded(naming.parse(below.name)
                                                .ident)

    def extend_volume(self, volume, new_size):
        self._refuse_if_attached(volume, 'extend')
        self.engine.extend(volume.id, qemu.gib(new_size))

    def create_cloned_volume(self, volume, src_vref):
        self._refuse_if_attached(src_vref, 'clone')
        self.engine.clone_volume(src_vref.id, volume.id,
                                 qemu.gib(volume.size), self._volume_fmt,
                                 self._clone_mode)

    # -- snapshots -------------------------------------------------------

    def create_snapshot(self, snapshot):
        self._refuse_if_attached(snapshot.volume, 'snapshot')
        self.engine.create_snapshot(snapshot.volume_id, snapshot.id)

    def delete_snapshot(self, snapshot):
        self._refuse_if_attached(snapshot.volume, 'snapshot delete')
        try:
            self.engine.delete_snapshot(snapshot.id)
        except exception.LayerBusy as e:
            raise cinder_exception.SnapshotIsBusy(
                snapshot_name=snapshot.name) from e

    def create_volume_from_snapshot(self, volume, snapshot):
        self.engine.clone_snapshot(snapshot.id, volume.id,
                                   qemu.gib(volume.size), self._volume_fmt,
                                   self._clone_mode)

    def revert_to_snapshot(self, context, volume, snapshot):
        self._refuse_if_attached(volume, 'revert')
        self.engine.revert_to_snapshot(volume.id, snapshot.id)

    def snapshot_revert_use_temp_snapshot(self):
        # The frozen layer is the safety net already.
        return False

    def backup_use_temp_snapshot(self):
        return False

    # -- images ----------------------------------------------------------

    def clone_image(self, context, volume, image_location, image_meta,
                    image_service):
        """Serve create-from-image from this storage's cached base."""
        if not self.configuration.safe_get('image_volume_cache_enabled'):
            return None, False
        if volume.encryption_key_id:
            return None, False
        image_id = image_meta['id']

        def fetch(path):
            image_utils.fetch(context, image_service, image_id, path,
                              None, None)

        try:
            _layer, downloaded = self.image_cache.create_volume(
                image_id, image_meta, fetch, volume.id,
                qemu.gib(volume.size), self._volume_fmt)
        except cinder_exception.ImageUnacceptable as e:
            LOG.error('Refusing image %(image)s for volume %(volume)s: '
                      '%(reason)s', {'image': image_id, 'volume': volume.id,
                                     'reason': e.msg})
            raise
        LOG.info('Volume %(volume)s created from image %(image)s via the '
                 'cache of %(storage)s (%(how)s)',
                 {'volume': volume.id, 'image': image_id,
                  'storage': self._storage_id,
                  'how': 'downloaded' if downloaded else 'cached'})
        return None, True

    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        """Stock path (cache disabled): a full, independent copy."""
        path, fmt = self.engine.active(volume.id)
        image_utils.fetch_to_volume_format(
            context, image_service, image_id, path, fmt,
            self.configuration.volume_dd_blocksize, size=volume.size,
            run_as_root=False, disable_sparse=disable_sparse)
        # The converted file has the image's virtual size: grow it back.
        self.engine.extend(volume.id, qemu.gib(volume.size))

    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        """Full upload: the whole chain, in the image's disk format."""
        disk_format = image_meta['disk_format']
        out_fmt = image_utils.fixup_disk_format(disk_format)
        tmp_dir = CONF.image_conversion_dir
        fileutils.ensure_tree(tmp_dir)
        tmp = os.path.join(tmp_dir, 'auxo-upload-%s' %
                           uuidutils.generate_uuid())
        try:
            self.engine.flatten_to(volume.id, tmp, out_fmt)
            image_utils.upload_volume(context, image_service, image_meta,
                                      tmp, volume_format=disk_format,
                                      run_as_root=False, compress=False)
        finally:
            fileutils.delete_if_exists(tmp)

    # -- connections -----------------------------------------------------

    def initialize_connection(self, volume, connector, **kwargs):
        path, fmt = self.engine.active(volume.id)
        return self._connection_info(volume, path, fmt)

    def terminate_connection(self, volume, connector, **kwargs):
        pass

    def create_export(self, context, volume, connector):
        pass

    def ensure_export(self, context, volume):
        pass

    def remove_export(self, context, volume):
        pass

    # -- stats -----------------------------------------------------------

    def _chain_stats(self):
        """Capacity keys of the stats, or backend_state down with why."""
        try:
            for store in self.engine.stores:
                store.check()
            total, free = self.engine.volumes.capacity()
            provisioned = self.engine.provisioned_bytes()
        except (exception.AuxoException, OSError) as e:
            reason = getattr(e, 'msg', None) or str(e)
            LOG.warning('Backend %s is down: %s', self._storage_id, reason)
            return {'backend_state': 'down', 'backend_state_reason': reason,
                    'total_capacity_gb': 0, 'free_capacity_gb': 0}
        return {
            'backend_state': 'up',
            'total_capacity_gb': round(total / units.Gi, 2),
            'free_capacity_gb': round(free / units.Gi, 2),
            'provisioned_capacity_gb': round(provisioned / units.Gi, 2),
            'thin_provisioning_support': True,
            'thick_provisioning_support': False,
            'max_over_subscription_ratio': (
                self.configuration.max_over_subscription_ratio),
            'reserved_percentage': self.configuration.reserved_percentage,
            'image_cache_bytes': self.image_cache.usage(),
        }
