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

"""Random chain operations in their own process (for the index test).

    python -m cinder_auxo.tests.functional.churn \
        MOUNT LOCK_PATH IMAGE_FILE IMAGE_ID SEED ROUNDS

Creates volumes from the image, snapshots, clones (overlays on snapshots
and on volumes), deletes snapshots and volumes in a seeded random order,
and tries to evict the image's base now and then (which must refuse while
anything stands on it). Prints the ids of the volumes it leaves, as JSON.
"""

import json
import random
import shutil
import sys

from oslo_utils import uuidutils

from cinder_auxo.engine import chain
from cinder_auxo.tests.functional import base


def main(argv):
    mount, lock_path, image_file, image_id, seed, rounds = argv
    base.disable_privsep()
    engine, cache = base.build_engine('storage-functional', mount,
                                      lock_path)
    rng = random.Random(int(seed))
    volumes, snapshots = [], []

    def create():
        vid = uuidutils.generate_uuid()
        cache.create_volume(image_id, {'id': image_id, 'disk_format': 'qcow2'},
                            lambda dest: shutil.copyfile(image_file, dest),
                            vid, base.GiB, 'qcow2')
        volumes.append(vid)

    def snapshot():
        sid = uuidutils.generate_uuid()
        engine.create_snapshot(rng.choice(volumes), sid)
        snapshots.append(sid)

    def clone_snapshot():
        vid = uuidutils.generate_uuid()
        engine.clone_snapshot(rng.choice(snapshots), vid, base.GiB, 'qcow2',
                              chain.OVERLAY)
        volumes.append(vid)

    def clone_volume():
        vid = uuidutils.generate_uuid()
        engine.clone_volume(rng.choice(volumes), vid, base.GiB, 'qcow2',
                            chain.OVERLAY)
        volumes.append(vid)

    def delete_snapshot():
        sid = snapshots.pop(rng.randrange(len(snapshots)))
        engine.delete_snapshot(sid)

    def delete_volume():
        vid = volumes.pop(rng.randrange(len(volumes)))
        # A volume with snapshots keeps them until they are deleted (as
        # cinder requires), so only volumes without any go.
        cache.delete_volume(vid)

    for _i in range(int(rounds)):
        ops = [create, lambda: cache.evict(image_id)]
        if volumes:
            ops += [snapshot, clone_volume, delete_volume]
        if snapshots:
            ops += [clone_snapshot, delete_snapshot, delete_snapshot]
        op = rng.choice(ops)
        try:
            op()
        except Exception as e:
            if op is not delete_volume or 'LayerBusy' not in type(e).__name__:
                raise
    print(json.dumps(volumes))


if __name__ == '__main__':
    main(sys.argv[1:])
