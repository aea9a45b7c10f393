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

"""Sphinx configuration of the cinder_auxo release notes (reno)."""

extensions = [
    'reno.sphinxext',
]

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'cinder_auxo Release Notes'
copyright = 'cinder_auxo developers'

# Release notes are not versioned like the package.
version = ''
release = ''

exclude_patterns = []
pygments_style = 'sphinx'

# alabaster ships with sphinx: the build needs no network.
html_theme = 'alabaster'
html_static_path = ['_static']
