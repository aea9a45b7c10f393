#!/bin/bash
# shellcheck disable=SC2154  # AUXO_* and devstack's globals are set before.
#
# devstack/plugin.sh: cinder-auxo devstack plugin.
#
#   enable_plugin cinder-auxo <git url of this repository>
#   CINDER_ENABLED_BACKENDS=auxo_local:local1,auxo_lvmsan:san1
#
# The backend hooks devstack's lib/cinder calls live in devstack/lib/auxo;
# this file installs the package and runs the plugin phases.

# shellcheck source=devstack/lib/auxo
source "$AUXO_DIR/devstack/lib/auxo"


# auxo_creates_lun: true if an auxo_lvmsan backend needs a LUN made here
function auxo_creates_lun {
    [[ $AUXO_LVMSAN_CREATE_LUN == True ]] && \
        auxo_backends | grep -q '^auxo_lvmsan '
}

# auxo_runs_compute: true if n-cpu runs here, on libvirt, beside an auxo
# backend
function auxo_runs_compute {
    is_service_enabled n-cpu && [[ ${VIRT_DRIVER:-libvirt} == libvirt ]] && \
        [[ -n $(auxo_backends) ]]
}

# _auxo_n_cpu_dropin: the systemd drop-in that runs n-cpu through the
# launcher
function _auxo_n_cpu_dropin {
    local unit=devstack@n-cpu.service
    echo "${SYSTEMD_DIR:-/etc/systemd/system}/$unit.d/auxo.conf"
}

# configure_auxo_compute: n-cpu through cinder-auxo-nova-compute, with the
# [auxo] options.  Runs in post-config, before devstack's start_nova: that
# copies $NOVA_CONF to $NOVA_CPU_CONF (so the [auxo] section goes into
# $NOVA_CONF) and writes the devstack@n-cpu unit, whose ExecStart (always
# $NOVA_BIN_DIR/nova-compute) the drop-in replaces, as doc/attach.md tells
# operators to.  The unit keeps its User, Group and Environment.
function configure_auxo_compute {
    local launcher=$NOVA_BIN_DIR/cinder-auxo-nova-compute
    local dropin
    if [[ ! -x $launcher ]]; then
        die $LINENO "$launcher is missing: cinder_auxo must be installed in" \
            "nova's environment (AUXO_INSTALL=True does it when nova and" \
            "cinder share one)"
    fi
    configure_auxo_nova "$NOVA_CONF"
    dropin=$(_auxo_n_cpu_dropin)
    sudo mkdir -p "$(dirname "$dropin")"
    printf '[Service]\nExecStart=\nExecStart=%s --config-file %s\n' \
        "$launcher" "$NOVA_CPU_CONF" | sudo tee "$dropin" >/dev/null
}

# cleanup_auxo_compute: n-cpu as devstack runs it, for the next stack
function cleanup_auxo_compute {
    local dropin
    dropin=$(_auxo_n_cpu_dropin)
    if [[ -f $dropin ]]; then
        sudo rm -f "$dropin"
        sudo rmdir --ignore-fail-on-non-empty "$(dirname "$dropin")"
    fi
}

# install_auxo_packages: what the drivers and the created LUN need
function install_auxo_packages {
    if is_ubuntu; then
        install_package qemu-utils
    else
        install_package qemu-img
    fi
    if ! auxo_backends | grep -q '^auxo_lvmsan '; then
        return 0
    fi
    install_package lvm2 open-iscsi
    if auxo_creates_lun; then
        if [[ $AUXO_LVMSAN_TARGET_TOOL == tgtadm ]]; then
            install_package tgt
        elif is_ubuntu; then
            install_package targetcli-fb
        else
            install_package targetcli
        fi
    fi
}

# install_auxo: the packages, and this python package into cinder's
# environment
function install_auxo {
    install_auxo_packages
    if [[ $AUXO_INSTALL == True ]]; then
        setup_develop "$AUXO_DIR"
    fi
}

# start_auxo_services: the iSCSI daemons a created LUN needs
function start_auxo_services {
    if ! auxo_creates_lun; then
        return 0
    fi
    start_service iscsid
    if [[ $AUXO_LVMSAN_TARGET_TOOL == tgtadm ]]; then
        if is_ubuntu; then
            start_service tgt
        else
            start_service tgtd
        fi
    fi
}

# _auxo_rootwrap_filters: where cinder-rootwrap reads this package's filters
# (lib/cinder has put cinder's own there by post-config)
function _auxo_rootwrap_filters {
    local conf_dir=${CINDER_CONF_DIR:-$(dirname "$CINDER_CONF")}
    echo "$conf_dir/rootwrap.d/cinder-auxo.filters"
}

# install_auxo_rootwrap_filters: the commands LVMSANDriver runs as root,
# for a cinder that runs them through cinder-rootwrap
function install_auxo_rootwrap_filters {
    sudo install -D -m 0644 \
        "$AUXO_DIR/etc/cinder/rootwrap.d/cinder-auxo.filters" \
        "$(_auxo_rootwrap_filters)"
}

# configure_auxo_backends: write each auxo section again.  lib/cinder has
# written them already, but its later loops over every backend (image-volume
# cache, optimized upload) may have changed keys the drivers rely on.
function configure_auxo_backends {
    local be_type be_name
    while read -r be_type be_name; do
        "configure_cinder_backend_$be_type" "$be_name"
    done < <(auxo_backends)
}

# create_auxo_volume_types: one volume type per auxo backend, keyed by
# volume_backend_name.  lib/cinder may have created it already.
function create_auxo_volume_types {
    local be_type be_name
    local -a os=(openstack --os-region-name="$REGION_NAME")
    # The openstack client needs keystone; without it lib/cinder has made
    # the types with the cinder client.
    if ! is_service_enabled c-api || ! is_service_enabled keystone; then
        return 0
    fi
    while read -r be_type be_name; do
        if ! "${os[@]}" volume type show "$be_name" >/dev/null 2>&1; then
            "${os[@]}" volume type create \
                --description "cinder-auxo $be_type backend $be_name" \
                --property "volume_backend_name=$be_name" "$be_name"
        else
            "${os[@]}" volume type set \
                --property "volume_backend_name=$be_name" "$be_name"
        fi
    done < <(auxo_backends)
}

# cleanup_auxo: undo the devices init made (mounts, loop devices, volume
# groups, iSCSI sessions and targets).  Runs before lib/cinder's own
# cleanup, which would delete every LIO target under our login.
function cleanup_auxo {
    local be_name
    for be_name in $(auxo_made_backends); do
        auxo_cleanup_backend "$be_name" || \
            echo "WARNING: cleanup of cinder-auxo backend $be_name failed"
    done
}

# _auxo_clean_storage_records: cinder-auxo-storage's directory (root's),
# once it records no storage
function _auxo_clean_storage_records {
    local dir
    dir=$(_auxo_storage_dir)
    if [[ -d $dir ]] && \
            ! sudo find "$dir" -maxdepth 1 -name '*.json' | grep -q .; then
        sudo rm -rf "$dir"
    fi
}

# clean_auxo: also delete the files and directories the plugin made
function clean_auxo {
    local be_name
    for be_name in $(auxo_made_backends); do
        auxo_purge_backend "$be_name" || \
            echo "WARNING: clean of cinder-auxo backend $be_name failed"
    done
    _auxo_clean_storage_records
    if [[ -d $AUXO_DATA_DIR ]]; then
        rmdir --ignore-fail-on-non-empty "$AUXO_DATA_DIR"
    fi
    sudo rm -f "$(_auxo_rootwrap_filters)"
}


# Dispatcher
# ----------

case "$1:${2:-}" in
    stack:install)
        echo_summary "Installing cinder-auxo"
        install_auxo
        start_auxo_services
        ;;
    stack:post-config)
        echo_summary "Configuring cinder-auxo backends"
        install_auxo_rootwrap_filters
        configure_auxo_backends
        if auxo_runs_compute; then
            echo_summary "Running n-cpu through cinder-auxo-nova-compute"
            configure_auxo_compute
        fi
        ;;
    stack:extra)
        if [[ $AUXO_CREATE_VOLUME_TYPES == True ]]; then
            echo_summary "Creating cinder-auxo volume types"
            create_auxo_volume_types
        fi
        ;;
    unstack:*)
        cleanup_auxo
        cleanup_auxo_compute
        ;;
    clean:*)
        clean_auxo
        ;;
esac
