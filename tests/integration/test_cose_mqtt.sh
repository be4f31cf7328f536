#!/usr/bin/env bash
# COSE_Sign1 on the MQTT front end (issue 6): for a thing with
# cose_sign = yes, what wotgw publishes to the broker (retained property
# values and events) is a COSE_Sign1 of the device's bytes with the
# thing's key, with MQTT 5 content type application/cose; cose-type=
# "cose-sign1", and the exposed TD's MQTT subscribe forms say so. A real
# broker with wotgw's plugin, the daemon, the simulated device,
# mosquitto_sub as the consumer and cose-js (tests/node/cose-interop)
# verifying with the key from the exposed TD.
# Signed commands: the lamp also has cose_commands = required, so a
# command to it must be a COSE_Sign1 (ES256 by cose-js, EdDSA by
# node:crypto: tests/node/cose-interop/sign-command.mjs) by a key that
# `wotgw-passwd cose-consumer-add` registered for the principal the plugin
# vouched for; plain, wrongly signed or someone else's messages get
# wotgw-status 403 and never reach the device.
# MACed commands: a command may also be a COSE_Mac0 (cose-js) under a
# symmetric key `wotgw-passwd cose-consumer-secret` made for the principal;
# a Mac0 under another key with the same kid is refused.
# Encrypted values: securelamp (the lamp's TD again) has cose_encrypt_to =
# alice, bob: its values and events go only as COSE_Encrypt0, to
# .../cose/alice under alice's A128GCM key and .../cose/bob under bob's
# AES-CCM-16-64-128 key; cose-js decrypts them with the key file the
# consumer got (tests/node/cose-interop/consumer-secret.mjs); the plugin
# lets each read only its own topic; the exposed TD says so
# (wotgw:objectSecurity "cose-encrypt0", the kid, the recipient) and stays
# valid TD 1.1. $1 = build dir.
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
# consumer keys: alice's ES256 and EdDSA keys, bob's ES256 key, and a key
# alice never registered that reuses the kid of her ES256 key
signer() { timeout 30 node "$NODEDIR/sign-command.mjs" "$@"; }
# mosquitto_rr (the test's MQTT 5 request/response client) takes a payload
# only as -m: a message sent with it must have no NUL byte and not end in
# a newline. cose-js's ES256 signatures are deterministic (RFC 6979), so
# gen_m DIR KID makes ES256 keys until DIR/KID.toggle (the Sign1 of an
# empty payload) fits.
argsafe() { python3 -c 'import sys; m=open(sys.argv[1],"rb").read(); sys.exit(0 if b"\0" not in m and not m.endswith(b"\n") else 1)' "$1"; }
: >"$T/empty"
gen_m() {
    for _ in $(seq 20); do
        signer gen ES256 "$2" "$1" && signer sign "$1" "$2" "$T/empty" "$1/$2.toggle" || return 1
        argsafe "$1/$2.toggle" && return 0
    done
    return 1
}
mkdir -p "$T/ck" "$T/ck-rogue"
gen_m "$T/ck" alice-es && signer gen EdDSA alice-ed "$T/ck" && gen_m "$T/ck" bob-es &&
    gen_m "$T/ck-rogue" alice-es || { fail "consumer keys (node)"; finish; }
for k in alice:alice-es alice:alice-ed bob:bob-es; do
    check "wotgw-passwd cose-consumer-add ${k%%:*} ${k#*:}.cosekey" \
        "$BUILD/wotgw-passwd" -q -f "$T/cose_keys" cose-consumer-add "${k%%:*}" "$T/ck/${k#*:}.cosekey"
done
check "a second key with the same kid for alice is refused (exit 1)" \
    bash -c '"$1" -q -f "$2" cose-consumer-add alice "$3" 2>/dev/null; [ $? = 1 ]' _ \
    "$BUILD/wotgw-passwd" "$T/cose_keys" "$T/ck-rogue/alice-es.cosekey"
check "the keys file holds three public keys" [ "$(grep -c '^[a-z]* a[45]01' "$T/cose_keys")" = 3 ]
# symmetric keys: made by wotgw-passwd, the consumer's copy in a file
secret() { "$BUILD/wotgw-passwd" -q -f "$1" cose-consumer-secret "$2" "$3" "$4" 2>>"$T/secret.err"; }
A_ENC_KID=$(secret "$T/cose_keys" alice A128GCM "$T/ck/alice.enc")
check "cose-consumer-secret alice A128GCM: prints only the kid ($A_ENC_KID)" grep -qxE '[0-9a-f]{16}' <<<"$A_ENC_KID"
B_ENC_KID=$(secret "$T/cose_keys" bob AES-CCM-16-64-128 "$T/ck/bob.enc")
check "cose-consumer-secret bob AES-CCM-16-64-128 ($B_ENC_KID)" grep -qxE '[0-9a-f]{16}' <<<"$B_ENC_KID"
A_MAC_KID=$(secret "$T/cose_keys" alice HMAC256/64 "$T/ck/alice.mac")
check "cose-consumer-secret alice HMAC256/64 ($A_MAC_KID)" grep -qxE '[0-9a-f]{16}' <<<"$A_MAC_KID"
check "the consumer's key file is mode 600" [ "$(stat -c %a "$T/ck/alice.enc")" = 600 ]
check "the keys file holds the three secret keys and is not open to others" \
    bash -c '[ "$(grep -c "^[a-z]* a4010402" "$1")" = 3 ] && [ $((0$(stat -c %a "$1") & 7)) = 0 ]' _ "$T/cose_keys"
check "the secret key is in both files, never on stdout or stderr" bash -c \
    'k=$(xxd -p "$1" | tr -d "\n"); grep -q "$k" "$2" && ! grep -q "${k: -32}" <<<"$3$(cat "$4")"' \
    _ "$T/ck/alice.enc" "$T/cose_keys" "$A_ENC_KID$B_ENC_KID$A_MAC_KID" "$T/secret.err"
check "an existing key file is never overwritten (exit 1)" \
    bash -c '"$1" -q -f "$2" cose-consumer-secret alice A128GCM "$3" 2>/dev/null; [ $? = 1 ]' _ \
    "$BUILD/wotgw-passwd" "$T/cose_keys" "$T/ck/alice.enc"
check "an unknown algorithm is refused (exit 1), nothing written" \
    bash -c '"$1" -q -f "$2" cose-consumer-secret alice A256GCM "$3" 2>/dev/null; [ $? = 1 ] && [ ! -e "$3" ]' _ \
    "$BUILD/wotgw-passwd" "$T/cose_keys" "$T/ck/x.enc"
check "the keys file still holds six keys" [ "$(grep -c '^[a-z]* a[45]' "$T/cose_keys")" = 6 ]
# a Mac0 key alice never registered, with the kid of her registered one
secret "$T/rogue_keys" alice HMAC256/64 "$T/ck-rogue/alice.mac" >/dev/null || fail "rogue HMAC key"
python3 -c '
import sys
p, kid = sys.argv[1], bytes.fromhex(sys.argv[2])
b = open(p, "rb").read()
i = b.index(b"\x02\x48")  # kid: a bstr of 8 bytes
open(p, "wb").write(b[:i + 2] + kid + b[i + 10:])' "$T/ck-rogue/alice.mac" "$A_MAC_KID" || fail "rogue key with alice's kid"
A_PW='alice-Cose-Mqtt-Pass-1'
B_PW='bob-Cose-Mqtt-Pass-22'
gw_user alice "$A_PW" family
gw_user bob "$B_PW"
{
    gw_conf | sed '/^\[credentials\]$/a cose_keys = cose_keys'
    mq_conf_section
    cat <<EOF
[thing lamp]
td = lamp.td.json
security = basic
allow = user:alice
poll_interval = 1s
cose_sign = yes
cose_commands = required

[thing thermometer]
td = thermometer.td.json
security = basic
allow = user:alice
poll_interval = 1s

[thing securelamp]
td = lamp.td.json
security = basic
allow = user:alice user:bob
poll_interval = 1s
cose_encrypt_to = alice, bob
EOF
} >"$T/wotgw.conf"
# wotgw -t: cose_commands without cose_keys, and a keys file with a bad line
sed '/^cose_keys = /d' "$T/wotgw.conf" >"$T/bad1.conf"
out=$("$BUILD/wotgw" -t -c "$T/bad1.conf" 2>&1)
check "wotgw -t: cose_commands = required without [credentials] cose_keys is an error" \
    bash -c '[ $2 != 0 ] && grep -q "needs \[credentials\] cose_keys" <<<"$1"' _ "$out" "$?"
{ cat "$T/cose_keys"; echo "carol nothex"; } >"$T/cose_keys.bad"
chmod 600 "$T/cose_keys.bad"
BADLINE=$(wc -l <"$T/cose_keys.bad")
sed 's/^cose_keys = cose_keys$/cose_keys = cose_keys.bad/' "$T/wotgw.conf" >"$T/bad2.conf"
out=$("$BUILD/wotgw" -t -c "$T/bad2.conf" 2>&1)
check "wotgw -t: a bad line in the keys file is an error naming it" \
    bash -c '[ $2 != 0 ] && grep -q "cose_keys.bad:$3" <<<"$1"' _ "$out" "$?" "$BADLINE"
sed 's/^cose_encrypt_to = alice, bob$/cose_encrypt_to = alice, carol/' "$T/wotgw.conf" >"$T/bad3.conf"
out=$("$BUILD/wotgw" -t -c "$T/bad3.conf" 2>&1)
check "wotgw -t: cose_encrypt_to naming a principal without an encryption key is an error" \
    bash -c '[ $2 != 0 ] && grep -q "cose_encrypt_to names carol, who has no A128GCM" <<<"$1"' _ "$out" "$?"
sed 's/^cose_encrypt_to = alice, bob$/cose_encrypt_to = alice, bob alice/' "$T/wotgw.conf" >"$T/bad4.conf"
out=$("$BUILD/wotgw" -t -c "$T/bad4.conf" 2>&1)
check "wotgw -t: a principal named twice in cose_encrypt_to is an error" \
    bash -c '[ $2 != 0 ] && grep -q "cose_encrypt_to: .alice. is named twice" <<<"$1"' _ "$out" "$?"
chmod o+r "$T/cose_keys"
out=$("$BUILD/wotgw" -t -c "$T/wotgw.conf" 2>&1)
check "wotgw -t: a keys file with secret keys that others may read is refused" \
    bash -c '[ $2 != 0 ] && grep -q "chmod o-rwx" <<<"$1"' _ "$out" "$?"
chmod o-rwx "$T/cose_keys"
check "wotgw -t accepts the test's config" bash -c '"$1" -t -c "$2" >/dev/null' _ "$BUILD/wotgw" "$T/wotgw.conf"
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
check "its MQTT publish forms (write, invoke) say cose-sign1-or-mac0-required" \
    jqt '[.properties[].forms[], .actions[].forms[] | select(."mqv:controlPacket" == "publish")] | length > 0 and all(.contentType == "application/cose" and ."wotgw:objectSecurity" == "cose-sign1-or-mac0-required")' "$T/lamp.td"
check "its HTTPS invoke form is unchanged" \
    jqt '[.actions[].forms[] | select(."htv:methodName" == "POST" and (."wotgw:objectSecurity" | not))] | length > 0' "$T/lamp.td"
ENC='application/cose; cose-type="cose-encrypt0"'
gw_curl -u "alice:$A_PW" -o "$T/slamp.td" "$GW_URL/things/securelamp"
check "securelamp's TD: every MQTT subscribe form is cose-encrypt0 to alice or bob, with the kid" \
    jqt --arg c "$ENC" --arg a "$A_ENC_KID" --arg b "$B_ENC_KID" '[.properties[].forms[], .events[].forms[], .forms[]? | select(."mqv:controlPacket" == "subscribe")] | length > 0 and all(.contentType == $c and ."wotgw:objectSecurity" == "cose-encrypt0" and ((."wotgw:coseRecipient" == "alice" and ."wotgw:coseKid" == $a and (."mqv:filter" | endswith("/cose/alice"))) or (."wotgw:coseRecipient" == "bob" and ."wotgw:coseKid" == $b and (."mqv:filter" | endswith("/cose/bob")))))' "$T/slamp.td"
check "... one for each recipient (brightness: readproperty and observeproperty for both)" \
    jqt '[.properties.brightness.forms[] | select(."mqv:controlPacket" == "subscribe") | ."wotgw:coseRecipient" + ":" + .op] | sort == ["alice:observeproperty","alice:readproperty","bob:observeproperty","bob:readproperty"]' "$T/slamp.td"
check "... the href ends with the recipient's topic too" \
    jqt '[.properties[].forms[], .events[].forms[] | select(."mqv:controlPacket" == "subscribe") | (. as $f | $f.href | endswith($f."mqv:filter"))] | length > 0 and all' "$T/slamp.td"
check "... no MQTT filter on a plain value or event topic" \
    jqt '[.. | objects | select(has("mqv:filter")) | ."mqv:filter" | select(test("/cose/") | not)] | length == 0' "$T/slamp.td"
check "... and no key in the TD" bash -c '! grep -q "$(xxd -p "$2" | tr -d "\n" | tail -c 32)" "$1"' _ "$T/slamp.td" "$T/ck/alice.enc"
if [ -f tests/node/validate-td.mjs ] && [ -d tests/node/node_modules ]; then
    check "the TD is valid against the TD 1.1 schema" \
        bash -c 'timeout 30 node tests/node/validate-td.mjs "$1" >/dev/null 2>&1' _ "$T/lamp.td"
    check "securelamp's TD is valid against the TD 1.1 schema" \
        bash -c 'timeout 30 node tests/node/validate-td.mjs "$1" >/dev/null 2>&1' _ "$T/slamp.td"
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

# ---- values and events encrypted to alice and bob (cose_encrypt_to) ----------------
decrypt() { timeout 30 node "$NODEDIR/consumer-secret.mjs" decrypt "$@"; }
BOB=(-u bob -P "$B_PW")
sub_bob() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${BOB[@]}" -t "$1" -C 1 -W 5 -N >"$2" 2>"$T/sub.err"; }
dev lamp/properties/brightness >"$T/want3"
sub_raw wot/securelamp/properties/brightness/cose/alice "$T/e1"
if out=$(decrypt "$T/ck/alice.enc" "$T/e1" "$T/want3"); then
    ok "alice's retained brightness: a COSE_Encrypt0 (A128GCM) cose-js decrypts with her key = the device's ($out)"
else
    fail "alice's retained brightness decrypts: $out"
fi
check "... its protected content type is application/json (50), the kid hers" grep -q "kid=$A_ENC_KID alg=1 ctype=50" <<<"$out"
check "... the device's value is not in it in plain text" bash -c '! grep -qF "$(cat "$1")" "$2"' _ "$T/want3" "$T/e1"
out=$(sub_fmt wot/securelamp/properties/brightness/cose/alice '%C')
check "... its MQTT 5 content type is $ENC" [ "$out" = "$ENC" ]
sub_bob wot/securelamp/properties/brightness/cose/bob "$T/e2"
if out=$(decrypt "$T/ck/bob.enc" "$T/e2" "$T/want3"); then
    ok "bob's retained brightness: a COSE_Encrypt0 (AES-CCM-16-64-128) cose-js decrypts with his key ($out)"
else
    fail "bob's retained brightness decrypts: $out"
fi
check "alice's key does not decrypt bob's message" bash -c '! timeout 30 node "$1/consumer-secret.mjs" decrypt "$2" "$3" >/dev/null' _ "$NODEDIR" "$T/ck/alice.enc" "$T/e2"
python3 -c 'import sys; m=bytearray(open(sys.argv[1],"rb").read()); m[-1]^=1; open(sys.argv[2],"wb").write(m)' "$T/e1" "$T/e1x"
check "a flipped byte fails decryption" bash -c '! timeout 30 node "$1/consumer-secret.mjs" decrypt "$2" "$3" >/dev/null' _ "$NODEDIR" "$T/ck/alice.enc" "$T/e1x"
out=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t wot/securelamp/properties/brightness/cose/bob -W 2 -d 2>&1)
check "alice may not subscribe to bob's topic (SUBACK 135)" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
check "... and got nothing of it" bash -c '! grep -q "PUBLISH" <<<"$1"' _ "$out"
check "the refusal is logged by the plugin" wait_for 5 grep -q 'encrypted topic of another principal' "$T/broker.log"
out=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t 'wot/securelamp/properties/+/cose/+' -W 3 -F '%t' 2>/dev/null | sort -u)
check "alice's wildcard over every recipient delivers only her own topics ($(tr '\n' ' ' <<<"$out"))" \
    bash -c 'grep -q /cose/alice <<<"$1" && ! grep -qv /cose/alice <<<"$1"' _ "$out"
out=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t wot/securelamp/properties/brightness -W 2 -C 1 -d 2>&1)
check "nothing on securelamp's plain value topic (subscribed, no message)" \
    bash -c 'grep -q "Subscribed (mid: 1): 0" <<<"$1" && ! grep -q "received PUBLISH" <<<"$1"' _ "$out"
sub_raw wot/securelamp/events/overheated/cose/alice "$T/e3"
sub_raw wot/securelamp/events/overheated/cose/alice "$T/e4"
o3=$(decrypt "$T/ck/alice.enc" "$T/e3")
o4=$(decrypt "$T/ck/alice.enc" "$T/e4")
check "two events to alice decrypt ($o3)" bash -c '[ "${1:0:2}" = ok ] && [ "${2:0:2}" = ok ]' _ "$o3" "$o4"
check "... with different IVs" [ "$(grep -o 'iv=[0-9a-f]*' <<<"$o3")" != "$(grep -o 'iv=[0-9a-f]*' <<<"$o4")" ]
check "the daemon never failed to encrypt (log)" bash -c '! grep -q "cannot encrypt" "$1"' _ "$GW_LOG"

# ---- signed commands (cose_commands = required) ------------------------------------
# rr FILE: invoke the lamp's toggle with FILE as the payload, as alice;
# prints "wotgw-status:N|BODY". mosquitto_rr takes a payload only as -m,
# so FILE must have no NUL byte and not end in a newline (see gen_m).
rr() {
    timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
        -t wot/lamp/actions/toggle -e wot/lamp/actions/toggle/response/alice-rr -m "$(cat "$1")" \
        -W 5 -F '%P|%p' 2>&1
}
# pub FILE: the same as a plain publish, any bytes, no answer read
pub_f() {
    timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t "$1" -f "$2" \
        -q 1 >/dev/null 2>&1
}
cp "$T/ck/alice-es.toggle" "$T/t-es" && cp "$T/ck/bob-es.toggle" "$T/t-bob" &&
    cp "$T/ck-rogue/alice-es.toggle" "$T/t-rogue" && signer sign "$T/ck" alice-ed "$T/empty" "$T/t-ed" ||
    fail "signing commands (node)"
before=$(dev lamp/properties/on)
out=$(rr "$T/t-es")
check "toggle as alice's ES256 COSE_Sign1 (cose-js): wotgw-status 200 ($out)" grep -q '^wotgw-status:200|' <<<"$out"
check "... reached the device (on was $before)" [ "$(dev lamp/properties/on)" != "$before" ]
before=$(dev lamp/properties/on)
pub_f wot/lamp/actions/toggle "$T/t-ed"
check "toggle as alice's EdDSA COSE_Sign1 reached the device (on was $before)" wait_for 5 bash -c \
    '[ "$(curl -sS --max-time 2 "$1")" != "$2" ]' _ "$DEV_URL/lamp/properties/on" "$before"
before=$(dev lamp/properties/on)
for m in "empty:a plain (empty) payload:only as a COSE_Sign1" \
    "t-bob:bob's signature sent by alice:not a registered key of this consumer" \
    "t-rogue:an unregistered key with alice's kid:does not verify"; do
    IFS=: read -r f what why <<<"$m"
    out=$(rr "$T/$f")
    check "toggle with $what: wotgw-status 403, problem body '$why'" \
        bash -c 'grep -q "^wotgw-status:403|.*\"status\": *403" <<<"$1" && grep -q "$2" <<<"$1"' _ "$out" "$why"
done
python3 -c 'import sys; m=bytearray(open(sys.argv[1],"rb").read()); m[-1]^=1; open(sys.argv[2],"wb").write(m)' "$T/t-ed" "$T/t-flip"
pub_f wot/lamp/actions/toggle "$T/t-flip"
check "toggle with a flipped signature byte: refused (logged)" wait_for 5 grep -q \
    'AFFORDANCE=toggle OP=invokeaction .*DECISION=deny .*does not verify' "$GW_LOG"
check "none of the refused commands reached the device" [ "$(dev lamp/properties/on)" = "$before" ]
check "refusals are logged with the principal and the reason" \
    grep -q 'THING=lamp AFFORDANCE=toggle OP=invokeaction PROTOCOL=mqtts PRINCIPAL=alice .*DECISION=deny .*not a registered key' "$GW_LOG"
# writeproperty: the device gets the signed payload
for v in false true; do
    printf '%s' "$v" >"$T/v"
    signer sign "$T/ck" alice-ed "$T/v" "$T/w-$v" || fail "signing on=$v"
    pub_f wot/lamp/properties/on/set "$T/w-$v"
    check "signed on=$v (EdDSA) written: the device has the Sign1's payload" wait_for 5 bash -c \
        '[ "$(curl -sS --max-time 2 "$1")" = "$2" ]' _ "$DEV_URL/lamp/properties/on" "$v"
done
printf false >"$T/v"
pub_f wot/lamp/properties/on/set "$T/v"
sleep 0.5
check "a plain on=false is not written (the device keeps true)" [ "$(dev lamp/properties/on)" = true ]

# ---- MACed commands (COSE_Mac0 under alice's HMAC 256/64 key) ----------------------
mac() { timeout 30 node "$NODEDIR/consumer-secret.mjs" mac "$@"; }
mac "$T/ck/alice.mac" "$T/empty" "$T/t-mac" && mac "$T/ck-rogue/alice.mac" "$T/empty" "$T/t-mac-rogue" ||
    fail "MACing commands (node)"
before=$(dev lamp/properties/on)
pub_f wot/lamp/actions/toggle "$T/t-mac"
check "toggle as alice's COSE_Mac0 (cose-js) reached the device (on was $before)" wait_for 5 bash -c \
    '[ "$(curl -sS --max-time 2 "$1")" != "$2" ]' _ "$DEV_URL/lamp/properties/on" "$before"
for v in false true; do
    printf '%s' "$v" >"$T/v"
    mac "$T/ck/alice.mac" "$T/v" "$T/wm-$v" || fail "MACing on=$v"
    pub_f wot/lamp/properties/on/set "$T/wm-$v"
    check "MACed on=$v written: the device has the Mac0's payload" wait_for 5 bash -c \
        '[ "$(curl -sS --max-time 2 "$1")" = "$2" ]' _ "$DEV_URL/lamp/properties/on" "$v"
done
before=$(dev lamp/properties/on)
pub_f wot/lamp/actions/toggle "$T/t-mac-rogue"
check "toggle as a Mac0 under another key with alice's kid: refused (logged)" wait_for 5 grep -q \
    'AFFORDANCE=toggle OP=invokeaction .*PRINCIPAL=alice .*DECISION=deny .*COSE_Mac0 does not verify' "$GW_LOG"
python3 -c 'import sys; m=bytearray(open(sys.argv[1],"rb").read()); m[-1]^=1; open(sys.argv[2],"wb").write(m)' "$T/t-mac" "$T/t-mac-flip"
n=$(grep -c 'COSE_Mac0 does not verify' "$GW_LOG")
pub_f wot/lamp/actions/toggle "$T/t-mac-flip"
check "toggle as a Mac0 with a flipped tag byte: refused (logged)" wait_for 5 bash -c \
    '[ "$(grep -c "COSE_Mac0 does not verify" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n"
sleep 0.3
check "neither reached the device" [ "$(dev lamp/properties/on)" = "$before" ]
check "no log line holds a secret key" bash -c 'l1=$1 l2=$2; shift 2; for f in "$@"; do k=$(xxd -p "$f" | tr -d "\n" | tail -c 32); ! grep -qi "$k" "$l1" "$l2" || exit 1; done' _ \
    "$GW_LOG" "$T/broker.log" "$T/ck/alice.enc" "$T/ck/bob.enc" "$T/ck/alice.mac"

# reload: alice gets bob's key too (wotgw-passwd, SIGHUP): the message
# refused above is accepted now
check "wotgw-passwd cose-consumer-add alice bob-es.cosekey" \
    "$BUILD/wotgw-passwd" -q -f "$T/cose_keys" cose-consumer-add alice "$T/ck/bob-es.cosekey"
n=$(grep -c 'reloaded:' "$GW_LOG")
kill -HUP "$GW_PID"
check "SIGHUP: wotgw reloaded" wait_for 10 bash -c '[ "$(grep -c "reloaded:" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n"
out=$(rr "$T/t-bob")
check "after the reload alice's toggle signed with that key: wotgw-status 200 ($out)" \
    grep -q '^wotgw-status:200|' <<<"$out"

# what wotgw stops offering loses its retained value: the thermometer goes
# encrypted only (its plaintext must not stay on the plain topic), bob
# leaves securelamp's cose_encrypt_to (his encrypted value is removed)
got=$(sub_fmt wot/thermometer/properties/unit '%p')
check "before: the thermometer's unit is retained in plaintext ($got)" [ "$got" = "$(dev thermometer/properties/unit)" ]
sed -i -e 's/^cose_encrypt_to = alice, bob$/cose_encrypt_to = alice/' \
    -e '/^\[thing thermometer\]$/,/^$/ s/^poll_interval = 1s$/&\ncose_encrypt_to = alice/' "$T/wotgw.conf"
n=$(grep -c 'mqtts: reloaded' "$T/broker.log")
kill -HUP "$BROKER_PID"
check "the broker's plugin reloaded" wait_for 10 bash -c '[ "$(grep -c "mqtts: reloaded" "$1")" -gt "$2" ]' _ "$T/broker.log" "$n"
n=$(grep -c 'reloaded:' "$GW_LOG")
kill -HUP "$GW_PID"
check "SIGHUP: wotgw reloaded" wait_for 10 bash -c '[ "$(grep -c "reloaded:" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n"
check "wotgw removed the plaintext retained on the thermometer's plain topic" \
    wait_for 5 grep -q 'mqtt: removed the retained value of wot/thermometer/properties/unit (no longer offered)' "$GW_LOG"
check "... and bob's encrypted value of securelamp" \
    grep -q 'mqtt: removed the retained value of wot/securelamp/properties/on/cose/bob (no longer offered)' "$GW_LOG"
out=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -t wot/thermometer/properties/unit -W 2 -F '%p' 2>&1)
# subscribed (a refusal would say so), nothing retained in 2 s
check "a consumer reading the plain topic now gets no plaintext ($out)" [ "$out" = "Timed out" ]
dev thermometer/properties/unit >"$T/want4"
for _ in 1 2 3 4 5; do sub_raw wot/thermometer/properties/unit/cose/alice "$T/unit.enc" && [ -s "$T/unit.enc" ] && break; done
check "... the unit goes to alice as a COSE_Encrypt0 instead (cose-js decrypts it)" \
    decrypt "$T/ck/alice.enc" "$T/unit.enc" "$T/want4"

check "the daemon stops cleanly" gw_stop
finish
