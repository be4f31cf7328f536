#!/usr/bin/env bash
# OSCORE passed through to a device that speaks OSCORE itself (RFC 8613
# section 11.5, issue 6): the simulated device with --oscore-contexts (its
# CoAP things accept OSCORE only and log the hex of every protected
# message), driven directly with build/wotgw-oscore-client; then the
# gateway with a thing whose TD is the device's oscore-lamp.td.json: the
# thing is an OSCORE passthrough thing, its exposed TD says so, and the
# gateway holds no key of the device.
#
# End to end over HTTPS: a consumer POSTs application/oscore to
# https://GW/things/lamp/oscore, the gateway maps only the outer message
# to CoAP; the bytes are compared with the device's log lines both ways.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

OSC=$BUILD/wotgw-oscore-client
[ -x "$OSC" ] || { fail "the test client $OSC is built"; finish; }
jqt() { jq -e "$1" >/dev/null 2>&1 <<<"$2"; }
# osc ARGS...: one client run with the next sequence numbers of the
# consumer's context (kept in a file: the runs are in command substitutions)
osc() {
    local s=1
    [ -f "$T/seq" ] && s=$(cat "$T/seq")
    echo $((s + 5)) >"$T/seq"
    timeout 20 "$OSC" -f "$T/device-oscore" -n consumer -s "$s" "$@" 2>&1
}
last() { tail -n 1 <<<"$1"; }
# hexes KIND: the option=... payload=... of the device's last log line of
# that kind ("request" or "answer")
hexes() { grep "coap oscore $1 " "$T/simdev.log" | tail -n 1 | sed 's/.* option=\([^ ]*\) payload=\([^ ]*\)$/\1|\2/'; }

# ---- the device's own security context: made on the device, never given to the gateway --------
"$PASSWD" -f "$T/device-oscore" oscore add consumer >/dev/null 2>&1
check "a device context made with wotgw-passwd oscore add" grep -q "^consumer " "$T/device-oscore"
SECRET=$(sed -n 's/^consumer .*master_secret[_b64]*=\([^ ]*\).*/\1/p' "$T/device-oscore")
check "the device context has a master secret" [ -n "$SECRET" ]

DEV_PORT=$(free_port)
DEV_URL=http://127.0.0.1:$DEV_PORT
DEV_COAP_PORT=$(free_udp_port)
DU=coap://127.0.0.1:$DEV_COAP_PORT
SIMARGS=(--listen "127.0.0.1:$DEV_PORT" --coap-listen "127.0.0.1:$DEV_COAP_PORT"
    --oscore-contexts "$T/device-oscore")
"$SIMDEV" "${SIMARGS[@]}" --write-tds "$T/things" >/dev/null 2>"$T/simdev-tds.err" ||
    { cat "$T/simdev-tds.err" >&2; fail "simulated device writes its TDs"; finish; }
check "--write-tds with OSCORE: oscore-lamp.td.json, no coap-lamp.td.json" \
    bash -c '[ -f "$1/oscore-lamp.td.json" ] && [ ! -e "$1/coap-lamp.td.json" ]' _ "$T/things"
TD=$(cat "$T/things/oscore-lamp.td.json")
check "the device TD names the OSCORE scheme for the whole thing" \
    jqt '.securityDefinitions[.security].scheme == "wotgw:OSCORESecurityScheme"
         and .id == "urn:dev:wotgw-sim:oscore-lamp"' "$TD"
check "... and its forms are coap:// (base $DU/lamp/)" jqt ".base == \"$DU/lamp/\"" "$TD"
check "the device TD holds no key" bash -c '! grep -qF "$1" "$2"/*.td.json' _ "$SECRET" "$T/things"
if [ -d "$ROOT/tests/node/node_modules/ajv" ]; then
    check "the device TD validates against the TD 1.1 schema" \
        timeout 60 node "$ROOT/tests/node/validate-td.mjs" "$T/things/oscore-lamp.td.json"
fi

"$SIMDEV" "${SIMARGS[@]}" --event-interval-ms 0 >"$T/simdev.out" 2>"$T/simdev.log" &
DEV_PID=$!
_pids+=("$DEV_PID")
wait_for 10 curl -fsS -o /dev/null --max-time 2 "$DEV_URL/lamp/properties/on" 2>/dev/null ||
    { fail "simulated device starts"; finish; }
wait_for 5 grep -q "listening on coap://" "$T/simdev.out" || { fail "device serves CoAP"; finish; }
check "the device says it takes OSCORE only" grep -q "coap: OSCORE only, 1 context(s)" "$T/simdev.log"

# ---- OSCORE straight to the device ----------------------------------------------------------
dev=$(curl -sS "$DEV_URL/lamp/properties/brightness")
out=$(osc -v "$DU/lamp/properties/brightness")
check "first request: the device challenges with Echo, then answers the value ($dev)" \
    bash -c 'grep -qx echo <<<"$1" && [ "$(tail -n 1 <<<"$1")" = "2.05 $2" ]' _ "$out" "$dev"
out=$(osc "$DU/lamp/properties/brightness")
check "readproperty over OSCORE: 2.05 $dev" [ "$out" = "2.05 $dev" ]
IFS="|" read -r opt pay <<<"$(hexes request)"
check "the device logs the OSCORE option and the ciphertext in hex ($opt)" \
    bash -c '[[ $1 =~ ^09[0-9a-f]+$ && $2 =~ ^[0-9a-f]{16,}$ ]]' _ "$opt" "$pay"
check "... the ciphertext is not the plaintext path" bash -c '! grep -q "$(printf brightness | xxd -p)" <<<"$1"' _ "$pay"
IFS="|" read -r aopt apay <<<"$(hexes answer)"
check "the answer: an empty OSCORE option and a ciphertext" \
    bash -c '[ -z "$1" ] && [[ $2 =~ ^[0-9a-f]{16,}$ ]]' _ "$aopt" "$apay"
check "the answer line names the outer code 2.04" bash -c 'grep "coap oscore answer" "$1" | tail -n 1 | grep -q " 2.04 "' _ "$T/simdev.log"
out=$(osc -m put -t 50 -e 73 "$DU/lamp/properties/brightness")
check "writeproperty over OSCORE: 2.04" [ "$(last "$out")" = "2.04 " ]
check "... the device has the value (73 over HTTP)" [ "$(curl -sS "$DEV_URL/lamp/properties/brightness")" = 73 ]
out=$(osc "$DU/lamp/properties/brightness")
check "... and reads it back over OSCORE" [ "$out" = "2.05 73" ]
out=$(osc -m put -t 50 -e 700 "$DU/lamp/properties/brightness")
check "an out-of-range write: the device's 4.00, protected ($(last "$out"))" \
    bash -c '[[ $1 == 4.00* && $1 != *unprotected* ]]' _ "$(last "$out")"
out=$(osc -m post "$DU/lamp/actions/toggle")
check "invokeaction over OSCORE ($(last "$out"))" \
    bash -c '[[ $1 =~ ^2\.05\ \{\"on\":(true|false)\}$ ]]' _ "$(last "$out")"
out=$(osc "$DU/lamp/properties/nothing")
check "an unknown resource: a protected 4.04" bash -c '[[ $1 == 4.04* && $1 != *unprotected* ]]' _ "$(last "$out")"
out=$(osc "$DU/faulty/properties/hang")
check "a fault not offered over OSCORE: a protected 5.01" bash -c '[[ $1 == 5.01* && $1 != *unprotected* ]]' _ "$(last "$out")"

# ---- what the device refuses ---------------------------------------------------------------------
out=$(timeout 10 coap-client-notls -B 5 -v 3 "$DU/lamp/properties/brightness" 2>&1)
check "a plain CoAP request: 4.01 OSCORE required ($out)" bash -c '[[ $1 == *"OSCORE required"* ]]' _ "$out"
out=$(osc --replay "$DU/lamp/properties/brightness")
check "a replayed request: the copy gets 4.01 Replay detected" \
    [ "$(tail -n 1 <<<"$out")" = "4.01 Replay detected (unprotected)" ]
out=$(osc --tamper "$DU/lamp/properties/brightness")
check "a flipped ciphertext bit: 4.00 Decryption failed" [ "$out" = "4.00 Decryption failed (unprotected)" ]
"$PASSWD" -f "$T/other" oscore add x1 >/dev/null 2>&1
"$PASSWD" -f "$T/other" oscore add x2 >/dev/null 2>&1
"$PASSWD" -f "$T/other" oscore add eve >/dev/null 2>&1
out=$(timeout 20 "$OSC" -f "$T/other" -n eve -s 1 "$DU/lamp/properties/brightness" 2>&1)
check "an unknown kid: 4.01 Security context not found" [ "$out" = "4.01 Security context not found (unprotected)" ]
check "the device never logs its key" bash -c '! grep -qF "$1" "$2"' _ "$SECRET" "$T/simdev.log"
out=$("$SIMDEV" --listen 127.0.0.1:0 --coap-listen "127.0.0.1:$(free_udp_port)" \
    --oscore-contexts "$T/nonexistent" 2>&1)
check "a contexts file that cannot be loaded: exit 1 (rc $?)" bash -c '[ "$1" = 1 ]' _ "$?"
out=$("$SIMDEV" --listen 127.0.0.1:0 --oscore-contexts "$T/device-oscore" 2>&1)
check "--oscore-contexts without --coap-listen: exit 2" [ "$?" = 2 ]

# ---- the gateway with the device's TD ---------------------------------------------------------
gw_pki || { fail "test PKI"; finish; }
gw_user alice 'Alice-Pass-1' || { fail "user alice"; finish; }
gw_user bob 'Bob-Pass-1' || { fail "user bob"; finish; }
rm -f "$T/things/coap-"*.td.json
{
    gw_conf
    gw_limits device_timeout=1500ms
    cat <<EOF
[thing lamp]
td = oscore-lamp.td.json
security = basic
allow = user:alice
EOF
} >"$T/wotgw.conf"
gw_start "$T/wotgw.conf" || { fail "gateway starts with the OSCORE device's TD"; finish; }
ok "gateway starts with the OSCORE device's TD"
td=$(gw_curl -u alice:Alice-Pass-1 "$GW_URL/things/lamp" 2>/dev/null)
check "the exposed TD: every lamp affordance has an oscore-passthrough HTTPS form" \
    jqt '[.properties[], .actions[] | .forms | map(select(.["wotgw:objectSecurity"] == "oscore-passthrough")) | length > 0] | all' "$td"
check "... its href is https://GW/things/lamp/oscore/<the device path: lamp/properties/brightness>" \
    jqt ".properties.brightness.forms[] | select(.[\"wotgw:objectSecurity\"] == \"oscore-passthrough\") | .href == \"$GW_URL/things/lamp/oscore/lamp/properties/brightness\"" "$td"
check "... with the device's contentType" \
    jqt '.properties.brightness.forms[] | select(.["wotgw:objectSecurity"] == "oscore-passthrough") | .contentType == "application/json"' "$td"
check "... and a security definition: OSCORE end to end with the device" \
    jqt '[.securityDefinitions[] | select(.scheme == "wotgw:OSCORESecurityScheme") | .description | test("device")] | any' "$td"
check "... the passthrough forms name the gateway's security (basic) and OSCORE" \
    jqt '.properties.brightness.forms[] | select(.["wotgw:objectSecurity"] == "oscore-passthrough") | .security as $s | ($s | type) == "array" or ($s | type) == "string"' "$td"
check "... no device address in the exposed TD" bash -c '! grep -q "$1" <<<"$2"' _ "127.0.0.1:$DEV_COAP_PORT" "$td"
printf '%s' "$td" >"$T/lamp.exposed.td.json"
if [ -d "$ROOT/tests/node/node_modules/ajv" ]; then
    check "the exposed TD validates against the TD 1.1 schema" \
        timeout 60 node "$ROOT/tests/node/validate-td.mjs" "$T/lamp.exposed.td.json"
fi
# every request the device's handlers see in clear is logged "coap METHOD /PATH -> CODE"
plain_before=$(grep -c "wotgw-simdev: coap [A-Z]* /lamp/properties/brightness -> 4.01" "$T/simdev.log")
out=$(gw_curl -s -o /dev/null -w '%{http_code}' -u alice:Alice-Pass-1 "$GW_URL/things/lamp/properties/brightness" 2>/dev/null)
check "a plain HTTPS read of the passthrough thing is refused, not sent in clear to the device ($out)" \
    bash -c '[ "$1" -ge 400 ] && [ "$1" -lt 500 ]' _ "$out"
check "... logged: allowed by the policy, refused because the device needs OSCORE end to end" \
    grep -q 'readproperty lamp/brightness by alice.*REASON="device needs OSCORE end to end" STATUS=400' "$GW_LOG"
check "the directory lists the passthrough thing for alice" \
    jqt '[.[] | .id] | index("urn:dev:wotgw-sim:oscore-lamp") != null' \
    "$(gw_curl -u alice:Alice-Pass-1 "$GW_URL/things" 2>/dev/null)"
check "... and not for bob (not allowed): no TD" \
    [ "$(gw_curl -s -o /dev/null -w '%{http_code}' -u bob:Bob-Pass-1 "$GW_URL/things/lamp" 2>/dev/null)" = 404 ]
check "... the device saw no plain request" \
    [ "$(grep -c "wotgw-simdev: coap [A-Z]* /lamp/properties/brightness -> 4.01" "$T/simdev.log")" = "$plain_before" ]

# ---- a TD that asks OSCORE over HTTP: not passed through, the thing is refused ----------------
jq '.securityDefinitions = {"o": {"scheme": "oscore"}} | .security = "o"' \
    "$T/things/lamp.td.json" >"$T/things/http-oscore.td.json"
sed -e 's/^td = oscore-lamp.td.json/td = http-oscore.td.json/' "$T/wotgw.conf" >"$T/bad.conf"
out=$("$WOTGW" -t -c "$T/bad.conf" 2>&1)
check "wotgw -t: OSCORE on http:// forms is a warning per form, and the thing has nothing to expose" \
    bash -c 'grep -q "needs OSCORE over http, which wotgw cannot pass through" <<<"$1" &&
             grep -q "nothing exposed" <<<"$1"' _ "$out"
rm -f "$T/things/http-oscore.td.json"

# ---- HTTPS end to end: RFC 8613 section 11.5 through the gateway ------------------------------
# The consumer's client protects with the device's context and POSTs to
# https://GW/things/lamp/oscore (the exposed form's href before /oscore/),
# the rest of the href's path (lamp/properties/brightness) inside.
AUTH_ALICE="Authorization: Basic $(printf 'alice:Alice-Pass-1' | base64)"
AUTH_BOB="Authorization: Basic $(printf 'bob:Bob-Pass-1' | base64)"
gwo() { osc --cacert "$PKI/ca.crt" --target /things/lamp/oscore "$@"; }
field() { sed -n "s/^$1 //p" <<<"$2" | head -n 1; }
out=$(gwo -v -H "$AUTH_ALICE" "$GW_URL/lamp/properties/brightness")
check "HTTPS -> CoAP through the gateway: the device's value, decrypted by the consumer only (2.05 73)" \
    [ "$(last "$out")" = "2.05 73" ]
IFS="|" read -r dopt dpay <<<"$(hexes request)"
check "the OSCORE option arrives at the device byte for byte ($dopt)" \
    bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(field sent-option "$out")" "$dopt"
check "... and the ciphertext (${#dpay} hex digits)" \
    bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(field sent-payload "$out")" "$dpay"
IFS="|" read -r aopt apay <<<"$(hexes answer)"
check "the device's answer reaches the consumer byte for byte (payload)" \
    bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(field recv-payload "$out")" "$apay"
check "... and its (empty) OSCORE option" bash -c '[ -z "$1" ] && [ "$(sed -n "s/^recv-option //p" <<<"$2")" = "" ] && grep -q "^recv-option" <<<"$2"' _ "$aopt" "$out"
check "the HTTP answer: 200, OSCORE: AA (the empty option, section 11.1), application/oscore" \
    bash -c 'grep -qx "http 200 oscore=AA content-type=application/oscore" <<<"$1"' _ "$out"
out=$(gwo -H "$AUTH_ALICE" -m put -t 50 -e 61 "$GW_URL/lamp/properties/brightness")
check "writeproperty end to end: 2.04" [ "$(last "$out")" = "2.04 " ]
check "... the device has the value (61 over its HTTP side)" [ "$(curl -sS "$DEV_URL/lamp/properties/brightness")" = 61 ]
out=$(gwo -H "$AUTH_ALICE" -m post "$GW_URL/lamp/actions/toggle")
check "invokeaction end to end ($(last "$out"))" bash -c '[[ $1 =~ ^2\.05\ \{\"on\":(true|false)\}$ ]]' _ "$(last "$out")"
check "the gateway logs the passthrough with alice as principal, no affordance" \
    grep -q 'oscore-passthrough lamp by alice.*PROTOCOL=https' "$GW_LOG"
n_before=$(grep -c "coap oscore request" "$T/simdev.log")
out=$(gwo "$GW_URL/lamp/properties/brightness")
check "no credentials for the gateway: HTTP 401 from the gateway ($(last "$out"))" \
    bash -c '[[ $1 == "HTTP 401 "* ]]' _ "$(last "$out")"
out=$(gwo -H "$AUTH_BOB" "$GW_URL/lamp/properties/brightness")
check "bob (not allowed on lamp): refused by the gateway ($(last "$out"))" \
    bash -c '[[ $1 == "HTTP 404 "* || $1 == "HTTP 403 "* ]]' _ "$(last "$out")"
check "... neither reached the device" [ "$(grep -c "coap oscore request" "$T/simdev.log")" = "$n_before" ]
out=$(gwo -H "$AUTH_ALICE" --replay "$GW_URL/lamp/properties/brightness")
check "a replay through the gateway: the device's own 4.01 Replay detected, passed on as 401" \
    bash -c '[ "$(head -1 <<<"$1")" = "2.05 61" ] && [ "$(tail -1 <<<"$1")" = "HTTP 401 Replay detected (unprotected)" ]' _ "$out"
out=$(gwo -H "$AUTH_ALICE" --tamper "$GW_URL/lamp/properties/brightness")
check "a flipped ciphertext bit: the device's 4.00 Decryption failed, passed on as 400" \
    [ "$out" = "HTTP 400 Decryption failed (unprotected)" ]
hc() { curl -sS -o "$T/hc.body" -D "$T/hc.hdr" -w '%{http_code}' --cacert "$PKI/ca.crt" -H "$AUTH_ALICE" "$@"; }
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/oscore' --data-binary x "$GW_URL/things/nosuch/oscore")
check "an OSCORE request for an unknown thing: 404 ($st)" [ "$st" = 404 ]
st=$(hc -X POST -H 'OSCORE: CSU' -H 'Content-Type: application/oscore' --data-binary x "$GW_URL/things/lamp/oscore")
check "garbage for the device: its unprotected 4.01 as 401, without a gateway challenge ($st)" \
    bash -c '[ "$1" = 401 ] && ! grep -qi "^WWW-Authenticate" "$2"' _ "$st" "$T/hc.hdr"

# ---- the gateway never holds the device's key -----------------------------------------------
check "the gateway's config holds no key of the device" \
    bash -c '! grep -rqF "$1" "$2/wotgw.conf" "$2/users" "$2/apikeys"' _ "$SECRET" "$T"
check "the gateway's config names no OSCORE contexts file" bash -c '! grep -q "^oscore *=" "$1"' _ "$T/wotgw.conf"
check "the gateway's state holds no key of the device" bash -c '! grep -rqF "$1" "$2/state"' _ "$SECRET" "$T"
check "the gateway's log holds no key of the device" bash -c '! grep -qF "$1" "$2"' _ "$SECRET" "$GW_LOG"
gw_stop
check "SIGTERM: clean exit" [ "$?" = 0 ]
kill -TERM "$DEV_PID" 2>/dev/null
wait "$DEV_PID" 2>/dev/null
check "the device exits 0 on SIGTERM" [ "$?" = 0 ]
check "no sanitizer report" bash -c '! grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$1" "$2"' _ "$GW_LOG" "$T/simdev.log"
finish
