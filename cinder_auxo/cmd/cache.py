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

"""cinder-auxo-cache: see and trim a storage's image cache.

    cinder-auxo-cache [--config-file /etc/cinder/cinder.conf] \\
        --backend SECTION list|prune|evict IMAGE_ID|flatten [--image ID]

It loads the backend section exactly as cinder-volume does and takes the
same locks, so it is safe to run while cinder-volume is up.
"""

import argparse
import datetime
import json
import sys

from cinder import context as cinder_context
from cinder import coordination
from cinder import objects
from cinder.volume import configuration
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import importutils
from oslo_utils import units

from cinder_auxo.engine import cache_admin

LOG = logging.getLogger(__name__)


def _parser():
    parser = argparse.ArgumentParser(
        prog='cinder-auxo-cache',
        description='See and trim the image cache of a cinder_auxo backend.')
    parser.add_argument('--config-file', action='append',
                        default=[], help='cinder.conf (repeatable; default: '
                                         '/etc/cinder/cinder.conf)')
    parser.add_argument('--backend', required=True,
                        help='the backend section name in cinder.conf')
    parser.add_argument('--json', action='store_true',
                        help='print machine-readable output')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('list', help='one line per cached base')
    prune = sub.add_parser('prune', help='remove unused bases by age/size')
    prune.add_argument('--max-age', type=int,
                       help='seconds (default: image_cache_max_age)')
    prune.add_argument('--max-size-gb', type=int,
                       help='GiB (default: image_cache_max_size_gb)')
    evict = sub.add_parser('evict', help='remove an image\'s unused bases')
    evict.add_argument('image_id')
    flatten = sub.add_parser('flatten', help='flatten long base chains')
    flatten.add_argument('--max-chain', type=int,
                         help='default: image_cache_max_base_chain')
    flatten.add_argument('--image', metavar='IMAGE_ID',
                         help='only this image (default: every image)')
    return parser


def load_driver(config_files, backend):
    """The backend's driver, set up as cinder-volume would."""
    objects.register_all()
    # cinder's manager module needs the registered objects at import.
    from cinder.volume import manager as volume_manager
    if 'use_stderr' not in cfg.CONF:
        logging.register_options(cfg.CONF)
    cfg.CONF(['--config-file=%s' % f for f in config_files],
             project='cinder')
    # Logs go to stderr (or the configured log file); stdout is the answer.
    cfg.CONF.set_override('use_stderr', True)
    logging.setup(cfg.CONF, 'cinder-auxo-cache')
    conf = configuration.Configuration(volume_manager.volume_backend_opts,
                                       config_group=backend)
    driver_cls = importutils.import_class(conf.volume_driver)
    driver = driver_cls(configuration=conf, host='%s@%s' % (cfg.CONF.host,
                                                            backend))
    cfg.CONF.set_override('image_cache_maintenance_interval', 0,
                          group=backend)
    driver.do_setup(cinder_context.get_admin_context())
    if getattr(driver, 'image_cache', None) is None:
        raise SystemExit('backend %s (%s) has no cinder_auxo image cache' %
                         (backend, conf.volume_driver))
    return driver


def _when(ts):
    if not ts:
        return '-'
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc
                                           ).strftime('%Y-%m-%d %H:%M:%S')


def main(argv=None):
    args = _parser().parse_args(argv)
    driver = load_driver(args.config_file or ['/etc/cinder/cinder.conf'],
                         args.backend)
    # The SAN driver's locks are cinder's coordination locks: started
    # here as cinder-volume's service starts them.
    coordination.COORDINATOR.start()
    try:
        return _run(args, driver)
    finally:
        coordination.COORDINATOR.stop()


def _run(args, driver):
    admin = cache_admin.CacheAdmin(driver.image_cache)
    conf = driver.configuration
    if args.command == 'list':
        rows = admin.entries()
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        print('%-36s %4s %-6s %12s %8s %-19s %s' % (
            'IMAGE', 'GEN', 'FORMAT', 'BYTES', 'CHILDREN', 'LAST USED (UTC)',
            'BACKED BY'))
        for r in rows:
            print('%-36s %4d %-6s %12d %8d %-19s %s' % (
                r['image_id'], r['generation'], r['format'], r['bytes'],
                r['children'], _when(r['last_used']), r['backed_by'] or '-'))
        return 0
    if args.command == 'prune':
        max_age = (conf.image_cache_max_age if args.max_age is None
                   else args.max_age)
        max_gb = (conf.image_cache_max_size_gb if args.max_size_gb is None
                  else args.max_size_gb)
        removed = admin.prune(max_age=max_age, max_bytes=max_gb * units.Gi)
    elif args.command == 'evict':
        removed = admin.evict(args.image_id)
    else:
        removed = admin.flatten_deep(args.max_chain or
                                     conf.image_cache_max_base_chain,
                                     only_image=args.image)
    print(json.dumps(removed) if args.json else '\n'.join(removed) or
          'nothing to do')
    return 0


if __name__ == '__main__':
    sys.exit(main())
