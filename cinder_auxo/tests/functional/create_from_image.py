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

"""One create-from-image in its own process (for the concurrency test).

    python -m cinder_auxo.tests.functional.create_from_image \
        MOUNT LOCK_PATH IMAGE_FILE IMAGE_ID VOLUME_ID DOWNLOAD_LOG

Appends one line to DOWNLOAD_LOG for every real download it does.
"""

import json
import shutil
import sys

from cinder_auxo.tests.functional import base


def main(argv):
    mount, lock_path, image_file, image_id, volume_id, log = argv
    base.disable_privsep()
    _engine, cache = base.build_engine('storage-functional', mount,
                                       lock_path)

    def fetch(path):
        with open(log, 'a') as f:
            f.write(volume_id + '\n')
        shutil.copyfile(image_file, path)

    layer, downloaded = cache.create_volume(
        image_id, {'id': image_id, 'disk_format': 'qcow2'}, fetch,
        volume_id, base.GiB, 'qcow2')
    print(json.dumps({'path': layer.path, 'downloaded': downloaded}))


if __name__ == '__main__':
    main(sys.argv[1:])
