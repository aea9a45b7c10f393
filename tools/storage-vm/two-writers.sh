#!/bin/bash
# Two services of one cinder cluster writing one volume group at once, on
# two storage nodes logged in to one iSCSI LUN, cinder's locks on a real
# etcd (cinder_auxo/tests/functional/lvm/two_writers.py, doc/cluster.md).
#
#   two-writers.sh       needs the VM image (build.sh); installs etcd
#
# Node b exports the LUN (tgt) on its user network, forwarded to the
# host's loopback port TARGET_PORT; node a logs in to that port. Both run
# LVMSANDriver in one cluster: creates from one uncached image at once,
# then 100 mixed operations split between them, checked by data. Then
# node a hangs in a convert holding an image's lock: this script kills
# its VM, tells node b (which carries on) and reports when etcd let the
# dead node's lock go; it boots node a again (a2), whose start-up repairs
# what it left, and which deletes everything at the end. Exits non-zero
# if a check on either node failed.
#
# Environment: VM_DIR, TWO_WRITERS_OUT (default .vm/two-writers),
# ETCD_PORT (23790), TARGET_PORT (13260), VM_TIMEOUT (per VM, 5400),
# LUN_SIZE (100G).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
OUT=${TWO_WRITERS_OUT:-$VM_DIR/two-writers}
ETCD_PORT=${ETCD_PORT:-23790}
TARGET_PORT=${TARGET_PORT:-13260}
# A sparse file: thick LVs of 1 to 3 GiB each, and their snapshots.
export VM_DIR VM_TIMEOUT=${VM_TIMEOUT:-5400} LUN_SIZE=${LUN_SIZE:-100G}
PROG='python -m cinder_auxo.tests.functional.lvm.two_writers'

log() { echo "[two-writers $(date -u +%H:%M:%S)] $*"; }

rm -rf "$OUT"
mkdir -p "$OUT"
# shellcheck source=tools/storage-vm/pair-lib.sh
. "$HERE/pair-lib.sh"
pair_etcd || exit 1

pair_target "$PROG writer --node b --backend-url $BACKEND_URL" target ||
    exit 1
b=$PAIR_B
log "node b exports the LUN; node a booting"
pair_initiator a "$PROG writer --node a --backend-url $BACKEND_URL"
pair_kill_holder "$PAIR_PID" 4000 || exit 1
etcdctl put /auxo-pair/killed true > /dev/null
while image_lock_held; do
    sleep 1
done
released=$((SECONDS - KILLED))
log "etcd released the dead node's lock ${released}s after the kill"

if ! wait_for "$OUT/b/waiting" 3600 "$b"; then
    log "node b did not finish its part"
    cat "$OUT/b/output" "$OUT/b.log" 2>/dev/null || true
    exit 1
fi
log "node b is done; node a restarting (a2)"
pair_initiator a2 "$PROG restart --node a --backend-url $BACKEND_URL"
a2=$PAIR_PID
rc=0
wait "$a2" || rc=$?
rc_b=0
wait "$b" || rc_b=$?
for node in a b a2; do
    log "---- node $node"
    cat "$OUT/$node/output" 2>/dev/null || tail -n 30 "$OUT/$node.log"
done
log "lock held at the kill: $HELD; released after: ${released}s;" \
    "node a2 status $rc, node b status $rc_b; $SECONDS s in all"
if [ "$HELD" -lt 1 ] || [ "$rc" -ne 0 ] || [ "$rc_b" -ne 0 ]; then
    log "FAILED"
    exit 1
fi
