#!/usr/bin/env bash
# Usage: tests/remote/run-case.sh NAME
#
# Runs the remote test case test_NAME (a function in cases/*.sh) in a fresh
# scratch directory, with the servers of servers.env (SPOREVM_TEST_SERVERS)
# as shell variables, $SPORE and $MAKE_TEST_SPORE pointing at the native
# binaries, and its own SPOREVM_CACHE. Passes when the function returns.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="$1"
: "${SPOREVM_TEST_SERVERS:?the servers file of tests/remote/servers.sh}"
: "${SPORE:?the native spore binary}"
: "${MAKE_TEST_SPORE:?the make_test_spore binary}"

set -a
# shellcheck disable=SC1090
source "$SPOREVM_TEST_SERVERS"
set +a
source "$here/../lab/lib.sh"
source "$here/lib.sh"
for file in "$here"/cases/*.sh; do
    # shellcheck disable=SC1090
    source "$file"
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/spore-remote-$name.XXXXXX")"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
cd "$scratch"
export SPOREVM_CACHE="$scratch/cache"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 SSL_CERT_FILE
(
    set -e
    "test_$name"
)
status=$?
[ "$status" = 0 ] && echo "PASS: $name"
exit "$status"
