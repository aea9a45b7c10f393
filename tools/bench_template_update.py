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

"""A template update as a delta against a full re-upload, in one run.

Two LocalFileDriver storages share an image service that stores real
bytes. Image X (``--data-mib`` of data in a 4 GiB disk) is cached on both.
A template desktop on storage A changes ``--diff-percent`` of X's data and
is uploaded twice: in delta mode and in full mode. Each new image is then
used on storage B. Printed: bytes uploaded, bytes B downloaded, wall time
of upload + first create on B, and the ratios. Not a test: figures only.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from cinder import context as cinder_context
from cinder import objects
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_utils import uuidutils

from cinder_auxo.drivers import local
from cinder_auxo.tests.functional import base

MiB = base.MiB
GiB = base.GiB


class ImageStore(object):
    """download/show/update over files, counting bytes each way."""

    temp_images = None

    def __init__(self, directory):
        self.dir = directory
        self.meta = {}
        self.bytes_in = 0
        self.bytes_out = 0

    def _path(self, image_id):
        return os.path.join(self.dir, image_id)

    def add(self, path):
        image_id = uuidutils.generate_uuid()
        shutil.copyfile(path, self._path(image_id))
        self._describe(image_id)
        return image_id

    def _describe(self, image_id):
        h = hashlib.sha512()
        with open(self._path(image_id), 'rb') as f:
            for block in iter(lambda: f.read(1 << 22), b''):
                h.update(block)
        record = self.meta.setdefault(image_id, {'id': image_id,
                                                 'properties': {}})
        record.update(disk_format='qcow2', container_format='bare',
                      size=os.path.getsize(self._path(image_id)),
                      os_hash_algo='sha512', os_hash_value=h.hexdigest())

    def show(self, context, image_id):
        return dict(self.meta[image_id])

    def download(self, context, image_id, data=None):
        with open(self._path(image_id), 'rb') as f:
            shutil.copyfileobj(f, data)
        self.bytes_out += os.path.getsize(self._path(image_id))

    def update(self, context, image_id, meta, data=None, **kwargs):
        record = self.meta.setdefault(image_id, {'id': image_id,
                                                 'properties': {}})
        record['properties'].update((meta or {}).get('properties', {}))
        if data is not None:
            with open(self._path(image_id), 'wb') as f:
                shutil.copyfileobj(data, f)
            self.bytes_in += os.path.getsize(self._path(image_id))
            self._describe(image_id)
        return record


def make_driver(name, mount):
    conf = configuration.Configuration(cinder_driver.volume_opts,
                                       config_group=name)
    drv = local.LocalFileDriver(configuration=conf)
    for key, value in {'mount_point': mount, 'volume_backend_name': name,
                       'image_volume_cache_enabled': True,
                       'image_cache_maintenance_interval': 0}.items():
        cfg.CONF.set_override(key, value, group=name)
    drv.do_setup(None)
    drv.check_for_setup_error()
    return drv


def volume(ctxt, size_gb, **metadata):
    vol = fake_volume.fake_volume_obj(ctxt, id=uuidutils.generate_uuid(),
                                      size=size_gb, status='available',
                                      attach_status='detached')
    vol.metadata = metadata
    return vol


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-mib', type=int, default=1024)
    parser.add_argument('--diff-percent', type=float, default=1.0)
    parser.add_argument('--dir', default=None)
    args = parser.parse_args()

    base.disable_privsep()
    objects.register_all()
    work = tempfile.mkdtemp(prefix='auxo-bench-tpl-', dir=args.dir)
    try:
        cfg.CONF([], project='cinder')
        lockutils.set_defaults(os.path.join(work, 'locks'))
        cfg.CONF.set_override('image_conversion_dir',
                              os.path.join(work, 'conv'))
        for d in ('images', 'a', 'b', 'locks'):
            os.mkdir(os.path.join(work, d))
        ctxt = cinder_context.get_admin_context()
        images = ImageStore(os.path.join(work, 'images'))
        a = make_driver('storage-a', os.path.join(work, 'a'))
        b = make_driver('storage-b', os.path.join(work, 'b'))

        src = os.path.join(work, 'x.qcow2')
        data = args.data_mib * MiB
        base.make_image(src, [(0x10 + i % 200, i * 64 * MiB, 64 * MiB)
                              for i in range(data // (64 * MiB))],
                        size=4 * GiB)
        x = images.show(ctxt, images.add(src))
        for drv in (a, b):   # X is cached on both storages
            drv.clone_image(ctxt, volume(ctxt, 4), None, x, images)

        template = volume(ctxt, 4)
        a.clone_image(ctxt, template, None, x, images)
        diff = int(data * args.diff_percent / 100)
        subprocess.run(['qemu-io', '-f', 'qcow2', '-c',
                        'write -P 0xee 0 %d' % diff,
                        a.engine.active(template.id)[0]], check=True,
                       capture_output=True)

        rows = []
        for mode in ('delta', 'full'):
            template.metadata = {'auxo_image_upload_mode': mode}
            target = {'id': uuidutils.generate_uuid(), 'disk_format': 'qcow2',
                      'container_format': 'bare', 'properties': {}}
            images.meta[target['id']] = dict(target)
            in0, out0 = images.bytes_in, images.bytes_out
            start = time.perf_counter()
            a.copy_volume_to_image(ctxt, template, images, target)
            uploaded = time.perf_counter() - start
            meta = images.show(ctxt, target['id'])
            start2 = time.perf_counter()
            b.clone_image(ctxt, volume(ctxt, 4), None, meta, images)
            created = time.perf_counter() - start2
            rows.append((mode, images.bytes_in - in0,
                         images.bytes_out - out0, uploaded, created))

        print('image X: %d MiB of data in a 4 GiB disk; template diff %.1f%% '
              '(%d MiB)' % (args.data_mib, args.diff_percent, diff // MiB))
        print('%-6s %14s %16s %10s %14s' % (
            'mode', 'uploaded B', 'downloaded by B', 'upload s',
            'first create s'))
        for mode, up, down, t_up, t_create in rows:
            print('%-6s %14d %16d %10.2f %14.2f' % (
                mode, up, down, t_up, t_create))
        delta, full = rows
        print('full/delta: bytes uploaded x%.1f, bytes downloaded x%.1f, '
              'time x%.1f' % (full[1] / delta[1], full[2] / max(delta[2], 1),
                              (full[3] + full[4]) / (delta[3] + delta[4])))
        print('delta bytes uploaded / image data: %.2f%%' %
              (100.0 * delta[1] / data))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
