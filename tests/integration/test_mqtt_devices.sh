#!/usr/bin/env bash
# MQTT devices (south/mqtt.c): a nosec "meter" whose TD names topics on a
# plain device broker on loopback (a real mosquitto with anonymous access,
# which only the gateway reaches), driven by mosquitto_pub / mosquitto_sub
# as the device. Consumers reach it over HTTPS (curl), CoAPS (coap-client,
# PSK) and MQTT (mosquitto_pub / mosquitto_sub through the north broker
# with wotgw's plugin): readproperty answers the last retained value (504
# before the device ever published), writeproperty and invokeaction
# publish the payload unchanged (QoS 1, acknowledged), observeproperty
# streams each new value as SSE, the value reaches the north MQTT topic,
# and a device broker that is down gives 502.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh
gw_pki || { fail "test PKI"; finish; }
source tests/integration/mqttenv.sh
COAPC=coap-client-gnutls

# ---- the device broker and the device's TD ----------------------------------------------
DP=$(free_port)
cat >"$T/device-broker.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo "user $(id -un)")
listener $DP 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
EOF
start_device_broker() {
    "$MOSQ" -c "$T/device-broker.conf" >>"$T/device-broker.log" 2>&1 &
    DB_PID=$!
    _pids+=("$DB_PID")
    wait_for 10 port_open "$DP"
}
check "the device broker (plain, anonymous, loopback) starts" start_device_broker

cat >"$T/meter.td.json" <<EOF
{
  "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"mqv": "https://www.w3.org/2019/wot/mqtt#"}],
  "id": "urn:dev:test:meter-1",
  "title": "Power meter",
  "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
  "security": "nosec_sc",
  "properties": {
    "power": {
      "type": "object", "readOnly": true, "observable": true,
      "forms": [{"href": "mqtt://127.0.0.1:$DP/meter/power", "op": ["readproperty", "observeproperty"],
                 "mqv:filter": "meter/power", "mqv:controlPacket": "subscribe", "contentType": "application/json"}]
    },
    "setpoint": {
      "type": "integer",
      "forms": [{"href": "mqtt://127.0.0.1:$DP/meter/setpoint", "op": "readproperty",
                 "mqv:filter": "meter/setpoint", "mqv:controlPacket": "subscribe"},
                {"href": "mqtt://127.0.0.1:$DP/meter/setpoint/set", "op": "writeproperty",
                 "mqv:topic": "meter/setpoint/set", "mqv:controlPacket": "publish", "mqv:qos": "1"}]
    }
  },
  "actions": {
    "reset": {"forms": [{"href": "mqtt://127.0.0.1:$DP/meter/reset", "op": "invokeaction",
                         "mqv:topic": "meter/reset", "mqv:controlPacket": "publish"}]}
  }
}
EOF
# the device publishes (retained, as a device does for its state)
dev_pub() { timeout 5 mosquitto_pub -h 127.0.0.1 -p "$DP" -q 1 "$@"; }
# the device's view of what arrives on a topic: one message into FILE
dev_listen() { # TOPIC FILE
    timeout 15 mosquitto_sub -h 127.0.0.1 -p "$DP" -t "$1" -C 1 -N >"$2" 2>/dev/null &
    _pids+=("$!")
    sleep 0.5
}

A_PW='alice-Corr3ct-Horse-Battery'
gw_user alice "$A_PW" family
KEY_ALICE=$("$PASSWD" -q -f "$T/psk" psk-add alice)
CP=$(free_udp_port)
{
    gw_conf
    echo "psk = psk"
    echo
    gw_limits device_timeout=1500ms
    mq_conf_section
    cat <<EOF
[coaps]
listen = 127.0.0.1:$CP

[thing meter]
td = $T/meter.td.json
security = basic | psk
allow = user:alice
EOF
} >"$T/wotgw.conf"
mq_broker_up
gw_start "$T/wotgw.conf" || { fail "daemon starts"; finish; }
check "wotgw connects to the device broker" \
    wait_for 10 grep -q "south mqtt: connected to the device broker 127.0.0.1:$DP" "$GW_LOG"

U=(-u "alice:$A_PW")
M=$GW_URL/things/meter

# ---- HTTPS consumer -----------------------------------------------------------------------
check "readproperty before the device ever published: 504" \
    [ "$(gw_status "${U[@]}" "$M/properties/setpoint")" = 504 ]
dev_pub -t meter/power -r -m '{"w": 42.5, "ts": "2026-11-29T02:00:00Z"}'
dev_pub -t meter/setpoint -r -m 21
check "readproperty: the device's retained value, byte for byte" wait_for 5 bash -c \
    '[ "$(curl -sS --max-time 5 --cacert "$1" -u "$2" "$3")" = "{\"w\": 42.5, \"ts\": \"2026-11-29T02:00:00Z\"}" ]' \
    _ "$PKI/ca.crt" "alice:$A_PW" "$M/properties/power"
ct=$(gw_curl "${U[@]}" -o /dev/null -w '%{content_type}' "$M/properties/power")
check "... with the form's content type (application/json, got $ct)" [ "$ct" = application/json ]
check "no credentials: 401" [ "$(gw_status "$M/properties/power")" = 401 ]

dev_listen meter/setpoint/set "$T/set.out"
st=$(gw_status "${U[@]}" -X PUT -H 'Content-Type: application/json' --data-binary '23' "$M/properties/setpoint")
check "writeproperty over HTTPS: 204 once the device broker acknowledged ($st)" [ "$st" = 204 ]
check "... the device received exactly the payload" wait_for 3 bash -c '[ "$(cat "$1")" = 23 ]' _ "$T/set.out"

printf '\x00\x01binary\xff' >"$T/reset.in"
dev_listen meter/reset "$T/reset.out"
st=$(gw_status "${U[@]}" -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$T/reset.in" "$M/actions/reset")
check "invokeaction over HTTPS: 204 ($st)" [ "$st" = 204 ]
check "... the device received the binary payload unchanged" wait_for 3 cmp -s "$T/reset.in" "$T/reset.out"

# observe: SSE from the device's new values
(gw_curl -N "${U[@]}" -H 'Accept: text/event-stream' --max-time 6 "$M/properties/power/observe" >"$T/sse.out" 2>&1 &)
sleep 1
dev_pub -t meter/power -r -m '{"w": 7}'
check "observeproperty over HTTPS: the new value as an SSE event" \
    wait_for 5 grep -q '^data: {"w": 7}$' "$T/sse.out"

# ---- CoAPS consumer ------------------------------------------------------------------------
out=$(timeout 20 $COAPC -B 5 -v 3 -u alice -k "$KEY_ALICE" "coaps://127.0.0.1:$CP/things/meter/properties/power" 2>&1)
check "CoAPS (PSK) readproperty of the MQTT device: its value ($out)" [ "$out" = '{"w": 7}' ]
dev_listen meter/setpoint/set "$T/set2.out"
out=$(timeout 20 $COAPC -B 5 -v 3 -u alice -k "$KEY_ALICE" -m put -e 19 "coaps://127.0.0.1:$CP/things/meter/properties/setpoint" 2>&1)
check "CoAPS writeproperty reaches the MQTT device" wait_for 3 bash -c '[ "$(cat "$1")" = 19 ]' _ "$T/set2.out"

# ---- MQTT consumer (north broker with the plugin) -------------------------------------------
CA=(--cafile "$PKI/ca.crt")
got=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -u alice -P "$A_PW" \
    -t wot/meter/properties/power -C 1 -W 5 2>&1)
check "MQTT consumer: the device's value on wot/meter/properties/power ($got)" [ "$got" = '{"w": 7}' ]
dev_listen meter/setpoint/set "$T/set3.out"
timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -u alice -P "$A_PW" \
    -t wot/meter/properties/setpoint/set -m 17 -q 1 >/dev/null 2>&1
check "MQTT consumer writeproperty reaches the MQTT device" wait_for 5 bash -c '[ "$(cat "$1")" = 17 ]' _ "$T/set3.out"

# ---- device broker down ----------------------------------------------------------------------
kill "$DB_PID"
wait "$DB_PID" 2>/dev/null
check "wotgw notices the device broker is gone" wait_for 5 grep -q 'south mqtt: lost the device broker' "$GW_LOG"
st=$(gw_status "${U[@]}" -X PUT --data-binary '5' "$M/properties/setpoint")
check "writeproperty with the device broker down: 502 ($st)" [ "$st" = 502 ]
check "wotgw still answers" [ "$(gw_status "$GW_URL/.well-known/wot")" = 200 ]
start_device_broker
check "wotgw reconnects to the device broker" wait_for 15 bash -c \
    '[ "$(grep -c "south mqtt: connected to the device broker" "$1")" -ge 2 ]' _ "$GW_LOG"
dev_listen meter/setpoint/set "$T/set4.out"
st=$(gw_status "${U[@]}" -X PUT --data-binary '25' "$M/properties/setpoint")
check "after the reconnect writes work again ($st)" [ "$st" = 204 ]

gw_stop
check "wotgw stops cleanly" [ $? -eq 0 ]
stop_broker
finish
