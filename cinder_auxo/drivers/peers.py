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

"""Other auxo backends of this host, for driver-assisted migration.

cinder runs every backend of ``enabled_backends`` in a process of its own.
The source's process reaches a destination storage on the same host by
building the destination driver's engine from the destination's own
section of the same cinder.conf, with that driver's own code: the same
stores, and the same locks the destination's process takes (file locks
under the shared ``lock_path`` for a local storage, cinder's coordination
for a SAN one).
"""

from cinder.volume import configuration
from cinder.volume import volume_utils
from oslo_log import log as logging
from oslo_utils import importutils

from cinder_auxo import exception

LOG = logging.getLogger(__name__)

_OUR_DRIVERS = 'cinder_auxo.drivers.'


def _section(host, driver):
    """The cinder.conf section of ``host`` if it is on this host."""
    here = volume_utils.extract_host(driver.host, 'host')
    if volume_utils.extract_host(host, 'host') != here:
        return None
    section = volume_utils.extract_host(host, 'backend').partition('@')[2]
    if not section or section == driver.configuration.config_group:
        return None
    return section


def peer_driver(driver, host):
    """A set-up driver for the auxo backend ``host``, or None.

    :param host: the scheduler's destination, ``{'host': 'h@section#pool',
                 'capabilities': {...}}``.
    None means "not ours to move": another host, another driver, or a
    storage that cannot be reached from here (logged).
    """
    section = _section(host['host'], driver)
    if section is None:
        return None
    # Imported here: the manager needs cinder's objects registered first,
    # which cinder-volume has done long before any migration.
    from cinder.volume import manager
    conf = configuration.Configuration(manager.volume_backend_opts,
                                       config_group=section)
    if not (conf.volume_driver or '').startswith(_OUR_DRIVERS):
        return None
    try:
        peer = importutils.import_object(conf.volume_driver,
                                         configuration=conf,
                                         host=host['host'], db=driver.db)
        peer.engine, peer.image_cache = peer._build_engine()
        for store in peer.engine.stores:
            store.check()
    except (ImportError, exception.AuxoException) as e:
        LOG.warning('Storage %(section)s cannot be reached from %(here)s '
                    '(%(err)s): leaving the migration to cinder',
                    {'section': section, 'err': e,
                     'here': driver.configuration.config_group})
        return None
    return peer
