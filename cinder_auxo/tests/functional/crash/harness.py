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

"""SIGKILL at every step of an engine operation, then check by data.

A step is one call at the store/qemu boundary: each qemu-img run, each
store allocate/rename/delete, each image download. For a scenario and each
k, a forked child builds the engine over the file store, runs the
operation and kills itself with SIGKILL when step k begins; a qemu-img
commit or convert is also run slowed down and killed half-way through its
writes. The parent then starts a LocalFileDriver on the storage
(``do_setup``, ``check_for_setup_error``), checks every layer by data
with real qemu-img, runs the operation again (cinder's retry) and checks
that the result equals an uninterrupted run.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import time
import traceback

from cinder.volume import configuration
from cinder.volume import driver as cinder_driver
from oslo_concurrency import lockutils
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_utils import units

from cinder_auxo.drivers import local
from cinder_auxo.engine import chain
from cinder_auxo.engine import image_cache
from cinder_auxo.engine import naming
from cinder_auxo.engine import qemu
from cinder_auxo.stores import files
from cinder_auxo.tests.functional import base

OK = 'ok'
DONE = 'done'
BACKEND = 'crash'


def scratch_root():
    """Where the runs go: tmpfs if there is one.

    SIGKILL leaves the page cache to the kernel, so the fsyncs of the
    engine prove nothing here; on tmpfs they cost nothing either.
    """
    shm = '/dev/shm'
    return shm if os.access(shm, os.W_OK | os.X_OK) else None


# qemu-img commands that take a rate limit (-r, bytes per second): slowed
# down, they are killed in the middle of their writes.
RATE_LIMITED = ('commit', 'convert')
_RATE = str(units.Mi)
_MIDWAY = 0.25


class Killer(object):
    """Counts steps; kills this very process when step ``at`` begins.

    With ``midway``, step ``at`` (a qemu-img run) is started slowed down
    and killed with the process after a while instead.
    """

    def __init__(self, at=None, midway=False):
        self.at = at
        self.midway = midway
        self.steps = []

    def step(self, what):
        """True if the caller must run the step through ``kill_midway``."""
        self.steps.append(what)
        if len(self.steps) == self.at:
            if self.midway:
                return True
            os.kill(os.getpid(), signal.SIGKILL)
        return False


def kill_midway(cmd, report):
    """Run ``cmd`` slowed down; kill it and this process after a while.

    ``report`` says whether the kill came in time (``midway``) or the
    command had finished (``after``).
    """
    proc = subprocess.Popen(cmd[:2] + ('-r', _RATE) + cmd[2:],
                            stdout=subprocess.DEVNULL)
    time.sleep(_MIDWAY)
    with open(report, 'w') as f:
        f.write('midway' if proc.poll() is None else 'after')
    # The host goes down with everything it runs.
    proc.kill()
    proc.wait()
    os.kill(os.getpid(), signal.SIGKILL)


def _label(name):
    if naming.next_top_of(name):
        return 'next'
    if naming.is_temp(name):
        return 'tmp'
    return naming.parse(name).kind


class Killing(object):
    """A store whose changes are steps of ``killer`` (a mixin)."""

    def __init__(self, killer, *args, **kwargs):
        super(Killing, self).__init__(*args, **kwargs)
        self.killer = killer

    def allocate(self, name, size_bytes):
        self.killer.step('allocate %s' % _label(name))
        return super(Killing, self).allocate(name, size_bytes)

    def rename(self, old, new):
        self.killer.step('rename %s>%s' % (_label(old), _label(new)))
        return super(Killing, self).rename(old, new)

    def delete(self, name):
        self.killer.step('delete %s' % _label(name))
        return super(Killing, self).delete(name)

    def add_child(self, parent, child):
        self.killer.step('index %s<%s' % (_label(parent), _label(child)))
        return super(Killing, self).add_child(parent, child)


class KillingFileStore(Killing, files.FileStore):
    """A FileStore whose changes are steps of ``killer``."""


class NoReplaceFileStore(KillingFileStore):
    """Files without atomic replace: the engine's LVM paths.

    Merge by rebase only, revert by delete then rename.
    """

    atomic_replace = False


STORES = {'files': KillingFileStore, 'files-noreplace': NoReplaceFileStore}


class Env(object):
    """Engine, image cache and a work directory over one storage path.

    Subclasses put the engine over another store (``build``) and start
    another driver (``startup``); ``save`` and ``restore`` bring the
    storage back to its state after the scenario's set-up, before each
    kill.
    """

    def __init__(self, root, killer=None, store='files'):
        self.root = root
        self.mount = os.path.join(root, 'storage')
        self.killer = killer or Killer()
        lock_path = os.path.join(root, 'locks')

        def lock(name):
            return lockutils.lock('crash-%s' % name, external=True,
                                  lock_path=lock_path)

        def execute(*cmd, **kwargs):
            if (cmd[0] == 'qemu-img' and
                    self.killer.step('qemu-img %s' % cmd[1])):
                kill_midway(cmd, os.path.join(root, 'midway'))
            return processutils.execute(*cmd, **kwargs)

        self.build(store, lock, qemu.QemuImg(execute))

    def build(self, store, lock, qemu_img):
        store_cls = STORES[store]
        volumes = store_cls(self.killer, 'crash', self.mount)
        cache = store_cls(self.killer, 'crash',
                          os.path.join(self.mount, '_base'), create=True)
        self.engine = chain.ChainEngine(volumes, cache, qemu_img, lock)
        self.cache = image_cache.ImageCache(self.engine, cache, lock)
        cache.check()   # creates the cache directory, as the driver does

    def fetcher(self, src):
        def fetch(dest):
            self.killer.step('download')
            shutil.copyfile(src, dest)
        return fetch

    def save(self):
        subprocess.run(['cp', '-a', '--sparse=always', self.mount,
                        self._template], check=True)

    def restore(self, scenario):
        shutil.rmtree(self.mount, ignore_errors=True)
        subprocess.run(['cp', '-a', '--sparse=always', self._template,
                        self.mount], check=True)

    @property
    def _template(self):
        return os.path.join(self.root, 'template')

    def startup(self):
        """Start a LocalFileDriver on the storage, as cinder-volume does.

        Its options are set with ``set_override``: callers reset them.
        """
        conf = configuration.Configuration(cinder_driver.volume_opts,
                                           config_group=BACKEND)
        drv = local.LocalFileDriver(configuration=conf)
        for key, value in (('mount_point', self.mount),
                           ('volume_backend_name', BACKEND),
                           ('image_cache_maintenance_interval', 0)):
            cfg.CONF.set_override(key, value, group=BACKEND)
        cfg.CONF.set_override('image_conversion_dir',
                              os.path.join(self.root, 'conv'))
        cfg.CONF.set_override('lock_path', os.path.join(self.root, 'locks'),
                              group='oslo_concurrency')
        drv.do_setup(None)
        drv.check_for_setup_error()


# -- state and checks ------------------------------------------------------

def _objects(env):
    """{name: Layer} of every volume, snapshot and base."""
    found = {}
    for store in env.engine.stores:
        for name in store.list():
            if naming.is_layer(name) and naming.parse(name).kind in (
                    naming.VOLUME, naming.SNAPSHOT, naming.BASE):
                found[name] = chain.Layer(store, name)
    return found


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def capture(env, refdir):
    """Raw copies of what each object reads; hashes of bases in use."""
    os.makedirs(refdir)
    refs, bases = {}, {}
    for name, layer in _objects(env).items():
        env.engine.chain(layer)
        refs[name] = os.path.join(refdir, name + '.ref')
        subprocess.run(['qemu-img', 'convert', '-f', layer.fmt, '-O', 'raw',
                        layer.path, refs[name]], check=True)
        if layer.kind == naming.BASE and env.engine.children(layer):
            bases[name] = _sha(layer.path)
    return refs, bases


def _same(layer, ref):
    return subprocess.run(['qemu-img', 'compare', '-q', '-f', layer.fmt,
                           '-F', 'raw', layer.path, ref]).returncode == 0


def check(env, before, after, final):
    """Problems found, as a list of strings (empty: all is well).

    ``final``: the retry has run, the state must be exactly ``after``.
    """
    problems = _index_gaps(env)
    (b_refs, b_bases), a_refs = before, after[0]
    objects = _objects(env)
    for store in env.engine.stores:
        for name in store.list():
            if naming.is_temp(name):
                problems.append('orphan %s' % name)
            elif naming.is_layer(name) and naming.parse(name).kind in (
                    naming.LAYER, naming.MERGE) and not env.engine.children(
                    chain.Layer(store, name)):
                problems.append('orphan %s' % name)
            elif naming.is_layer(name) and naming.parse(
                    name).kind == naming.MERGE:
                problems.append('unfinished %s' % name)
    for name, digest in b_bases.items():
        # (It may go only with its last child, as in an uninterrupted run.)
        layer = objects.get(name)
        if layer is not None and _sha(layer.path) != digest:
            problems.append('base in use %s changed' % name)
    for name in sorted(set(b_refs) | set(a_refs) | set(objects)):
        problems.extend(_check_object(env, name, objects.get(name),
                                      b_refs.get(name), a_refs.get(name),
                                      final))
    return problems


def _index_gaps(env):
    return ['child index lacks %s<%s' % (parent, ', '.join(sorted(names)))
            for parent, names in sorted(base.index_gaps(env.engine).items())]


def _check_object(env, name, layer, b_ref, a_ref, final):
    kind = naming.parse(name).kind
    if layer is None:
        if a_ref and (final or b_ref):
            return ['%s lost' % name]
        return []
    if not (b_ref or a_ref):
        return ['unexpected %s' % name]
    if final and not a_ref:
        return ['%s not deleted' % name]
    try:
        env.engine.chain(layer)
    except Exception as e:
        return ['%s chain broken: %s' % (name, e)]
    allowed = [a_ref] if final else [r for r in (b_ref, a_ref) if r]
    if kind == naming.SNAPSHOT and b_ref and not final:
        allowed = [b_ref]   # a snapshot's content never changes
    if not any(_same(layer, ref) for ref in allowed):
        return ['%s reads wrong data' % name]
    return []


# -- running ---------------------------------------------------------------

def _child(env_cls, root, store, scenario, ctx, killer):
    """Run the operation in a child that ``killer`` kills; its status."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            scenario.op(env_cls(root, killer, store), ctx)
        except BaseException:
            with open(os.path.join(root, 'child-error'), 'w') as f:
                f.write(traceback.format_exc())
            code = 3
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return 'killed'
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return DONE
    with open(os.path.join(root, 'child-error')) as f:
        return 'error: %s' % f.read().strip().splitlines()[-1]


def run(scenario, root, store='files', env_cls=Env):
    """[(k, step, outcome)] for every step of ``scenario``."""
    for sub in ('locks', 'storage'):
        os.makedirs(os.path.join(root, sub))
    env = env_cls(root, store=store)
    ctx = scenario.setup(env)
    before = capture(env, os.path.join(root, 'before'))
    env.save()
    recorder = Killer()
    scenario.op(env_cls(root, recorder, store), ctx)
    after = capture(env, os.path.join(root, 'after'))
    kills = [(k, step, Killer(k)) for k, step in
             enumerate(recorder.steps, 1)]
    kills += [(k, step, Killer(k, midway=True)) for k, step in
              enumerate(recorder.steps, 1)
              if step.split()[-1] in RATE_LIMITED]
    rows = []
    for k, step, killer in kills:
        env.restore(scenario)
        status = _child(env_cls, root, store, scenario, ctx, killer)
        if killer.midway:
            with open(os.path.join(root, 'midway')) as f:
                step += ' (%s)' % f.read()
        if status != 'killed':
            rows.append((k, step, 'not killed: %s' % status))
            continue
        rows.append((k, step, _recover(env_cls(root, store=store), scenario,
                                       ctx, before, after)))
    return rows


def _recover(env, scenario, ctx, before, after):
    # Start-up repairs the index: it must have been whole at the kill.
    problems = _index_gaps(env)
    if problems:
        return 'at the kill: ' + '; '.join(problems)
    try:
        env.startup()
    except Exception as e:
        return 'start-up failed: %s' % e
    problems = check(env, before, after, final=False)
    if problems:
        return 'after restart: ' + '; '.join(problems)
    try:
        scenario.retry(env, ctx)
    except Exception as e:
        return 'retry failed: %s' % e
    problems = check(env, before, after, final=True)
    if problems:
        return 'after retry: ' + '; '.join(problems)
    return OK
