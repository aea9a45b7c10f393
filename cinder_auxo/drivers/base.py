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

import urllib.parse

from cinder import exception as cinder_exception
from cinder import objects
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder_auxo.drivers import image_flows
from cinder_auxo.drivers import peers
from cinder_auxo.engine import migration
from cinder_auxo.engine import naming
from cinder_auxo.engine import views
from cinder_auxo import exception

LOG = logging.getLogger(__name__)

CONF = cfg.CONF
CONF.import_group('coordination', 'cinder.coordination')

# tooz backends whose locks hold on one host only.
HOST_LOCAL_COORDINATION = frozenset(['', 'file', 'ipc', 'zake'])
_SHARED_BACKEND_HOWTO = (
    'set [coordination] backend_url to a tooz backend every such host '
    'reaches, for example etcd3+http://<etcd host>:2379 (doc/cluster.md)')


def _attached(volume):
    return volume.attach_status == 'attached' or volume.status == 'in-use'


# What an attach in this state is for: cinder's own data paths copy the
# attached path as plain disk bytes (doc/attach.md, "cinder's own data
# paths"). Anything else is a hypervisor, which opens the chain itself.
READS_DISK = 'reads'
WRITES_DISK = 'writes'


def data_path_role(volume):
    """READS_DISK, WRITES_DISK or None for an attach of ``volume``."""
    migration = volume.migration_status or ''
    if volume.status == 'restoring-backup' or migration.startswith(
            'target:'):
        # A restore or a migration overwrites the whole disk.
        return WRITES_DISK
    if volume.attach_status == 'attached':
        return None
    if volume.status == 'backing-up' or migration == 'migrating':
        return READS_DISK
    return None


class ChainDriverMixin(image_flows.ImageFlowsMixin):
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
        self._start_cache_maintenance()

    def _check_shared_locks(self):
        """Refuse, or warn, when other hosts could write a store unlocked.

        A store other hosts see (a SAN volume group) is safe with locks of
        one host only while one cinder-volume writes it: the default. A
        clustered service means several do, each repairing at start-up
        what it takes for a crash's leftovers: refused, before that.
        """
        shared = [repr(s) for s in self.engine.stores if s.shared]
        url = CONF.coordination.backend_url or ''
        if (not shared or urllib.parse.urlsplit(url).scheme not in
                HOST_LOCAL_COORDINATION):
            return
        # A host-local URL holds no credentials: it can be shown.
        why = ('%s can be written from other hosts, and [coordination] '
               'backend_url (%s) gives locks that hold on this host only' %
               (', '.join(shared), url or 'unset'))
        if self.cluster_name:
            raise exception.StorageUnavailable(
                storage=self._storage_id,
                reason='this service is in cluster %s, but %s: %s' % (
                    self.cluster_name, why, _SHARED_BACKEND_HOWTO))
        LOG.warning('Storage %(storage)s: %(why)s. That is safe only while '
                    'this cinder-volume is the one service that writes it '
                    '(an HA pair must never run both nodes at once, nor '
                    'cinder-auxo-cache on the passive node). To run more '
                    'than one, %(how)s.',
                    {'storage': self._storage_id, 'why': why,
                     'how': _SHARED_BACKEND_HOWTO})

    def _check_engine(self):
        """Common part of check_for_setup_error."""
        self._check_shared_locks()
        try:
            processutils.execute('qemu-img', '--version')
        except (OSError, processutils.ProcessExecutionError) as e:
            raise exception.StorageUnavailable(
                storage=self._storage_id,
                reason='qemu-img cannot be run (%s); install qemu-utils' % e)
        for store in self.engine.stores:
            store.check()
        removed = (self.engine.cleanup() + self.image_cache.cleanup() +
                   self.remove_upload_leftovers())
        if removed:
            LOG.warning('Removed %d leftovers of interrupted operations on '
                        '%s: %s', len(removed), self._storage_id,
                        ', '.join(removed))

    @property
    def _storage_id(self):
        return (self.configuration.safe_get('volume_backend_name') or
                self.configuration.config_group)

    # -- volumes ---------------------------------------------------------

    def create_volume(self, volume):
        self.engine.create_volume(volume.name_id, volume.size * units.Gi,
                                  self._volume_fmt)

    def delete_volume(self, volume):
        self.image_cache.delete_volume(volume.name_id)

    def extend_volume(self, volume, new_size):
        self._refuse_if_attached(volume, 'extend')
        self.engine.extend(volume.name_id, new_size * units.Gi)

    def create_cloned_volume(self, volume, src_vref):
        self._refuse_if_attached(src_vref, 'clone')
        self.engine.clone_volume(src_vref.name_id, volume.name_id,
                                 volume.size * units.Gi, self._volume_fmt,
                                 self._clone_mode)

    def migrate_volume(self, context, volume, host):
        """Move a detached volume to another auxo storage of this host.

        Only the volume's own data is copied (engine/migration.py); any
        other destination gets cinder's generic copy, through raw views.
        """
        if _attached(volume):
            return False, None
        peer = peers.peer_driver(self, host)
        if peer is None:
            return False, None
        migration.move_volume(self.engine, volume.name_id, peer.engine,
                              peer.image_cache, peer._volume_fmt)
        self.delete_volume(volume)
        return True, None

    # -- snapshots -------------------------------------------------------

    def create_snapshot(self, snapshot):
        self._refuse_if_attached(snapshot.volume, 'snapshot')
        self.engine.create_snapshot(snapshot.volume.name_id, snapshot.id)

    def delete_snapshot(self, snapshot):
        self._refuse_if_attached(snapshot.volume, 'snapshot delete')
        try:
            self.engine.delete_snapshot(snapshot.id)
        except exception.LayerBusy as e:
            raise cinder_exception.SnapshotIsBusy(
                snapshot_name=snapshot.name) from e

    def create_volume_from_snapshot(self, volume, snapshot):
        self.engine.clone_snapshot(snapshot.id, volume.name_id,
                                   volume.size * units.Gi, self._volume_fmt,
                                   self._clone_mode)

    def revert_to_snapshot(self, context, volume, snapshot):
        self._refuse_if_attached(volume, 'revert')
        self.engine.revert_to_snapshot(volume.name_id, snapshot.id)

    def snapshot_revert_use_temp_snapshot(self):
        # The frozen layer is the safety net already.
        return False

    # -- backups -----------------------------------------------------------

    def backup_use_temp_snapshot(self):
        # A snapshot is backed up from its own layer (a raw export), not
        # from a temporary volume cloned from it first.
        return True

    def get_backup_device(self, context, backup):
        volume = objects.Volume.get_by_id(context, backup.volume_id)
        if not backup.snapshot_id and volume.previous_status == 'in-use':
            raise exception.VolumeAttached(
                volume=volume.id, status='in-use',
                operation='a backup (it would need a snapshot)')
        return super(ChainDriverMixin, self).get_backup_device(context,
                                                               backup)

    # -- connections -----------------------------------------------------

    def initialize_connection(self, volume, connector, **kwargs):
        role = data_path_role(volume)
        if role == WRITES_DISK:
            path = self._raw_views().raw_target(volume.name_id,
                                                volume.size * units.Gi)
            return self._connection_info(volume, path, naming.RAW)
        if role == READS_DISK:
            path = self._raw_views().export(naming.VOLUME, volume.name_id)
            return self._connection_info(volume, path, naming.RAW)
        path, fmt = self.engine.active(volume.name_id)
        return self._connection_info(volume, path, fmt)

    def terminate_connection(self, volume, connector, **kwargs):
        # Only cinder's own readers ever got an export.
        self._raw_views().drop(volume.name_id)

    def initialize_connection_snapshot(self, snapshot, connector, **kwargs):
        # Only cinder attaches snapshots (backup), and reads them.
        path = self._raw_views().export(naming.SNAPSHOT, snapshot.id)
        return self._connection_info(snapshot.volume, path, naming.RAW)

    def terminate_connection_snapshot(self, snapshot, connector, **kwargs):
        self._raw_views().drop(snapshot.id)

    def create_export_snapshot(self, context, snapshot, connector):
        pass

    def remove_export_snapshot(self, context, snapshot):
        pass

    def _raw_views(self):
        return views.RawViews(self.engine)

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
