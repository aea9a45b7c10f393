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

"""Layers as LVs of one volume group on a SAN LUN (LVMSANDriver).

A layer is a thick LV named after it; qcow2 layers are written directly on
their LV, sized by the engine with ``qemu-img measure``. LVM itself reserves
LV names starting with ``snapshot``, so those carry cinder's own ``_``
prefix (``_snapshot-<uuid>``), as cinder's LVM driver does.

The volume group sits on a LUN other hosts see too. Every LVM command this
store runs reads only the devices of that LUN: an ``lvm.conf`` of our own
(``devices/global_filter`` accepting only the LUN's device links) is handed
to cinder's ``brick.local_dev.lvm.LVM`` as ``lvm_conf``, and the command
runner given to it adds the same ``LVM_SYSTEM_DIR`` to the few LVM commands
it builds without it (lvchange, lvremove). Only ``check()``'s diagnosis of a
missing volume group looks, read-only, at every device, to say where the
group is instead.

Without lvmlockd, LVM serialises metadata writes only between the commands
of one host. Every command here that writes the group's metadata (lvcreate,
lvremove, lvrename, lvextend) runs under the group's metadata lock, handed
in by the driver (cinder's coordination, so it holds across hosts when the
coordination backend does). Lock order, to stay free of deadlocks:
``image-<id>`` (image cache), then ``chain`` (engine), then the metadata
lock. The metadata lock is the innermost: held for one change (brick's
command and the reads it makes around it), with nothing else taken under
it, so it may be taken both inside the chain lock (topology changes) and
without it (work layers of a download or a copy). Reading, activating and
clearing write no metadata and take no lock.

Several writers (a cinder cluster, doc/cluster.md) each see the group
through device-mapper devices of their own, which another writer's
changes leave stale (``dm_view``). ``refresh_view`` puts this host's
devices right, and the driver runs it each time it takes a lock under
which layers change. Work layers carry
their writer's tag, so that a writer's start-up repair removes only its
own.

The child index (``Store.indexed``, doc/scale.md) lives in the VG metadata
too: one tag ``auxo.child:<child layer>`` on the parent's LV per entry.
Every host on the group reads the same index, a tag is written (under
the metadata lock, like any metadata change) before a header names that
parent, and the tags go with the LV when it is removed.
"""

import contextlib
import json
import os

from cinder.brick.local_dev import lvm as brick_lvm
from cinder import exception as cinder_exception
from cinder.volume import volume_utils
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units

from cinder_auxo.engine import naming
from cinder_auxo import exception
from cinder_auxo.hypervisor import lvm as hv_lvm
from cinder_auxo.stores import base
from cinder_auxo.stores import dm_view

LOG = logging.getLogger(__name__)

LVM_TOOLS = frozenset(['lvm', 'lvs', 'vgs', 'pvs', 'lvcreate', 'lvremove',
                       'lvrename', 'lvextend', 'lvchange', 'lvdisplay',
                       'vgchange', 'vgdisplay', 'pvdisplay'])
# The commands of this store that write VG metadata, whatever their
# arguments; lvchange does only with a tag option (is_metadata_write).
METADATA_TOOLS = frozenset(['lvcreate', 'lvremove', 'lvrename', 'lvextend'])
TAG_OPTIONS = frozenset(['--addtag', '--deltag'])
# LV tag of a child index entry; layer names only use tag characters.
CHILD_TAG = 'auxo.child:'
# LV tag of the writer that made a work layer, when several write.
WRITER_TAG = 'auxo.writer:'
# The characters LVM accepts in a tag (lvm(8), "tags").
_TAG_CHARS = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                       '0123456789_+.-/=!:&#')
_RESERVED_PREFIX = 'snapshot'
_MANGLE = '_'
lv_name = hv_lvm.lv_name


def is_metadata_write(argv):
    """True if the LVM command ``argv`` (no env prefix) writes metadata."""
    if not argv:
        return False
    return argv[0] in METADATA_TOOLS or (
        argv[0] == 'lvchange' and bool(TAG_OPTIONS.intersection(argv)))


def writer_tag(writer):
    """The LV tag naming ``writer`` (a cinder host name, ``node@backend``)."""
    return WRITER_TAG + ''.join(c if c in _TAG_CHARS else '_'
                                for c in writer)


def layer_name(lv):
    """The layer name of an LV name, or None for foreign LVs."""
    if lv.startswith(_MANGLE + _RESERVED_PREFIX):
        lv = lv[len(_MANGLE):]
    if naming.is_layer(lv) or naming.is_temp(lv):
        return lv
    return None


class LVMStore(base.Store):
    """The LVs of one volume group, seen through the LUN's devices only.

    :param pv_patterns: LVM regexes (``^...$``) of the device links the
        group's PV may appear as, from the target (``targets``); or a
        callable returning them, asked at each use (FC discovery).
    :param conf_dir: where this store's ``lvm.conf`` is written.
    :param metadata_lock: callable() -> context manager: the group's
        metadata lock, storage-wide (see the module's docstring).
    :param writer: None while this is the group's one writer (the
        default); else this writer's name, tagged on the work layers it
        makes (several writers, doc/cluster.md).
    """

    thick = True
    atomic_replace = False
    shared = True
    indexed = True
    index_on_layer = True

    def __init__(self, storage_id, vg_name, pv_patterns, execute, conf_dir,
                 metadata_lock, root_helper=None, volume_clear='zero',
                 volume_clear_size=0, volume_clear_ionice=None,
                 writer=None):
        super(LVMStore, self).__init__(storage_id)
        self.vg_name = vg_name
        self._pv_patterns = pv_patterns
        self._execute = execute
        self.conf_dir = conf_dir
        self.conf_path = os.path.join(conf_dir, 'lvm.conf')
        self.metadata_lock = metadata_lock
        self.root_helper = root_helper
        self.volume_clear = volume_clear
        self.volume_clear_size = volume_clear_size
        self.volume_clear_ionice = volume_clear_ionice
        self.writer = writer
        self._vg = None
        # The layer names while cached_names() runs, else None.
        self._names = None

    def __repr__(self):
        return 'LVMStore(%s)' % self.vg_name

    # -- LVM plumbing --------------------------------------------------

    @property
    def pv_patterns(self):
        patterns = self._pv_patterns
        try:
            patterns = list(patterns() if callable(patterns) else patterns)
        except exception.AuxoException as e:
            raise exception.StorageUnavailable(storage=self.storage_id,
                                               reason=e.msg)
        if not patterns:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='no device pattern for the SAN LUN is configured')
        return patterns

    def write_conf(self):
        hv_lvm.write_conf(self.conf_dir, self.vg_name, self.pv_patterns)

    def _env(self):
        return hv_lvm.env(self.conf_dir)

    def filtered_execute(self, *cmd, **kwargs):
        """The runner handed to brick's LVM: LVM commands see the LUN only.

        brick builds most commands with its ``LVM_CMD_PREFIX`` (which has
        our ``LVM_SYSTEM_DIR``) but not lvchange or lvremove.
        """
        if cmd and cmd[0] in LVM_TOOLS:
            cmd = tuple(self._env()) + tuple(cmd)
        return self._execute(*cmd, **kwargs)

    def _lvm_cmd(self, *args):
        return self.filtered_execute(*args, root_helper=self.root_helper,
                                     run_as_root=True)

    @property
    def vg(self):
        if self._vg is None:
            self.write_conf()
            try:
                self._vg = brick_lvm.LVM(self.vg_name, self.root_helper,
                                         executor=self.filtered_execute,
                                         lvm_conf=self.conf_path)
            except cinder_exception.VolumeGroupNotFound:
                raise exception.StorageUnavailable(
                    storage=self.storage_id, reason=self._where_is_vg())
            except processutils.ProcessExecutionError as e:
                # vgs exits 5 for a group it cannot see.
                if 'not found' in (e.stderr or ''):
                    raise exception.StorageUnavailable(
                        storage=self.storage_id, reason=self._where_is_vg())
                raise exception.StorageUnavailable(
                    storage=self.storage_id,
                    reason='LVM failed on %s: %s' % (
                        self.vg_name, (e.stderr or '').strip()))
        return self._vg

    # -- checks ----------------------------------------------------------

    def lun_devices(self):
        """Device links present now that match the LUN's patterns."""
        return hv_lvm.lun_devices(self.pv_patterns)

    def check(self):
        devices = self.lun_devices()
        if not devices:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='no block device of the SAN LUN is present (looked '
                       'for %s): is the host logged in to the target?' %
                       ', '.join(self.pv_patterns))
        self._vg = None
        return self.vg

    def _where_is_vg(self):
        """Why the filtered view has no VG: say where it is, if anywhere."""
        devices = self.lun_devices()
        lun = ', '.join(os.path.realpath(d) for d in devices) or 'none'
        try:
            out, _err = self._execute(
                'env', 'LC_ALL=C', 'pvs', '--noheadings', '--readonly',
                '--separator', '|', '-o', 'pv_name,vg_name',
                root_helper=self.root_helper, run_as_root=True)
        except processutils.ProcessExecutionError as e:
            out = ''
            LOG.warning('pvs failed while looking for %s: %s', self.vg_name,
                        e.stderr)
        elsewhere = []
        for line in (out or '').splitlines():
            fields = line.strip().split('|')
            if len(fields) == 2 and fields[1] == self.vg_name:
                elsewhere.append(fields[0])
        lun_real = set(os.path.realpath(d) for d in devices)
        elsewhere = [pv for pv in elsewhere
                     if os.path.realpath(pv) not in lun_real]
        if elsewhere:
            return ('volume group %s is on %s, not on the configured SAN '
                    'LUN (%s)' % (self.vg_name, ', '.join(elsewhere), lun))
        return ('volume group %s not found on the SAN LUN (%s)' %
                (self.vg_name, lun))

    # -- names -------------------------------------------------------------

    def path(self, name):
        if not (naming.is_layer(name) or naming.is_temp(name)):
            raise exception.InvalidName(name=name, reason='not a layer name')
        return '/dev/%s/%s' % (self.vg_name, lv_name(name))

    def owns(self, path):
        path = os.path.normpath(path)
        if os.path.dirname(path) != '/dev/%s' % self.vg_name:
            return None
        name = layer_name(os.path.basename(path))
        return name if name and naming.is_layer(name) else None

    def _lvs(self, fields):
        """Every LV of the group, foreign ones too: dicts of ``fields``."""
        try:
            out, _err = self._lvm_cmd(
                'lvs', '--noheadings', '--readonly', '--units', 'b',
                '--nosuffix', '--reportformat', 'json', '-o',
                ','.join(fields), self.vg_name)
        except processutils.ProcessExecutionError as e:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='lvs %s failed: %s' % (self.vg_name,
                                              (e.stderr or '').strip()))
        return [lv for report in json.loads(out).get('report', [])
                for lv in report.get('lv', [])]

    def _report(self, field):
        """{layer name: ``field`` of its LV}: one ``lvs`` of the group."""
        found = {}
        for lv in self._lvs(['lv_name', field]):
            name = layer_name(lv['lv_name'])
            if name:
                found[name] = lv.get(field, '')
        return found

    def _lv_bytes(self):
        """{layer name: LV size in bytes} of this store's layers."""
        return {name: int(size)
                for name, size in self._report('lv_size').items()}

    def exists(self, name):
        self.path(name)
        if self._names is not None:
            return name in self._names
        return self.vg.get_volume(lv_name(name)) is not None

    def list(self):
        if self._names is not None:
            return sorted(self._names)
        return sorted(self._lv_bytes())

    @contextlib.contextmanager
    def cached_names(self):
        # Every lvs reads the whole group's metadata: a walk over N layers
        # asking LVM about each costs O(N) commands of O(N) work each.
        # allocate, delete and rename keep the listing right; one that
        # fails drops it, and LVM is asked again.
        self._names = set(self.list())
        try:
            yield
        finally:
            self._names = None

    @contextlib.contextmanager
    def _changing(self):
        """A change of names: if it fails, nobody knows which exist."""
        try:
            yield
        except Exception:
            self._names = None
            raise

    def _listed(self, added=None, removed=None):
        if self._names is not None:
            self._names.discard(removed)
            if added is not None:
                self._names.add(added)

    def size(self, name):
        try:
            return self._lv_bytes()[name]
        except KeyError:
            raise exception.LayerNotFound(name=name, storage=self.storage_id)

    def capacity(self):
        self.vg.update_volume_group_info()
        return (int(self.vg.vg_size * units.Gi),
                int(self.vg.vg_free_space * units.Gi))

    # -- changes (storage node only) ----------------------------------------

    def _translate(self, e, name, what):
        stderr = (e.stderr or '').strip()
        if 'insufficient free space' in stderr:
            return exception.StorageFull(storage=self.storage_id,
                                         reason=stderr)
        if 'already exists' in stderr:
            return exception.AuxoException(
                reason='%s already exists' % self.path(name))
        return exception.StorageUnavailable(
            storage=self.storage_id,
            reason='%s of %s failed: %s' % (what, name, stderr or e))

    def allocate(self, name, size_bytes):
        self.path(name)
        mib = max(1, -(-int(size_bytes) // units.Mi))
        args = ['lvcreate', '-n', lv_name(name), self.vg_name,
                '-L', '%dm' % mib]
        if self.writer and naming.is_temp(name):
            # In the same metadata write: a work layer is never untagged.
            args += ['--addtag', writer_tag(self.writer)]
        try:
            with self._changing(), self.metadata_lock():
                self._lvm_cmd(*args)
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, name, 'lvcreate')
        self._listed(added=name)
        return self.path(name)

    def delete(self, name):
        """Remove the LV; its extents are cleared first (volume_clear)."""
        lv = lv_name(name)
        sizes = self._lv_bytes()
        if name not in sizes:
            return
        if self.volume_clear != 'none':
            self.activate(name)
            try:
                volume_utils.clear_volume(
                    sizes[name] // units.Mi, self.path(name),
                    volume_clear=self.volume_clear,
                    volume_clear_size=self.volume_clear_size,
                    volume_clear_ionice=self.volume_clear_ionice)
            except processutils.ProcessExecutionError as e:
                with excutils.save_and_reraise_exception():
                    LOG.error('Clearing %s failed (%s); it is kept so that '
                              'its data is not handed to another volume',
                              self.path(name), e.stderr)
        try:
            # Only the removal: clearing (minutes, maybe) writes no
            # metadata.
            with self._changing(), self.metadata_lock():
                self.vg.delete(lv)
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, name, 'lvremove')
        self._listed(removed=name)

    def rename(self, old, new):
        # brick's rename_volume goes through privsep without our device
        # filter: run lvrename here, filtered like every other command.
        self.path(new)
        try:
            with self._changing(), self.metadata_lock():
                self._lvm_cmd('lvrename', self.vg_name, lv_name(old),
                              lv_name(new))
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, new, 'lvrename')
        self._listed(added=new, removed=old)

    def grow(self, name, size_bytes):
        current = self.size(name)
        if current >= size_bytes:
            return
        mib = -(-int(size_bytes) // units.Mi)
        try:
            with self.metadata_lock():
                self.vg.extend_volume(lv_name(name), '%dm' % mib)
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, name, 'lvextend')

    def owns_work(self, name):
        if not self.writer:
            return True
        tags = self._report('lv_tags').get(name)
        if tags is None:
            return False
        writers = [t for t in tags.split(',') if t.startswith(WRITER_TAG)]
        # Untagged: made while this group had one writer.
        return not writers or writer_tag(self.writer) in writers

    # -- child index: tags on the parent's LV ------------------------------

    def _children_by_parent(self):
        """{layer name: set of child names its LV's tags record}."""
        found = {}
        for name, tags in self._report('lv_tags').items():
            found[name] = set(
                tag[len(CHILD_TAG):] for tag in tags.split(',')
                if tag.startswith(CHILD_TAG))
        return found

    def _change_tags(self, parent, option, children):
        args = ['lvchange']
        for child in sorted(children):
            self.path(child)
            args += [option, CHILD_TAG + child]
        args.append('%s/%s' % (self.vg_name, lv_name(parent)))
        try:
            with self.metadata_lock():
                self._lvm_cmd(*args)
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, parent, 'lvchange %s' % option)

    def add_child(self, parent, child):
        self._change_tags(parent, '--addtag', [child])

    def add_children(self, parent, children):
        # One metadata write for all (a storage from an older release).
        self._change_tags(parent, '--addtag', children)

    def drop_child(self, parent, child):
        # Read first: dropping an entry nobody wrote (a work layer being
        # published) must not cost a metadata write.
        if child in self._children_by_parent().get(parent, ()):
            self._change_tags(parent, '--deltag', [child])

    def child_names(self, parent):
        return sorted(self._children_by_parent().get(parent, ()))

    def drop_children(self, parent):
        """Nothing to do: the tags went with the parent's LV.

        (``check`` drops stale entries of a living LV one by one.)
        """

    def index(self):
        return {parent: children for parent, children
                in self._children_by_parent().items() if children}

    # -- activation (any host) ------------------------------------------

    def activate(self, name, read_only=False):
        """Make the LV's device node usable on this host.

        Never writes VG metadata. ``read_only`` activates a dm device that
        refuses writes (``activation/read_only_volume_list``), for backing
        layers on consumer hosts. An LV already active is refreshed, so a
        size changed by the storage node is seen.
        """
        args = hv_lvm.activate_args(self.vg_name, lv_name(name),
                                    self.is_active(name), read_only)
        try:
            self._lvm_cmd(*args)
        except processutils.ProcessExecutionError as e:
            raise self._translate(e, name, 'activation')

    def activate_all(self):
        """Activate every LV of the group; writes no metadata.

        The storage node reads every layer's header.
        """
        try:
            self._lvm_cmd('vgchange', '-a', 'y', '-K', self.vg_name)
        except processutils.ProcessExecutionError as e:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='vgchange -a y %s failed: %s' % (
                    self.vg_name, (e.stderr or '').strip()))

    def deactivate(self, name):
        try:
            self._lvm_cmd(*hv_lvm.deactivate_args(self.vg_name,
                                                  lv_name(name)))
        except processutils.ProcessExecutionError as e:
            if hv_lvm.is_gone(e.stderr or ''):
                return
            raise self._translate(e, name, 'deactivation')

    def is_active(self, name):
        return os.path.exists(self.path(name))

    def refresh_view(self):
        """Bring this host's LV devices in line with the group (dm_view).

        Another writer's rename, removal or extension leaves devices here
        stale. Writes no metadata. Returns what it did (``dm_view.refresh``).
        """
        try:
            done = dm_view.refresh(
                self._lvs(dm_view.LV_FIELDS),
                dm_view.DeviceMapper(self._execute, self.root_helper),
                layer_name, self.activate_all,
                lambda lv: self._lvm_cmd('lvchange', '--refresh',
                                         '%s/%s' % (self.vg_name, lv)))
        except processutils.ProcessExecutionError as e:
            raise exception.StorageUnavailable(
                storage=self.storage_id,
                reason='this host\'s view of %s cannot be refreshed: %s' % (
                    self.vg_name, (e.stderr or '').strip() or e))
        if any(done.values()):
            LOG.info('View of %(vg)s brought up to date: %(removed)d stale '
                     'devices removed, new LVs activated: %(activated)s, '
                     '%(reloaded)d resized LVs reloaded',
                     dict(done, vg=self.vg_name,
                          activated=bool(done['activated'])))
        return done
