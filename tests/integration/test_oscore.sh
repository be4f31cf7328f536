#!/usr/bin/env bash
# OSCORE (RFC 8613) north on the CoAP front end, against the real daemon:
# contexts made by wotgw-passwd, requests protected by the test client
# build/wotgw-oscore-client (wotgw's own objsec/oscore.c, checked against
# the RFC's vectors by the unit tests: Debian 12 packages no OSCORE
# client), the simulated device behind the gateway over HTTP and CoAP.
# The Echo challenge after a start (Appendix B.1.2), reads and writes with
# the device's bytes, the section 8.2 errors (unknown kid, replay,
# tampering), the policy on the context's name, a separate (slow) answer
# protected, and a SIGKILL restart: no nonce reused (B.1.1), a request
# from before the restart not executed again. OSCORE over HTTP (RFC 8613
# section 11) on the HTTPS front end with the same contexts: one server,
# one replay window for both; the HTTP shape of answers and errors.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

OSC=$BUILD/wotgw-oscore-client
[ -x "$OSC" ] || { fail "the test client $OSC is built"; finish; }
PP=$(free_udp_port)
PU=coap://127.0.0.1:$PP
CP=$(free_udp_port)
# osc NAME ARGS...: one client run with the next sequence numbers of NAME
# (kept in a file: the runs are in command substitutions)
osc() {
    local n=$1 s=1
    shift
    [ -f "$T/seq.$n" ] && s=$(cat "$T/seq.$n")
    echo $((s + 5)) >"$T/seq.$n"
    timeout 20 "$OSC" -f "${OSC_FILE:-$T/oscore}" -n "$n" -s "$s" "$@" 2>&1
}
last() { tail -n 1 <<<"$1"; }

gw_pki || { fail "test PKI"; finish; }
DEV_PORT=$(free_port)
DEV_URL=http://127.0.0.1:$DEV_PORT
DEV_COAP_PORT=$(free_udp_port)
SIMARGS=(--listen "127.0.0.1:$DEV_PORT" --coap-listen "127.0.0.1:$DEV_COAP_PORT")
"$SIMDEV" "${SIMARGS[@]}" --write-tds "$T/things" >/dev/null 2>"$T/simdev-tds.err" ||
    { cat "$T/simdev-tds.err" >&2; fail "simulated device writes its TDs"; finish; }
"$SIMDEV" "${SIMARGS[@]}" --slow-ms 500 --event-interval-ms 0 >"$T/simdev.log" 2>&1 &
DEV_PID=$!
_pids+=("$DEV_PID")
wait_for 10 curl -fsS -o /dev/null --max-time 2 "$DEV_URL/lamp/properties/on" 2>/dev/null ||
    { fail "simulated device starts"; finish; }

# the installer's way: one context per consumer, its parameters printed once
: >"$T/users"
out=$("$PASSWD" -f "$T/oscore" oscore add alice 2>&1)
check "wotgw-passwd oscore add alice" grep -q "alice" "$T/oscore"
"$PASSWD" -f "$T/oscore" oscore add bob >/dev/null 2>&1
# a context the gateway does not have: a kid (03) that none of its contexts uses
for n in x1 x2 eve; do "$PASSWD" -f "$T/other" oscore add $n >/dev/null 2>&1; done
SECRET_ALICE=$(sed -n 's/^alice .*master_secret[_b64]*=\([^ ]*\).*/\1/p' "$T/oscore")
check "the contexts file is 0600 or 0640" bash -c '[[ $(stat -c %a "$1") == 6[04]0 ]]' _ "$T/oscore"

{
    gw_conf
    echo "oscore = oscore"
    echo
    gw_limits device_timeout=1500ms
    cat <<EOF
[coaps]
listen = 127.0.0.1:$CP
coap_listen = 127.0.0.1:$PP

[thing lamp]
td = lamp.td.json
security = ${OSC_SCHEME:-oscore}
allow = user:alice

[thing faulty]
td = faulty.td.json
security = ${OSC_SCHEME:-oscore}
allow = user:alice

[thing thermometer]
td = thermometer.td.json
security = nosec
EOF
} >"$T/wotgw.conf"
gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }
check "the daemon loaded the OSCORE contexts" grep -q "2 OSCORE context(s) loaded" "$GW_LOG"

# ---- the first request after a start: the Echo challenge (B.1.2) ----------------
dev=$(curl -sS "$DEV_URL/lamp/properties/brightness")
out=$(osc alice -v "$PU/things/lamp/properties/brightness")
check "first request: challenged with Echo (a protected 4.01), then answered with the device's value" \
    bash -c 'grep -qx echo <<<"$1" && [ "$(tail -n 1 <<<"$1")" = "2.05 $2" ]' _ "$out" "$dev"
piv1=$(grep '^piv ' <<<"$out" | head -1 | cut -d' ' -f2)
check "the challenge carries a Partial IV of the gateway's own ($piv1)" [ -n "$piv1" ]
out=$(osc alice "$PU/things/lamp/properties/brightness")
check "synchronised: the next request is answered at once" [ "$out" = "2.05 $dev" ]
out=$(osc alice -m put -t 50 -e 33 "$PU/things/lamp/properties/brightness")
check "writeproperty over OSCORE: 2.04" [ "$(last "$out")" = "2.04 " ]
check "... the device has the value" [ "$(curl -sS "$DEV_URL/lamp/properties/brightness")" = 33 ]
out=$(osc alice -m post "$PU/things/lamp/actions/toggle")
check "invokeaction over OSCORE: the device's output ($out)" \
    bash -c '[[ $1 =~ ^2\.0[45]\ \{\"on\":(true|false)\}$ ]]' _ "$(last "$out")"
out=$(osc alice "$PU/things/faulty/properties/slow")
check "a slow device (separate answer): protected too" [ "$(last "$out")" = '2.05 {"slow":true}' ]
out=$(osc alice "$PU/things/thermometer/properties/unit")
check "a nosec thing over OSCORE: answered" [ "$(last "$out")" = '2.05 "celsius"' ]

# ---- section 8.2 errors ---------------------------------------------------------------
out=$(osc alice --replay "$PU/things/lamp/properties/brightness")
check "a replayed request: the first answered, the copy 4.01 Replay detected" \
    bash -c '[ "$(head -1 <<<"$1")" = "2.05 33" ] && [ "$(tail -1 <<<"$1")" = "4.01 Replay detected (unprotected)" ]' _ "$out"
out=$(OSC_FILE=$T/other osc eve "$PU/things/lamp/properties/brightness")
check "an unknown kid: 4.01 Security context not found" [ "$out" = "4.01 Security context not found (unprotected)" ]
out=$(osc alice --tamper "$PU/things/lamp/properties/brightness")
check "a flipped ciphertext bit: 4.00 Decryption failed" [ "$out" = "4.00 Decryption failed (unprotected)" ]
check "each failure logged with the kid, never a key" \
    bash -c 'grep -q "oscore:.*kid" "$1" && ! grep -qF "$2" "$1"' _ "$GW_LOG" "$SECRET_ALICE"

# ---- OSCORE over HTTP (RFC 8613 section 11): the same contexts, one server ------------
HU=$GW_URL
osch() { osc "$@" --cacert "$PKI/ca.crt"; }
out=$(osch bob -v "$HU/things/lamp/properties/brightness")
check "HTTPS, bob's first request: the Echo challenge over HTTP, then a protected 4.03 ($(last "$out"))" \
    bash -c 'grep -qx echo <<<"$1" && [[ $(tail -n 1 <<<"$1") == 4.03* ]]' _ "$out"
out=$(osch alice -v "$HU/things/lamp/properties/brightness")
check "HTTPS, alice (synchronised over CoAP: one replay window for both front ends): 2.05 33 at once" \
    bash -c '! grep -qx echo <<<"$1" && [ "$(tail -n 1 <<<"$1")" = "2.05 33" ]' _ "$out"
check "... the HTTP answer: 200, an OSCORE header, Content-Type application/oscore (section 11.1)" \
    bash -c 'grep -qE "^http 200 oscore=[A-Za-z0-9_-]{2,} content-type=application/oscore$" <<<"$1"' _ "$out"
check "... the request: the OSCORE option and ciphertext the client made" \
    bash -c 'grep -qE "^sent-option [0-9a-f]{4,}$" <<<"$1" && grep -qE "^sent-payload [0-9a-f]{20,}$" <<<"$1"' _ "$out"
out=$(osch alice -m put -t 50 -e 35 "$HU/things/lamp/properties/brightness")
check "HTTPS, writeproperty: 2.04" [ "$(last "$out")" = "2.04 " ]
check "... the device has the value" [ "$(curl -sS "$DEV_URL/lamp/properties/brightness")" = 35 ]
out=$(osch alice "$HU/things/faulty/properties/slow")
check "HTTPS, a slow device: answered and protected" [ "$(last "$out")" = '2.05 {"slow":true}' ]
out=$(osch alice "$HU/things/lamp")
check "HTTPS, the thing's TD through OSCORE (2.05, the exposed TD)" \
    bash -c '[[ $1 == "2.05 {"*urn:* ]]' _ "$(last "$out")"
out=$(osch alice "$HU/things/lamp/properties/nosuch")
check "HTTPS, an unknown property: a protected 4.04" bash -c '[[ $1 == 4.04* && $1 != *unprotected* ]]' _ "$(last "$out")"
out=$(osch alice "$HU/things/lamp/properties/on/observe")
check "HTTPS, observe is not offered over HTTP: a protected 4.00" bash -c '[[ $1 == 4.00*Server-Sent* ]]' _ "$(last "$out")"
out=$(osch alice --replay "$HU/things/lamp/properties/brightness")
check "HTTPS, a replayed request: HTTP 401 Replay detected" \
    bash -c '[ "$(head -1 <<<"$1")" = "2.05 35" ] && [ "$(tail -1 <<<"$1")" = "HTTP 401 Replay detected (unprotected)" ]' _ "$out"
out=$(OSC_FILE=$T/other osch eve "$HU/things/lamp/properties/brightness")
check "HTTPS, an unknown kid: HTTP 401 Security context not found" [ "$out" = "HTTP 401 Security context not found (unprotected)" ]
out=$(osch alice --tamper "$HU/things/lamp/properties/brightness")
check "HTTPS, a flipped ciphertext bit: HTTP 400 Decryption failed" [ "$out" = "HTTP 400 Decryption failed (unprotected)" ]
check "the interaction log: the context is the principal, the protocol https" \
    grep -q 'writeproperty lamp/brightness by alice.*PROTOCOL=https' "$GW_LOG"
# malformed outer requests (curl: no OSCORE client needed to get these wrong)
hc() { curl -sS -o "$T/hc.body" -D "$T/hc.hdr" -w '%{http_code}' --cacert "$PKI/ca.crt" "$@"; }
st=$(hc -X POST -H 'OSCORE: CSU=' -H 'Content-Type: application/oscore' --data-binary x "$HU/")
check "a malformed OSCORE header: 400 ($st)" [ "$st" = 400 ]
st=$(hc -X POST -H 'OSCORE: A' -H 'Content-Type: application/oscore' --data-binary x "$HU/")
check "an OSCORE header of one character (section 11.1 asks for two): 400 ($st)" [ "$st" = 400 ]
st=$(hc -H 'OSCORE: CSU' "$HU/")
check "a GET with an OSCORE header: 405 with Allow: POST ($st)" \
    bash -c '[ "$1" = 405 ] && grep -qi "^Allow: POST" "$2"' _ "$st" "$T/hc.hdr"
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/json' --data-binary x "$HU/")
check "an OSCORE request that is not application/oscore: 415 ($st)" [ "$st" = 415 ]
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/oscore' "$HU/")
check "an OSCORE request without a body: 400 ($st)" [ "$st" = 400 ]
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/oscore' --data-binary x "$HU/things/lamp/properties/on")
check "an OSCORE header on another path: 404 ($st)" [ "$st" = 404 ]
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/oscore' --data-binary x "$HU/")
check "garbage for the kid 25 of no context: 401 Security context not found ($st)" \
    bash -c '[ "$1" = 401 ] && grep -q "Security context not found" "$2"' _ "$st" "$T/hc.body"

# ---- reload: a broken contexts file keeps the running ones; a good one keeps their state
cp "$T/oscore" "$T/oscore.good"
printf 'not a context line\n' >>"$T/oscore"
kill -HUP "$GW_PID"
wait_for 10 grep -q "reload of .* failed" "$GW_LOG"
check "SIGHUP with a broken contexts file: the reload fails whole" grep -q "reload of .* failed" "$GW_LOG"
out=$(OSC_FILE=$T/oscore.good osch alice "$HU/things/lamp/properties/brightness")
check "... the running contexts still answer (no new Echo: the state is kept) ($out)" [ "$out" = "2.05 35" ]
cp "$T/oscore.good" "$T/oscore"
kill -HUP "$GW_PID"
wait_for 10 bash -c '[ "$(grep -c "2 OSCORE context(s) loaded" "$1")" -ge 2 ]' _ "$GW_LOG"
out=$(osc alice "$PU/things/lamp/properties/brightness")
check "SIGHUP with the contexts file repaired: loaded again, alice answered at once over CoAP" \
    [ "$out" = "2.05 35" ]

# ---- the policy on the context's name ------------------------------------------------
out=$(osc bob "$PU/things/lamp/properties/brightness")
check "bob (a context, not allowed on lamp): a protected 4.03 ($(last "$out"))" \
    bash -c '[[ $1 == 4.03* && $1 != *unprotected* ]]' _ "$(last "$out")"
out=$(timeout 10 coap-client-notls -B 5 "$PU/things/lamp/properties/brightness" 2>&1)
check "no OSCORE on an oscore thing: 4.01" bash -c '[[ $1 == 4.01* ]]' _ "$out"
check "the interaction log names the context as the principal" \
    grep -q 'readproperty lamp/brightness by alice.*PROTOCOL=coaps' "$GW_LOG"

# ---- SIGKILL and restart: no nonce reused (B.1.1), no old request run again (B.1.2) ----------
out=$(osc alice -m put -t 50 -e 41 --save "$T/put41.bin" "$PU/things/lamp/properties/brightness")
check "a write to keep for later: 2.04" [ "$(last "$out")" = "2.04 " ]
kill -KILL "$GW_PID"
wait "$GW_PID" 2>/dev/null
curl -sS -X PUT -H 'Content-Type: application/json' -d 44 "$DEV_URL/lamp/properties/brightness"
gw_start "$T/wotgw.conf" || { fail "gateway starts again"; finish; }
out=$(osc alice --resend "$T/put41.bin" "$PU/things/lamp/properties/brightness")
check "the request from before the restart, sent again: a protected answer (outer 2.04: the challenge) ($out)" \
    [ "$out" = "2.04 (protected)" ]
check "... not executed: the device still has 44" [ "$(curl -sS "$DEV_URL/lamp/properties/brightness")" = 44 ]
out=$(osc alice -v "$PU/things/lamp/properties/brightness")
piv2=$(grep '^piv ' <<<"$out" | head -1 | cut -d' ' -f2)
check "after the restart: challenged again, then answered (44)" \
    bash -c 'grep -qx echo <<<"$1" && [ "$(tail -n 1 <<<"$1")" = "2.05 44" ]' _ "$out"
check "the gateway's Partial IV after SIGKILL ($piv2) is beyond the one before ($piv1): no nonce reused" \
    bash -c '[ -n "$1" ] && [ -n "$2" ] && [ $((16#$2)) -gt $((16#$1)) ]' _ "$piv1" "$piv2"
check "its sequence numbers are kept in state_dir/oscore" bash -c 'ls "$1"/state/oscore/ | grep -q alice' _ "$T"
gw_stop
check "SIGTERM: clean exit" [ "$?" = 0 ]
check "no sanitizer report in the daemon's log" bash -c '! grep -q "ERROR: AddressSanitizer\|runtime error:" "$1"' _ "$GW_LOG"
finish
