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

"""LVMSANDriver as a distribution's cinder-volume runs it (storage VM).

    python -m cinder_auxo.tests.functional.lvm.unprivileged_agent \\
        CINDER_CONF BACKEND IMAGE_DIR IMAGE_FILE

Run by test_unprivileged as the user ``cinder``: root only through
cinder's ``root_helper`` (``sudo cinder-rootwrap``) and the filters, as
cinder-volume's own start-up sets it up. Makes a volume from an image,
snapshots it, clones the snapshot, extends the volume, uploads it and
deletes the snapshot; prints the ids, as JSON, for the test to check by
data.
"""

import json
import os
import shlex
import sys

from cinder import context
from cinder import coordination
from cinder import objects
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder import utils
from oslo_config import cfg
from oslo_privsep import priv_context
from oslo_utils import uuidutils

from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver


def main(argv):
    conf_file, backend, image_dir, image_file = argv
    cfg.CONF(['--config-file', conf_file], project='cinder')
    # What cinder-volume's main does before it loads a driver.
    priv_context.init(root_helper=shlex.split(utils.get_root_helper()))
    objects.register_all()
    coordination.COORDINATOR.start()
    ctxt = context.get_admin_context()
    drv = lvm_base.san_driver(backend, ctxt)

    images = test_local_driver.FileImageService(image_dir)
    meta = images.add(image_file)

    def volume(size=1):
        return fake_volume.fake_volume_obj(
            ctxt, id=uuidutils.generate_uuid(), size=size,
            status='available', attach_status='detached')

    vol = volume()
    if drv.clone_image(ctxt, vol, None, meta, images) != (None, True):
        raise SystemExit('clone_image did not clone')
    snap = fake_snapshot.fake_snapshot_obj(
        ctxt, id=uuidutils.generate_uuid(), volume_id=vol.id, volume_size=1)
    snap.volume = vol
    drv.create_snapshot(snap)
    clone = volume()
    drv.create_volume_from_snapshot(clone, snap)
    drv.extend_volume(vol, 2)
    vol.size = 2
    upload = uuidutils.generate_uuid()
    drv.copy_volume_to_image(ctxt, vol, images, {
        'id': upload, 'disk_format': 'qcow2', 'container_format': 'bare'})
    drv.delete_snapshot(snap)
    print(json.dumps({
        'uid': os.getuid(), 'euid': os.geteuid(), 'image': meta['id'],
        'volume': vol.id, 'clone': clone.id,
        'upload': os.path.join(image_dir, upload)}))
    coordination.COORDINATOR.stop()


if __name__ == '__main__':
    main(sys.argv[1:])
