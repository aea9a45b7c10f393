#!/bin/bash
# Hypervisor-side tests of cinder_auxo on real libvirt 9 + QEMU 7.2 (TCG),
# with nova 34 in a venv of its own (.hv-venv), as on a compute node: nova
# and os-brick, no cinder. As root on Debian 12:
#
#   tools/hypervisor/run-tests.sh [stestr filter...]
#
# Installs the Debian packages, builds the venv from nova-constraints.txt
# (rebuilt when that file changes), starts a private libvirtd and virtlogd,
# runs cinder_auxo/tests/hypervisor with stestr and stops both daemons.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
HERE=$REPO/tools/hypervisor
VENV=$REPO/.hv-venv
RUN=$(mktemp -d /tmp/auxo-hv-run.XXXXXX)
PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
PKGS+=(qemu-system-x86 qemu-utils libvirt-dev pkg-config gcc python3-venv)
# libvirt-python builds against libvirt-dev and the Python headers.
PKGS+=(python3-dev)
started=()

log() { echo "hv: $*"; }

cleanup() {
    local pid
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null
    done
    rm -rf "$RUN"
}
trap cleanup EXIT

ensure_packages() {
    local missing=() pkg
    for pkg in "${PKGS[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}" >/dev/null || return 1
    fi
    # Without libvirt-daemon-system nobody creates QEMU's user.
    getent group kvm >/dev/null || groupadd -r kvm
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    id libvirt-qemu >/dev/null 2>&1 ||
        useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt \
            -s /usr/sbin/nologin libvirt-qemu
    mkdir -p /var/log/libvirt /var/lib/libvirt/qemu /var/cache/libvirt/qemu
}

ensure_venv() {
    local stamp=$VENV/.constraints
    [ -x "$VENV/bin/python" ] &&
        cmp -s "$HERE/nova-constraints.txt" "$stamp" && return 0
    log "building $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install -q -c "$HERE/nova-constraints.txt" \
            nova libvirt-python stestr oslotest fixtures &&
        "$VENV/bin/pip" install -q --no-deps -e . &&
        cp "$HERE/nova-constraints.txt" "$stamp"
}

start_libvirt() {
    cat > "$RUN/libvirtd.conf" <<CONF
unix_sock_dir = "$RUN"
listen_tls = 0
listen_tcp = 0
CONF
    # Both daemons run in a mount namespace of their own:
    # * /dev/kvm exists but guests hang on it: hidden, or libvirt re-probes
    #   QEMU on every domain start (capabilities probed with KVM, KVM not
    #   usable by libvirt-qemu);
    # * /run/libvirt is private: another libvirtd on this host (a stack's
    #   compute part) holds the driver pid files there, and a second one
    #   would not start.
    mkdir -p /run/libvirt
    # shellcheck disable=SC2016  # $1, $2 and $3 are the inner shell's.
    unshare -m --propagation private sh -c \
        'mount -t tmpfs -o mode=0755 auxo-hv /run/libvirt &&
         mount --bind /dev/null /dev/kvm &&
         virtlogd -d -p "$3" &&
         exec libvirtd -d -f "$1" -p "$2"' \
        sh "$RUN/libvirtd.conf" "$RUN/libvirtd.pid" "$RUN/virtlogd.pid" ||
        return 1
    local _
    for _ in $(seq 50); do
        [ -S "$RUN/libvirt-sock" ] && [ -s "$RUN/libvirtd.pid" ] && break
        sleep 0.2
    done
    started+=("$(cat "$RUN/virtlogd.pid")" "$(cat "$RUN/libvirtd.pid")")
    virsh -c "qemu:///system?socket=$RUN/libvirt-sock" version >/dev/null
}

ensure_packages || { log "cannot install ${PKGS[*]}"; exit 1; }
ensure_venv || { log "cannot build $VENV"; exit 1; }
start_libvirt || { log "libvirtd did not start"; exit 1; }

export AUXO_LIBVIRT_URI="qemu:///system?socket=$RUN/libvirt-sock"
export PYTHONWARNINGS=ignore::DeprecationWarning
"$VENV/bin/stestr" --test-path ./cinder_auxo/tests/hypervisor --top-dir ./ \
    run --concurrency 2 "$@"
rc=$?
"$VENV/bin/stestr" slowest | head -n 8
exit $rc
