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
"""LVMSANDriver: volumes are LVs of a volume group on a SAN LUN.

::

    [storage-230fc138-a867-4bbe-b96b-3395f17818f1]
    volume_driver = cinder_auxo.drivers.lvmsan.LVMSANDriver
    volume_backend_name = storage-230fc138-a867-4bbe-b96b-3395f17818f1
    iscsi_helper = iscsisan          # or fcsan
    iscsi_ip_address = 10.0.20.1
    iscsi_port = 3260
    iscsi_target_prefix = iqn.2012-07.com.Sugon:alias.tgt0000.200000015555ee0d
    target_lun = 14
    volume_group = 2b55ce3e-3338-458d-a773-7429a58e9a46
    volume_clear_size = 128
    image_volume_cache_enabled = True
    image_base_path =
    image_format = qcow2

With ``image_format = qcow2`` qcow2 is written directly on the LVs: the
cached base of an image is an LV, a volume from it an LV holding a qcow2
overlay on that base, snapshots are backing-file layers on LVs. With
``raw`` volumes are plain thick raw LVs and create-from-image copies the
cached raw base. The chain work is the shared engine's (``drivers/base``);
this module adds the LVM store, the SAN target, the cross-host lock and the
attach. doc/attach-lvmsan.md explains the connection info and what a
consumer host does with it.
"""

import contextlib
import os

from cinder import coordination
from cinder.image import image_utils
from cinder import interface
from cinder import utils
from cinder.volume import configuration
from cinder.volume import driver
from cinder.volume.drivers import lvm as lvm_driver
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import fileutils

from cinder_auxo.drivers import base
from cinder_auxo.engine import chain
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo.hypervisor import lvm as hv_lvm
from cinder_auxo import opts
from cinder_auxo.stores import files
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo import targets

LOG = logging.getLogger(__name__)

CONF = cfg.CONF
DRIVER_OPTS = (opts.image_cache_opts + opts.template_opts + opts.chain_opts +
               opts.san_opts)
CONF.register_opts(DRIVER_OPTS, group=configuration.SHARED_CONF_GROUP)

PROTOCOL = 'lvmsan'
_STATS_PROTOCOL = {'iscsi': 'iSCSI', 'iser': 'iSER',
                   'fibre_channel': 'FC'}


@interface.volumedriver
class LVMSANDriver(base.ChainDriverMixin, driver.VolumeDriver):
    """qcow2 chains (or raw LVs) on a shared SAN volume group.

    Not a subclass of cinder's LVMVolumeDriver: that one exports each LV
    through a Linux target it builds, and moves LVs by copying them, while
    here the array exports the LUN and layers move only through the
    engine. Only its options (``volume_group``, ``volume_clear*``) are
    shared, so existing sections keep their meaning.
    """

    VERSION = '1.0.0'
    # Third-party, not in cinder's tree: no CI of cinder's own covers it.
    CI_WIKI_NAME = None
    # A cluster's services all write the group: each refreshes its view
    # of the LVs under the locks and repairs only its own work
    # (doc/cluster.md). Refused with host-local locks (base driver).
    SUPPORTS_ACTIVE_ACTIVE = True

    def __init__(self, *args, **kwargs):
        super(LVMSANDriver, self).__init__(*args, **kwargs)
        self.configuration.append_config_values(lvm_driver.volume_opts)
        self.configuration.append_config_values(DRIVER_OPTS)
        self.target = targets.get_target(self.configuration.iscsi_helper,
                                         self.configuration, self._execute)
        self.protocol = _STATS_PROTOCOL.get(self.target.protocol,
                                            self.target.protocol)

    @classmethod
    def get_driver_options(cls):
        return DRIVER_OPTS + cls._get_oslo_driver_opts(
            'volume_group', 'volume_clear', 'volume_clear_size',
            'volume_clear_ionice', 'target_ip_address', 'target_port',
            'target_prefix', 'target_protocol', 'chap_username',
            'chap_password', 'reserved_percentage',
            'max_over_subscription_ratio')

    @property
    def _volume_fmt(self):
        return self.configuration.image_format

    @property
    def _conf_dir(self):
        return self.configuration.san_lvm_conf_dir

    # -- set-up ----------------------------------------------------------

    @property
    def _writer(self):
        """This service's name while a cluster's services share the group.

        None (the default, one cinder-volume writes the group) outside a
        cluster.
        """
        return self.host if self.cluster_name else None

    def _lock(self, name):
        # The VG may be reached by several cinder-volume services: the
        # lock is cinder's coordination lock (tooz), not a host-local one.
        # Order: image-<id>, then chain, then vg-metadata (stores/lvm.py).
        lock = coordination.COORDINATOR.get_lock(
            'auxo-lvmsan-%s-%s' % (self.configuration.volume_group, name))
        if name == 'vg-metadata' or not self._writer:
            return lock
        return self._refreshed(lock)

    @contextlib.contextmanager
    def _refreshed(self, lock):
        # Other writers change LVs under this lock: what this host's
        # devices show may be older (LVMStore.refresh_view).
        with lock:
            self.engine.volumes.refresh_view()
            yield

    def _vg_metadata_lock(self):
        return self._lock('vg-metadata')

    def _build_engine(self):
        conf = self.configuration
        vg = conf.volume_group
        store = lvm_store.LVMStore(
            self._storage_id, vg, self.target.device_patterns,
            self._execute, os.path.join(self._conf_dir, vg),
            self._vg_metadata_lock, root_helper=utils.get_root_helper(),
            volume_clear=conf.volume_clear,
            volume_clear_size=conf.volume_clear_size,
            volume_clear_ionice=conf.volume_clear_ionice,
            writer=self._writer)
        engine = chain.ChainEngine(
            store, store, qemu.QemuImg(self._execute), self._lock,
            max_depth=conf.image_cache_max_chain_depth)
        # Downloads land on local disk first; bases are LVs.
        scratch = files.FileStore(
            self._storage_id,
            os.path.join(CONF.image_conversion_dir, 'auxo-%s' % vg),
            create=True)
        cache = image_cache.ImageCache(engine, scratch, self._lock,
                                       base_fmt=conf.image_format)
        return engine, cache

    def do_setup(self, context):
        self._setup_engine()

    def check_for_setup_error(self):
        if self.configuration.image_base_path:
            raise exception.StorageUnavailable(
                storage=self._storage_id,
                reason='image_base_path must be empty for the SAN driver: '
                       'cached bases are LVs of %s, the only place '
                       'consumer hosts can reach' %
                       self.configuration.volume_group)
        problem = self.target.problem()
        if problem:
            raise exception.StorageUnavailable(storage=self._storage_id,
                                               reason=problem)
        store = self.engine.volumes
        store.check()
        # This host reads every layer's header: activate them all.
        store.activate_all()
        self._check_engine()
        fileutils.ensure_tree(CONF.image_conversion_dir)
        self.image_cache.scratch.check()

    # -- connection ------------------------------------------------------

    def _connection_info(self, volume, path, fmt):
        store = self.engine.volumes
        layers = self.engine.chain(self.engine.volume(volume.name_id))
        top = layers[0]
        return {
            'driver_volume_type': PROTOCOL,
            'data': {
                'volume_id': volume.id,
                'lun_protocol': self.target.protocol,
                'lun': self.target.connection_properties(),
                'device_patterns': store.pv_patterns,
                'volume_group': store.vg_name,
                'layer': top.name,
                'device_path': path,
                'format': fmt,
                'backing': [{'name': b.name, 'format': b.fmt,
                             'device_path': b.path} for b in layers[1:]],
                'access_mode': 'rw',
                'discard': False,
            },
        }

    def validate_connector(self, connector):
        # Nothing is exported or masked per host.
        pass

    def lv_connector(self):
        # The same consumer code nova's lvmsan volume driver runs.
        return hv_lvm.SanLVConnector(
            utils.get_root_helper(), self._execute, self._conf_dir,
            use_multipath=self.configuration.use_multipath_for_image_xfer,
            device_scan_attempts=(
                self.configuration.num_volume_device_scan_tries))

    def _connect_device(self, conn):
        """cinder's own attach (backup, migration) of an lvmsan volume."""
        if conn['driver_volume_type'] != PROTOCOL:
            return super(LVMSANDriver, self)._connect_device(conn)
        connector = self.lv_connector()
        device = connector.connect_volume(conn['data'])
        return {'conn': conn, 'device': device, 'connector': connector}

    def local_path(self, volume):
        return self.engine.active(volume.name_id)[0]

    # -- manage ----------------------------------------------------------
    # Nothing here to adopt (LocalFileDriver adopts files); the manage_*
    # calls are VolumeDriver's NotImplementedError, the listings empty.

    def get_manageable_volumes(self, *args, **kwargs):
        return []

    def get_manageable_snapshots(self, *args, **kwargs):
        return []

    # -- stats -----------------------------------------------------------

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats

    def _update_volume_stats(self):
        stats = {
            'volume_backend_name': self._storage_id,
            'vendor_name': 'cinder_auxo',
            'driver_version': self.VERSION,
            'storage_protocol': self.protocol,
            'multiattach': False,
            'QoS_support': False,
            'sparse_copy_volume': False,
            'volume_format': self._volume_fmt,
            'image_cache_enabled': bool(
                self.configuration.safe_get('image_volume_cache_enabled')),
        }
        problem = self.target.problem()
        if problem:
            LOG.warning('Backend %s is down: %s', self._storage_id, problem)
            stats.update({'backend_state': 'down',
                          'backend_state_reason': problem,
                          'total_capacity_gb': 0, 'free_capacity_gb': 0})
        else:
            stats.update(self._chain_stats())
            # Every layer is a thick LV sized for its worst case.
            stats.update(thin_provisioning_support=False,
                         thick_provisioning_support=True)
        self._stats = stats

    # -- images ------------------------------------------------------------

    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        if self._volume_fmt == naming.RAW:
            # A raw LV takes the image as is, at its full size.
            path, fmt = self.engine.active(volume.name_id)
            image_utils.fetch_to_raw(
                context, image_service, image_id, path,
                self.configuration.volume_dd_blocksize, size=volume.size,
                run_as_root=True, disable_sparse=disable_sparse)
            return
        super(LVMSANDriver, self).copy_image_to_volume(
            context, volume, image_service, image_id, disable_sparse)
