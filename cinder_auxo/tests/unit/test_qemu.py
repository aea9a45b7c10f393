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

import json
import os
import struct
import tempfile

import ddt

from cinder_auxo.engine import qemu
from cinder_auxo import exception
from cinder_auxo.tests.unit import base


@ddt.ddt
class QemuImgTestCase(base.TestCase):

    def setUp(self):
        super(QemuImgTestCase, self).setUp()
        self.qemu = qemu.QemuImg(self.execute)
        # Each test checks the argv of the qemu-img runs it causes.
        self.execute.on(('qemu-img',))

    def test_overlay_argv_names_the_backing_format(self):
        self.qemu.create('/s/volume-x', 'qcow2', 1024, backing='/s/base',
                         backing_fmt='raw')
        self.assertEqual(
            ('qemu-img', 'create', '-f', 'qcow2', '-b', '/s/base', '-F',
             'raw', '-o', 'cluster_size=65536', '/s/volume-x', '1024'),
            self.execute.calls[0])

    @ddt.data(lambda q: q.create('/v', 'qcow2', 1, backing='/b'),
              lambda q: q.rebase('/v', 'qcow2', '/b', None, unsafe=True),
              lambda q: q.convert_top_layer('/t', 'qcow2', '/b', None, '/d'))
    def test_backing_without_format_is_refused(self, call):
        # A layer that does not record its backing format makes QEMU
        # probe it: never write one.
        e = self.assertRaises(exception.AuxoException, call, self.qemu)
        self.assertIn('no format given for backing file /b', str(e))
        self.assertEqual([], self.execute.calls)

    def test_commit_keeps_the_child(self):
        self.qemu.commit('/s/volume-x', 'qcow2')
        self.assertEqual(('qemu-img', 'commit', '-f', 'qcow2', '-d',
                          '/s/volume-x'), self.execute.calls[0])

    @ddt.unpack
    @ddt.data((False, ('qemu-img', 'rebase', '-f', 'qcow2', '-b', '/b', '-F',
                       'qcow2', '/c')),
              (True, ('qemu-img', 'rebase', '-f', 'qcow2', '-u', '-b', '/b',
                      '-F', 'qcow2', '/c')))
    def test_rebase_argv(self, unsafe, argv):
        self.qemu.rebase('/c', 'qcow2', '/b', 'qcow2', unsafe=unsafe)
        self.assertEqual(argv, self.execute.calls[0])

    def test_rebase_onto_nothing_flattens(self):
        self.qemu.rebase('/c', 'qcow2', None, None)
        self.assertEqual(('qemu-img', 'rebase', '-f', 'qcow2', '-b', '',
                          '/c'), self.execute.calls[0])

    def test_every_call_is_an_argument_list_with_explicit_format(self):
        self.execute.on(('qemu-img', 'info'),
                        (json.dumps({'virtual-size': 5}), ''))
        self.execute.on(('qemu-img', 'map'), ('[]', ''))
        self.execute.on(('qemu-img', 'measure'),
                        (json.dumps({'fully-allocated': 7}), ''))
        self.qemu.info('/p', 'qcow2')
        self.qemu.convert('/a', 'qcow2', '/b', 'raw')
        self.qemu.resize('/p', 'raw', 10)
        self.assertEqual(7, self.qemu.measure(10, 'qcow2'))
        self.assertEqual(0, self.qemu.allocated_bytes('/p', 'qcow2'))
        self.assertEqual(5, self.qemu.allocated_bytes('/p', 'raw'))
        for call in self.execute.calls:
            self.assertTrue(all(isinstance(a, str) for a in call))
            if call[1] != 'measure':
                self.assertIn('-f', call)

    def test_allocated_bytes_counts_only_this_layer(self):
        entries = [{'start': 0, 'length': 100, 'depth': 0, 'data': True},
                   {'start': 100, 'length': 50, 'depth': 1, 'data': True},
                   {'start': 150, 'length': 70, 'depth': 0, 'data': False}]
        self.execute.on(('qemu-img', 'map'), (json.dumps(entries), ''))
        self.assertEqual(100, self.qemu.allocated_bytes('/p', 'qcow2'))

    def test_no_space_becomes_storage_full(self):
        self.execute.on(('qemu-img', 'convert'), base.process_error(
            'qemu-img: error while writing: No space left on device'))
        self.assertRaises(exception.StorageFull, self.qemu.convert, '/a',
                          'qcow2', '/s/b', 'qcow2')

    def test_other_failures_keep_the_cause(self):
        self.execute.on(('qemu-img', 'commit'), base.process_error('boom'))
        err = self.assertRaises(exception.QemuImgError, self.qemu.commit,
                                '/s/x', 'qcow2')
        self.assertIn('boom', str(err))
        self.assertIsNotNone(err.__cause__)

    def test_check_accepts_leaks_only(self):
        self.qemu.check('/p', 'qcow2')
        self.assertEqual(('qemu-img', 'check', '-f', 'qcow2',
                          '--output=json', '/p'), self.execute.calls[0])
        self.execute.on(('qemu-img', 'check'),
                        base.process_error('corrupt', exit_code=2))
        self.assertRaises(exception.QemuImgError, self.qemu.check, '/p',
                          'qcow2')


class HeaderTestCase(base.TestCase):

    def _write(self, data):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        return path

    def test_reads_backing_name_and_size(self):
        name = b'/s/base-x'
        head = struct.pack('>4sIQIIQ', b'QFI\xfb', 3, 512, len(name), 16,
                           4096)
        path = self._write(head.ljust(512, b'\0') + name)
        self.assertEqual(('/s/base-x', 4096), qemu.read_header(path))

    def test_no_backing(self):
        head = struct.pack('>4sIQIIQ', b'QFI\xfb', 3, 0, 0, 16, 4096)
        self.assertIsNone(qemu.read_backing_file(self._write(head)))

    def test_not_qcow2_or_truncated(self):
        self.assertRaises(exception.MalformedLayer, qemu.read_header,
                          self._write(b'QFI'))
        self.assertRaises(exception.MalformedLayer, qemu.read_header,
                          self._write(b'\0' * 64))

    def test_absurd_backing_name_length(self):
        head = struct.pack('>4sIQIIQ', b'QFI\xfb', 3, 512, 1 << 20, 16, 1)
        self.assertRaises(exception.MalformedLayer, qemu.read_header,
                          self._write(head))
