# lib.sh - shared helpers for the integration scripts (sourced).
# Each script: `source tests/integration/lib.sh "$@"`; then check/ok/fail,
# and `finish` at the end. Everything runs in a private temp dir that is
# removed on exit; child processes are killed.
set -uo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(pwd)
WOTGW=$BUILD/wotgw
PASSWD=$BUILD/wotgw-passwd
T=$(mktemp -d /tmp/wotgw-it.XXXXXX)
_fails=0
_pids=()
cleanup() {
    # subshells ( ... & ) inherit the EXIT trap: only the test itself cleans up
    [ "$BASHPID" = "$$" ] || return 0
    for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${KEEP_T:-}" ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
# stopped by run-integration.sh's timeout: clean up all the same
trap 'echo "# stopped by a signal"; exit 143' TERM INT
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; _fails=$((_fails + 1)); }
# check NAME COMMAND...: ok when COMMAND succeeds
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
bg() { "$@" & _pids+=($!); }
finish() { [ "$_fails" -eq 0 ] || { echo "# $_fails failed"; exit 1; }; exit 0; }
# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.05; done
    "$@"
}
# ASan builds: leaks fail the process at exit
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# free_port: prints a TCP port on 127.0.0.1 that is free right now
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# free_udp_port: the same for UDP (CoAP, DTLS)
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
