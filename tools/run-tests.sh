#!/bin/bash
# Every test of cinder_auxo, on a fresh Debian 12 machine, as root:
#
#   tools/run-tests.sh            every stage but failover and two-writers
#   tools/run-tests.sh tox        style, config sample, docs, release notes,
#                                 unit, functional only
#   tools/run-tests.sh e2e vm     only the named stages
#   tools/run-tests.sh failover   the HA pair's failover only
#   tools/run-tests.sh two-writers  two clustered services on one group
#
# Stages: tox (pep8, genconfig, bashate, docs, releasenotes, py3,
# functional), e2e (an all-in-one
# cinder + Glance stack with this driver, the end-to-end suite, teardown),
# hv (the nova libvirt volume drivers on real libvirt + QEMU, nova 34 in a
# venv of its own), vm (the storage-node VM: LVM and iSCSI tests of the SAN
# driver),
# failover (on request: two storage VMs on one LUN and etcd, the active
# node killed, the standby takes over; doc/cluster.md), two-writers (on
# request: two services of one cinder cluster on one LUN and etcd, 100
# operations split between them, one killed and restarted).
# It installs what it needs: qemu-utils from apt, tox in a venv of its own
# (.tox-bootstrap/), pinned Python dependencies from constraints.txt.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
STAGES=("$@")
# failover and two-writers (two more TCG VMs, 10 to 40 minutes each)
# would take the whole run past its hour: they run when named.
[ ${#STAGES[@]} -eq 0 ] && STAGES=(tox e2e hv vm)
LOGDIR=$REPO/.test-logs
mkdir -p "$LOGDIR"
declare -A RESULT

want() {
    local s
    for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing ${missing[*]}"
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_tox() {
    if [ ! -x .tox-bootstrap/bin/tox ]; then
        python3 -m venv .tox-bootstrap &&
            .tox-bootstrap/bin/pip install -q -c constraints.txt tox
    fi
}

stage() {
    # stage NAME COMMAND...: run, log, remember the status.
    local name=$1
    shift
    local start=$SECONDS
    echo "== stage $name: $*"
    "$@" 2>&1 | tee "$LOGDIR/$name.log"
    local rc=${PIPESTATUS[0]}
    RESULT[$name]=$rc
    echo "== stage $name: exit $rc in $((SECONDS - start)) s"
}

ensure_apt qemu-utils python3-venv git

# The storage VM's image builds beside the tox stage (each keeps about
# one core busy), and is waited for before the stack's stage: both
# install Debian packages.
build_pid=
if want vm || want failover || want two-writers; then
    echo "== stage vm-build (beside tox): tools/storage-vm/build.sh"
    (
        start=$SECONDS
        tools/storage-vm/build.sh > "$LOGDIR/vm-build.log" 2>&1
        rc=$?
        echo "== stage vm-build: exit $rc in $((SECONDS - start)) s" |
            tee -a "$LOGDIR/vm-build.log"
        exit $rc
    ) &
    build_pid=$!
fi
if want tox; then
    ensure_tox || { echo "cannot install tox"; exit 1; }
    stage tox .tox-bootstrap/bin/tox -e pep8,genconfig,bashate,docs,releasenotes,py3,functional
fi
if [ -n "$build_pid" ]; then
    wait "$build_pid"
    RESULT[vm-build]=$?
    [ "${RESULT[vm-build]}" -ne 0 ] && tail -n 40 "$LOGDIR/vm-build.log"
fi
if want e2e; then
    stage e2e tools/stack/run-e2e.sh
fi
if want hv; then
    stage hv tools/hypervisor/run-tests.sh
fi
# The storage VM's suite after the stack's, not beside it: on two cores
# the two TCG loads side by side took longer than one after the other.
if want vm && [ "${RESULT[vm-build]}" -eq 0 ]; then
    # The LVM suite without bench_lvm.py (run.sh's default adds it: it
    # prints figures, it tests nothing) and without its two slowest
    # modules, which tools/storage-vm/run-tests.sh runs: the devstack LUN
    # stacked twice, and the LV child index but for its start-up test
    # (the file-store twin runs in tox). Two storage VMs at once, each
    # about one core under TCG: one runs the modules below and the
    # snapshot-order tests, the other the rest; side by side on two cores
    # each took about 15 minutes.
    first='test_as_cinder|test_libvirt_domain|test_storage_admin'
    first+='|test_snapshots_deleted_in_any_position'
    slow='test_devstack_lun|test_child_index\..*\.test_(every_topology'
    slow+='|operations_cost|startup_repairs)'
    VM_TIMEOUT=${VM_TIMEOUT:-2400} stage vm tools/storage-vm/run-shards.sh \
        --exclude-regex "$slow" "$first"
fi
if want failover && [ "${RESULT[vm-build]}" -eq 0 ]; then
    VM_TIMEOUT=${VM_TIMEOUT:-2400} stage failover tools/storage-vm/failover.sh
fi
if want two-writers && [ "${RESULT[vm-build]}" -eq 0 ]; then
    stage two-writers tools/storage-vm/two-writers.sh
fi

# One closing line for every stestr run of the stages above.
passed=0
failed=0
for log in "$LOGDIR"/*.log; do
    [ -e "$log" ] || continue
    p=$(grep -E '^ - Passed: [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
    f=$(grep -E '^ - Failed: [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
    passed=$((passed + p))
    failed=$((failed + f))
done
# Failures again at the very end, where a reader of a long log looks first.
failure_lines='\.\.\. FAILED|^(FAIL|ERROR): |timed out after'
failure_lines+='|^run-e2e: (bring-up failed|teardown)'
# failover.py's and two_writers.py's checks, their scripts' verdicts.
failure_lines+='| FAILED(: |$)'
for log in "$LOGDIR"/*.log; do
    [ -e "$log" ] || continue
    grep -E "$failure_lines" "$log" |
        sed "s|^|$(basename "$log" .log): |" | head -n 40
done
status=0
for name in "${!RESULT[@]}"; do
    echo "stage $name: exit ${RESULT[$name]}"
    [ "${RESULT[$name]}" -ne 0 ] && status=1
done
[ "$failed" -ne 0 ] && status=1
echo "tests: $passed passed, $failed failed"
exit $status
