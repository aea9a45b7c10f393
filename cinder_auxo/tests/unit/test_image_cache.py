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

import importlib.metadata
from unittest import mock

from cinder import exception as cinder_exception
import ddt
from oslo_utils import imageutils

from cinder_auxo.engine import image_cache
from cinder_auxo import opts
from cinder_auxo.tests.unit import base

IMAGE = '66666666-6666-4666-8666-666666666666'


def qemu_info(fmt='qcow2', backing=None, virtual=1 << 20, data_file=None):
    info = imageutils.QemuImgInfo()
    info.file_format = fmt
    info.backing_file = backing
    info.virtual_size = virtual
    info.format_specific = {'data': {'data-file': data_file}}
    return info


@ddt.ddt
class VerifyTestCase(base.TestCase):
    """ImageCache._verify: every refusal names its reason."""

    def setUp(self):
        super(VerifyTestCase, self).setUp()
        engine = mock.Mock()
        self.cache = image_cache.ImageCache(engine, mock.Mock(), mock.Mock())
        self.info = mock.patch(
            'cinder.image.image_utils.qemu_img_info', autospec=True).start()
        self.digest = mock.patch.object(image_cache, '_file_digest',
                                        return_value='abc',
                                        autospec=True).start()

    @ddt.unpack
    @ddt.data(({'backing': '/etc/hostname'}, 'backing file'),
              ({'data_file': '/dev/sda'}, 'data file'),
              ({'virtual': 5 << 30}, "doesn't fit"))
    def test_refusals(self, info, reason):
        self.info.return_value = qemu_info(**info)
        err = self.assertRaises(
            cinder_exception.ImageUnacceptable, self.cache._verify, IMAGE,
            {'disk_format': 'qcow2'}, '/x', 1 << 30)
        self.assertIn(reason, str(err))

    def test_inspector_refusal_is_an_image_error(self):
        self.info.side_effect = cinder_exception.Invalid(reason='unsafe')
        self.assertRaises(cinder_exception.ImageUnacceptable,
                          self.cache._verify, IMAGE, {}, '/x', 1 << 30)

    def test_multihash_preferred_over_md5(self):
        self.info.return_value = qemu_info()
        meta = {'os_hash_algo': 'sha512', 'os_hash_value': 'abc',
                'checksum': 'wrong', 'disk_format': 'qcow2'}
        self.cache._verify(IMAGE, meta, '/x', 1 << 30)
        self.digest.assert_called_once_with('/x', 'sha512')

    def test_md5_checksum_when_no_multihash(self):
        self.info.return_value = qemu_info()
        self.assertRaises(cinder_exception.ImageUnacceptable,
                          self.cache._verify, IMAGE,
                          {'checksum': 'other', 'disk_format': 'qcow2'},
                          '/x', 1 << 30)
        self.digest.assert_called_once_with('/x', 'md5')


class OptsTestCase(base.TestCase):

    def test_entry_point_lists_every_option(self):
        eps = importlib.metadata.entry_points(group='oslo.config.opts')
        ep = [e for e in eps if e.name == 'cinder_auxo']
        self.assertEqual(1, len(ep))
        listed = {o.name for _group, group_opts in ep[0].load()()
                  for o in group_opts}
        for name in ('mount_point', 'image_base_path', 'volume_type',
                     'image_format', 'volume_clone_mode',
                     'image_cache_max_chain_depth'):
            self.assertIn(name, listed)

    def test_every_option_has_help(self):
        for _group, group_opts in opts.list_opts():
            for opt in group_opts:
                self.assertTrue(opt.help, opt.name)
