#!/bin/bash
# Build the storage-node test VM: a Debian kernel + initrd and an ext4 root
# filesystem image holding lvm2, open-iscsi, tgt, qemu-utils and /opt/venv
# with this project's Python dependencies (installed offline from wheels
# built on the host). The same machine is also a compute node: libvirtd,
# QEMU and /opt/nova-venv (nova and the libvirt binding, no cinder, pinned
# by tools/hypervisor/nova-constraints.txt) attach volumes to paused
# domains.
#
# Everything lands in <repo>/.vm/. The build is skipped when .vm/stamp holds
# the hash of this script and of both constraints files; delete .vm/ or
# pass --force to rebuild.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
ROOTFS=$VM_DIR/rootfs
SUITE=${SUITE:-bookworm}
ROOTFS_SIZE=${ROOTFS_SIZE:-3G}
HOST_PIP=${HOST_PIP:-}
HOST_WHEEL=wheel==0.45.1
PY_DEPS=(cinder==29.0.0 os-brick python-cinderclient rtslib-fb pbr)
PY_DEPS+=(stestr ddt oslotest fixtures testtools)
# cinder's coordination on etcd, for two storage nodes (failover.sh).
PY_DEPS+=(etcd3gw)
NOVA_DEPS=(nova libvirt-python)
NOVA_CONSTRAINTS=$REPO/tools/hypervisor/nova-constraints.txt
DEB_PKGS=linux-image-amd64,initramfs-tools,udev,kmod,iproute2,lvm2
DEB_PKGS+=,thin-provisioning-tools,open-iscsi,tgt,qemu-utils,python3
DEB_PKGS+=,python3-venv,python3-pip,procps,lsscsi,sg3-utils,util-linux
DEB_PKGS+=,ca-certificates,coreutils
# File storages: cinder-auxo-storage makes ext4 (e2fsprogs) or xfs.
DEB_PKGS+=,xfsprogs
# The compute side: a paused domain needs the daemon and the emulator only.
DEB_PKGS+=,libvirt-daemon,libvirt-daemon-driver-qemu,qemu-system-x86
# cinder as distributions run it: the user cinder, root through sudo and
# cinder-rootwrap (lvm/service_user.py).
DEB_PKGS+=,sudo

log() { echo "[build $(date -u +%H:%M:%S)] $*"; }

stamp() {
    cat "$HERE/build.sh" "$REPO/constraints.txt" "$NOVA_CONSTRAINTS" |
        sha256sum | cut -d' ' -f1
}

host_packages() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v qemu-img >/dev/null || missing+=(qemu-utils)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    # libvirt-python has no wheel: it builds against libvirt's headers.
    local pkg
    for pkg in libvirt-dev pkg-config gcc python3-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing host packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" qemu-system-x86 \
            qemu-utils debootstrap e2fsprogs
    fi
}

# The first http(s) URI of the host's apt sources for Debian itself.
mirror() {
    local uri
    local sources=(/etc/apt/sources.list.d/*.sources)
    sources+=(/etc/apt/sources.list.d/*.list /etc/apt/sources.list)
    uri=$(grep -hs -E '^(URIs:|deb )' "${sources[@]}" 2>/dev/null |
        grep -v -e security -e '#' |
        grep -o -E 'https?://[^ ]+' | head -n1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

run_debootstrap() {
    local m
    m=$(mirror)
    log "debootstrap $SUITE from $m"
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase --include="$DEB_PKGS" \
        "$SUITE" "$ROOTFS" "$m" > "$VM_DIR/debootstrap.log" 2>&1
}

host_pip() {
    if [ -n "$HOST_PIP" ]; then
        echo "$HOST_PIP"
        return
    fi
    # Debian's own Python, the VM's: another python3 first on PATH
    # (pyenv) would read environment markers for another version
    # (redis wants async-timeout below 3.11.3 only). libvirt-python's
    # sdist builds with setup.py bdist_wheel: the venv needs wheel.
    local venv=$VM_DIR/hostvenv
    if [ ! -x "$venv/bin/wheel" ]; then
        /usr/bin/python3 -m venv "$venv" &&
            "$venv/bin/pip" install -q "$HOST_WHEEL" >&2 || return 1
    fi
    echo "$venv/bin/pip"
}

wheels() {
    local wh=$VM_DIR/wheels
    mkdir -p "$wh"
    log "building wheels for the VM venv"
    # pip wheel builds the few sdist-only packages on the host; the host
    # and the VM are the same Debian release and Python.
    "$(host_pip)" wheel -q -w "$wh" -c "$REPO/constraints.txt" \
        "${PY_DEPS[@]}" > "$VM_DIR/wheels.log" 2>&1 || return 1
    log "building wheels for the VM's nova venv"
    mkdir -p "$VM_DIR/nova-wheels"
    "$(host_pip)" wheel -q -w "$VM_DIR/nova-wheels" -c "$NOVA_CONSTRAINTS" \
        "${NOVA_DEPS[@]}" >> "$VM_DIR/wheels.log" 2>&1
}

# install_venv <venv> <wheel dir> <constraints> <requirement...>
install_venv() {
    local venv=$1 wheels=$2 constraints=$3
    shift 3
    log "installing $venv in the root filesystem"
    rm -rf "$ROOTFS/wheels"
    cp -a "$wheels" "$ROOTFS/wheels" &&
        cp "$constraints" "$ROOTFS/wheels/constraints.txt" &&
        chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            python3 -m venv "$venv" &&
        chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            "$venv/bin/pip" install -q --no-index --find-links /wheels \
            -c /wheels/constraints.txt "$@" >> "$VM_DIR/venv.log" 2>&1 ||
        return 1
    rm -rf "$ROOTFS/wheels"
}

venv() {
    : > "$VM_DIR/venv.log"
    install_venv /opt/venv "$VM_DIR/wheels" "$REPO/constraints.txt" \
        "${PY_DEPS[@]}" &&
        install_venv /opt/nova-venv "$VM_DIR/nova-wheels" \
            "$NOVA_CONSTRAINTS" "${NOVA_DEPS[@]}"
}

configure_rootfs() {
    log "configuring the root filesystem"
    echo storage-vm > "$ROOTFS/etc/hostname"
    echo "InitiatorName=iqn.2004-10.com.debian:01:storagevm" \
        > "$ROOTFS/etc/iscsi/initiatorname.iscsi"
    # QEMU's user; libvirt-daemon-system would make it, with systemd units
    # this machine does not run.
    chroot "$ROOTFS" sh -e -c '
        getent group kvm >/dev/null || groupadd -r kvm
        getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
        id libvirt-qemu >/dev/null 2>&1 ||
            useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt \
                -s /usr/sbin/nologin libvirt-qemu
        id cinder >/dev/null 2>&1 ||
            useradd -r -U -G libvirt-qemu -d /var/lib/cinder \
                -s /usr/sbin/nologin cinder'
    # PID 1: mount the repo share and hand over to its init.sh, so that the
    # init script can change without rebuilding the image.
    cat > "$ROOTFS/sbin/auxo-init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
modprobe 9pnet_virtio 2>/dev/null
mkdir -p /mnt/repo /mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 repo /mnt/repo
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /mnt/out
exec /bin/bash /mnt/repo/tools/storage-vm/init.sh
INIT
    chmod 755 "$ROOTFS/sbin/auxo-init"
    cp "$ROOTFS"/boot/vmlinuz-* "$VM_DIR/vmlinuz"
    cp "$ROOTFS"/boot/initrd.img-* "$VM_DIR/initrd.img"
}

image() {
    log "making rootfs.img ($ROOTFS_SIZE)"
    rm -f "$VM_DIR/rootfs.img"
    mkfs.ext4 -q -F -L vmroot -d "$ROOTFS" "$VM_DIR/rootfs.img" "$ROOTFS_SIZE"
}

main() {
    mkdir -p "$VM_DIR"
    local want
    want=$(stamp)
    local have
    have=$(cat "$VM_DIR/stamp" 2>/dev/null || true)
    local fresh=no
    [ -f "$VM_DIR/rootfs.img" ] && [ "$have" = "$want" ] && fresh=yes
    if [ "${1:-}" != "--force" ] && [ $fresh = yes ]; then
        log "up to date ($VM_DIR)"
        return 0
    fi
    local start=$SECONDS
    rm -f "$VM_DIR/stamp"
    host_packages
    if ! run_debootstrap; then
        log "debootstrap failed, retrying once"
        sleep 5
        run_debootstrap || { tail -n 30 "$VM_DIR/debootstrap.log"; exit 1; }
    fi
    wheels || { tail -n 30 "$VM_DIR/wheels.log"; exit 1; }
    venv || { tail -n 30 "$VM_DIR/venv.log"; exit 1; }
    configure_rootfs
    image
    echo "$want" > "$VM_DIR/stamp"
    log "built in $((SECONDS - start)) s"
}

main "$@"
