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

"""Layer names: the only place that builds or parses them.

A layer is a file (or LV) in a store. Its name says what it is and its
format, so the format is never sniffed from bytes a guest could write:

==============================  =======================================
``volume-<uuid>[.raw]``         a volume's active (top) layer
``snapshot-<uuid>[.raw]``       the frozen layer of a cinder snapshot
``layer-<uuid>[.raw]``          a frozen layer no snapshot owns any more,
                                kept while other layers depend on it
``merge-<uuid>[.raw]``          a snapshot's layer being folded into its
                                only child; start-up finishes or undoes it
``base-<image uuid>-g<N>[.raw]``  generation N of an image's cached base
``.tmp-<uuid>[.<fmt>]``        work in progress; removed at start-up
``export-<uuid>.raw``           a raw copy of a volume's or snapshot's
                                content, read by cinder's own data paths
                                (backup, generic migration); removed on
                                detach and at start-up
``.tmp-<volume uuid>.next``     a volume's next top layer (qcow2) while a
                                snapshot freezes the current one or a
                                revert replaces it; published at start-up
                                if the volume has no top any more, else
                                removed
``.children/<parent>/<child>``  the child index of a file store
                                (doc/scale.md)
==============================  =======================================

No suffix means qcow2.
"""

import re

from cinder_auxo import exception

QCOW2 = 'qcow2'
RAW = 'raw'
FORMATS = (QCOW2, RAW)

VOLUME = 'volume'
SNAPSHOT = 'snapshot'
LAYER = 'layer'
MERGE = 'merge'
BASE = 'base'
TEMP = 'temp'
TEMP_PREFIX = '.tmp-'
EXPORT = 'export'
NEXT_SUFFIX = '.next'
INDEX_DIR = '.children'

_UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_LAYER_RE = re.compile(
    r'^(?P<kind>volume|snapshot|layer|merge)-(?P<id>%s)(?P<raw>\.raw)?$'
    % _UUID)
_BASE_RE = re.compile(
    r'^base-(?P<id>%s)-g(?P<gen>[1-9][0-9]{0,5})(?P<raw>\.raw)?$' % _UUID)
_EXPORT_RE = re.compile(r'^export-(?P<id>%s)\.raw$' % _UUID)
_TEMP_RE = re.compile(
    r'^\.tmp-(?P<id>%s)(\.(?P<suffix>qcow2|raw|download|next))?$' % _UUID)


def check_uuid(value, what='id'):
    value = str(value)
    if not re.fullmatch(_UUID, value):
        raise exception.InvalidName(name=value,
                                    reason='%s is not a UUID' % what)
    return value


def _suffix(fmt):
    if fmt not in FORMATS:
        raise exception.InvalidName(name=fmt, reason='unknown format')
    return '.raw' if fmt == RAW else ''


def layer(kind, ident, fmt=QCOW2):
    if kind not in (VOLUME, SNAPSHOT, LAYER, MERGE):
        raise exception.InvalidName(name=kind, reason='unknown layer kind')
    return '%s-%s%s' % (kind, check_uuid(ident), _suffix(fmt))


def base(image_id, generation, fmt=QCOW2):
    generation = int(generation)
    if generation < 1:
        raise exception.InvalidName(name=generation,
                                    reason='generations start at 1')
    return 'base-%s-g%d%s' % (check_uuid(image_id, 'image id'), generation,
                              _suffix(fmt))


def export(ident):
    return 'export-%s.raw' % check_uuid(ident)


def temp(ident, suffix=''):
    return '%s%s%s' % (TEMP_PREFIX, check_uuid(ident), suffix)


def next_top(volume_id):
    """Work name of the volume's next top layer (always qcow2)."""
    return temp(volume_id, NEXT_SUFFIX)


def next_top_of(name):
    """The volume id whose next top ``name`` is, or None."""
    m = _TEMP_RE.match(name)
    if m and m.group('suffix') == NEXT_SUFFIX[1:]:
        return m.group('id')
    return None


class Parsed(object):
    __slots__ = ('kind', 'ident', 'fmt', 'generation')

    def __init__(self, kind, ident, fmt, generation=None):
        self.kind = kind
        self.ident = ident
        self.fmt = fmt
        self.generation = generation

    def __repr__(self):
        return 'Parsed(%s, %s, %s, %s)' % (self.kind, self.ident, self.fmt,
                                           self.generation)


def parse(name):
    """Parse a layer name; raise InvalidName for anything else."""
    m = _LAYER_RE.match(name)
    if m:
        return Parsed(m.group('kind'), m.group('id'),
                      RAW if m.group('raw') else QCOW2)
    m = _BASE_RE.match(name)
    if m:
        return Parsed(BASE, m.group('id'), RAW if m.group('raw') else QCOW2,
                      int(m.group('gen')))
    m = _TEMP_RE.match(name)
    if m:
        suffix = m.group('suffix')
        if suffix == NEXT_SUFFIX[1:]:
            suffix = QCOW2
        return Parsed(TEMP, m.group('id'),
                      suffix if suffix in FORMATS else None)
    raise exception.InvalidName(name=name, reason='not a layer name')


def is_layer(name):
    return bool(_LAYER_RE.match(name) or _BASE_RE.match(name))


def is_temp(name):
    return bool(_TEMP_RE.match(name))


def is_export(name):
    return bool(_EXPORT_RE.match(name))


def fmt_of(name):
    return parse(name).fmt
