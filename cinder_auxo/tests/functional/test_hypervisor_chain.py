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

"""The hypervisor's qcow2 header reader against real qemu-img output.

No nova and no libvirt: ``cinder_auxo.hypervisor.chain`` is plain Python,
so it is tested here too, on every layout qemu-img writes.
"""

import os
import subprocess

import ddt
import fixtures
from oslotest import base as oslo_base

from cinder_auxo.hypervisor import chain
from cinder_auxo.hypervisor import exception


def qemu_img(*args):
    subprocess.run(('qemu-img',) + args, check=True, capture_output=True)


@ddt.ddt
class HeaderTestCase(oslo_base.BaseTestCase):

    def setUp(self):
        super(HeaderTestCase, self).setUp()
        self.root = os.path.realpath(self.useFixture(fixtures.TempDir()).path)

    def path(self, name):
        return os.path.join(self.root, name)

    @ddt.data('0.10', '1.1')
    def test_backing_name_and_format(self, compat):
        base = self.path('base')
        qemu_img('create', '-f', 'raw', base, '1M')
        top = self.path('top')
        qemu_img('create', '-f', 'qcow2', '-o', 'compat=%s' % compat,
                 '-b', 'base', '-F', 'raw', top)
        self.assertEqual(('base', 'raw', False),
                         chain.read_qcow2_header(top))
        layers = chain.check_file_chain(top, 'qcow2', [self.root])
        # A relative backing name resolves next to its layer.
        self.assertEqual([(top, 'qcow2'), (base, 'raw')],
                         [(x.path, x.fmt) for x in layers])

    def test_no_backing(self):
        top = self.path('top')
        qemu_img('create', '-f', 'qcow2', top, '1M')
        self.assertEqual((None, None, False), chain.read_qcow2_header(top))

    def test_external_data_file_refused(self):
        top = self.path('top')
        qemu_img('create', '-f', 'qcow2', '-o',
                 'data_file=%s' % self.path('data'), top, '1M')
        self.assertTrue(chain.read_qcow2_header(top)[2])
        e = self.assertRaises(exception.UnsafeChain,
                              chain.check_file_chain, top, 'qcow2',
                              [self.root])
        self.assertIn('uses an external data file', str(e))

    def test_not_qcow2(self):
        top = self.path('top')
        qemu_img('create', '-f', 'raw', top, '1M')
        e = self.assertRaises(exception.UnsafeChain,
                              chain.check_file_chain, top, 'qcow2',
                              [self.root])
        self.assertIn('is not a qcow2 image', str(e))

    def test_loop_is_bounded(self):
        a, b = self.path('a'), self.path('b')
        qemu_img('create', '-f', 'qcow2', a, '1M')
        qemu_img('create', '-f', 'qcow2', '-b', a, '-F', 'qcow2', b)
        # a <- b, then a's header rewritten to point at b: a cycle.
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', b, '-F', 'qcow2', a)
        e = self.assertRaises(exception.UnsafeChain,
                              chain.check_file_chain, b, 'qcow2',
                              [self.root])
        self.assertIn('deeper than', str(e))

    def test_root_prefix_is_not_a_root(self):
        # /x/ssd2 is not under the root /x/ssd.
        os.makedirs(self.path('ssd'))
        os.makedirs(self.path('ssd2'))
        vol = self.path('ssd2/volume')
        qemu_img('create', '-f', 'raw', vol, '1M')
        self.assertRaises(exception.OutsideStorageRoots,
                          chain.check_file_chain, vol, 'raw',
                          [self.path('ssd')])
