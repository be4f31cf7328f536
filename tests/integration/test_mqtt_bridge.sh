#!/usr/bin/env bash
# The daemon as the broker's MQTT client (north/mqtt.c): a real mosquitto
# broker with wotgw's plugin (the shipped config), the real daemon
# connected to it on the loopback listener, the simulated HTTP device, and
# mosquitto_pub / mosquitto_sub / mosquitto_rr as MQTT consumers (TLS 1.3).
# Covers: values of observed and polled device properties reaching their
# retained topics byte-identical; writeproperty and invokeaction from MQTT
# 5 and MQTT 3.1.1 consumers reaching the device (payload untouched, the
# result on the response topic with correlation data and wotgw-status);
# device errors answered on the response topic; refused consumers never
# reaching the device; commands published while wotgw is stopped
# delivered when it is back (persistent session); a broker restart
# (wotgw reconnects, subscribes again, publishes the values again); and a
# clean shutdown.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh
gw_pki || { fail "test PKI"; finish; }
source tests/integration/mqttenv.sh

DEV_COAP_PORT=$(free_udp_port)
gw_device --coap-listen "127.0.0.1:$DEV_COAP_PORT" || { fail "simulated device starts"; finish; }
# its CoAP TDs (coap-lamp: the same lamp over plain CoAP)
"$SIMDEV" --listen "127.0.0.1:$DEV_PORT" --coap-listen "127.0.0.1:$DEV_COAP_PORT" \
    --write-tds "$T/things" >/dev/null 2>&1 || fail "the simulated device writes its CoAP TDs"
A_PW='alice-Corr3ct-Horse-Battery'
E_PW='eve-has-4-valid-password'
gw_user alice "$A_PW" family
gw_user eve "$E_PW" guests
# an OAuth client of the built-in authorization server (client credentials)
HEATER_SECRET=$("$PASSWD" -q -f "$T/clients" client-add heater --confidential \
    --grants client_credentials --scopes 'lamp:read,lamp:write')

{
    gw_conf
    gw_limits max_body_size=64K device_timeout=1500ms
    mq_conf_section
    cat <<EOF
[oauth]
enabled = yes
clients = clients
resource_owners = group:family

[thing lamp]
td = lamp.td.json
security = basic | oauth2:local
allow = user:alice
poll_interval = 2s

[thing thermometer]
td = thermometer.td.json
security = basic
allow = user:alice
poll_interval = 1s

[thing coaplamp]
td = coap-lamp.td.json
security = basic
allow = user:alice

[thing faulty]
td = faulty.td.json
security = basic
allow = user:alice
EOF
} >"$T/wotgw.conf"

mq_broker_up

gw_start "$T/wotgw.conf" || { fail "daemon starts"; sed 's/^/# /' "$GW_LOG" | tail; finish; }
check "wotgw connects to the broker (new persistent session)" \
    wait_for 10 grep -q 'mqtt: connected to the broker at 127.0.0.1:.* as wotgw' "$GW_LOG"
check "wotgw feeds the offered values and events" grep -q 'mqtt: [1-9][0-9]* value and event topics fed under wot/' "$GW_LOG"

CA=(--cafile "$PKI/ca.crt")
sub() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "$@" 2>&1; }
pub() { timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "$@" 2>&1; }
ALICE=(-u alice -P "$A_PW")
dev() { curl -sS --max-time 5 "$DEV_URL/$1"; }

# ---- values to the retained property topics -------------------------------------
want=$(dev lamp/properties/on)
got=$(sub "${ALICE[@]}" -t wot/lamp/properties/on -C 1 -W 5)
check "observed property: the retained value is the device's, byte for byte ($want)" \
    [ -n "$want" -a "$got" = "$want" ]
want=$(dev thermometer/properties/unit)
got=$(sub "${ALICE[@]}" -t wot/thermometer/properties/unit -C 1 -W 5)
check "polled property (no observe form): the retained value is the device's ($want)" \
    [ -n "$want" -a "$got" = "$want" ]
out=$(sub "${ALICE[@]}" -t wot/lamp/properties/brightness -C 1 -W 5 -F '%t %C')
check "the value carries the device's content type (MQTT 5 content type)" \
    grep -q '^wot/lamp/properties/brightness application/json$' <<<"$out"
out=$(sub -u eve -P "$E_PW" -t wot/lamp/properties/on -C 1 -W 2 -d)
check "eve may not read the lamp's value: SUBACK 135, nothing delivered" \
    bash -c 'grep -q "Subscribed (mid: 1): 135" <<<"$1" && ! grep -q "^true$\|^false$" <<<"$1"' _ "$out"

# ---- writeproperty ------------------------------------------------------------------
for v in false true false; do
    out=$(pub "${ALICE[@]}" -t wot/lamp/properties/on/set -m "$v" -q 1 -d)
    check "alice sets on=$v: PUBACK accepted" bash -c '! grep -q "RC:135" <<<"$1"' _ "$out"
    check "the device has on=$v" wait_for 5 bash -c '[ "$(curl -sS --max-time 2 "$1")" = "$2" ]' \
        _ "$DEV_URL/lamp/properties/on" "$v"
done
check "the retained value follows the device (observed: false)" wait_for 5 bash -c \
    '[ "$(timeout 5 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$1" --cafile "$2" -u alice -P "$3" -t wot/lamp/properties/on -C 1 -W 3 2>&1)" = false ]' \
    _ "$P_TLS" "$PKI/ca.crt" "$A_PW"
out=$(pub -u eve -P "$E_PW" -t wot/lamp/properties/on/set -m true -q 1 -d)
check "eve's write: PUBACK 135" grep -q 'RC:135' <<<"$out"
sleep 0.5
check "eve's write never reached the device" [ "$(dev lamp/properties/on)" = false ]
check "wotgw logged alice's writes with the plugin's principal" \
    grep -q 'THING=lamp AFFORDANCE=on OP=writeproperty PROTOCOL=mqtts PRINCIPAL=alice .*DECISION=allow .*STATUS=204' "$GW_LOG"

# ---- invokeaction, MQTT 5: response topic and correlation data ------------------------
before=$(dev lamp/properties/on)
out=$(timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
    -t wot/lamp/actions/toggle -e wot/lamp/actions/toggle/response/alice-rr -m '' -W 5 \
    -F '%C|%P|%p' 2>&1)
check "invokeaction over MQTT 5: the result on the response topic, wotgw-status 200" \
    grep -q '|wotgw-status:200|' <<<"$out"
after=$(dev lamp/properties/on)
check "the action reached the device (on $before -> $after)" [ "$before" != "$after" ]
# correlation data comes back unchanged
out=$( (timeout 8 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-c \
    -t wot/lamp/actions/toggle/response/alice-c -C 1 -W 6 -F '%D' 2>&1 &
    sleep 0.7
    pub "${ALICE[@]}" -i alice-c2 -t wot/lamp/actions/toggle -m '' -q 1 \
        -D publish response-topic wot/lamp/actions/toggle/response/alice-c \
        -D publish correlation-data req-4711 >/dev/null
    wait) 2>&1)
check "a foreign client's response topic is refused by the plugin (alice-c2 -> alice-c)" \
    bash -c '! grep -q req-4711 <<<"$1"' _ "$out"

# ---- MQTT 3.1.1: the plugin's response topic -----------------------------------------------
before=$(dev lamp/properties/on)
out=$( (timeout 8 mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i old-lamp \
    -t wot/lamp/actions/toggle/response/old-lamp -C 1 -W 6 2>&1 &
    sleep 0.7
    timeout 5 mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i old-lamp-pub \
        -t wot/lamp/actions/toggle -m '' -q 1 >/dev/null 2>&1
    wait) 2>&1)
check "MQTT 3.1.1: the action reached the device" \
    wait_for 3 bash -c '[ "$(curl -sS --max-time 2 "$1")" != "$2" ]' _ "$DEV_URL/lamp/properties/on" "$before"

# ---- device errors on the response topic ---------------------------------------------------
out=$(timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
    -t wot/lamp/actions/nosuchaction -e wot/lamp/actions/nosuchaction/response/alice-rr -m '' -W 5 \
    -F '%P|%p' 2>&1)
check "unknown action: PUBLISH refused by the plugin (nothing answers)" bash -c '! grep -q wotgw-status <<<"$1"' _ "$out"

# ---- translation to a CoAP device -------------------------------------------------------------
coapget() { timeout 10 coap-client-notls -B 5 -v 3 "coap://127.0.0.1:$DEV_COAP_PORT/lamp/properties/$1" 2>&1; }
out=$(pub "${ALICE[@]}" -t wot/coaplamp/properties/brightness/set -m 37 -q 1 -d)
check "MQTT write to the CoAP device: PUBACK accepted" bash -c '! grep -q "RC:135" <<<"$1"' _ "$out"
check "the CoAP device has brightness 37 (coap-client)" wait_for 5 bash -c '[ "$(timeout 5 coap-client-notls -B 3 -v 3 "$1" 2>&1)" = 37 ]' \
    _ "coap://127.0.0.1:$DEV_COAP_PORT/lamp/properties/brightness"
got=$(sub "${ALICE[@]}" -t wot/coaplamp/properties/brightness -C 1 -W 5)
check "the CoAP device's value on its MQTT topic (CoAP observe) ($got)" [ "$got" = 37 ]
out=$(timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
    -t wot/coaplamp/actions/toggle -e wot/coaplamp/actions/toggle/response/alice-rr -m '' -W 5 -F '%P' 2>&1)
check "MQTT invokeaction on the CoAP device: wotgw-status 2xx ($out)" grep -q 'wotgw-status:2' <<<"$out"

# ---- payloads byte for byte, and the limits -------------------------------------------------------
head -c 3000 /dev/urandom >"$T/blob.in"
out=$(pub "${ALICE[@]}" -t wot/faulty/properties/blob/set -f "$T/blob.in" -q 1 -d)
check "3000 random bytes written over MQTT: PUBACK accepted" bash -c '! grep -q "RC:135" <<<"$1"' _ "$out"
check "... reach the HTTP device byte for byte" wait_for 5 bash -c \
    'curl -sS --max-time 2 "$1" | cmp -s - "$2"' _ "$DEV_URL/faulty/properties/blob" "$T/blob.in"
hexin=$(od -An -tx1 "$T/blob.in" | tr -d ' \n')
check "... and come back on the retained property topic byte for byte (read again after the write)" \
    wait_for 5 bash -c '[ "$(timeout 5 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$1" --cafile "$2" -u alice -P "$3" -t wot/faulty/properties/blob -C 1 -W 3 -F %x 2>&1)" = "$4" ]' \
    _ "$P_TLS" "$PKI/ca.crt" "$A_PW" "$hexin"
big=$(head -c 70000 /dev/zero | tr '\0' a)
out=$(timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
    -t wot/faulty/actions/echo -e wot/faulty/actions/echo/response/alice-rr -m "$big" -W 5 -F '%P|%p' 2>&1)
check "a payload over max_body_size (64K): wotgw-status 413 with a problem body" \
    grep -q 'wotgw-status:413|.*"status": *413' <<<"$out"
pub "${ALICE[@]}" -t wot/faulty/properties/blob/set -m "$big" -q 1 >/dev/null
sleep 0.5
check "... logged as a refused interaction (STATUS=413)" \
    grep -q 'THING=faulty AFFORDANCE=blob OP=writeproperty PROTOCOL=mqtts PRINCIPAL=alice PEER=broker DECISION=deny .*STATUS=413' "$GW_LOG"
check "... and the device is not called (blob unchanged)" bash -c \
    'curl -sS --max-time 2 "$1" | cmp -s - "$2"' _ "$DEV_URL/faulty/properties/blob" "$T/blob.in"
out=$(pub "${ALICE[@]}" -t 'wot/lamp/properties/on/set/extra' -m true -q 1 -d)
check "a topic outside the layout: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub "${ALICE[@]}" -t 'wot/l%61mp/properties/on/set' -m true -q 1 -d)
check "a non-canonical encoding of a name: PUBACK 135" grep -q 'RC:135' <<<"$out"

# ---- the device down ------------------------------------------------------------------------------
kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null
out=$(timeout 10 mosquitto_rr -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" "${ALICE[@]}" -i alice-rr \
    -t wot/lamp/actions/toggle -e wot/lamp/actions/toggle/response/alice-rr -m '' -W 5 -F '%P|%p' 2>&1)
check "device down: the invocation is answered with wotgw-status 502 and a problem body" \
    grep -q 'wotgw-status:502|.*"status": *502' <<<"$out"
"$SIMDEV" --listen "127.0.0.1:$DEV_PORT" --coap-listen "127.0.0.1:$DEV_COAP_PORT" >>"$T/simdev.log" 2>&1 &
DEV_PID=$!
_pids+=("$DEV_PID")
check "the device is back" wait_for 10 curl -fsS -o /dev/null --max-time 2 "$DEV_URL/lamp/properties/on"
check "the restarted device's value replaces the stale retained one (read again before observing)" \
    wait_for 15 bash -c '[ "$(timeout 5 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$1" --cafile "$2" -u alice -P "$3" -t wot/lamp/properties/brightness -C 1 -W 3 2>&1)" = "$(curl -sS --max-time 2 "$4")" ]' \
    _ "$P_TLS" "$PKI/ca.crt" "$A_PW" "$DEV_URL/lamp/properties/brightness"

# ---- node-wot's MQTT binding consumes the exposed TD's mqtts forms -------------------------------
nw=tests/node/nodewot-mqtt
if [ ! -d "$nw/node_modules/@node-wot/binding-mqtt" ]; then
    timeout 300 npm --prefix "$nw" ci --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1 ||
        sed 's/^/# /' "$T/npm.log" | tail -n 5
fi
check "node-wot's MQTT binding is installed (make deps)" test -d "$nw/node_modules/@node-wot/binding-mqtt"
out=$(NODE_EXTRA_CA_CERTS=$PKI/ca.crt timeout 60 node "$nw/client.mjs" "$GW_URL" lamp alice "$A_PW" \
    "$PKI/ca.crt" "$DEV_URL" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(not )?ok - ' | sed 's/^\(not \)\{0,1\}ok - /&node-wot: /'
_fails=$((_fails + $(printf '%s\n' "$out" | grep -c '^not ok - ')))
check "node-wot read, wrote and invoked through the mqtts forms" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | grep -v '^ok - ' | sed 's/^/# /' | tail -n 15

# ---- an access token of wotgw's own authorization server as the MQTT password ------------------
TOKEN=$(gw_curl -u "heater:$HEATER_SECRET" -d grant_type=client_credentials -d scope=lamp:write \
    "$GW_URL/oauth/token" | jq -r '.access_token // empty')
check "client credentials at wotgw's token endpoint give a token" [ -n "$TOKEN" ]
out=$(pub -u heater -P "$TOKEN" -t wot/lamp/properties/brightness/set -m 55 -q 1 -d)
check "the token as the MQTT password: connected, PUBACK accepted" \
    bash -c 'grep -q "CONNACK (0)" <<<"$1" && ! grep -q "RC:135" <<<"$1"' _ "$out"
check "... and the write reaches the device (brightness 55)" \
    wait_for 5 bash -c '[ "$(curl -sS --max-time 2 "$1")" = 55 ]' _ "$DEV_URL/lamp/properties/brightness"
out=$(sub -u heater -P "$TOKEN" -t wot/lamp/properties/brightness -C 1 -W 2 -d)
check "... but it may not read (no lamp:read scope): SUBACK 135" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
check "the token is never logged" bash -c '! grep -qF "${1:20:40}" "$2" "$3"' _ "$TOKEN" "$GW_LOG" "$T/broker.log"
# the plugin never reads the authorization server's keys: the daemon sends
# them, with the revoked tokens, to PREFIX/$wotgw/keys (auth/keysync.h)
check "the plugin has its keys from wotgw, not from the state directory" \
    grep -q 'mqtts: keys from wotgw: 1 issuer(s) (1 configured here), 0 revoked' "$T/broker.log"
out=$(sub "${ALICE[@]}" -t 'wot/$wotgw/keys' -W 2 -d)
check "a consumer may not subscribe to the keys topic (SUBACK 135)" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
out=$(pub "${ALICE[@]}" -t 'wot/$wotgw/keys' -m '{"v":1,"issuers":[],"revoked":[],"revoked_iss":null}' -q 1 -d)
check "... nor publish a document of its own (PUBACK 135)" grep -q 'RC:135' <<<"$out"
# revocation at /oauth/revoke, seen by a connection that is open, while a
# wildcard subscriber watches everything under the prefix
(sub "${ALICE[@]}" -t 'wot/#' -W 6 -F '%t' >"$T/wild.out") &
wild=$!
TOKEN2=$(gw_curl -u "heater:$HEATER_SECRET" -d grant_type=client_credentials -d scope=lamp:write \
    "$GW_URL/oauth/token" | jq -r '.access_token // empty')
{
    echo 61
    sleep 1
    gw_curl -u "heater:$HEATER_SECRET" -d "token=$TOKEN2" -o /dev/null -w '%{http_code}' \
        "$GW_URL/oauth/revoke" >"$T/revoke.code"
    sleep 2.5
    echo 62
} | pub -u heater -P "$TOKEN2" -t wot/lamp/properties/brightness/set -q 1 -l -d >"$T/revoked.out"
check "revocation at /oauth/revoke: 200 ($(cat "$T/revoke.code"))" [ "$(cat "$T/revoke.code")" = 200 ]
check "... the publish before it accepted" grep -q 'PUBACK (Mid: 1, RC:0)\|PUBACK (Mid: 1, RC:16)' "$T/revoked.out"
check "... the next one on the same connection refused (135)" \
    bash -c 'grep -q "PUBACK (Mid: 2, RC:135)" "$1" && [ "$(grep -c CONNACK "$1")" -eq 1 ]' _ "$T/revoked.out"
check "... the device got 61 and never 62" [ "$(dev lamp/properties/brightness)" = 61 ]
out=$(pub -u heater -P "$TOKEN2" -t wot/lamp/properties/brightness/set -m 63 -q 1 -d)
check "... a new connection with it refused (CONNACK 135)" grep -q 'CONNACK (135)' <<<"$out"
check "... logged as revoked" grep -q 'the access token was revoked' "$T/broker.log"
check "... the plugin was told of 1 revoked token" grep -q 'keys from wotgw:.* 1 revoked token' "$T/broker.log"
out=$(pub -u heater -P "$TOKEN" -t wot/lamp/properties/brightness/set -m 64 -q 1 -d)
check "... the client's other token still works" \
    bash -c 'grep -q "CONNACK (0)" <<<"$1" && ! grep -q "RC:135" <<<"$1"' _ "$out"
wait "$wild"
check "a wildcard subscriber saw topics under the prefix, never the keys ($(sort -u "$T/wild.out" | wc -l) topics)" \
    bash -c 'grep -q "^wot/lamp/" "$1" && ! grep -qF "\$wotgw" "$1"' _ "$T/wild.out"

# ---- wotgw away: commands wait in its persistent session -------------------------------------
gw_stop
check "wotgw stops cleanly" [ $? -eq 0 ]
for v in true false true; do
    pub "${ALICE[@]}" -t wot/lamp/properties/on/set -m "$v" -q 1 >/dev/null
done
pub "${ALICE[@]}" -t wot/lamp/properties/brightness/set -m 42 -q 1 >/dev/null
sleep 0.3
check "while wotgw is away nothing reaches the device" [ "$(dev lamp/properties/brightness)" != 42 ]
GW_LOG=$T/wotgw2.log
gw_start "$T/wotgw.conf" || { fail "daemon restarts"; finish; }
check "wotgw resumes its session" wait_for 10 grep -q 'mqtt: connected .*(resumed session, plain, loopback)' "$GW_LOG"
check "the queued writes reach the device (brightness 42)" \
    wait_for 5 bash -c '[ "$(curl -sS --max-time 2 "$1")" = 42 ]' _ "$DEV_URL/lamp/properties/brightness"
check "in order: the last queued on=true wins" [ "$(dev lamp/properties/on)" = true ]

# ---- broker restart -------------------------------------------------------------------------
stop_broker
sleep 0.3
start_broker "$T/mosquitto.conf" "$T/broker.log"
check "broker back" wait_for 10 port_open "$P_TLS"
check "wotgw notices and reconnects" wait_for 15 bash -c \
    '[ "$(grep -c "mqtt: connected to the broker" "$1")" -ge 2 ]' _ "$GW_LOG"
pub "${ALICE[@]}" -t wot/lamp/properties/brightness/set -m 7 -q 1 >/dev/null
check "commands flow again after the reconnect (brightness 7)" \
    wait_for 5 bash -c '[ "$(curl -sS --max-time 2 "$1")" = 7 ]' _ "$DEV_URL/lamp/properties/brightness"
got=$(sub "${ALICE[@]}" -t wot/thermometer/properties/unit -C 1 -W 5)
check "values are published again after the reconnect" [ "$got" = "$(dev thermometer/properties/unit)" ]
out=$(pub -u heater -P "$TOKEN" -t wot/lamp/properties/brightness/set -m 8 -q 1 -d)
check "the restarted broker has the keys again: the token works" \
    bash -c 'grep -q "CONNACK (0)" <<<"$1" && ! grep -q "RC:135" <<<"$1"' _ "$out"

# ---- QoS 1 end to end under a broker restart: nothing accepted is lost -------------------------
N=40
: >"$T/acked"
n0=$(grep -c 'AFFORDANCE=brightness OP=writeproperty PROTOCOL=mqtts PRINCIPAL=alice .*STATUS=2' "$GW_LOG")
for i in $(seq 1 $N); do
    if [ "$i" -eq 15 ]; then
        stop_broker
        start_broker "$T/mosquitto.conf" "$T/broker.log"
        wait_for 10 port_open "$P_TLS"
    fi
    if pub "${ALICE[@]}" -t wot/lamp/properties/brightness/set -m "$i" -q 1 >/dev/null; then
        echo "$i" >>"$T/acked"
    fi
done
last=$(tail -n 1 "$T/acked")
check "the last accepted write ($last) reaches the device" \
    wait_for 10 bash -c '[ "$(curl -sS --max-time 2 "$1")" = "$2" ]' _ "$DEV_URL/lamp/properties/brightness" "$last"
n1=$(grep -c 'AFFORDANCE=brightness OP=writeproperty PROTOCOL=mqtts PRINCIPAL=alice .*STATUS=2' "$GW_LOG")
check "every accepted write was carried to the device ($((n1 - n0)) carried, $(wc -l <"$T/acked") of $N accepted)" \
    [ $((n1 - n0)) -ge "$(wc -l <"$T/acked")" ]

gw_stop
check "wotgw stops cleanly after the restarts" [ $? -eq 0 ]
check "wotgw never logged its MQTT password" bash -c '! grep -qF "$(cat "$1")" "$2" "$3"' _ "$T/mqtt-secret" "$GW_LOG" "$T/wotgw.log"

# ---- wotgw's own connection over TLS 1.3 (broker_ca) ------------------------------------------------
sed -e "s#^broker = 127.0.0.1:$P_LOCAL#broker = 127.0.0.1:$P_TLS\nbroker_ca = pki/ca.crt#" \
    "$T/wotgw.conf" >"$T/wotgw-tls.conf"
check "the TLS config names broker_ca" grep -q '^broker_ca = pki/ca.crt' "$T/wotgw-tls.conf"
GW_LOG=$T/wotgw3.log
gw_start "$T/wotgw-tls.conf" || fail "daemon starts with TLS to the broker"
check "wotgw connects to the broker's TLS listener with TLS 1.3" \
    wait_for 10 grep -q "mqtt: connected to the broker at 127.0.0.1:$P_TLS as wotgw (.*, TLSv1.3)" "$GW_LOG"
pub "${ALICE[@]}" -t wot/lamp/properties/brightness/set -m 66 -q 1 >/dev/null
check "commands flow over the TLS connection (brightness 66)" \
    wait_for 5 bash -c '[ "$(curl -sS --max-time 2 "$1")" = 66 ]' _ "$DEV_URL/lamp/properties/brightness"
gw_stop
check "wotgw stops cleanly" [ $? -eq 0 ]
stop_broker
check "the broker exits cleanly (no leak under ASan)" [ $? -eq 0 ]
finish
