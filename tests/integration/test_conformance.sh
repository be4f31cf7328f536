#!/usr/bin/env bash
# TD-driven conformance: the exposed TD is the contract. For every form of
# every exposed TD (fetched from the running gateway), no credentials,
# wrong credentials, valid credentials without the right user or scope, and
# valid credentials give 401, 401, 403 and success (conformance.py does the
# walk). The config mixes basic with groups, apikey, bearer:ISSUER with
# default scopes and a scopes.AFF override, bearer of any issuer, oauth2,
# cert, oneOf and allOf combinations, per-affordance and per-operation
# overrides and forms left unexposed.
# The MQTT front end too: with [mqtt] the TDs carry mqtts:// forms (a real
# mosquitto with wotgw's plugin, the daemon as its client); every one is
# walked with mosquitto_sub / mosquitto_pub (MQTT 5, TLS 1.3; the P_CERT
# listener for client certificates): no or wrong credentials (wrong
# password, token of another key / expired / wrong audience, a foreign CA)
# are refused at CONNACK 135 (a foreign certificate in the TLS handshake);
# credentials the broker accepts but the form does not (another scheme,
# another issuer), not allowed, or lacking a scope connect and get SUBACK /
# PUBACK 135 with nothing delivered; allowed ones get the granted QoS and
# the retained value (properties), a triggered event, or PUBACK 0/16 (the
# write or invocation reaches the device). A principal allowed only one
# thing subscribes to wot/# and receives only that thing's messages; the
# form terms (mqv:*, href, security, scopes) and counts are checked, and
# forms MQTT cannot present (apikey, apikey & cert) are absent.
# The CoAPS front end too: with [coaps] the TDs carry coaps:// forms for
# the security a DTLS handshake can present (psk, cert); every one is
# walked with coap-client-gnutls: no credentials, a wrong PSK key, an
# unknown PSK identity or a foreign CA fail the handshake; valid
# credentials of a scheme the form does not take get 4.01, not allowed
# 4.03, allowed 2.05 with the value / 2.04.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

gw_pki || { fail "test PKI"; finish; }
source tests/integration/mqttenv.sh
gw_device --event-interval-ms 0 || { fail "simulated device starts"; finish; }
# a second exposed lamp on the same device, under its own id
jq '.id = "urn:dev:wotgw-sim:hall-lamp" | .title = "Hall lamp"' "$T/things/lamp.td.json" \
    > "$T/things/hall.td.json"

# ---- consumers ----------------------------------------------------------------------
PW_ALICE='Alice-Conformance-1'
PW_BOB='Bob-Conformance-2'
PW_MALLORY='Mallory-Conformance-3'
gw_user alice "$PW_ALICE" family
gw_user bob "$PW_BOB" guests
gw_user mallory "$PW_MALLORY" outsiders
K_HEAT=$(gw_apikey heating-controller)
K_PANEL=$(gw_apikey panel family)
K_INTRUDER=$(gw_apikey intruder outsiders)
echo "cn:client1 maintenance" > "$T/cert-identities"
gw_issuer idp ec
gw_issuer other ed25519
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/issuers/idp-rogue.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$T/issuers/other-rogue.pem" 2>/dev/null
# CoAPS pre-shared keys: alice (family) and bob (guests) are also users,
# sensor is a PSK identity only
: >"$T/psk"
chmod 600 "$T/psk"
PSK_ALICE=$("$PASSWD" -q -f "$T/psk" psk-add alice)
PSK_BOB=$("$PASSWD" -q -f "$T/psk" psk-add bob)
PSK_SENSOR=$("$PASSWD" -q -f "$T/psk" psk-add sensor)
CP=$(free_udp_port)

# ---- policy ---------------------------------------------------------------------------
{
    gw_conf | sed '/^cert_identities = /a psk = psk'
    mq_conf_section
    cat <<EOF
[coaps]
listen = 127.0.0.1:$CP

EOF
    cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic | bearer:idp
allow = group:family
allow.readproperty = group:family group:guests
scopes.toggle = lamp:switch
security.overheated = basic | bearer:idp | cert
allow.overheated = group:family user:maintenance
security.readproperty = basic | bearer:idp | psk
security.readallproperties = basic | bearer:idp | psk
security.on.writeproperty = basic | bearer:idp | psk
security.toggle = bearer:idp | psk
security.brightness.writeproperty = apikey & cert
allow.brightness.writeproperty = user:panel user:dashboard

[thing thermometer]
td = thermometer.td.json
security = apikey | cert | psk
allow = user:heating-controller user:dashboard user:sensor
security.unit = oauth2:other
security.readallproperties = apikey | cert

[thing hall]
td = hall.td.json
security.readproperty = bearer
scopes.brightness.readproperty = hall:read hall:brightness
security.on.writeproperty = basic
allow.on.writeproperty = user:alice
security.toggle = apikey
allow.toggle = group:family
EOF
} > "$T/wotgw.conf"

# Forms the policy exposes, counted by hand from the device TDs of
# tests/sim and the policy above (an empty or partial walk fails):
#   lamp: on r/w/observe, brightness r/w/observe, toggle, overheated,
#         readallproperties                                      = 9
#   thermometer: temperature r/observe, unit r, readallproperties = 4
#   hall: on r/w, brightness r, toggle                            = 4
# Unexposed (absent from the TD, URL answers 404/405): hall's brightness
# write, observe of on and brightness, overheated, readallproperties.
# mqtts forms (no route for readallproperties; left out where the security
# has no part MQTT can present, i.e. apikey & cert, apikey alone):
#   lamp: on r/w/observe, brightness r/observe, toggle, overheated = 7
#   thermometer: temperature r/observe, unit r (apikey|cert: cert;
#                oauth2:other)                                   = 3
#   hall: on r/w, brightness r                                   = 3
# coaps forms (readproperty, writeproperty, invokeaction and
# readallproperties only; where the security has a psk or cert part):
#   lamp: on r/w, brightness r (basic|bearer:idp|psk),
#         toggle (bearer:idp|psk),
#         readallproperties (basic|bearer:idp|psk)               = 5
#   thermometer: temperature r (apikey|cert|psk),
#                readallproperties (apikey|cert)                 = 2
#   hall: none (bearer, basic, apikey)                           = 0
jq -n \
    --arg root "$ROOT" --arg gw "$GW_URL" --arg ca "$PKI/ca.crt" --arg conf "$T/wotgw.conf" \
    --arg aud "$GW_AUD" --arg dev "$DEV_URL" --arg T "$T" \
    --arg pa "$PW_ALICE" --arg pb "$PW_BOB" --arg pm "$PW_MALLORY" \
    --arg kh "$K_HEAT" --arg kp "$K_PANEL" --arg ki "$K_INTRUDER" \
    --arg psa "$PSK_ALICE" --arg psb "$PSK_BOB" --arg pss "$PSK_SENSOR" --argjson cp "$CP" \
    --argjson ptls "$P_TLS" --argjson pcert "$P_CERT" '
{
  root: $root, gateway: $gw, ca: $ca, config: $conf, audience: $aud, device: $dev,
  things: ["lamp", "thermometer", "hall"],
  expect_forms: 17,
  expect_per_thing: {lamp: 9, thermometer: 4, hall: 4},
  expect_mqtts_forms: 13,
  expect_mqtts_per_thing: {lamp: 7, thermometer: 3, hall: 3},
  expect_coaps_forms: 9,
  expect_coaps_per_thing: {lamp: 6, thermometer: 3, hall: 0},
  coaps: {url: "coaps://127.0.0.1:\($cp)"},
  psk: [
    {identity: "alice", key: $psa, groups: ["family"]},
    {identity: "bob", key: $psb, groups: ["guests"]},
    {identity: "sensor", key: $pss, groups: []}],
  mqtt: {host: "127.0.0.1", port: $ptls, cert_port: $pcert, broker_url: "mqtts://localhost:\($ptls)"},
  nobody: "mallory", authenticated: "alice",
  unexposed: ["hall:brightness:writeproperty", "hall:on:observeproperty",
              "hall:brightness:observeproperty", "hall:overheated:subscribeevent",
              "hall::readallproperties"],
  basic: [
    {user: "alice", password: $pa, groups: ["family"]},
    {user: "bob", password: $pb, groups: ["guests"]},
    {user: "mallory", password: $pm, groups: ["outsiders"]}],
  apikey: [
    {name: "heating-controller", key: $kh, groups: []},
    {name: "panel", key: $kp, groups: ["family"]},
    {name: "intruder", key: $ki, groups: ["outsiders"]}],
  cert: [
    {crt: "\($T)/pki/client1.crt", key: "\($T)/pki/client1.key", principal: "maintenance", groups: []},
    {crt: "\($T)/pki/dashboard.crt", key: "\($T)/pki/dashboard.key", principal: "dashboard", groups: []}],
  rogue_cert: {crt: "\($T)/pki/rogue-client.crt", key: "\($T)/pki/rogue-client.key"},
  issuers: {
    idp: {key: "\($T)/issuers/idp.pem", rogue: "\($T)/issuers/idp-rogue.pem", kid: "idp-1",
          iss: "https://idp.test", authorization: "https://idp.test/authorize",
          token: "https://idp.test/token"},
    other: {key: "\($T)/issuers/other.pem", rogue: "\($T)/issuers/other-rogue.pem", kid: "other-1",
          iss: "https://other.test", authorization: "https://other.test/authorize",
          token: "https://other.test/token"}}
}' > "$T/catalog.json"

mq_broker_up

gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }
ok "gateway up on $GW_URL in front of the device on $DEV_URL"
check "wotgw connects to the broker" \
    wait_for 10 grep -q 'mqtt: connected to the broker at 127.0.0.1:.* as wotgw' "$GW_LOG"
check "wotgw feeds the offered values and events" \
    wait_for 10 grep -q 'mqtt: [1-9][0-9]* value and event topics fed under wot/' "$GW_LOG"

python3 tests/integration/conformance.py "$T/catalog.json" > "$T/conformance.out" 2>&1
rc=$?
grep -v '^ok - ' "$T/conformance.out"
n_ok=$(grep -c '^ok - ' "$T/conformance.out")
echo "# conformance.py: $n_ok checks passed"
check "conformance walk: every form gives 401/401/403/success as its TD says" [ $rc -eq 0 ]
check "conformance walk ran at least 900 checks ($n_ok)" [ "$n_ok" -ge 900 ]
check "the walk covered the mqtts forms" grep -q '^# mqtts forms walked: ' "$T/conformance.out"
check "the walk covered the coaps forms" grep -q '^# coaps forms walked: ' "$T/conformance.out"
check "CoAPS decisions are logged with PROTOCOL=coaps and the PSK identity or certificate user" \
    bash -c 'grep -q "PROTOCOL=coaps PRINCIPAL=alice" "$1" && grep -q "PROTOCOL=coaps PRINCIPAL=dashboard" "$1"' _ "$GW_LOG"

n_pub=$(sed -n 's/^# mqtts allowed publishes: //p' "$T/conformance.out")
check "every allowed MQTT write and invocation reached the device once through wotgw ($n_pub)" \
    wait_for 5 bash -c '[ "$1" -gt 0 ] && [ "$(grep -Ec "$2" "$3")" = "$1" ]' _ "${n_pub:-0}" \
    'OP=(writeproperty|invokeaction) PROTOCOL=mqtts PRINCIPAL=[^ ]+ PEER=broker DECISION=allow .*STATUS=2' "$GW_LOG"
check "... and nothing else did (denied publishes stop at the broker)" \
    [ "$(grep -Ec 'OP=(writeproperty|invokeaction) PROTOCOL=mqtts PRINCIPAL=[^ ]+ PEER=broker' "$GW_LOG")" = "${n_pub:-x}" ]
check "no publish of a principal allowed no command (bob, mallory) reached wotgw" \
    bash -c '! grep -Eq "OP=(writeproperty|invokeaction) PROTOCOL=mqtts PRINCIPAL=(bob|mallory) " "$1"' _ "$GW_LOG"
n_coap=$(sed -n 's/^# coaps allowed writes and invocations: //p' "$T/conformance.out")
check "every allowed CoAPS write and invocation reached the device, nothing else did ($n_coap)" \
    bash -c '[ "$1" -gt 0 ] && [ "$(grep -Ec "$2" "$3")" = "$1" ] && [ "$(grep -Ec "$4" "$3")" = "$1" ]' _ "${n_coap:-0}" \
    'OP=(writeproperty|invokeaction) PROTOCOL=coaps PRINCIPAL=[^ ]+ PEER=[^ ]+ DECISION=allow .*STATUS=2' "$GW_LOG" \
    'OP=(writeproperty|invokeaction) PROTOCOL=coaps .*DECISION=allow'
check "daemon still running after the walk" kill -0 "$GW_PID"
gw_stop; rc=$?
check "SIGTERM: exit 0 (no leak under ASan)" [ $rc -eq 0 ]
stop_broker; rc=$?
check "the broker exits cleanly (no leak in the plugin under ASan)" [ $rc -eq 0 ]
check "no secret in the daemon or broker log" bash -c '! grep -qF -e "$1" -e "$2" -e "$3" -e "$4" -e "$5" -e "$6" "$7" "$8"' _ \
    "$PW_ALICE" "$PW_BOB" "$PW_MALLORY" "$K_PANEL" "$K_HEAT" "$(cat "$T/mqtt-secret")" "$GW_LOG" "$T/broker.log"
check "no PSK key in the daemon or broker log" bash -c '! grep -qF -e "$1" -e "$2" -e "$3" "$4" "$5"' _ \
    "$PSK_ALICE" "$PSK_BOB" "$PSK_SENSOR" "$GW_LOG" "$T/broker.log"
finish
