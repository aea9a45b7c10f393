#!/bin/bash
# PID 1 of the storage-node test VM (started by /sbin/auxo-init, which has
# mounted proc, sys, dev, the repo share on /mnt/repo and the result share
# on /mnt/out).
#
# Plays both sides of a SAN on one machine: tgt exports the second virtio
# disk as an iSCSI LUN on 127.0.0.1:3260, the open-iscsi initiator logs in,
# and a volume group is made on the LUN as it appears (/dev/sdX). libvirtd
# runs too, for tests that attach a volume as a compute node does. Then the
# test command runs; its exit status and output go back through 9p, the
# session is logged out and the VM powers off.
#
# Two storage nodes on one LUN (failover.sh) set ROLE in the params:
# "target" is the above, its portal also reachable through QEMU's user
# network (the host forwards a loopback port to it); "initiator" has no
# disk of its own, logs in to TARGET_PORTAL (that forwarded port, seen from
# the VM as 10.0.2.2) and finds the volume group the target node made.
set -u
export PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
OUT=/mnt/out
# shellcheck source=/dev/null
. "$OUT/params"   # IQN LUN VG TEST_CMD TEST_TIMEOUT DRIVER_USER CRASH ROLE...
ROLE=${ROLE:-single}
PORTAL=127.0.0.1:3260
[ "$ROLE" = initiator ] && PORTAL=$TARGET_PORTAL
BACKING=/dev/vdb

log() { echo "[vm $(date -u +%H:%M:%S)] $*"; }

finish() {
    local rc=$1
    log "tests finished with status $rc; cleaning up"
    timeout 60 vgchange -a n "$VG" >/dev/null 2>&1
    timeout 60 iscsiadm -m node --logoutall=all >/dev/null 2>&1
    timeout 30 tgtadm --lld iscsi --op delete --mode target --tid 1 \
        --force >/dev/null 2>&1
    cp -r /var/log/libvirt "$OUT/libvirt-log" 2>/dev/null
    echo "$rc" > "$OUT/rc"
    sync
    # No systemd in the image: power off through sysrq (a panic of PID 1
    # would end the VM too, since QEMU runs with -no-reboot).
    echo 1 > /proc/sys/kernel/sysrq
    echo o > /proc/sysrq-trigger
    sleep 30
}

fail() {
    log "setup failed: $*"
    echo "setup failed: $*" >> "$OUT/output"
    finish 99
}

step() {
    # step <seconds> <command...>: every setup step has a deadline.
    local t=$1
    shift
    timeout "$t" "$@" || fail "$* (exit $?)"
}

base_system() {
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /tmp
    mkdir -p /dev/pts /dev/shm /run/lock /run/lvm /var/lock
    mount -t devpts devpts /dev/pts
    mount -t tmpfs tmpfs /dev/shm
    hostname "storage-vm${NODE:+-$NODE}"
    ip link set lo up
    for m in dm_mod dm_snapshot iscsi_tcp sd_mod sg; do
        modprobe "$m" 2>/dev/null
    done
    step 20 /lib/systemd/systemd-udevd --daemon
    step 60 udevadm trigger --action=add
    step 60 udevadm settle
}

# LVM on this machine sees only the iSCSI LUN: /dev/vdb (the array's
# backing store) holds the very same PV, and udev must not auto-activate
# anything found elsewhere.
lvm_config() {
    local link=$1
    sed -i -e '/^ *global_filter = \[ "a|/d' -e '/^ *event_activation = 0/d' \
        /etc/lvm/lvm.conf
    local filter='global_filter = [ "a|^'"$link"'$|", "r|.*|" ]'
    sed -i -e "/^devices {/a\\    $filter" \
        -e '/^global {/a\    event_activation = 0' \
        /etc/lvm/lvm.conf
}

# QEMU's user network (slirp): 10.0.2.2 is the host's loopback.
network() {
    [ "$ROLE" = single ] && return 0
    modprobe virtio_net 2>/dev/null
    step 60 udevadm settle
    local dev='' d
    for d in /sys/class/net/*; do
        [ "${d##*/}" = lo ] || { dev=${d##*/}; break; }
    done
    [ -n "$dev" ] || fail "no network interface"
    step 10 ip link set "$dev" up
    step 10 ip addr add 10.0.2.15/24 dev "$dev"
    step 10 ip route add default via 10.0.2.2
    log "network: 10.0.2.15 on $dev"
}

login() {
    # Two nodes with one initiator name would take each other's session.
    if [ -n "${NODE:-}" ]; then
        echo "InitiatorName=iqn.2004-10.com.debian:01:storagevm-$NODE" \
            > /etc/iscsi/initiatorname.iscsi
    fi
    step 20 iscsid
    # A node record of its own, not discovery: the target would answer
    # with its address inside its VM, which the other VM cannot reach.
    step 60 iscsiadm -m node -o new -T "$IQN" -p "$PORTAL"
    step 60 iscsiadm -m node -T "$IQN" -p "$PORTAL" --login
    step 60 udevadm settle
    LUN_LINK=/dev/disk/by-path/ip-$PORTAL-iscsi-$IQN-lun-$LUN
    local i
    for i in $(seq 100); do
        [ -e "$LUN_LINK" ] && break
        sleep 0.2
    done
    [ -e "$LUN_LINK" ] || fail "no $LUN_LINK after login"
    log "LUN is $(readlink -f "$LUN_LINK")"
    lvm_config "$LUN_LINK"
}

# The second node: the volume group is the target node's.
san_initiator() {
    log "initiator of $IQN lun $LUN at $PORTAL"
    login
    local _
    for _ in $(seq 60); do
        vgs "$VG" >/dev/null 2>&1 && return 0
        sleep 2
    done
    fail "volume group $VG not found on the LUN"
}

san() {
    [ "$ROLE" = initiator ] && { san_initiator; return; }
    log "target: $IQN lun $LUN on $PORTAL backed by $BACKING"
    local listen=$PORTAL
    [ "$ROLE" = target ] && listen=0.0.0.0:3260
    tgtd --iscsi "portal=$listen" || fail "tgtd did not start"
    local _
    for _ in $(seq 50); do
        tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1 && break
        sleep 0.2
    done
    step 20 tgtadm --lld iscsi --op new --mode target --tid 1 -T "$IQN"
    step 20 tgtadm --lld iscsi --op new --mode logicalunit --tid 1 \
        --lun "$LUN" -b "$BACKING"
    step 20 tgtadm --lld iscsi --op bind --mode target --tid 1 -I ALL
    login
    step 60 pvcreate -q --metadatasize 64m "$LUN_LINK"
    step 60 vgcreate -q -s 4M "$VG" "$LUN_LINK"
}

# The compute side: libvirtd for paused domains (guests under TCG; no KVM
# in here) and the nova venv. Started early, as libvirtd probes QEMU's
# capabilities in the background. A failure here fails only the tests that
# need libvirt (they find no AUXO_LIBVIRT_URI).
hypervisor() {
    [ -x /opt/nova-venv/bin/python ] || return 0
    export AUXO_NOVA_PYTHON=/opt/nova-venv/bin/python
    rm -f /dev/kvm
    mkdir -p /run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu \
        /var/cache/libvirt/qemu
    export LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log"
    if ! timeout 20 virtlogd -d || ! timeout 20 libvirtd -d; then
        log "libvirtd did not start"
        return 0
    fi
    local _
    for _ in $(seq 100); do
        [ -S /run/libvirt/libvirt-sock ] && break
        sleep 0.2
    done
    if [ -S /run/libvirt/libvirt-sock ]; then
        export AUXO_LIBVIRT_URI=qemu:///system
    else
        log "no libvirtd socket"
    fi
}

python_env() {
    # A private copy of the work tree: the share stays untouched.
    mkdir -p /opt/src /var/lib/auxo/locks
    local f
    for f in /mnt/repo/*; do
        [ -f "$f" ] && cp "$f" /opt/src/
    done
    cp -r /mnt/repo/cinder_auxo /mnt/repo/tools /mnt/repo/devstack \
        /mnt/repo/etc /opt/src/
    find /opt/src -name __pycache__ -prune -exec rm -rf {} +
    # /tmp is a small tmpfs; tests write images to disk instead.
    # Sticky and world-writable, as /tmp: the drivers run as cinder.
    mkdir -p -m 1777 /var/tmp/auxo
    chmod 1777 /var/lib/auxo/locks
    export TMPDIR=/var/tmp/auxo
    export PYTHONPATH=/opt/src PYTHONDONTWRITEBYTECODE=1
    export OSLO_LOCK_PATH=/var/lib/auxo/locks
    export AUXO_STORAGE_VM=1 AUXO_VG=$VG AUXO_ISCSI_IQN=$IQN
    export AUXO_ISCSI_PORTAL=$PORTAL AUXO_ISCSI_LUN=$LUN
    export AUXO_LUN_LINK=$LUN_LINK AUXO_LUN_BACKING=$BACKING
    export AUXO_VM_DRIVER_USER=${DRIVER_USER:-} AUXO_VM_CRASH=${CRASH:-}
}

main() {
    log "init started"
    base_system
    network
    # The compute side is for the single node's tests only.
    [ "$ROLE" = single ] && hypervisor
    san
    log "volume group $VG is on the LUN"
    python_env
    log "running: $TEST_CMD"
    cd /opt/src || fail "no /opt/src"
    timeout "$TEST_TIMEOUT" bash -c "$TEST_CMD" > "$OUT/output" 2>&1
    finish $?
}

main
