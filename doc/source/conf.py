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

"""Sphinx configuration of the cinder_auxo documentation.

The operator guide and the design notes are the markdown files at the top
of the repository (README.md, doc/*.md), included as they are through
myst-parser: there is one copy of each. The configuration reference and
the sample are generated from ``cinder_auxo.opts``.
"""

extensions = [
    'myst_parser',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
]

# oslo_config.sphinxconfiggen: _static/cinder_auxo.conf.sample, from the
# same generator configuration as tox -e genconfig.
config_generator_config_file = (
    '../../etc/oslo-config-generator/cinder_auxo.conf')
sample_config_basename = '_static/cinder_auxo'

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'cinder_auxo'
copyright = 'cinder_auxo developers'

exclude_patterns = ['_build']
pygments_style = 'sphinx'

# alabaster ships with sphinx: the build needs no network.
html_theme = 'alabaster'
html_static_path = ['_static']
