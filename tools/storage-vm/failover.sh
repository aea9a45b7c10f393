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

pair_boot b target "$PROG standby --backend-url $BACKEND_URL" \
    VM_HOSTFWD="hostfwd=tcp:127.0.0.1:$TARGET_PORT-:3260"
b=$PAIR_PID
log "node b (target, standby) booting"
if ! wait_for "$OUT/b/ready" 900 "$b"; then
    log "node b did not get ready"
    cat "$OUT/b.log"
    exit 1
fi
log "node b is waiting; node a (active) booting"

pair_boot a initiator "$PROG active --backend-url $BACKEND_URL" \
    "VM_TARGET_PORTAL=10.0.2.2:$TARGET_PORT"
a=$PAIR_PID
if ! wait_for "$OUT/a/holding" 1500 "$a"; then
    log "node a never reached its hanging convert"
    cat "$OUT/a.log"
    exit 1
fi
image=$(cat "$OUT/a/holding")
held=$(etcdctl get --prefix --keys-only "$LOCKS" | grep -c "image-$image" ||
    true)
log "node a holds $held lock(s) of image $image in etcd; killing its VM"
kill -9 "$(cat "$OUT/a.pid")"
killed=$SECONDS
wait "$a" || true
cp -a "$OUT/a/state.json" "$OUT/a/images" "$OUT/b/"
touch "$OUT/b/go"
log "node b told to take over"
lock_held() {
    etcdctl get --prefix --keys-only "$LOCKS" | grep -q "image-$image"
}
released=
while kill -0 "$b" 2>/dev/null; do
    if [ -z "$released" ] && ! lock_held; then
        released=$((SECONDS - killed))
        log "etcd released the dead node's lock ${released}s after the kill"
    fi
    sleep 1
done
rc=0
wait "$b" || rc=$?
cat "$OUT/a/output" 2>/dev/null || true
cat "$OUT/b.log"
if [ "$held" -lt 1 ]; then
    log "FAILED: node a's image lock was not in etcd when it was killed"
    rc=1
fi
log "lock held at the kill: $held; released after: ${released:-never}s;" \
    "node b status $rc; $SECONDS s in all"
[ "$rc" -eq 0 ] || log "FAILED: the standby did not take over cleanly"
exit "$rc"
