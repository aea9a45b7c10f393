#!/bin/bash
# Shared by the scripts that run two storage nodes on one iSCSI LUN with
# cinder's locks on a real etcd on the host (failover.sh, two-writers.sh).
# Sourced after they set OUT, ETCD_PORT and a log function; it sets
# ETCD_URL, BACKEND_URL (what the VMs give cinder), LOCKS (tooz's keys)
# and defines:
#   pair_etcd             install etcd if needed, start a fresh one in
#                         $OUT/etcd (stopped on exit with the VMs)
#   etcdctl ...           etcdctl on that etcd
#   wait_for FILE SECONDS PID
#                         the file appears, or the VM PID ended, or time
#   pair_boot NODE ROLE COMMAND [VAR=VALUE ...]
#                         boot one node (run.sh) in the background; its
#                         output in $OUT/NODE.log, its pid in PAIR_PID
#   pair_target COMMAND WHAT
#                         boot node b, which exports the LUN on the host's
#                         TARGET_PORT, and wait until COMMAND writes its
#                         ready file; its pid in PAIR_B
#   pair_initiator NODE COMMAND
#                         boot a node logged in to node b's LUN (PAIR_PID)
#   pair_kill_holder PID SECONDS
#                         wait for node a's holding file (the image whose
#                         lock it holds), count that lock in etcd, kill
#                         the VM; sets IMAGE, HELD and KILLED ($SECONDS)
#   image_lock_held       is IMAGE's lock still in etcd?
ETCD_URL=http://127.0.0.1:$ETCD_PORT
# The VMs reach the host's loopback as 10.0.2.2.
# shellcheck disable=SC2034  # the sourcing script uses them
BACKEND_URL=etcd3+http://10.0.2.2:$ETCD_PORT
# shellcheck disable=SC2034
LOCKS=/tooz/locks
PAIR_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pair_pids=()

# shellcheck disable=SC2329  # the EXIT trap calls it
pair_cleanup() {
    local pid f
    for pid in "${pair_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for f in "$OUT"/*.pid; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
}
trap pair_cleanup EXIT

etcdctl() { command etcdctl --endpoints "$ETCD_URL" "$@"; }

pair_etcd() {
    if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
        log "installing etcd-server etcd-client from apt"
        apt-get update -qq
        # Its package enables a systemd unit; nothing here runs systemd.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends etcd-server etcd-client > /dev/null
    fi
    local peer=http://127.0.0.1:$((ETCD_PORT + 1))
    etcd --name pair --data-dir "$OUT/etcd" \
        --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "pair=$peer" > "$OUT/etcd.log" 2>&1 &
    pair_pids+=($!)
    local _
    for _ in $(seq 50); do
        etcdctl endpoint health >/dev/null 2>&1 && break
        sleep 0.2
    done
    if ! etcdctl endpoint health >/dev/null 2>&1; then
        tail "$OUT/etcd.log"
        return 1
    fi
    log "etcd $(etcd --version | head -n 1) on $ETCD_URL"
}

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

pair_boot() {
    local node=$1 role=$2 cmd=$3
    shift 3
    env "$@" VM_ROLE="$role" VM_NODE="$node" VM_OUT="$OUT/$node" \
        VM_PIDFILE="$OUT/$node.pid" "$PAIR_LIB_DIR/run.sh" "$cmd" \
        > "$OUT/$node.log" 2>&1 &
    PAIR_PID=$!
    pair_pids+=("$PAIR_PID")
}

pair_target() {
    pair_boot b target "$1" \
        VM_HOSTFWD="hostfwd=tcp:127.0.0.1:$TARGET_PORT-:3260"
    PAIR_B=$PAIR_PID
    log "node b ($2) booting"
    if ! wait_for "$OUT/b/ready" 900 "$PAIR_B"; then
        log "node b did not get ready"
        cat "$OUT/b.log"
        return 1
    fi
}

pair_initiator() {
    pair_boot "$1" initiator "$2" "VM_TARGET_PORTAL=10.0.2.2:$TARGET_PORT"
}

pair_kill_holder() {
    local pid=$1 t=$2
    if ! wait_for "$OUT/a/holding" "$t" "$pid"; then
        log "node a never reached its hanging convert"
        cat "$OUT/a/output" "$OUT/a.log" "$OUT/b/output" 2>/dev/null || true
        return 1
    fi
    IMAGE=$(cat "$OUT/a/holding")
    HELD=$(etcdctl get --prefix --keys-only "$LOCKS" |
        grep -c "image-$IMAGE" || true)
    log "node a holds $HELD lock(s) of image $IMAGE in etcd; killing its VM"
    kill -9 "$(cat "$OUT/a.pid")"
    # shellcheck disable=SC2034  # the sourcing script uses it
    KILLED=$SECONDS
    wait "$pid" || true
}

image_lock_held() {
    etcdctl get --prefix --keys-only "$LOCKS" | grep -q "image-$IMAGE"
}
