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
ETCD_URL=http://127.0.0.1:$ETCD_PORT
# The VMs reach the host's loopback as 10.0.2.2.
BACKEND_URL=etcd3+http://10.0.2.2:$ETCD_PORT
PROG='python -m cinder_auxo.tests.functional.lvm.failover'
LOCKS=/tooz/locks

log() { echo "[failover $(date -u +%H:%M:%S)] $*"; }

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    log "installing etcd-server etcd-client from apt"
    apt-get update -qq
    # Its package enables a systemd unit; nothing here runs systemd.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends etcd-server etcd-client > /dev/null
fi

rm -rf "$OUT"
mkdir -p "$OUT"
pids=()
# shellcheck disable=SC2329  # the EXIT trap calls it
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for f in "$OUT"/a.pid "$OUT"/b.pid; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
}
trap cleanup EXIT

etcd --name failover --data-dir "$OUT/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "failover=http://127.0.0.1:$((ETCD_PORT + 1))" \
    > "$OUT/etcd.log" 2>&1 &
pids+=($!)
etcdctl() { command etcdctl --endpoints "$ETCD_URL" "$@"; }
for _ in $(seq 50); do
    etcdctl endpoint health >/dev/null 2>&1 && break
    sleep 0.2
done
etcdctl endpoint health >/dev/null 2>&1 || { tail "$OUT/etcd.log"; exit 1; }
log "etcd $(etcd --version | head -n 1) on $ETCD_URL"

# wait_for <file> <seconds> <pid>: the file appears, or the VM ended.
wait_for() {
    local file=$1 t=$2 pid=$3
    while [ ! -e "$file" ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$t" -le 0 ]; then
            return 1
        fi
        sleep 2
        t=$((t - 2))
    done
}

VM_ROLE=target VM_NODE=b VM_OUT=$OUT/b VM_PIDFILE=$OUT/b.pid \
    VM_HOSTFWD="hostfwd=tcp:127.0.0.1:$TARGET_PORT-:3260" \
    "$HERE/run.sh" "$PROG standby --backend-url $BACKEND_URL" \
    > "$OUT/b.log" 2>&1 &
b=$!
pids+=("$b")
log "node b (target, standby) booting"
if ! wait_for "$OUT/b/ready" 900 "$b"; then
    log "node b did not get ready"
    cat "$OUT/b.log"
    exit 1
fi
log "node b is waiting; node a (active) booting"

VM_ROLE=initiator VM_NODE=a VM_OUT=$OUT/a VM_PIDFILE=$OUT/a.pid \
    VM_TARGET_PORTAL=10.0.2.2:$TARGET_PORT \
    "$HERE/run.sh" "$PROG active --backend-url $BACKEND_URL" \
    > "$OUT/a.log" 2>&1 &
a=$!
pids+=("$a")
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
