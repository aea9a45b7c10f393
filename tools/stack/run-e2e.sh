#!/bin/bash
#
# tools/stack/run-e2e.sh: bring the all-in-one stack up, run the end-to-end
# suite and tempest (auxo-stack tempest) against it, always bring it down,
# and exit with the status of both.
#
#   tools/stack/run-e2e.sh [stestr filter...]
#
# Environment: AUXO_STACK_DIR (default <repo>/.stack), as for auxo-stack;
# AUXO_STACK_COMPUTE=0 leaves nova out (default: nova and libvirt too);
# AUXO_STACK_TEMPEST=0 leaves tempest out.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STACK_DIR=${AUXO_STACK_DIR:-$REPO/.stack}
STACK="$HERE/auxo-stack"

# shellcheck disable=SC2329  # run by the EXIT trap
teardown() {
    "$STACK" down || echo "run-e2e: teardown reported a problem" >&2
}
trap teardown EXIT

# Services whose default port is taken on this machine move to free ones.
moved=$("$HERE/free-ports") || exit 1
if [[ -n $moved ]]; then
    echo "run-e2e: default ports in use, moving:" \
        "$(tr '\n' ' ' <<< "${moved//export /}")"
    eval "$moved"
fi

# The suite boots desktops through nova: the compute part comes up too
# unless AUXO_STACK_COMPUTE=0 (its tests then skip, saying why).
export AUXO_STACK_COMPUTE=${AUXO_STACK_COMPUTE:-1}

start=$(date +%s)
if ! "$STACK" up; then
    echo "run-e2e: bring-up failed after $(($(date +%s) - start))s;" \
        "last lines of each service log:" >&2
    for log in "$STACK_DIR"/logs/*.log; do
        [[ -f $log ]] || continue
        echo "---- $log" >&2
        tail -n 20 "$log" >&2
    done
    exit 1
fi
up_done=$(date +%s)

cd "$REPO" || exit 1
out=$(mktemp)
"$STACK_DIR/venv-cinder/bin/stestr" --test-path ./cinder_auxo/tests/e2e \
    run --concurrency 1 "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
suite_done=$(date +%s)

passed=$(sed -n 's/^ - Passed: \([0-9]*\)$/\1/p' "$out" | tail -n 1)
failed=$(sed -n 's/^ - Failed: \([0-9]*\)$/\1/p' "$out" | tail -n 1)
rm -f "$out"
if [[ $rc -ne 0 ]]; then
    echo "run-e2e: cinder-volume log errors:" >&2
    grep -E ' (ERROR|CRITICAL) ' "$STACK_DIR/logs/cinder-volume.log" \
        | tail -n 40 >&2
fi

# Then OpenStack's own conformance tests against the same stack, unless a
# filter asked for some e2e tests only or AUXO_STACK_TEMPEST=0.
tempest_rc=0
tempest_s=0
if [[ $# -eq 0 && ${AUXO_STACK_TEMPEST:-1} != 0 ]]; then
    "$STACK" tempest || tempest_rc=$?
    tempest_s=$(($(date +%s) - suite_done))
fi
echo "run-e2e: bring-up $((up_done - start))s," \
    "suite $((suite_done - up_done))s, tempest ${tempest_s}s"
echo "e2e: ${passed:-0} passed, ${failed:-0} failed"
[[ $rc -eq 0 ]] && rc=$tempest_rc
exit "$rc"
