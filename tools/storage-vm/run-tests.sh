#!/bin/bash
# The one entry point for the storage-node VM tests (README, CI): build the
# VM if it is missing or stale, then run the LVM functional suite in it.
#   run-tests.sh [command]   (see run.sh)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$HERE/build.sh"
exec "$HERE/run.sh" "$@"
