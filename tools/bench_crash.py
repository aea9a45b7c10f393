#!/usr/bin/env python3
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

"""Print the crash matrix: store x operation x step -> outcome.

    .tox/functional/bin/python tools/bench_crash.py [scenario name ...]
    tools/storage-vm/run.sh 'python tools/bench_crash.py --lvm [name ...]'

The file store both ways (with and without atomic replace); with --lvm
(in the storage VM) the VM's volume group instead, restarted through
LVMSANDriver (cinder_auxo/tests/functional/lvm/crash.py).

Each operation is killed with SIGKILL when its k-th step (qemu-img run,
store allocate/rename/delete, download) begins, for every k; start-up
repair, data checks and cinder's retry follow (see
cinder_auxo/tests/functional/crash/harness.py). Exit status 1 if any cell
is not ``ok``.
"""

import functools
import sys
import tempfile
import time

from cinder_auxo.tests.functional import base
from cinder_auxo.tests.functional.crash import harness
from cinder_auxo.tests.functional.crash import scenarios
from oslo_log import log as logging


def main(names):
    lvm = '--lvm' in names
    names = [n for n in names if n != '--lvm']
    logging.register_options(logging.cfg.CONF)
    logging.cfg.CONF([], project='bench_crash')
    logging.set_defaults(default_log_levels=['cinder_auxo=ERROR'])
    logging.setup(logging.cfg.CONF, 'bench_crash')
    base.disable_privsep()
    failed = 0
    cells = 0
    start = time.time()
    if lvm:
        from cinder_auxo.tests.functional.lvm import base as lvm_base
        from cinder_auxo.tests.functional.lvm import crash
        work = tempfile.mkdtemp()
        lvm_base.configure_cinder(work)
        stores = {crash.STORE: crash.run}
    else:
        stores = {store: functools.partial(harness.run, store=store)
                  for store in harness.STORES}
    for store, run in stores.items():
        for cls in scenarios.ALL:
            if names and cls.name not in names:
                continue
            with tempfile.TemporaryDirectory(
                    dir=None if lvm else harness.scratch_root()) as root:
                try:
                    rows = run(cls(), root)
                except Exception as e:
                    # The scenario's own set-up or reference run: no
                    # cell of it says anything; the others still run.
                    logging.getLogger('bench_crash').exception(cls.name)
                    rows = [(0, 'set-up', 'error: %s' % e)]
            for k, step, outcome in rows:
                cells += 1
                failed += outcome != harness.OK
                print('%-16s %-22s %3d  %-26s %s' % (store, cls.name, k,
                                                     step, outcome))
            sys.stdout.flush()
    print('%d cells, %d not ok, %.1f s' % (
        cells, failed, time.time() - start))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
