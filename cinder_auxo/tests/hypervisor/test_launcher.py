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

"""The nova-compute launcher against the installed nova."""

import os
import subprocess
import sys

from nova.virt.libvirt import driver as libvirt_driver
from oslo_utils import importutils

from cinder_auxo.hypervisor import launcher
from cinder_auxo.hypervisor import local
from cinder_auxo.hypervisor import lvmsan
from cinder_auxo.tests.hypervisor import base


class LauncherTestCase(base.HypervisorTestCase):

    def setUp(self):
        super(LauncherTestCase, self).setUp()
        saved = dict(libvirt_driver.VOLUME_DRIVERS)

        def restore():
            libvirt_driver.VOLUME_DRIVERS.clear()
            libvirt_driver.VOLUME_DRIVERS.update(saved)
        self.addCleanup(restore)

    def test_registers_in_novas_map(self):
        launcher.register()
        # What LibvirtDriver._get_volume_driver does with the map.
        self.assertIs(local.LibvirtAuxoLocalVolumeDriver,
                      importutils.import_class(
                          libvirt_driver.VOLUME_DRIVERS['local']))
        self.assertIs(lvmsan.LibvirtAuxoSanVolumeDriver,
                      importutils.import_class(
                          libvirt_driver.VOLUME_DRIVERS['lvmsan']))
        # Twice is harmless (a restarted service in one process).
        launcher.register()

    def test_refuses_a_map_someone_else_changed(self):
        libvirt_driver.VOLUME_DRIVERS['local'] = 'vendor.Driver'
        e = self.assertRaises(RuntimeError, launcher.register)
        self.assertIn("maps 'local' volumes to vendor.Driver", str(e))

    def test_refuses_a_nova_without_the_map(self):
        self.assertRaises(RuntimeError, launcher.register, volume_drivers=[])

    def test_console_script_runs_novas_own_main(self):
        # The entry point setup.cfg installs next to nova's scripts.
        script = os.path.join(os.path.dirname(sys.executable),
                              'cinder-auxo-nova-compute')
        out = subprocess.run([script, '--version'], capture_output=True,
                             text=True, check=True)
        self.assertTrue((out.stdout + out.stderr).strip().startswith('34.'),
                        out)

    def test_hypervisor_side_needs_no_cinder(self):
        # This venv has nova and os-brick, not cinder, like a compute node.
        self.assertRaises(ImportError, importutils.import_module, 'cinder')
        importutils.import_module('cinder_auxo.hypervisor.lvm')
