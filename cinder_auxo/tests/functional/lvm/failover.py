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
"""An HA pair of storage nodes on one volume group: the active one dies.

Run by tools/storage-vm/failover.sh in two storage VMs logged in to one
iSCSI LUN, with cinder's coordination on a real etcd on the host:

``active``
    makes volumes from an image, writes to them, snapshots one, records
    what each must read (``state.json``), then starts a volume from a
    second image whose download never ends: the host kills its VM while
    it holds that image's lock.
``standby``
    waits for the host's ``go``, starts LVMSANDriver on the group as
    cinder-volume does (``do_setup``, ``check_for_setup_error``: start-up
    repair), checks by data everything the dead node made, makes a
    volume from the first image, retries the interrupted create (cinder's
    retry: the same call again), then deletes a snapshot and a volume.

Each prints what it checked and measured; ``standby`` exits 1 if a check
failed. Both run in the storage VM only (init.sh's environment).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from cinder import context as cinder_context
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from oslo_config import cfg
from oslo_utils import uuidutils

from cinder_auxo.engine import naming
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.lvm import base as lvm_base
from cinder_auxo.tests.functional import test_local_driver

MiB = base.MiB
CONF = cfg.CONF
WORK = '/var/tmp/auxo/failover'

# What the active node writes: the image's data, then one MiB per volume,
# then (after the snapshot) new data in the first volume.
IMAGE_DATA = (0x7e, 0, 8 * MiB)
VOLUMES = 3
AFTER_SNAPSHOT = [(0x66, 0, MiB), (0x55, 16 * MiB, MiB)]


def hang_in_convert(qemu_img, marker, image_id):
    """The next qemu-img convert into an LV never ends.

    That is where a volume from an uncached image holds the image's lock
    with a work LV allocated: the convert into the base-to-be.
    """
    execute = qemu_img._execute

    def hanging(*cmd, **kwargs):
        if cmd[:2] == ('qemu-img', 'convert') and cmd[-1].startswith('/dev/'):
            with open(marker, 'w') as f:
                f.write(image_id)
            time.sleep(3600)
        return execute(*cmd, **kwargs)
    qemu_img._execute = hanging


def start_driver(backend_url, **service):
    """An LVMSANDriver on the VM's group, as cinder-volume starts it.

    ``service``: what cinder-volume hands a driver (``host``,
    ``cluster_name``).
    """
    lvm_base.configure_cinder(WORK, backend_url)
    lvm_base.backend_configuration(lvm_base.BACKEND)
    vg = os.environ['AUXO_VG']
    for key, value in lvm_base.backend_settings(vg, WORK).items():
        CONF.set_override(key, value, group=lvm_base.BACKEND)
    ctxt = cinder_context.get_admin_context()
    started = time.monotonic()
    drv = lvm_base.san_driver(lvm_base.BACKEND, ctxt, **service)
    return drv, ctxt, time.monotonic() - started


def volume_obj(ctxt, volume_id, size=1):
    return fake_volume.fake_volume_obj(
        ctxt, id=volume_id, size=size, status='available',
        attach_status='detached')


def snapshot_obj(ctxt, snapshot_id, vol):
    snap = fake_snapshot.fake_snapshot_obj(
        ctxt, id=snapshot_id, volume_id=vol.id, volume_size=vol.size)
    snap.volume = vol
    return snap


def lv_names(vg):
    return sorted(lvm_base.lvs(vg))


# -- the active node ------------------------------------------------------

def active(out, backend_url):
    images_dir = os.path.join(out, 'images')
    os.makedirs(images_dir)
    drv, ctxt, _ = start_driver(backend_url)
    images = test_local_driver.FileImageService(images_dir)
    first = images.add(base.make_image(os.path.join(WORK, 'first.qcow2'),
                                       [IMAGE_DATA]))
    second = images.add(base.make_image(os.path.join(WORK, 'second.qcow2'),
                                        [(0x3c, 0, 4 * MiB)]))
    state = {'images': images.meta, 'first': first['id'],
             'second': second['id'], 'volumes': {}, 'snapshots': {}}
    vols = []
    for i in range(VOLUMES):
        vol = volume_obj(ctxt, uuidutils.generate_uuid())
        drv.clone_image(ctxt, vol, None, first, images)
        pattern = (0x10 + i, 16 * MiB, MiB)
        base.write_pattern(drv.engine.active(vol.id)[0], *pattern)
        state['volumes'][vol.id] = [IMAGE_DATA, pattern]
        vols.append(vol)
    snap = snapshot_obj(ctxt, uuidutils.generate_uuid(), vols[0])
    drv.create_snapshot(snap)
    state['snapshots'][snap.id] = {'volume': vols[0].id,
                                   'patterns': state['volumes'][vols[0].id]}
    for pattern in AFTER_SNAPSHOT:
        base.write_pattern(drv.engine.active(vols[0].id)[0], *pattern)
    state['volumes'][vols[0].id] = [(0x66, 0, MiB),
                                    (0x7e, MiB, 7 * MiB),
                                    (0x55, 16 * MiB, MiB)]
    state['pending'] = uuidutils.generate_uuid()
    state['lvs_before_kill'] = lv_names(os.environ['AUXO_VG'])
    with open(os.path.join(out, 'state.json'), 'w') as f:
        json.dump(state, f, indent=1)
    print('active: %d volumes, 1 snapshot; LVs %s' % (
        VOLUMES, ' '.join(state['lvs_before_kill'])))
    sys.stdout.flush()
    # The host kills this VM while the create below holds the lock.
    hang_in_convert(drv.engine.qemu, os.path.join(out, 'holding'),
                    second['id'])
    drv.clone_image(ctxt, volume_obj(ctxt, state['pending']), None, second,
                    images)
    print('active: the hanging convert returned')
    return 1


# -- the standby node -----------------------------------------------------

class Checks(object):

    def __init__(self):
        self.failed = 0

    def __call__(self, what, ok, detail=''):
        print('%-58s %s%s' % (what, 'ok' if ok else 'FAILED',
                              ': %s' % detail if detail else ''))
        sys.stdout.flush()
        self.failed += not ok


def reads(path, patterns):
    try:
        lvm_base.read_patterns(path, [tuple(p) for p in patterns])
        return True, ''
    except (AssertionError, subprocess.CalledProcessError) as e:
        return False, str(e)[:300]


def group_consistent(vg):
    res = subprocess.run(['vgck', vg], capture_output=True, text=True)
    return res.returncode == 0, (res.stderr or res.stdout).strip()[-300:]


def standby(out, backend_url):
    vg = os.environ['AUXO_VG']
    with open(os.path.join(out, 'ready'), 'w') as f:
        f.write('waiting\n')
    go = os.path.join(out, 'go')
    while not os.path.exists(go):
        time.sleep(1)
    with open(os.path.join(out, 'state.json')) as f:
        state = json.load(f)
    check = Checks()
    print('standby: taking over; LVs %s' % ' '.join(lv_names(vg)))
    work = [n for n in lv_names(vg)
            if naming.is_temp(lvm_store.layer_name(n) or '')]
    check('the dead node left its work LV', len(work) == 1, work)
    drv, ctxt, took = start_driver(backend_url)
    print('standby: start-up (do_setup, check_for_setup_error) %.1f s'
          % took)
    engine = drv.engine
    left = [n for n in engine.volumes.list() if naming.is_temp(n) or (
        naming.is_layer(n) and naming.parse(n).kind == naming.MERGE)]
    check('no work LV of the dead node is left after start-up', not left,
          ' '.join(left))
    check('the volume group is consistent (vgck)', *group_consistent(vg))
    for vid, patterns in sorted(state['volumes'].items()):
        check('volume %s reads its data' % vid[:8],
              *reads(engine.active(vid)[0], patterns))
    for sid, snap in sorted(state['snapshots'].items()):
        check('snapshot %s reads its data' % sid[:8],
              *reads(engine.snapshot(sid).path, snap['patterns']))
    check('the child index is whole', not base.index_gaps(engine),
          base.index_gaps(engine))

    images = test_local_driver.FileImageService(os.path.join(out, 'images'))
    images.meta = state['images']
    first, second = (state['images'][state[k]] for k in ('first', 'second'))
    vol = volume_obj(ctxt, uuidutils.generate_uuid())
    started = time.monotonic()
    result = drv.clone_image(ctxt, vol, None, first, images)
    print('standby: a volume from the cached image in %.1f s'
          % (time.monotonic() - started))
    check('a volume from the first image is an overlay of its base',
          result == (None, True) and images.downloads == 0,
          '%s, %d downloads' % (result, images.downloads))
    check('it reads the image', *reads(engine.active(vol.id)[0],
                                       [IMAGE_DATA]))

    pending = volume_obj(ctxt, state['pending'])
    started = time.monotonic()
    result = drv.clone_image(ctxt, pending, None, second, images)
    print('standby: the interrupted create, retried, in %.1f s'
          % (time.monotonic() - started))
    bases = [n for n in lv_names(vg)
             if n.startswith('base-%s' % second['id'])]
    check('the retry made one base of the second image, one download',
          result == (None, True) and images.downloads == 1 and
          len(bases) == 1, '%s, %d downloads, bases %s' % (
              result, images.downloads, bases))
    check('the retried volume reads its image',
          *reads(engine.active(pending.id)[0], [(0x3c, 0, 4 * MiB)]))

    (sid, snap), = state['snapshots'].items()
    owner = volume_obj(ctxt, snap['volume'])
    drv.delete_snapshot(snapshot_obj(ctxt, sid, owner))
    gone = sorted(v for v in state['volumes'] if v != owner.id)[0]
    drv.delete_volume(volume_obj(ctxt, gone))
    for vid, patterns in sorted(state['volumes'].items()):
        if vid != gone:
            check('after the deletes, volume %s reads its data' % vid[:8],
                  *reads(engine.active(vid)[0], patterns))
    check('the volume group is still consistent', *group_consistent(vg))
    check('the child index is still whole', not base.index_gaps(engine),
          base.index_gaps(engine))
    # Nothing lost, nothing left over: the volumes and one base per image.
    kept = set(state['volumes']) - {gone} | {vol.id, pending.id}
    want = {'volume-%s' % v for v in kept}
    want |= {'base-%s-g1' % i for i in (first['id'], second['id'])}
    found = set(lv_names(vg))
    check('the group holds exactly the volumes and bases it should',
          found == want, 'missing %s, extra %s' % (
              sorted(want - found), sorted(found - want)))
    print('standby: LVs at the end %s' % ' '.join(sorted(found)))
    print('standby: %d check(s) failed' % check.failed)
    return 1 if check.failed else 0


def role_arguments(doc, roles, work, argv, *more):
    """A node's role, ``--out`` and ``--backend-url`` (and ``more``).

    ``work`` is emptied for the role.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('role', choices=roles)
    parser.add_argument('--out', default='/mnt/out')
    parser.add_argument('--backend-url', required=True)
    for flags, options in more:
        parser.add_argument(*flags, **options)
    args = parser.parse_args(argv)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return args


def main(argv=None):
    args = role_arguments(__doc__, ('active', 'standby'), WORK, argv)
    role = active if args.role == 'active' else standby
    return role(args.out, args.backend_url)


if __name__ == '__main__':
    sys.exit(main())
