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
"""The crash harness on the storage VM's volume group (storage VM only).

The engine is the one LVMSANDriver builds (one LVM store for volumes and
bases, downloads in a local scratch directory), its store's changes steps
of the harness's killer; the restart is LVMSANDriver's own start-up. There
is no copying a volume group aside: before each kill the group is emptied
and the scenario's set-up runs again (its ids are fixed, its data too).
"""

import os
import re
import subprocess

from cinder import context as cinder_context
from oslo_config import cfg

from cinder_auxo.engine import chain
from cinder_auxo.engine import image_cache
from cinder_auxo.stores import files
from cinder_auxo.stores import lvm as lvm_store
from cinder_auxo.tests.functional.crash import harness
from cinder_auxo.tests.functional.lvm import base as lvm_base

CONF = cfg.CONF
STORE = 'lvm'


class KillingLVMStore(harness.Killing, lvm_store.LVMStore):
    """An LVMStore whose changes are steps of ``killer``."""


def empty_group(vg):
    subprocess.run(['lvremove', '-f', '-y', vg], capture_output=True)


class LVMEnv(harness.Env):

    @property
    def vg(self):
        return os.environ['AUXO_VG']

    def build(self, store, lock, qemu_img):
        patterns = ['^%s$' % re.escape(os.environ['AUXO_LUN_LINK'])]
        volumes = KillingLVMStore(
            self.killer, harness.BACKEND, self.vg, patterns,
            harness.processutils.execute, os.path.join(self.root, 'lvm'),
            lambda: lock('vg-metadata'), volume_clear='none')
        volumes.check()
        self.engine = chain.ChainEngine(volumes, volumes, qemu_img, lock)
        # Downloads land in image_conversion_dir, made as the driver's
        # start-up makes it.
        conv = os.path.join(self.root, 'conv')
        os.makedirs(conv, exist_ok=True)
        scratch = files.FileStore(
            harness.BACKEND, os.path.join(conv, 'auxo-%s' % self.vg),
            create=True)
        scratch.check()
        self.cache = image_cache.ImageCache(self.engine, scratch, lock)

    def save(self):
        pass

    def restore(self, scenario):
        empty_group(self.vg)
        scenario.setup(LVMEnv(self.root, store=STORE))

    def startup(self):
        """Start LVMSANDriver on the group, as cinder-volume does.

        The caller has set cinder's options and started its coordinator
        (lvm/test_crash.py, tools/bench_crash.py).
        """
        lvm_base.backend_configuration(lvm_base.BACKEND)
        settings = lvm_base.backend_settings(self.vg, self.root)
        for key, value in settings.items():
            CONF.set_override(key, value, group=lvm_base.BACKEND)
        CONF.set_override('image_conversion_dir',
                          os.path.join(self.root, 'conv'))
        lvm_base.san_driver(lvm_base.BACKEND,
                            cinder_context.get_admin_context())


def run(scenario, root):
    """harness.run on the VM's volume group, emptied before and after."""
    vg = os.environ['AUXO_VG']
    empty_group(vg)
    try:
        return harness.run(scenario, root, STORE, LVMEnv)
    finally:
        empty_group(vg)
