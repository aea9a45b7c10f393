#!/bin/bash
# The LVM suite split over storage VMs that run at the same time: one VM
# per FILTER (the tests it selects) and one more for every test no FILTER
# selects, so a new test module always runs somewhere. Each VM boots its
# own overlay of the built image with its own LUN (run.sh); each VM's
# output is printed when all are done. Exits non-zero when any failed.
#
#   run-shards.sh [--exclude-regex R] FILTER...
#
# Under TCG a storage VM keeps about one host core busy (its tests run one
# at a time on one volume group), so on a two-core machine two VMs take
# about half the time of one running everything. VM_OUT is one directory
# per VM (.vm/shard-N).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
exclude=
if [ "${1:-}" = --exclude-regex ]; then
    exclude=$2
    shift 2
fi
if [ $# -eq 0 ]; then
    echo "usage: $0 [--exclude-regex R] FILTER..." >&2
    exit 2
fi

STESTR="python -m stestr --test-path ./cinder_auxo/tests/functional/lvm"
STESTR+=" --top-dir ./ run --concurrency 1"
[ -n "$exclude" ] && selected="$STESTR --exclude-regex '$exclude'" ||
    selected=$STESTR
commands=()
rest=$exclude
for filter in "$@"; do
    commands+=("$selected '$filter'")
    rest+=${rest:+|}$filter
done
commands+=("$STESTR --exclude-regex '$rest'")

pids=()
n=0
for cmd in "${commands[@]}"; do
    n=$((n + 1))
    VM_OUT=$VM_DIR/shard-$n "$HERE/run.sh" "$cmd" \
        > "$VM_DIR/shard-$n.log" 2>&1 &
    pids+=($!)
    echo "storage VM $n (pid $!): $cmd"
done

status=0
n=0
for pid in "${pids[@]}"; do
    n=$((n + 1))
    wait "$pid"
    rc=$?
    echo "== storage VM $n: exit $rc"
    cat "$VM_DIR/shard-$n.log"
    [ "$rc" -ne 0 ] && status=1
done
exit $status
