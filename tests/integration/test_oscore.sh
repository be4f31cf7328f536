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

# answers larger than one message: the protected answer in outer Block2
# blocks (RFC 8613 §4.1.3.4.2), put together by the client, then verified
head -c 20000 /dev/urandom | base64 -w0 | head -c 20000 >"$T/big.txt"
curl -sS -X PUT -H 'Content-Type: text/plain' --data-binary @"$T/big.txt" "$DEV_URL/faulty/properties/blob"
out=$(osc alice -v "$PU/things/faulty/properties/blob")
check "a 20000-byte property over OSCORE: the device's bytes, unchanged" \
    bash -c '[ "$(tail -n 1 <<<"$1")" = "2.05 $(cat "$2")" ]' _ "$out" "$T/big.txt"
check "... in outer Block2 blocks ($(grep -c '^block ' <<<"$out") more after the first)" \
    bash -c '[ "$(grep -c "^block " <<<"$1")" -ge 10 ]' _ "$out"
head -c 15000 /dev/urandom | base64 -w0 | head -c 15000 >"$T/big2.txt"
out=$(osc alice -v -m put -t 0 -e "$(cat "$T/big2.txt")" "$PU/things/faulty/properties/blob")
check "a 15000-byte write over OSCORE, in outer Block1 blocks ($(grep -c '^block1 ' <<<"$out")): 2.04" \
    bash -c '[ "$(grep -c "^block1 " <<<"$1")" -ge 10 ] && [ "$(tail -n 1 <<<"$1")" = "2.04 " ]' _ "$out"
check "... the device has the bytes, unchanged" \
    bash -c 'cmp -s <(curl -sS "$1") "$2"' _ "$DEV_URL/faulty/properties/blob" "$T/big2.txt"
out=$(osc alice --no-size1 -m put -t 0 -e "$(cat "$T/big2.txt")" "$PU/things/faulty/properties/blob")
check "... without Size1 the gateway cannot put it together: 4.08, not a partial body to decrypt ($(last "$out"))" \
    bash -c '[[ $(tail -n 1 <<<"$1") == "4.08 incomplete block-wise request"* ]]' _ "$out"
out=$(osc alice "$PU/things/lamp")
check "the lamp's exposed TD over OSCORE (larger than one message): 2.05, the TD" \
    bash -c '[[ $(tail -n 1 <<<"$1") == "2.05 {"* ]] && sed -n "s/^2.05 //p" <<<"$1" | jq -e ".title and .forms" >/dev/null' _ "$out"
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
out=$(timeout 10 coap-client-notls -B 5 -v 3 "$PU/things/lamp/properties/brightness" 2>&1)
check "no OSCORE on an oscore thing: 4.01" bash -c '[[ $1 == 4.01* ]]' _ "$out"
check "the interaction log names the context as the principal" \
    grep -q 'readproperty lamp/brightness by alice.*PROTOCOL=coaps' "$GW_LOG"

# ---- Observe over OSCORE (RFC 8613 section 4.1.3.5, RFC 7641) --------------------------
# osc_bg FILE NAME ARGS...: one client run in the background, its output and
# "rc=N" in FILE
osc_bg() {
    local f=$1 n=$2 s=1
    shift 2
    [ -f "$T/seq.$n" ] && s=$(cat "$T/seq.$n")
    echo $((s + 5)) >"$T/seq.$n"
    (timeout 40 "$OSC" -f "$T/oscore" -n "$n" -s "$s" "$@" >"$f" 2>&1; echo "rc=$?" >>"$f") &
}
dev_put() { curl -sS -X PUT -H 'Content-Type: application/json' -d "$1" "$DEV_URL/lamp/properties/brightness"; }
n_obs_end=$(grep -c 'observeproperty lamp/brightness by alice.*stream closed' "$GW_LOG")
osc_bg "$T/obs1" alice -v --observe 2 --wait 20 "$PU/things/lamp/properties/brightness"
obs1_pid=$!
wait_for 10 grep -q 'observeproperty lamp/brightness by alice' "$GW_LOG"
sleep 0.5
# an HTTP device (long-poll) has no current value: its first change answers the registration
for v in 61 62 63; do
    dev_put $v
    wait_for 10 grep -qx "2.05 $v" "$T/obs1"
    if [ $v = 61 ]; then # a second observer: the current value at once, then the next
        osc_bg "$T/obs1b" alice -v --observe 1 --wait 20 "$PU/things/lamp/properties/brightness"
        obs1b_pid=$!
        wait_for 10 grep -qx "2.05 61" "$T/obs1b"
    fi
done
wait "$obs1_pid" "$obs1b_pid" 2>/dev/null
out=$(cat "$T/obs1b")
sed 's/^/# obs1b: /' <<<"$out"
check "a second OSCORE observer: registered with the current value (61, piggybacked with an outer Observe), then 62" \
    bash -c '[ "$(grep -E "^2\.05 " <<<"$1" | tr "\n" " ")" = "2.05 61 2.05 62 " ] && [ "$(grep -c "^observe " <<<"$1")" = 2 ] && grep -qx "rc=0" <<<"$1"' _ "$out"
out=$(cat "$T/obs1")
sed 's/^/# obs1: /' <<<"$out"
check "OSCORE observeproperty: the registration answered (61), then 2 notifications (62, 63), deregistered, exit 0" \
    bash -c '[ "$(grep -E "^2\.05 " <<<"$1" | tr "\n" " ")" = "2.05 61 2.05 62 2.05 63 " ] && grep -qx "deregistered 2.05" <<<"$1" && grep -qx "rc=0" <<<"$1"' _ "$out"
pivs=$(grep '^piv ' <<<"$out" | cut -d' ' -f2 | tr '\n' ' ')
obsv=$(grep '^observe ' <<<"$out" | cut -d' ' -f2 | tr '\n' ' ')
incr() { local p=-1 x; for x in $1; do [ $((16#$x)) -gt $p ] || return 1; p=$((16#$x)); done; }
incr10() { local p=-1 x; for x in $1; do [ "$x" -gt $p ] || return 1; p=$x; done; }
export -f incr incr10
check "... every notification with a Partial IV of the gateway's own, strictly increasing ($pivs)" \
    bash -c '[ "$(wc -w <<<"$1")" -ge 3 ] && incr "$1"' _ "$pivs"
check "... and an outer Observe, strictly increasing ($obsv)" \
    bash -c '[ "$(wc -w <<<"$1")" -ge 3 ] && incr10 "$1"' _ "$obsv"
check "... the outer messages are 2.05 with Observe, never an unprotected one" \
    bash -c '! grep -q unprotected <<<"$1"' _ "$out"
wait_for 10 bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice.*stream closed" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_obs_end"
check "the deregistration ends the stream: the gateway logs its end" \
    bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice.*stream closed" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_obs_end"
out=$(osc bob --observe 1 --wait 3 "$PU/things/lamp/properties/brightness")
check "bob observing lamp: a protected 4.03, not registered" \
    bash -c 'grep -q "^4\.03" <<<"$1" && ! grep -q unprotected <<<"$1" && grep -qx "not registered" <<<"$1"' _ "$out"
osc_bg "$T/ev1" alice -v --observe 1 --wait 20 "$PU/things/lamp/events/overheated"
ev1_pid=$!
wait_for 10 grep -q 'subscribeevent lamp/overheated by alice' "$GW_LOG"
sleep 0.5
for i in 1 2; do
    curl -sS -o /dev/null -X POST "$DEV_URL/lamp/_trigger/overheated"
    wait_for 10 bash -c '[ "$(grep -cE "^2\.05 [0-9]+\.[0-9]$" "$1")" -ge "$2" ]' _ "$T/ev1" "$i"
done
wait "$ev1_pid" 2>/dev/null
out=$(cat "$T/ev1")
sed 's/^/# ev1: /' <<<"$out"
check "OSCORE subscribeevent: two events (the registration's answer and a notification), exit 0" \
    bash -c '[ "$(grep -cE "^2\.05 [0-9]+\.[0-9]$" <<<"$1")" = 2 ] && grep -qx "rc=0" <<<"$1"' _ "$out"

# a RST to a notification (RFC 7641 section 3.6) ends the stream too
n_obs_end=$(grep -c 'observeproperty lamp/brightness by alice.*stream closed' "$GW_LOG")
n_start=$(grep -c 'observeproperty lamp/brightness by alice' "$GW_LOG")
osc_bg "$T/obs4" alice --observe 0 --rst --wait 10 "$PU/things/lamp/properties/brightness"
obs4_pid=$!
wait_for 10 bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_start"
sleep 0.5
dev_put 71
wait_for 10 grep -qx "2.05 71" "$T/obs4"
dev_put 72
wait "$obs4_pid" 2>/dev/null
out=$(cat "$T/obs4")
sed 's/^/# obs4: /' <<<"$out"
wait_for 10 bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice.*stream closed" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_obs_end"
check "a RST to an OSCORE notification ends the stream: the gateway logs its end" \
    bash -c 'grep -qx reset <<<"$1" && grep -qx rc=0 <<<"$1" && [ "$(grep -c "observeproperty lamp/brightness by alice.*stream closed" "$2")" -gt "$3" ]' _ "$out" "$GW_LOG" "$n_obs_end"

# a consumer that goes away without a word: the next notification is never
# acknowledged; after CoAP's retransmissions (62 to 93 s with the RFC 7252
# defaults) the gateway ends the observation and its device stream
n_obs_end=$(grep -c 'observeproperty lamp/brightness by alice.*stream closed' "$GW_LOG")
osc_bg "$T/obs5" alice --observe 0 --vanish --wait 20 "$PU/things/lamp/properties/brightness"
obs5_pid=$!
# the device has no current value: a change answers the registration
# (changes until one did, whenever the registration got there)
for v in 73 74 75 76 77 78 79 80 81 82; do
    sleep 1
    dev_put $v
    grep -q '^2\.05 ' "$T/obs5" && break
done
wait "$obs5_pid" 2>/dev/null
sed "s/^/# obs5: /" "$T/obs5"
check "the vanishing consumer got its first answer (a change: the device had no current value) and left" \
    bash -c 'grep -qE "^2\.05 (7[3-9]|8[0-2])$" "$1" && grep -qx rc=0 "$1"' _ "$T/obs5"
dev_put 83
check "... the gateway gives up on it after the retransmissions: logged, the stream closed" \
    wait_for 100 bash -c 'grep -q "coaps: the OSCORE observation of .alice. ends: the consumer acknowledged no notification" "$1" && [ "$(grep -c "observeproperty lamp/brightness by alice.*stream closed" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_obs_end"
check "... and the RST before was logged with its reason" grep -q "coaps: the OSCORE observation of .alice. ends: the consumer reset a notification" "$GW_LOG"

# a reload during an observation: the context's state moves to the new server
# (its Partial IVs go on from where they were: no nonce reused); then
# max_observers_per_peer = 0 refuses an OSCORE observation like a plain one
maxpiv=$(grep '^piv ' "$T/ev1" | tail -1 | cut -d' ' -f2)
n_rel=$(grep -c "pre-shared keys reloaded" "$GW_LOG")
n_start=$(grep -c 'observeproperty lamp/brightness by alice' "$GW_LOG")
osc_bg "$T/obs2" alice -v --observe 1 --wait 20 "$PU/things/lamp/properties/brightness"
obs2_pid=$!
wait_for 10 bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_start"
sed -i 's/^coap_listen = .*/&\nmax_observers_per_peer = 0/' "$T/wotgw.conf"
kill -HUP "$GW_PID"
wait_for 10 bash -c '[ "$(grep -c "pre-shared keys reloaded" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_rel"
for v in 64 65; do
    dev_put $v
    wait_for 10 grep -qx "2.05 $v" "$T/obs2"
done
wait "$obs2_pid" 2>/dev/null
out=$(cat "$T/obs2")
sed 's/^/# obs2: /' <<<"$out"
pivs=$(grep '^piv ' <<<"$out" | cut -d' ' -f2 | tr '\n' ' ')
check "an observation across a SIGHUP: both values (64, 65) protected, exit 0" \
    bash -c '[ "$(grep -E "^2\.05 " <<<"$1" | tr "\n" " ")" = "2.05 64 2.05 65 " ] && grep -qx "rc=0" <<<"$1"' _ "$out"
check "... its Partial IVs ($pivs) beyond every earlier one ($maxpiv): the numbers moved with the context" \
    bash -c '[ -n "$2" ] && incr "$2 $1"' _ "$pivs" "$maxpiv"
out=$(osc alice --observe 1 --wait 3 "$PU/things/lamp/properties/brightness")
sed 's/^/# max0: /' <<<"$out"
check "max_observers_per_peer = 0: an OSCORE observation is refused with a protected 5.03" \
    bash -c 'grep -q "^5\.03" <<<"$1" && ! grep -q unprotected <<<"$1" && grep -qx "not registered" <<<"$1"' _ "$out"
sed -i '/^max_observers_per_peer = 0$/d' "$T/wotgw.conf"
kill -HUP "$GW_PID"
wait_for 10 bash -c '[ "$(grep -c "pre-shared keys reloaded" "$1")" -gt "$(($2 + 1))" ]' _ "$GW_LOG" "$n_rel"

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
# the gateway stops during an observation: a final protected error without
# Observe, with a Partial IV of the gateway's own
n_start=$(grep -c 'observeproperty lamp/brightness by alice' "$GW_LOG")
osc_bg "$T/obs3" alice -v --observe 1 --wait 15 "$PU/things/lamp/properties/brightness"
obs3_pid=$!
wait_for 10 bash -c '[ "$(grep -c "observeproperty lamp/brightness by alice" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n_start"
sleep 0.5
gw_stop
check "SIGTERM: clean exit" [ "$?" = 0 ]
wait "$obs3_pid" 2>/dev/null
out=$(cat "$T/obs3")
sed 's/^/# obs3: /' <<<"$out"
check "a shutdown ends an OSCORE observation: a protected 5.xx with a Partial IV, no Observe" \
    bash -c 'grep -qE "^5\.0[0-9]" <<<"$1" && grep -q "^piv " <<<"$1" && ! grep -q "^observe " <<<"$1" && ! grep -q unprotected <<<"$1" && grep -qx "not registered" <<<"$1"' _ "$out"
check "no sanitizer report in the daemon's log" bash -c '! grep -q "ERROR: AddressSanitizer\|runtime error:" "$1"' _ "$GW_LOG"
finish
