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

"""cinder.conf edits keep every other byte, and writes are atomic."""

import os
from unittest import mock

import fixtures

from cinder_auxo import exception
from cinder_auxo.storage_admin import conffile
from cinder_auxo.tests.unit import base

ORIGINAL = (
    '# cinder.conf of a storage node\n'
    '[DEFAULT]\n'
    '# keep me\n'
    'my_ip = 10.0.20.5\n'
    'enabled_backends = lvm-1, storage-a\n'
    '; an old style comment\n'
    'debug=True\n'
    '\n'
    '[storage-a]\n'
    'volume_driver = cinder_auxo.drivers.local.LocalFileDriver\n'
    'mount_point = /opt/sata\n'
    '\n'
    '[database]\n'
    'connection = sqlite:////var/lib/cinder/cinder.sqlite\n'
)


class ConfFileTestCase(base.TestCase):

    def setUp(self):
        super(ConfFileTestCase, self).setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.dir, 'cinder.conf')
        self.write(ORIGINAL)

    def write(self, text):
        with open(self.path, 'w') as f:
            f.write(text)

    def read(self):
        with open(self.path) as f:
            return f.read()

    def add(self, name='storage-b', items=(('volume_group', 'vg-b'),)):
        conf = conffile.ConfFile(self.path)
        conf.add_section(name, items)
        conf.add_backend(name)
        conf.save()

    def remove(self, name='storage-b'):
        conf = conffile.ConfFile(self.path)
        self.assertTrue(conf.remove_section(name))
        self.assertTrue(conf.remove_backend(name))
        conf.save()

    def test_add_appends_and_touches_only_enabled_backends(self):
        self.add(items=[('volume_group', 'vg-b'), ('chap_username', '')])
        expected = ORIGINAL.replace('lvm-1, storage-a',
                                    'lvm-1, storage-a,storage-b')
        expected += '\n[storage-b]\nvolume_group = vg-b\nchap_username =\n'
        self.assertEqual(expected, self.read())

    def test_add_then_remove_is_byte_identical(self):
        self.add()
        self.remove()
        self.assertEqual(ORIGINAL, self.read())

    def test_remove_a_middle_section_keeps_its_neighbours(self):
        conf = conffile.ConfFile(self.path)
        conf.remove_section('storage-a')
        conf.remove_backend('storage-a')
        conf.save()
        self.assertEqual(
            ORIGINAL.replace('lvm-1, storage-a', 'lvm-1').replace(
                '[storage-a]\nvolume_driver = cinder_auxo.drivers.local.'
                'LocalFileDriver\nmount_point = /opt/sata\n\n', ''),
            self.read())

    def test_first_backend_removed_keeps_the_others_spelling(self):
        conf = conffile.ConfFile(self.path)
        conf.remove_backend('lvm-1')
        self.assertEqual(['storage-a'], conf.enabled_backends())
        self.assertIn('enabled_backends = storage-a\n', conf.data.decode())

    def test_without_enabled_backends_the_line_is_added_to_default(self):
        self.write('[DEFAULT]\n# c\ndebug = True\n')
        self.add()
        self.assertEqual('[DEFAULT]\nenabled_backends = storage-b\n# c\n'
                         'debug = True\n\n[storage-b]\nvolume_group = vg-b\n',
                         self.read())

    def test_without_default_section_one_is_made(self):
        self.write('[database]\nconnection = x')
        self.add()
        self.assertEqual('[DEFAULT]\nenabled_backends = storage-b\n\n'
                         '[database]\nconnection = x\n\n[storage-b]\n'
                         'volume_group = vg-b\n', self.read())

    def test_sections_keep_their_order(self):
        self.add('storage-b')
        self.add('storage-c')
        conf = conffile.ConfFile(self.path)
        self.assertEqual(['DEFAULT', 'storage-a', 'database', 'storage-b',
                          'storage-c'], conf.sections())
        self.assertEqual(['lvm-1', 'storage-a', 'storage-b', 'storage-c'],
                         conf.enabled_backends())
        self.remove('storage-b')
        self.remove('storage-c')
        self.assertEqual(ORIGINAL, self.read())

    def test_existing_section_name_is_refused(self):
        conf = conffile.ConfFile(self.path)
        self.assertRaises(exception.StorageNameInUse, conf.add_section,
                          'storage-a', [])

    def test_a_key_goes_after_the_section_last_line_and_comes_back_out(self):
        conf = conffile.ConfFile(self.path)
        conf.add_key('storage-a', 'volume_group', 'vg-a')
        conf.add_key('storage-a', 'chap_username', '')
        conf.save()
        self.assertEqual(ORIGINAL.replace(
            'mount_point = /opt/sata\n',
            'mount_point = /opt/sata\nvolume_group = vg-a\n'
            'chap_username =\n'), self.read())
        conf = conffile.ConfFile(self.path)
        self.assertTrue(conf.remove_key('storage-a', 'volume_group'))
        self.assertTrue(conf.remove_key('storage-a', 'chap_username'))
        self.assertFalse(conf.remove_key('storage-a', 'chap_username'))
        conf.save()
        self.assertEqual(ORIGINAL, self.read())

    def test_a_key_in_the_last_section_without_a_final_newline(self):
        self.write(ORIGINAL.rstrip('\n'))
        conf = conffile.ConfFile(self.path)
        conf.add_key('database', 'max_retries', '3')
        self.assertEqual(ORIGINAL + 'max_retries = 3\n',
                         conf.data.decode())

    def test_a_key_already_there_or_a_missing_section_is_refused(self):
        conf = conffile.ConfFile(self.path)
        self.assertRaises(exception.StorageNameInUse, conf.add_key,
                          'storage-a', 'mount_point', '/x')
        self.assertRaises(exception.StorageAdminError, conf.add_key,
                          'storage-z', 'mount_point', '/x')

    def test_crlf_and_non_utf8_bytes_survive(self):
        raw = b'[DEFAULT]\r\n# caf\xe9\r\nenabled_backends = a\r\n'
        with open(self.path, 'wb') as f:
            f.write(raw)
        self.add('b')
        self.remove('b')
        with open(self.path, 'rb') as f:
            self.assertEqual(raw, f.read())

    def test_save_keeps_a_backup_and_the_mode(self):
        os.chmod(self.path, 0o640)
        self.add()
        self.assertEqual(0o640, os.stat(self.path).st_mode & 0o777)
        with open(self.path + conffile.BACKUP_SUFFIX) as f:
            self.assertEqual(ORIGINAL, f.read())

    def test_failed_write_leaves_the_file_and_no_temporary(self):
        conf = conffile.ConfFile(self.path)
        conf.add_section('storage-b', [('volume_group', 'vg')])
        with mock.patch.object(os, 'fsync', autospec=True,
                               side_effect=OSError(28, 'No space left')):
            self.assertRaises(OSError, conf.save)
        self.assertEqual(ORIGINAL, self.read())
        self.assertEqual(sorted(['cinder.conf',
                                 'cinder.conf' + conffile.BACKUP_SUFFIX]),
                         sorted(os.listdir(self.dir)))

    def test_write_is_a_rename_over_the_old_file(self):
        # A reader holding the old file still reads it whole.
        with open(self.path) as reader:
            self.add()
            self.assertEqual(ORIGINAL, reader.read())
        self.assertIn('[storage-b]', self.read())

    def test_restore_rolls_back_a_saved_edit(self):
        conf = conffile.ConfFile(self.path)
        conf.add_section('storage-b', [('volume_group', 'vg')])
        conf.add_backend('storage-b')
        conf.save()
        conf.restore()
        self.assertEqual(ORIGINAL, self.read())
        self.assertEqual(['DEFAULT', 'storage-a', 'database'],
                         conf.sections())
