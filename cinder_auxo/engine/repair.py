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

"""Start-up repair: finish or undo what a crash interrupted, and bring
layers written by older releases up to date.

Every multi-step chain operation leaves names from which its state can be
read (doc/design.md, "Crash safety"). Run with the chain lock held, before
the driver takes requests, in this order:

0. the child index is checked against every header and made right
   (``index.ChildIndex.check``): the steps below look children up;
1. a volume's next top (``.tmp-<volume>.next``) is published if the volume
   has no top any more (a snapshot froze it), else removed; other work
   files (``.tmp-*``: those this writer made, when several share the
   store) and raw exports (``export-*``) are removed;
2. a raw layer published beside a volume's qcow2 top by an interrupted
   ``replace_volume`` is removed (nothing was written into it yet);
3. a layer whose backing snapshot is gone is re-pointed: at ``merge-<id>``
   by renaming that back to the snapshot (a commit-merge that had not
   started writing), or at ``layer-<id>`` (an interrupted retire);
4. a ``merge-<id>`` with its one child is committed into it again and
   renamed over the child;
5. anonymous layers nothing depends on any more are removed;
6. a layer below a top gets the mode of its kind
   (``FileStore.apply_mode``: bases read-only, frozen layers readable by
   every QEMU), for layers written before modes were set;
7. a qcow2 layer that does not record its backing file's format (written
   by ``qemu-img create -b`` without ``-F``, as older releases did) gets
   it, once that format is proven (``record_backing_format``).
"""

import contextlib

from cinder.image import format_inspector
from oslo_log import log as logging

from cinder_auxo.engine import layer as layer_mod
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo import exception

LOG = logging.getLogger(__name__)
Layer = layer_mod.Layer


def repair(engine):
    """Returns the names of the work files removed."""
    with contextlib.ExitStack() as held:
        # Each step walks every layer: a store whose listing costs a
        # command answers from one (the caller holds the chain lock).
        for store in engine.stores:
            held.enter_context(store.cached_names())
        return _repair(engine)


def _repair(engine):
    missing, stale = engine.index.check()
    if missing or stale:
        LOG.warning('Child index of %(storage)s: %(missing)d entries added, '
                    '%(stale)d stale ones removed',
                    {'storage': engine.volumes.storage_id,
                     'missing': missing, 'stale': stale})
    removed = []
    for store in engine.stores:
        for name in store.list():
            if naming.is_export(name):
                LOG.warning('Removing %s, a raw export whose consumer is '
                            'gone', store.path(name))
                store.delete(name)
                removed.append(name)
                continue
            if not naming.is_temp(name):
                continue
            try:
                _work_file(engine, store, name, removed)
            except exception.AuxoException as e:
                LOG.warning('Leaving %(path)s for an operator: it should '
                            'become a volume\'s top, but %(err)s',
                            {'path': store.path(name), 'err': e.msg})
    for step in (_drop_unwritten_raw, _repair_link, _finish_merge,
                 _collect_orphan, _apply_mode, record_backing_format):
        for store in engine.stores:
            for name in store.list():
                if not naming.is_layer(name) or not store.exists(name):
                    continue
                layer = Layer(store, name)
                try:
                    step(engine, layer)
                except exception.AuxoException as e:
                    # That volume stays unusable; the others start.
                    LOG.warning('Cannot check %(path)s at start-up: '
                                '%(err)s', {'path': layer.path,
                                            'err': e.msg})
    return removed


def _work_file(engine, store, name, removed):
    volume_id = naming.next_top_of(name)
    if volume_id is not None and engine.find(naming.VOLUME, volume_id,
                                             store) is None:
        # The volume's old top is gone only once this one was whole.
        below = engine._backing(Layer(store, name))
        if below is None or not below.store.exists(below.name):
            raise exception.LayerNotFound(name=below and below.name,
                                          storage=store.storage_id)
        LOG.warning('Publishing %s as the top of volume %s (interrupted '
                    'snapshot or revert)', store.path(name), volume_id)
        engine.rename_layer(Layer(store, name),
                            naming.layer(naming.VOLUME, volume_id))
        return
    if volume_id is None and not store.owns_work(name):
        # Another writer's (several share the store): maybe being filled.
        # A next top is made under the chain lock held here: never live.
        LOG.info('Leaving %s to the writer that made it', store.path(name))
        return
    LOG.warning('Removing %s left by an interrupted operation',
                store.path(name))
    store.deactivate(name)
    store.delete(name)
    removed.append(name)


def _drop_unwritten_raw(engine, layer):
    """Both ``volume-<id>`` and ``volume-<id>.raw``: finish nothing.

    Only a crash inside ``replace_volume``, after the raw target was
    published and before the qcow2 top was deleted, leaves both; nothing
    was written into the raw one yet, so the qcow2 chain holds the
    volume's content and the raw layer goes.
    """
    parsed = naming.parse(layer.name)
    if parsed.kind != naming.VOLUME or parsed.fmt != naming.RAW:
        return
    if not layer.store.exists(naming.layer(naming.VOLUME, parsed.ident)):
        return
    LOG.warning('Removing %s: an interrupted conversion to a raw layer left '
                'it beside the volume\'s qcow2 chain', layer.path)
    engine.remove_layer(layer, None)


def _repair_link(engine, layer):
    below = engine._backing(layer)
    if below is None or below.store.exists(below.name):
        return
    parsed = naming.parse(below.name)
    if parsed.kind != naming.SNAPSHOT:
        return
    merge = Layer(below.store, naming.layer(naming.MERGE, parsed.ident,
                                            parsed.fmt))
    anon = Layer(below.store, naming.layer(naming.LAYER, parsed.ident,
                                           parsed.fmt))
    if merge.store.exists(merge.name):
        LOG.warning('Renaming %s back to %s (snapshot delete interrupted '
                    'before its merge began)', merge.path, below.path)
        engine.rename_layer(merge, below.name)
    elif anon.store.exists(anon.name):
        LOG.warning('Re-pointing %s at %s (interrupted snapshot '
                    'delete)', layer.path, anon.path)
        engine.repoint(layer, anon, unsafe=True)


def _finish_merge(engine, layer):
    if layer.kind != naming.MERGE:
        return
    kids = engine.children(layer)
    if len(kids) != 1:
        LOG.warning('%s is an interrupted merge with %d children; leaving '
                    'it for an operator', layer.path, len(kids))
        return
    LOG.warning('Finishing the merge of %s into %s (interrupted snapshot '
                'delete)', kids[0].path, layer.path)
    engine.finish_merge(layer, kids[0])


def _collect_orphan(engine, layer):
    if layer.kind == naming.LAYER and not engine.children(layer):
        engine._collect(layer)


def _apply_mode(engine, layer):
    if layer.kind == naming.VOLUME:
        # A top may belong to the QEMU using it now (libvirt relabels it).
        return
    if layer.store.apply_mode(layer.name):
        LOG.info('Set the mode of %s for its kind (%s)', layer.path,
                 layer.kind)


def record_backing_format(engine, layer):
    """Write the backing format into a layer that lacks it.

    A header-only rebase onto the same backing name, with ``-F`` taken
    from that layer's name (the engine wrote it in that format). Before
    that, the backing file's bytes must not look like anything else:
    without ``-F`` QEMU probed its format, so a raw base that looks like
    a qcow2 image (say) was read as one, and recording ``raw`` would
    change what the volume reads. Such a chain is refused and left as it
    is, for an operator. The check is cinder's format inspector (Python,
    opens nothing else); the backing is one of this storage's layers
    (``_backing`` refuses anything else).
    """
    if layer.fmt != naming.QCOW2 or qemu.read_backing_format(layer.path):
        return
    below = engine._backing(layer)
    if below is None:
        return
    if not below.store.exists(below.name):
        raise exception.LayerNotFound(name=below.name,
                                      storage=below.store.storage_id)
    seen = str(format_inspector.detect_file_format(below.path))
    if seen != below.fmt:
        raise exception.BackingFormatUnknown(path=layer.path,
                                             backing=below.path,
                                             fmt=below.fmt, seen=seen)
    LOG.warning('Recording the format (%(fmt)s) of backing file %(below)s '
                'in %(path)s (written without it by an older release)',
                {'fmt': below.fmt, 'below': below.path, 'path': layer.path})
    with layer.store.writable(layer.name):
        # The same name as before, as written: only -F is added.
        engine.qemu.rebase(layer.path, layer.fmt,
                           qemu.read_backing_file(layer.path), below.fmt,
                           unsafe=True)
