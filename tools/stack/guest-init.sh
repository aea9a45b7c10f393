#!/bin/busybox sh
# PID 1 of the stack's test desktop (an initramfs with a static busybox;
# tools/stack/compute.py builds it). The guest proves what it sees through
# the volumes nova attached, and leaves patterns for the host to read back
# from the volumes' files:
#   - prints the md5 of the root disk's first MiB and of its MiB at 16 MiB
#     (the test compares them with the Glance image it booted from);
#   - writes 1 MiB of 'Z' (0x5a) at 32 MiB of the root disk;
#   - waits for a second disk (a data volume attached through nova),
#     writes 1 MiB of 'k' (0x6b) at its start, and reports when it is gone
#     again (detached through nova);
#   - then idles until the server is deleted.
# Every report is one console line "AUXO-GUEST <what> <value>", read by
# the e2e test through nova's console-output API.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "AUXO-GUEST $*" > /dev/ttyS0; }

# The cloud kernel builds virtio as modules; dependencies first.
for mod in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
        virtio_pci virtio_blk; do
    insmod "/lib/modules/$mod.ko" 2>/dev/null
done

wait_for() {
    # wait_for TEST SECONDS: poll a test once a second.
    n=0
    while ! eval "$1"; do
        n=$((n + 1))
        [ "$n" -ge "$2" ] && return 1
        sleep 1
    done
}

md5_of_mib() {
    dd if="$1" bs=1048576 skip="$2" count=1 2>/dev/null | md5sum |
        cut -d' ' -f1
}

pattern() {
    head -c 1048576 /dev/zero | tr '\000' "$1"
}

say boot
if ! wait_for '[ -b /dev/vda ]' 60; then
    say error no-root-disk
else
    say vda-mib0 "$(md5_of_mib /dev/vda 0)"
    say vda-mib16 "$(md5_of_mib /dev/vda 16)"
    pattern Z > /tmp/z
    if dd if=/tmp/z of=/dev/vda bs=1048576 seek=32 conv=fsync 2>/dev/null
    then
        say vda-written
    else
        say error vda-write
    fi
fi

if wait_for '[ -b /dev/vdb ]' 1800; then
    pattern k > /tmp/k
    if dd if=/tmp/k of=/dev/vdb bs=1048576 conv=fsync 2>/dev/null; then
        say vdb-written
    else
        say error vdb-write
    fi
    wait_for '[ ! -b /dev/vdb ]' 1800 && say vdb-gone
fi
while :; do sleep 3600; done
