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

"""Capacity and state of every storage, through the drivers' own stores.

Total and free space come from the store the driver uses
(``LVMStore.capacity`` / ``FileStore.capacity``), provisioned space from
the engine's ``provisioned_bytes``: the figures cinder's scheduler sees.
State is ``up``, or ``down`` with the first reason found (session
dropped, device gone, volume group missing, mount gone).
"""

import contextlib
import os

from cinder_auxo.engine import chain
from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo.storage_admin import block
from cinder_auxo.storage_admin import iscsi
from cinder_auxo.storage_admin import state
from cinder_auxo.stores import files
from cinder_auxo.stores import lvm as lvm_store


def _no_lock(name):
    # Read-only figures: nothing to serialise against.
    return contextlib.nullcontext()


def _store(execute, record, state_dir):
    if record['usage'] == 'block':
        vg = record['volume_group']
        return lvm_store.LVMStore(
            record['backend'], vg, [block.pattern(record['device'])],
            execute, block.conf_dir(state_dir, vg), _no_lock)
    return files.FileStore(record['backend'], record['mount_point'])


def _problem(execute, record):
    if record['type'] == 'iscsi' and not iscsi.logged_in(
            execute, record['portal'], record['iqn']):
        return 'iSCSI session to %s at %s dropped' % (record['iqn'],
                                                      record['portal'])
    if record.get('device') and not os.path.exists(record['device']):
        return 'device %s is gone' % record['device']
    if record['usage'] == 'file' and not os.path.ismount(
            record['mount_point']):
        return 'mount %s is gone' % record['mount_point']
    return None


def one(execute, record, state_dir):
    row = {'name': record['name'], 'backend': record['backend'],
           'type': record['type'], 'usage': record['usage'],
           'where': record.get('volume_group') or record['mount_point'],
           'state': 'up', 'reason': '', 'total': None, 'free': None,
           'provisioned': None}
    reason = _problem(execute, record)
    if reason is None:
        try:
            store = _store(execute, record, state_dir)
            store.check()
            row['total'], row['free'] = store.capacity()
            engine = chain.ChainEngine(store, store, qemu.QemuImg(execute),
                                       _no_lock)
            try:
                row['provisioned'] = engine.provisioned_bytes()
            except (exception.AuxoException, OSError):
                # Inactive LVs on this host: their headers cannot be read.
                pass
        except (exception.AuxoException, OSError) as e:
            reason = getattr(e, 'msg', None) or str(e)
    if reason:
        row.update(state='down', reason=reason)
    return row


def all_rows(execute, state_dir, name=None):
    records = ([state.load(state_dir, name)] if name
               else state.all_records(state_dir))
    return [one(execute, r, state_dir) for r in records]
