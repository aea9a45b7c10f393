#!/bin/bash
# Boot the storage-node VM (built by build.sh) and run one test command in
# it; prints the command's output and wall time and exits with its status.
#
#   run.sh [command]    default: the LVM functional suite under stestr,
#                       then the create-from-image benchmark (bench_lvm.py)
#
# Environment: SRC_DIR (the tree to test, default this repo), VM_OUT
# (result directory, default .vm/run), LUN_SIZE, VM_MEM, VM_TIMEOUT,
# AUXO_VM_DRIVER_USER (cinder: every LVM test runs its driver as that user,
# through sudo and cinder-rootwrap; lvm/base.py), AUXO_VM_CRASH (the
# crash matrix on LVM, lvm/test_crash.py: all, or scenario names); for
# one of two storage nodes on one LUN (failover.sh): VM_ROLE (target or
# initiator), VM_NODE (its name), VM_HOSTFWD (QEMU hostfwd rules of its
# user network), VM_TARGET_PORTAL (the initiator's) and VM_PIDFILE.
#
# The repo is shared read-only; a fresh sparse raw file is the SAN LUN.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
# The tree the VM tests; it must hold tools/storage-vm/init.sh.
SRC_DIR=${SRC_DIR:-$REPO}
OUT=${VM_OUT:-$VM_DIR/run}
LUN_SIZE=${LUN_SIZE:-16G}
VM_MEM=${VM_MEM:-2048}
VM_TIMEOUT=${VM_TIMEOUT:-2100}
DEFAULT_CMD='python -m stestr --test-path ./cinder_auxo/tests/functional/lvm'
DEFAULT_CMD+=' --top-dir ./ run --concurrency 1'
DEFAULT_CMD+=' && python tools/storage-vm/bench_lvm.py'
TEST_CMD=${1:-$DEFAULT_CMD}

if [ ! -f "$VM_DIR/rootfs.img" ]; then
    echo "no VM: run build.sh first" >&2
    exit 2
fi
rm -rf "$OUT"
mkdir -p "$OUT"
# Every run boots a throwaway overlay of the built image (so runs can
# share one build) and gets a fresh, sparse LUN.
qemu-img create -q -f qcow2 -b "$VM_DIR/rootfs.img" -F raw "$OUT/root.qcow2"
qemu-img create -q -f raw "$OUT/lun.img" "$LUN_SIZE"
{
    printf 'IQN=%q\n' "iqn.2012-07.org.auxo.test:san0"
    printf 'LUN=%q\n' 14
    printf 'VG=%q\n' "2b55ce3e-3338-458d-a773-7429a58e9a46"
    printf 'TEST_CMD=%q\n' "$TEST_CMD"
    printf 'TEST_TIMEOUT=%q\n' "$((VM_TIMEOUT - 120))"
    printf 'DRIVER_USER=%q\n' "${AUXO_VM_DRIVER_USER:-}"
    printf 'CRASH=%q\n' "${AUXO_VM_CRASH:-}"
    printf 'ROLE=%q\n' "${VM_ROLE:-single}"
    printf 'NODE=%q\n' "${VM_NODE:-}"
    printf 'TARGET_PORTAL=%q\n' "${VM_TARGET_PORTAL:-}"
} > "$OUT/params"

start=$(date +%s)
rc_qemu=0
QEMU=(qemu-system-x86_64 -accel tcg,thread=multi,tb-size=256 -cpu max)
QEMU+=(-smp 2 -m "$VM_MEM" -machine q35 -nographic -no-reboot -nodefaults)
QEMU+=(-serial stdio -kernel "$VM_DIR/vmlinuz" -initrd "$VM_DIR/initrd.img")
KERNEL_ARGS="root=/dev/vda rw console=ttyS0 init=/sbin/auxo-init panic=-1"
QEMU+=(-append "$KERNEL_ARGS quiet")
QEMU+=(-drive "file=$OUT/root.qcow2,format=qcow2,if=virtio,cache=unsafe")
if [ "${VM_ROLE:-single}" != initiator ]; then
    QEMU+=(-drive "file=$OUT/lun.img,format=raw,if=virtio,cache=unsafe")
fi
if [ -n "${VM_ROLE:-}" ]; then
    QEMU+=(-netdev "user,id=net0${VM_HOSTFWD:+,$VM_HOSTFWD}")
    QEMU+=(-device "virtio-net-pci,netdev=net0")
fi
[ -n "${VM_PIDFILE:-}" ] && QEMU+=(-pidfile "$VM_PIDFILE")
SHARE=security_model=none
QEMU+=(-virtfs "local,path=$SRC_DIR,mount_tag=repo,$SHARE,readonly=on,id=repo")
QEMU+=(-virtfs "local,path=$OUT,mount_tag=out,$SHARE,id=out")
timeout --kill-after=20 "$VM_TIMEOUT" "${QEMU[@]}" \
    < /dev/null > "$OUT/console.log" 2>&1 || rc_qemu=$?
wall=$(( $(date +%s) - start ))

rm -f "$OUT/root.qcow2" "$OUT/lun.img"
cat "$OUT/output" 2>/dev/null || true
if [ ! -s "$OUT/rc" ]; then
    echo "VM gave no result (qemu status $rc_qemu); console tail:" >&2
    tail -n 40 "$OUT/console.log" >&2
    echo "storage VM wall time: ${wall}s"
    exit 3
fi
rc=$(cat "$OUT/rc")
echo "storage VM wall time: ${wall}s, test status $rc"
exit "$rc"
