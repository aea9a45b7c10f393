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

"""A layer: a name in a store. Cheap value object used by the engine."""

from cinder_auxo.engine import naming


class Layer(object):
    """A named layer in a store; cheap value object."""

    __slots__ = ('store', 'name')

    def __init__(self, store, name):
        self.store = store
        self.name = name

    @property
    def path(self):
        return self.store.path(self.name)

    @property
    def fmt(self):
        return naming.fmt_of(self.name)

    @property
    def kind(self):
        return naming.parse(self.name).kind

    def __eq__(self, other):
        return (isinstance(other, Layer) and self.store is other.store and
                self.name == other.name)

    def __hash__(self):
        return hash((id(self.store), self.name))

    def __repr__(self):
        return '<Layer %s>' % self.path
