#!/bin/bash
# Two storage nodes on one iSCSI LUN, cinder's locks on a real etcd; the
# active node is killed mid-operation and the standby takes over
# (cinder_auxo/tests/functional/lvm/failover.py, doc/cluster.md).
#
#   failover.sh          needs the VM image (build.sh); installs etcd
#
# Node b exports the LUN (tgt) on its user network, forwarded to the
# host's loopback port TARGET_PORT, and waits as the standby. Node a logs
# in to that port, makes volumes and snapshots through LVMSANDriver and
# hangs converting an image into a work LV while holding the image's
# lock. This script checks
# in etcd that the lock is held, kills node a's QEMU (SIGKILL: the node
# dies with everything it runs), tells node b to take over and reports
# when etcd let the dead node's lock go. Exits with node b's status.
#
# Environment: VM_DIR, FAILOVER_OUT (default .vm/failover), ETCD_PORT
# (23790), TARGET_PORT (13260), VM_TIMEOUT (per VM, 2400).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
OUT=${FAILOVER_OUT:-$VM_DIR/failover}
ETCD_PORT=${ETCD_PORT:-23790}
TARGET_PORT=${TARGET_PORT:-13260}
export VM_DIR VM_TIMEOUT=${VM_TIMEOUT:-2400}
PROG='python -m cinder_auxo.tests.functional.lvm.failover'

log() { echo "[failover $(date -u +%H:%M:%S)] $*"; }

rm -rf "$OUT"
mkdir -p "$OUT"
# shellcheck source=tools/storage-vm/pair-lib.sh
. "$HERE/pair-lib.sh"
pair_etcd || exit 1

pair_target "$PROG standby --backend-url $BACKEND_URL" "target, standby" ||
    exit 1
b=$PAIR_B
log "node b is waiting; node a (active) booting"
pair_initiator a "$PROG active --backend-url $BACKEND_URL"
pair_kill_holder "$PAIR_PID" 1500 || exit 1
cp -a "$OUT/a/state.json" "$OUT/a/images" "$OUT/b/"
touch "$OUT/b/go"
log "node b told to take over"
released=
while kill -0 "$b" 2>/dev/null; do
    if [ -z "$released" ] && ! image_lock_held; then
        released=$((SECONDS - KILLED))
        log "etcd released the dead node's lock ${released}s after the kill"
    fi
    sleep 1
done
rc=0
wait "$b" || rc=$?
cat "$OUT/a/output" 2>/dev/null || true
cat "$OUT/b.log"
if [ "$HELD" -lt 1 ]; then
    log "FAILED: node a's image lock was not in etcd when it was killed"
    rc=1
fi
log "lock held at the kill: $HELD; released after: ${released:-never}s;" \
    "node b status $rc; $SECONDS s in all"
[ "$rc" -eq 0 ] || log "FAILED: the standby did not take over cleanly"
exit "$rc"
