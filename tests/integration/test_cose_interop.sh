#!/usr/bin/env bash
# COSE interop between wotgw's src/objsec (C, OpenSSL) and cose-js 0.9.0
# (tests/node/cose-interop): cose-js produces Sign1/Mac0/Encrypt0 that
# test_cose verifies (and refuses tampered), then cose-js verifies the
# messages and COSE_Keys test_cose wrote. $1 = build dir.
set -uo pipefail
source tests/integration/lib.sh "$@"

bin=$BUILD/tests/test_cose
if [ ! -x "$bin" ]; then
    san=0
    case $BUILD in *-asan) san=1 ;; esac
    make -s BUILDDIR="$BUILD" SAN=$san "$bin" >"$T/make.log" 2>&1 || sed 's/^/# /' "$T/make.log" | tail -n 20
fi
check "test_cose is built" test -x "$bin"
[ -x "$bin" ] || finish

dir=tests/node/cose-interop
if [ ! -d "$dir/node_modules/cose-js" ]; then
    timeout 300 npm --prefix "$dir" install --no-audit --no-fund >"$T/npm.log" 2>&1 || sed 's/^/# /' "$T/npm.log" | tail -n 20
fi
check "cose-js is installed" test -d "$dir/node_modules/cose-js"
[ -d "$dir/node_modules/cose-js" ] || finish

mkdir -p "$T/interop"
# 1. cose-js writes its messages
# CI once saw this step fail with no output at all (stop 10, ASan pass;
# the plain pass before it succeeded): node killed or timed out. Say how
# it ended, and when node itself died (a timeout or a signal, not a
# refusal by interop.mjs) try once more, saying so.
produce() {
    out=$(timeout 60 node "$dir/interop.mjs" produce "$T/interop" 2>&1)
    prc=$?
}
produce
if [ "$prc" -eq 124 ] || [ "$prc" -gt 128 ]; then
    echo "# node ended with status $prc (timeout or signal) and printed: ${out:-nothing}; once more"
    produce
fi
if [ "$prc" -eq 0 ]; then
    ok "cose-js produces Sign1/Mac0/Encrypt0 messages"
else
    fail "cose-js produces Sign1/Mac0/Encrypt0 messages (node status $prc)"
    printf '%s\n' "$out" | sed 's/^/# /' | tail -n 20
fi

# 2. wotgw verifies them and writes its own
rc=0
WOTGW_COSE_INTEROP_DIR=$T/interop timeout 120 "$bin" >"$T/test_cose.log" 2>&1 || rc=$?
sed -n 's/^interop: \(\(not \)\{0,1\}ok - .*\)$/\1/p' "$T/test_cose.log"
_fails=$((_fails + $(grep -c '^interop: not ok' "$T/test_cose.log")))
check "test_cose (with the interop case) passes" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/test_cose.log" | tail -n 30
check "test_cose ran the interop case" grep -q 'interop: [0-9]* js messages verified, 0 failed' "$T/test_cose.log"
check "wotgw wrote c-messages.json" test -s "$T/interop/c-messages.json"

# 3. cose-js verifies wotgw's messages and COSE_Keys
out=$(timeout 60 node "$dir/interop.mjs" verify "$T/interop" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(not )?ok - '
_fails=$((_fails + $(printf '%s\n' "$out" | grep -c '^not ok - ')))
check "cose-js verified every wotgw message" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | grep -v '^ok - ' | sed 's/^/# /' | tail -n 20
finish
