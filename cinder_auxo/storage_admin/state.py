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

"""What ``add`` made for each storage, so ``remove`` undoes exactly that.

One JSON file per storage under the state directory, named after the
operator's name for it; written atomically. cinder.conf alone cannot tell
how a file storage's LUN was reached or where its filesystem is mounted.
"""

import glob
import json
import os

from cinder_auxo import exception
from cinder_auxo.storage_admin import conffile

STATE_DIR = '/var/lib/cinder/auxo-storages'


def _path(state_dir, name):
    return os.path.join(state_dir, '%s.json' % name)


def load(state_dir, name):
    try:
        with open(_path(state_dir, name)) as f:
            return json.load(f)
    except FileNotFoundError:
        raise exception.StorageNotFound(name=name, where=state_dir)


def exists(state_dir, name):
    return os.path.exists(_path(state_dir, name))


def save(state_dir, record):
    os.makedirs(state_dir, mode=0o750, exist_ok=True)
    data = json.dumps(record, indent=2, sort_keys=True) + '\n'
    conffile.atomic_write(_path(state_dir, record['name']), data.encode())


def delete(state_dir, name):
    try:
        os.unlink(_path(state_dir, name))
    except FileNotFoundError:
        pass


def all_records(state_dir):
    records = []
    for path in sorted(glob.glob(os.path.join(state_dir, '*.json'))):
        with open(path) as f:
            records.append(json.load(f))
    return records
