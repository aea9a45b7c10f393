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

"""LocalFileDriver: volumes are qcow2 (or raw) files on a local mount.

::

    [storage-2684de03-f940-4519-8f41-daeb9616b0ca]
    volume_driver = cinder_auxo.drivers.local.LocalFileDriver
    volume_backend_name = storage-2684de03-f940-4519-8f41-daeb9616b0ca
    mount_point = /opt/sata
    image_base_path =
    volume_type = qcow2
    image_format = qcow2
    image_volume_cache_enabled = True

Volumes live directly in ``mount_point``; cached image bases in
``image_base_path``, or ``<mount_point>/_base`` when it is empty. The
storage is local to this host, so image-cache locks are host-local
(oslo.concurrency external locks under ``[oslo_concurrency] lock_path``).
"""

import os

from cinder import exception as cinder_exception
from cinder import interface
from cinder.volume import configuration
from cinder.volume import driver
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder_auxo.drivers import base
from cinder_auxo.engine import adoption
from cinder_auxo.engine import chain
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo import opts
from cinder_auxo.stores import files
from cinder_auxo.targets import local as local_target

LOG = logging.getLogger(__name__)

CONF = cfg.CONF
DRIVER_OPTS = (opts.image_cache_opts + opts.template_opts +
               opts.chain_opts + opts.local_opts)
CONF.register_opts(DRIVER_OPTS, group=configuration.SHARED_CONF_GROUP)

CACHE_SUBDIR = '_base'


def _source_name(existing_ref):
    name = (existing_ref or {}).get('source-name')
    if not name:
        raise cinder_exception.ManageExistingInvalidReference(
            existing_ref=existing_ref,
            reason='give the name of a file in the storage directory as '
                   'source-name')
    return name


@interface.volumedriver
class LocalFileDriver(base.ChainDriverMixin, driver.VolumeDriver):
    """qcow2/raw volume files with an image-cache base per storage."""

    VERSION = '1.0.0'
    # Third-party, not in cinder's tree: no CI of cinder's own covers it.
    CI_WIKI_NAME = None
    SUPPORTS_ACTIVE_ACTIVE = False

    def __init__(self, *args, **kwargs):
        super(LocalFileDriver, self).__init__(*args, **kwargs)
        if self.configuration:
            self.configuration.append_config_values(DRIVER_OPTS)
        self._stats = {}

    @staticmethod
    def get_driver_options():
        return DRIVER_OPTS

    # -- set-up ----------------------------------------------------------

    def _build_engine(self):
        mount_point = self.configuration.mount_point
        if not mount_point:
            raise exception.StorageUnavailable(
                storage=self._storage_id,
                reason='mount_point is not set in section [%s]' %
                       self.configuration.config_group)
        volumes = files.FileStore(self._storage_id, mount_point)
        cache_dir = (self.configuration.image_base_path or
                     os.path.join(mount_point, CACHE_SUBDIR))
        cache = files.FileStore(self._storage_id, cache_dir, create=True)

        def lock(name):
            return lockutils.lock('auxo-%s-%s' % (self._storage_id, name),
                                  external=True)

        engine = chain.ChainEngine(
            volumes, cache, qemu.QemuImg(self._execute), lock,
            max_depth=self.configuration.image_cache_max_chain_depth)
        # Downloads land beside the bases: same file system, so a full
        # disk is seen before anything is published.
        cache_engine = image_cache.ImageCache(
            engine, cache, lock, base_fmt=self.configuration.image_format)
        return engine, cache_engine

    def do_setup(self, context):
        self._setup_engine()

    def check_for_setup_error(self):
        self._check_engine()

    # -- connection ------------------------------------------------------

    def _connection_info(self, volume, path, fmt):
        return local_target.connection_info(volume.id, path, fmt)

    # -- adopting existing files (cinder manage) -------------------------

    def manage_existing_get_size(self, volume, existing_ref):
        return self._adoption().size_gb(_source_name(existing_ref))

    def manage_existing(self, volume, existing_ref):
        self._adoption().adopt(_source_name(existing_ref), volume.name_id,
                               volume.size * units.Gi)

    def unmanage(self, volume):
        self._adoption().release(volume.name_id)

    def _adoption(self):
        return adoption.Adoption(self.engine)

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
            'storage_protocol': local_target.PROTOCOL,
            'multiattach': False,
            'QoS_support': False,
            'sparse_copy_volume': True,
            'volume_format': self._volume_fmt,
            'image_cache_enabled': bool(
                self.configuration.safe_get('image_volume_cache_enabled')),
        }
        stats.update(self._chain_stats())
        self._stats = stats
