#!/usr/bin/env bash
# COSE_Sign1 on the MQTT front end (issue 6): for a thing with
# cose_sign = yes, what wotgw publishes to the broker (retained property
# values and events) is a COSE_Sign1 of the device's bytes with the
# thing's key, with MQTT 5 content type application/cose; cose-type=
# "cose-sign1", and the exposed TD's MQTT subscribe forms say so. A real
# broker with wotgw's plugin, the daemon, the simulated device,
# mosquitto_sub as the consumer and cose-js (tests/node/cose-interop)
# verifying with the key from the exposed TD. $1 = build dir.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh
gw_pki || { fail "test PKI"; finish; }
source tests/integration/mqttenv.sh

COSE='application/cose; cose-type="cose-sign1"'
NODEDIR=tests/node/cose-interop
verify() { timeout 30 node "$NODEDIR/verify-sign1.mjs" "$@"; }
jqt() { jq -e "$@" >/dev/null; }
if [ ! -d "$NODEDIR/node_modules/cose-js" ]; then
    timeout 300 npm --prefix "$NODEDIR" install --no-audit --no-fund >"$T/npm.log" 2>&1 ||
        sed 's/^/# /' "$T/npm.log" | tail -n 20
fi
check "cose-js is installed" test -d "$NODEDIR/node_modules/cose-js"
[ -d "$NODEDIR/node_modules/cose-js" ] || finish

gw_device --event-interval-ms 300 || { fail "simulated device starts"; finish; }
A_PW='alice-Cose-Mqtt-Pass-1'
gw_user alice "$A_PW" family
{
    gw_conf
    mq_conf_section
    cat <<EOF
[thing lamp]
td = lamp.td.json
security = basic
allow = user:alice
poll_interval = 1s
cose_sign = yes

[thing thermometer]
td = thermometer.td.json
security = basic
allow = user:alice
poll_interval = 1s
EOF
} >"$T/wotgw.conf"
mq_broker_up
gw_start "$T/wotgw.conf" || { fail "daemon starts"; sed 's/^/# /' "$GW_LOG" | tail; finish; }
check "wotgw connects to the broker" \
    wait_for 10 grep -q 'mqtt: connected to the broker' "$GW_LOG"

CA=(--cafile "$PKI/ca.crt")
ALICE=(-u alice -P "$A_PW")
# sub_raw TOPIC OUT: one message's payload, raw, into OUT
sub_raw() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t "$1" -C 1 -W 5 -N >"$2" 2>"$T/sub.err"; }
sub_fmt() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t "$1" -C 1 -W 5 -F "$2" 2>&1; }
dev() { curl -sS --max-time 5 "$DEV_URL/$1"; }

# ---- the exposed TD --------------------------------------------------------------
gw_curl -u "alice:$A_PW" -o "$T/lamp.td" "$GW_URL/things/lamp"
check "the TD names the lamp's key" jqt '."wotgw:coseKey".kid | length == 16' "$T/lamp.td"
check "its MQTT subscribe forms (values, events) are cose-sign1" \
    jqt --arg c "$COSE" '[.properties[].forms[], .events[].forms[] | select(."mqv:controlPacket" == "subscribe")] | length > 0 and all(.contentType == $c and ."wotgw:objectSecurity" == "cose-sign1")' "$T/lamp.td"
check "its MQTT publish forms (write, invoke) are unchanged" \
    jqt '[.properties[].forms[], .actions[].forms[] | select(."mqv:controlPacket" == "publish")] | length > 0 and all(.contentType == "application/json")' "$T/lamp.td"
if [ -f tests/node/validate-td.mjs ] && [ -d tests/node/node_modules ]; then
    check "the TD is valid against the TD 1.1 schema" \
        bash -c 'timeout 30 node tests/node/validate-td.mjs "$1" >/dev/null 2>&1' _ "$T/lamp.td"
fi

# ---- retained values -------------------------------------------------------------
dev lamp/properties/brightness >"$T/want"
sub_raw wot/lamp/properties/brightness "$T/m1"
if out=$(verify "$T/lamp.td" "$T/m1" "$T/want"); then
    ok "the retained brightness is a COSE_Sign1 cose-js verifies; payload = the device's ($out)"
else
    fail "the retained brightness verifies: $out"
fi
out=$(sub_fmt wot/lamp/properties/brightness '%C')
check "its MQTT 5 content type is $COSE" [ "$out" = "$COSE" ]
python3 -c 'import sys; m=bytearray(open(sys.argv[1],"rb").read()); m[-1]^=1; open(sys.argv[2],"wb").write(m)' "$T/m1" "$T/m1x"
check "a flipped byte fails verification" bash -c '! timeout 30 node "$1/verify-sign1.mjs" "$2" "$3" >/dev/null' _ "$NODEDIR" "$T/lamp.td" "$T/m1x"
dev thermometer/properties/unit >"$T/want2"
sub_raw wot/thermometer/properties/unit "$T/m2"
check "a thing without cose_sign publishes plain values" cmp -s "$T/m2" "$T/want2"

# ---- events ------------------------------------------------------------------------
sub_raw wot/lamp/events/overheated "$T/m3"
if out=$(verify "$T/lamp.td" "$T/m3"); then
    ok "an event is a COSE_Sign1 cose-js verifies ($out)"
else
    fail "an event verifies: $out"
fi

check "the daemon stops cleanly" gw_stop
finish
