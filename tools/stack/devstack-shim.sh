#!/bin/bash
#
# tools/stack/devstack-shim.sh: the few devstack functions that
# devstack/settings and devstack/lib/auxo use, for running them without
# devstack (the all-in-one stack in tools/stack, the unit tests).
#
#   source tools/stack/devstack-shim.sh
#   source devstack/settings
#   source devstack/lib/auxo
#   configure_cinder_backend_auxo_local local1
#
# Same calling conventions as devstack's functions-common and
# inc/ini-config; only what the plugin needs.

# die LINENO message...: print the message and exit
function die {
    local line=$1
    shift
    echo "ERROR: ${BASH_SOURCE[1]:-}:$line: $*" >&2
    exit 1
}

# trueorfalse default VARNAME: print True or False for the value of VARNAME,
# or default when it is empty or not a boolean
function trueorfalse {
    local default=$1
    local testval=${!2:-}
    case "$testval" in
        1 | [yY]es | YES | [tT]rue | TRUE) echo True ;;
        0 | [nN]o | NO | [fF]alse | FALSE) echo False ;;
        *) echo "$default" ;;
    esac
}

# is_service_enabled service...: true if any is in ENABLED_SERVICES
function is_service_enabled {
    local service
    for service in "$@"; do
        if [[ ,${ENABLED_SERVICES:-}, == *,"$service",* ]]; then
            return 0
        fi
    done
    return 1
}

function define_plugin {
    :
}

function plugin_requires {
    :
}

# As root, run commands directly: containers and CI nodes often have no
# sudo.  Leading options (-E, -H, ...) are dropped.
if [[ $EUID -eq 0 ]]; then
    function sudo {
        while [[ ${1:-} == -* ]]; do
            shift
        done
        "$@"
    }
fi

# iniset [-sudo] file section option value: set option in section to
# value, creating the file, the section and the option as needed.  A new
# option goes at the end of its section.  An empty value is written as
# "option =", and an option with an empty value counts as present.
function iniset {
    local -a run=()
    if [[ ${1:-} == -sudo ]]; then
        run=(sudo)
        shift
    fi
    local file=$1
    local section=$2
    local option=$3
    local value=${4:-}
    local tmp

    if [[ -z $section || -z $option ]]; then
        return 0
    fi
    tmp=$(mktemp)
    if [[ -f $file ]]; then
        "${run[@]}" cat "$file" > "$tmp"
    fi
    INI_SECTION=$section INI_OPTION=$option INI_VALUE=$value awk '
        BEGIN {
            s = ENVIRON["INI_SECTION"]; o = ENVIRON["INI_OPTION"]
            v = ENVIRON["INI_VALUE"]
            out = (v == "") ? o " =" : o " = " v
        }
        function blanks() { for (; nb > 0; nb--) print "" }
        /^[ \t]*\[.*\][ \t]*$/ {
            if (insec && !done) { print out; done = 1 }
            blanks()
            name = $0
            sub(/^[ \t]*\[/, "", name); sub(/\][ \t]*$/, "", name)
            insec = (name == s); if (insec) found = 1
            print; next
        }
        insec && /^[ \t]*$/ { nb++; next }
        insec {
            blanks()
            key = $0
            if (sub(/[ \t]*=.*$/, "", key) && key == o) {
                print out; done = 1; next
            }
        }
        { print }
        END {
            if (insec && !done) { print out; done = 1 }
            blanks()
            if (!found) { print ""; print "[" s "]"; print out }
        }
    ' "$tmp" | "${run[@]}" tee "$file" > /dev/null
    rm -f "$tmp"
}

# iniget file section option: print the value of option in section
function iniget {
    local file=$1
    local section=$2
    local option=$3
    if [[ ! -f $file ]]; then
        return 0
    fi
    INI_SECTION=$section INI_OPTION=$option awk '
        /^[ \t]*\[.*\][ \t]*$/ {
            name = $0
            sub(/^[ \t]*\[/, "", name); sub(/\][ \t]*$/, "", name)
            insec = (name == ENVIRON["INI_SECTION"]); next
        }
        insec {
            key = $0
            if (sub(/[ \t]*=.*$/, "", key) && key == ENVIRON["INI_OPTION"]) {
                value = $0
                sub(/^[^=]*=[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
                print value; exit
            }
        }
    ' "$file"
}
