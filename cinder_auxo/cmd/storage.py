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

"""cinder-auxo-storage: add, remove and watch storages on this node.

    cinder-auxo-storage [--config-file /etc/cinder/cinder.conf] COMMAND

    discover --portal IP[:PORT] [--chap-user U --chap-password P]
    luns (--portal IP[:PORT] --iqn IQN [CHAP] | --fc) [--format json]
    add NAME --usage block|file|local --type iscsi|fc|local
        [--portal --iqn --lun | --lun [--wwpn]] [--mount-point DIR]
        [--fs ext4|xfs] [CHAP] [--force]
        [--backend-name SECTION] [--volume-group VG]
    remove NAME [--wipe [--discard-volumes]]
    list | status [NAME]   [--format json]

Run as root on the storage management node (the cinder-volume host).
Everything it does is in ``cinder_auxo.storage_admin``; this module only
reads arguments and prints.
"""

import argparse
import json
import sys

from oslo_concurrency import lockutils
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder_auxo import exception
from cinder_auxo import opts
from cinder_auxo.storage_admin import iscsi
from cinder_auxo.storage_admin import luns
from cinder_auxo.storage_admin import manager
from cinder_auxo.storage_admin import request
from cinder_auxo.storage_admin import services
from cinder_auxo.storage_admin import state
from cinder_auxo.storage_admin import status

LOG = logging.getLogger(__name__)
GROUP = 'auxo_storage'
# A refusal (exit 1) is told apart from a usage error (argparse: 2).
REFUSED = 1


def _chap_args(parser):
    parser.add_argument('--chap-user', help='CHAP user name')
    parser.add_argument('--chap-password', help='CHAP secret')


def _format_arg(parser):
    parser.add_argument('--format', choices=('table', 'json'),
                        default='table')


def parser():
    p = argparse.ArgumentParser(
        prog='cinder-auxo-storage',
        description='Add, remove and watch the storages (cinder backends) '
                    'of this node.')
    p.add_argument('--config-file', default='/etc/cinder/cinder.conf',
                   help='the cinder.conf to read and edit')
    sub = p.add_subparsers(dest='command', required=True)
    d = sub.add_parser('discover', help='iSCSI SendTargets discovery')
    d.add_argument('--portal', required=True)
    _chap_args(d)
    lu = sub.add_parser('luns', help='LUNs of an iSCSI target or the FC HBAs')
    lu.add_argument('--portal')
    lu.add_argument('--iqn')
    lu.add_argument('--fc', action='store_true')
    _chap_args(lu)
    _format_arg(lu)
    a = sub.add_parser('add', help='make a storage and its backend')
    a.add_argument('name')
    a.add_argument('--usage', required=True, choices=request.USAGES)
    a.add_argument('--type', required=True, choices=request.TYPES)
    a.add_argument('--portal')
    a.add_argument('--iqn')
    a.add_argument('--lun', type=int)
    a.add_argument('--wwpn', help='FC target port (default: any with LUN)')
    a.add_argument('--mount-point', help='file: where the storage is '
                                         'mounted; local: the directory')
    a.add_argument('--fs', default='ext4', choices=('ext4', 'xfs'))
    a.add_argument('--volume-clear-size', type=int, default=128)
    a.add_argument('--force', action='store_true',
                   help='destroy what the LUN carries (says what first)')
    a.add_argument('--backend-name', dest='backend',
                   help='the cinder.conf section and volume_backend_name '
                        '(default: storage-<uuid>); an existing backend '
                        'section of that name is merged into')
    a.add_argument('--volume-group',
                   help='block: the volume group name (default: a UUID); '
                        'a LUN already carrying that group is taken as it '
                        'is')
    _chap_args(a)
    r = sub.add_parser('remove', help='remove an unused storage')
    r.add_argument('name')
    r.add_argument('--wipe', action='store_true',
                   help='also erase the VG or filesystem signatures')
    r.add_argument('--discard-volumes', action='store_true',
                   help='with --wipe, on a block storage: destroy the LVs '
                        'left in its group too (test nodes whose cinder '
                        'database is thrown away)')
    li = sub.add_parser('list', help='every storage, with its state')
    _format_arg(li)
    st = sub.add_parser('status', help='one storage, or every one')
    st.add_argument('name', nargs='?')
    _format_arg(st)
    return p


def _chap(args):
    return iscsi.Chap(args.chap_user, args.chap_password)


def _gib(value):
    return '-' if value is None else '%.1f' % (value / units.Gi)


def table(rows, columns):
    """A plain text table; ``columns`` is [(key, title, formatter)]."""
    cells = [[title for _k, title, _f in columns]]
    for row in rows:
        cells.append([fmt(row.get(key)) if fmt else str(row.get(key, ''))
                      for key, _t, fmt in columns])
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(line, widths))
                     .rstrip() for line in cells)


LUN_COLUMNS = [('lun', 'LUN', None), ('size', 'GiB', _gib),
               ('path', 'DEVICE', None), ('carries', 'CARRIES', None),
               ('storage', 'STORAGE', None)]
STATUS_COLUMNS = [('name', 'NAME', None), ('type', 'TYPE', None),
                  ('usage', 'USAGE', None), ('total', 'TOTAL GiB', _gib),
                  ('free', 'FREE GiB', _gib),
                  ('provisioned', 'PROVISIONED GiB', _gib),
                  ('state', 'STATE', None), ('reason', 'REASON', None),
                  ('backend', 'BACKEND', None)]


def _emit(out, rows, columns, fmt):
    if fmt == 'json':
        out(json.dumps(rows, indent=2, sort_keys=True))
    else:
        out(table(rows, columns))


def _luns(admin, args, out):
    if args.fc:
        rows = luns.fc_luns(admin.execute, admin.sysfs, admin.by_path)
        columns = [('wwpn', 'WWPN', None)] + LUN_COLUMNS
    elif args.portal and args.iqn:
        rows = admin.iscsi_luns(iscsi.portal(args.portal), args.iqn,
                                _chap(args))
        columns = LUN_COLUMNS
    else:
        raise exception.StorageAdminError(
            reason='luns needs --portal and --iqn, or --fc')
    ours = {r.get('device'): r['name']
            for r in state.all_records(admin.state_dir)}
    for row in rows:
        row['storage'] = ours.get(row['path'], '')
    _emit(out, rows, columns, args.format)


def _add(admin, args):
    req = request.Request(
        args.name, args.usage, args.type, portal=args.portal, iqn=args.iqn,
        lun=args.lun, chap=_chap(args), wwpn=args.wwpn,
        mount_point=args.mount_point, fstype=args.fs, force=args.force,
        volume_clear_size=args.volume_clear_size, backend=args.backend,
        volume_group=args.volume_group)
    if args.type == 'iscsi' and not (args.portal and args.iqn and
                                     args.lun is not None):
        raise exception.StorageAdminError(
            reason='an iSCSI storage needs --portal, --iqn and --lun')
    if args.usage != 'block' and not args.mount_point:
        raise exception.StorageAdminError(
            reason='a %s storage needs --mount-point' % args.usage)
    again = state.exists(admin.state_dir, args.name)
    record = admin.add(req)
    if not again:
        admin.cinder.create_type(args.name, record['backend'])
    return record


def run(args, admin, conf, out):
    if args.command == 'discover':
        for iqn in iscsi.discover(admin.execute, args.portal, _chap(args)):
            out(iqn)
        return None
    if args.command == 'luns':
        return _luns(admin, args, out)
    if args.command in ('list', 'status'):
        rows = status.all_rows(admin.execute, admin.state_dir,
                               getattr(args, 'name', None))
        return _emit(out, rows, STATUS_COLUMNS, args.format)
    # One change of cinder.conf at a time on this host.
    with lockutils.lock('cinder-auxo-storage', external=True,
                        lock_path=conf[GROUP].state_dir):
        if args.command == 'add':
            record = _add(admin, args)
        else:
            record = admin.remove(args.name, wipe=args.wipe,
                                  discard=args.discard_volumes)
            admin.cinder.delete_type(args.name)
    services.restart_volume_service(admin.execute,
                                    conf[GROUP].volume_service,
                                    record['backend'], out)


def load_conf(path):
    conf = cfg.ConfigOpts()
    conf.register_opts(opts.storage_admin_opts, group=GROUP)
    logging.register_options(conf)
    conf([], project='cinder', default_config_files=[path])
    conf.set_override('use_stderr', True)
    logging.setup(conf, 'cinder-auxo-storage')
    return conf


def main(argv=None, out=print, execute=processutils.execute, client=None):
    args = parser().parse_args(argv)
    try:
        conf = load_conf(args.config_file)
        cinder = services.Cinder(
            client if client is not None else services.client_from_env(),
            out)
        admin = manager.StorageAdmin(
            execute, args.config_file, conf[GROUP].state_dir, cinder, out,
            device_timeout=conf[GROUP].device_timeout,
            service_user=conf[GROUP].service_user)
        run(args, admin, conf, out)
    except exception.AuxoException as e:
        sys.stderr.write('cinder-auxo-storage: %s\n' % e.msg)
        return REFUSED
    except processutils.ProcessExecutionError as e:
        # Whatever was half done has been rolled back by then.
        sys.stderr.write('cinder-auxo-storage: %s failed: %s\n' % (
            e.cmd, (e.stderr or '').strip()))
        return REFUSED
    return 0


if __name__ == '__main__':
    sys.exit(main())
