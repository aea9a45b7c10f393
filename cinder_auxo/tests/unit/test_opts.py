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

"""Every option is documented: the configuration reference and the sample
config are generated from ``list_opts()``, so an option without help text
would be published without a word about it."""

from unittest import mock

from oslo_config import cfg

from cinder_auxo import opts
from cinder_auxo.tests.unit import base


def undocumented():
    """``group.name`` of every option whose help is empty or blank."""
    return ['%s.%s' % (group, opt.name)
            for group, group_opts in opts.list_opts()
            for opt in group_opts
            if not (opt.help or '').strip()]


class OptionHelpTestCase(base.TestCase):

    def test_every_option_has_help_text(self):
        self.assertEqual([], undocumented())

    def test_an_option_without_help_is_found(self):
        listed = [('backend_defaults', [cfg.StrOpt('documented', help='x'),
                                        cfg.StrOpt('bare'),
                                        cfg.IntOpt('blank', help='  ')])]
        with mock.patch.object(opts, 'list_opts', return_value=listed,
                               autospec=True):
            self.assertEqual(['backend_defaults.bare',
                              'backend_defaults.blank'], undocumented())

    def test_option_names_are_unique(self):
        names = [opt.name for _group, group_opts in opts.list_opts()
                 for opt in group_opts]
        self.assertEqual(sorted(set(names)), sorted(names))
