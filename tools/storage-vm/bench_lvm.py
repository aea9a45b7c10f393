#!/usr/bin/env python3
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

"""Create-from-image on LVs: cached base overlay against a full copy.

Runs inside the storage VM (tools/storage-vm/run.sh, which sets the AUXO_*
variables), on the real volume group on the iSCSI LUN, through
LVMSANDriver:

* cached: ``clone_image`` once the image's base LV exists (an overlay LV);
* full copy: what cinder does with the cache off, ``create_volume`` then
  ``copy_image_to_volume`` (the whole image converted into the LV).

Prints both, with the bytes written to each new LV, in one run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from cinder import context as cinder_context  # noqa: E402
from cinder.tests.unit import fake_volume  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

from cinder_auxo.tests.functional import base  # noqa: E402
from cinder_auxo.tests.functional.lvm import base as lvm_base  # noqa: E402
from cinder_auxo.tests.functional import test_local_driver  # noqa: E402

MiB = base.MiB
GiB = base.GiB
BACKEND = lvm_base.BACKEND


def make_driver(tmp, cache):
    """A driver on the VG; each setting gets a cinder.conf section."""
    group = BACKEND if cache else BACKEND + '-nocache'
    lvm_base.backend_configuration(group)
    values = lvm_base.backend_settings(
        os.environ['AUXO_VG'], tmp, volume_backend_name=group,
        volume_clear='none', image_volume_cache_enabled=cache)
    for key, value in values.items():
        cfg.CONF.set_override(key, value, group=group)
    return lvm_base.san_driver(group, None)


def start(prefix):
    """Cinder's config, locks and coordination; the work directory.

    In the storage VM only: anywhere else the run stops, saying why.
    """
    if not lvm_base.IN_VM:
        sys.exit(lvm_base.SKIP_REASON)
    tmp = tempfile.mkdtemp(prefix=prefix)
    cfg.CONF([], project='cinder')
    lvm_base.configure_cinder(tmp)
    return tmp


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--image-mib', type=int, default=256,
                        help='data written into the 1 GiB test image')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    tmp = start('bench-lvm-')
    ctxt = cinder_context.get_admin_context()
    images = test_local_driver.FileImageService(tmp)

    # An image with incompressible-looking data: one pattern per MiB.
    image = os.path.join(tmp, 'image.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', image,
                    str(GiB)], check=True)
    cmds = []
    for i in range(args.image_mib):
        cmds += ['-c', 'write -P 0x%02x %d %d' % (i % 255 + 1, i * MiB, MiB)]
    subprocess.run(['qemu-io', '-f', 'qcow2'] + cmds + [image], check=True,
                   capture_output=True)
    meta = images.add(image)

    def volume():
        return fake_volume.fake_volume_obj(
            ctxt, id=uuidutils.generate_uuid(), size=1,
            status='available', attach_status='detached')

    cached = make_driver(tmp, True)
    t0 = time.monotonic()
    assert cached.clone_image(ctxt, volume(), None, meta, images)[1]
    first = time.monotonic() - t0

    def run_cached():
        vol = volume()
        t = time.monotonic()
        assert cached.clone_image(ctxt, vol, None, meta, images)[1]
        return time.monotonic() - t, vol, cached

    full = make_driver(tmp, False)

    def run_full():
        vol = volume()
        t = time.monotonic()
        full.create_volume(vol)
        full.copy_image_to_volume(ctxt, vol, images, meta['id'])
        return time.monotonic() - t, vol, full

    results = {'cached': [], 'full': []}
    written = {}
    for _round in range(args.rounds):
        for label, fn in (('cached', run_cached), ('full', run_full)):
            seconds, vol, drv = fn()
            results[label].append(seconds)
            written[label] = lvm_base.written_sectors(
                drv.engine.active(vol.id)[0]) * 512
            base.read_pattern(drv.engine.active(vol.id)[0], 0x01, 0, MiB)

    print('create-from-image on LVs, 1 GiB volumes, image with %d MiB of '
          'data, %d rounds' % (args.image_mib, args.rounds))
    print('  first volume (download + base LV): %8.2f s' % first)
    for label, name in (('cached', 'cached base (overlay LV)'),
                        ('full', 'full copy (no cache)')):
        print('  %-34s %8.2f s median (min %.2f, max %.2f), %d bytes '
              'written to the new LV' % (
                  name + ':', statistics.median(results[label]),
                  min(results[label]), max(results[label]), written[label]))
    print('  speed-up: %.1fx' % (statistics.median(results['full']) /
                                 statistics.median(results['cached'])))
    subprocess.run(['lvremove', '-f', '-y', os.environ['AUXO_VG']],
                   capture_output=True)


if __name__ == '__main__':
    main()
