#!/usr/bin/env bash
# The MQTT front end: a real mosquitto broker run with the shipped
# configuration (conf/mosquitto/wotgw.conf, ports and paths replaced) and
# wotgw's plugin (wotgw_mosquitto.so), mosquitto_pub / mosquitto_sub (MQTT
# 5, TLS 1.3) and openssl s_client as clients. Covers: who may connect
# (nothing, wrong password, unknown user, bad / expired / foreign JWTs,
# client certificates of the right and of a rogue CA, wotgw's own client
# and its reserved id), what each may publish and subscribe to (MQTT 5
# reason codes 135 on SUBACK and PUBACK), wildcards that never widen
# access (wot/# of a principal allowed one thing receives that thing
# only), response topics of actions, reserved user properties, a token
# expiring during the connection, MQTT 3.1.1 (denied publishes dropped),
# wotgw's persistent session receiving commands queued while it was away,
# TLS versions, SIGHUP reloads (good, broken: the old policy stays) and
# failing closed when no configuration was ever loaded.
#
# Under ASan (BUILD ending in -asan) the plugin is an ASan-instrumented
# .so in a plain mosquitto binary: libasan is preloaded (LD_PRELOAD) and
# leak checking stays on (a leak fails the broker's exit status).
source tests/integration/lib.sh "$@"

source tests/integration/mqttenv.sh

# ---- fixtures ------------------------------------------------------------------
PKI=$T/pki
bash tests/tools/mkcerts.sh "$PKI" >/dev/null 2>&1
check "test PKI generated" test -s "$PKI/client1.crt"

A_PW='alice-Corr3ct-Horse-Battery'
B_PW='bob-Tr0ub4dor-and-3'
E_PW='eve-has-4-valid-password'
for u in "alice:$A_PW:family" "bob:$B_PW:heating" "eve:$E_PW:guests"; do
    IFS=: read -r name pw grp <<<"$u"
    printf '%s\n' "$pw" | "$PASSWD" -q -f "$T/users" useradd "$name" -g "$grp" --stdin \
        >/dev/null 2>>"$T/passwd.err" || fail "wotgw-passwd useradd $name"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/idp.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
tools/jwk-from-pem.sh "$T/idp.key" k1 >"$T/idp.jwks.json"
openssl rand -base64 32 >"$T/mqtt-secret"
SECRET=$(cat "$T/mqtt-secret")
THINGS=$ROOT/tests/data/daemon/things

# policy v1: alice (password), tokens with scopes, client1 (certificate)
# on the lamp; bob on the thermometer
write_conf() { # $1: alice's allow on the lamp
    cat >"$T/wotgw.conf" <<EOF
[gateway]
base_url = https://localhost:8443
[credentials]
users = users
[issuer home]
issuer = https://idp.test
jwks = idp.jwks.json
audience = https://localhost:8443
leeway = 0s
[mqtt]
broker_url = mqtts://localhost:$P_TLS
broker = 127.0.0.1:$P_LOCAL
password_file = mqtt-secret
[thing lamp]
td = $THINGS/lamp.td.json
security = basic | bearer:home | cert
allow = $1 user:client1
[thing thermometer]
td = $THINGS/thermometer.td.json
security = basic | bearer:home
allow = user:bob
EOF
}
write_conf user:alice

mk_broker_conf "$T/mosquitto.conf" "$T/wotgw.conf" tlsv1.3
check "broker config: every listener replaced" \
    bash -c '[ "$(grep -c "^listener .* 127.0.0.1$" "$1")" -eq 3 ]' _ "$T/mosquitto.conf"
# the shipped file itself: what the issue asks for
check "shipped config: TLS 1.3 only, no anonymous access, plugin, persistence" bash -c '
    f=conf/mosquitto/wotgw.conf
    grep -q "^listener 8883$" $f && grep -q "^tls_version tlsv1.3$" $f &&
    grep -q "^allow_anonymous false$" $f && grep -q "^plugin .*wotgw_mosquitto.so$" $f &&
    grep -q "^plugin_opt_config /etc/wotgw/wotgw.conf$" $f && grep -q "^persistence true$" $f &&
    grep -q "^listener 1883 127.0.0.1$" $f && ! grep -q "use_identity_as_username true" $f'

start_broker "$T/mosquitto.conf" "$T/broker.log"
B1=$BROKER_PID
check "broker starts with the plugin and listens" wait_for 10 port_open "$P_TLS"
check "the plugin loaded wotgw.conf (2 things)" wait_for 5 grep -q 'mqtts: loaded .*2 thing' "$T/broker.log"
port_open "$P_TLS" || { sed 's/^/# /' "$T/broker.log" | tail -n 20; finish; }

CA=(--cafile "$PKI/ca.crt")
# consumer clients (TLS 1.3 on P_TLS); -d shows CONNACK / SUBACK / PUBACK codes
pub() { timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -d "$@" 2>&1; }
sub() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -d "$@" 2>&1; }
# wotgw's own client on the loopback listener
own_pub() { timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P "$SECRET" "$@" 2>&1; }
mint() { tools/mint-jwt.py --key "$T/idp.key" --kid k1 --iss https://idp.test --aud https://localhost:8443 "$@"; }
refused() { grep -q 'CONNACK (135)' <<<"$1"; }

# ---- who may connect -----------------------------------------------------------------
out=$(pub -t wot/lamp/properties/on/set -m 1 -q 1)
check "no credentials: CONNACK 135 (not authorized)" refused "$out"
check "no credentials: refusal logged" wait_for 3 grep -q 'connection refused.*no credentials' "$T/broker.log"
out=$(pub -u alice -P wrong-password -t wot/lamp/properties/on/set -m 1 -q 1)
check "wrong password: CONNACK 135" refused "$out"
out=$(pub -u mallory -P "$A_PW" -t wot/lamp/properties/on/set -m 1 -q 1)
check "unknown user: CONNACK 135" refused "$out"
out=$(pub -u alice -t wot/lamp/properties/on/set -m 1 -q 1)
check "user name without a password: CONNACK 135" refused "$out"
TOK_OTHER=$(tools/mint-jwt.py --key "$T/other.key" --kid k1 --iss https://idp.test \
    --aud https://localhost:8443 --sub alice --scope "lamp:read lamp:write")
out=$(pub -u token -P "$TOK_OTHER" -t wot/lamp/properties/on/set -m 1 -q 1)
check "JWT signed by another key: CONNACK 135" refused "$out"
out=$(pub -u token -P "$(mint --sub alice --scope lamp:write --ttl -60)" -t wot/lamp/properties/on/set -m 1 -q 1)
check "expired JWT: CONNACK 135" refused "$out"
out=$(pub -u token -P "$(mint --sub alice --scope lamp:write --aud https://elsewhere)" -t wot/lamp/properties/on/set -m 1 -q 1)
check "JWT for another audience: CONNACK 135" refused "$out"
check "refusals never log a password or token" bash -c '! grep -q -e "$1" -e "$2" -e wrong-password "$3"' \
    _ "$A_PW" "${TOK_OTHER:0:40}" "$T/broker.log"

# ---- right credentials without the right ----------------------------------------------
out=$(sub -u eve -P "$E_PW" -t wot/lamp/properties/on -W 1)
check "eve (no right on the lamp): connected" grep -q 'CONNACK (0)' <<<"$out"
check "eve: SUBSCRIBE refused with reason code 135" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
out=$(pub -u eve -P "$E_PW" -t wot/lamp/properties/on/set -m true -q 1)
check "eve: PUBLISH refused, PUBACK reason 135" grep -q 'PUBACK (Mid: 1, RC:135)' <<<"$out"
# QoS 2: mosquitto_pub -d does not print PUBREC's reason code; a minimal
# MQTT 5 client (plain, on the loopback listener) reads it
cat >"$T/mq5raw.py" <<'PY'
import socket, struct, sys
host, port, user, pw, topic, qos = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
def s8(b): b = b.encode() if isinstance(b, str) else b; return struct.pack('>H', len(b)) + b
def vbi(n):
    out = b''
    while True:
        d = n % 128; n //= 128
        out += bytes([d | (128 if n else 0)])
        if not n: return out
def pkt(t, body): return bytes([t]) + vbi(len(body)) + body
def read(s):
    h = s.recv(1)
    if not h: return None, b''
    m, n, sh = 0, 0, 0
    while True:
        b = s.recv(1)[0]; n |= (b & 127) << sh; sh += 7
        if not b & 128: break
    body = b''
    while len(body) < n: body += s.recv(n - len(body))
    return h[0], body
s = socket.create_connection((host, port))
s.sendall(pkt(0x10, s8('MQTT') + bytes([5, 0xC2]) + struct.pack('>H', 30) + b'\x00' + s8('raw-probe') + s8(user) + s8(pw)))
t, b = read(s)
print('CONNACK', b[1] if t == 0x20 else None)
s.sendall(pkt(0x30 | (qos << 1), s8(topic) + struct.pack('>H', 1) + b'\x00' + b'payload'))
t, b = read(s)
print({0x40: 'PUBACK', 0x50: 'PUBREC'}.get(t, hex(t or 0)), b[2] if len(b) > 2 else 0)
PY
out=$(timeout 10 python3 "$T/mq5raw.py" 127.0.0.1 "$P_LOCAL" eve "$E_PW" wot/lamp/properties/on/set 2 2>&1)
check "eve: QoS 2 PUBLISH refused, PUBREC reason 135" grep -qx 'PUBREC 135' <<<"$out"
out=$(timeout 10 python3 "$T/mq5raw.py" 127.0.0.1 "$P_LOCAL" alice "$A_PW" wot/lamp/properties/on/set 2 2>&1)
check "alice: QoS 2 PUBLISH accepted, PUBREC reason 0" grep -qx 'PUBREC 0' <<<"$out"
check "eve: denial logged with thing, operation, principal and reason" wait_for 3 \
    grep -q 'deny writeproperty lamp/on by eve: user not allowed (publish wot/lamp/properties/on/set)' "$T/broker.log"
out=$(sub -u eve -P "$E_PW" -t 'wot/#' -W 1)
check "eve: wot/# refused (no topic she may read)" grep -q 'Subscribed (mid: 1): 135' <<<"$out"

# ---- right credentials ---------------------------------------------------------------------
out=$(own_pub -t wot/lamp/properties/on -m '{"on":true}' -r -q 1 -d)
check "wotgw's own client publishes a retained value" grep -q 'PUBACK (Mid: 1, RC:' <<<"$out"
check "  ... accepted (not 135)" bash -c '! grep -q "RC:135" <<<"$1"' _ "$out"
out=$(sub -u alice -P "$A_PW" -t wot/lamp/properties/on -C 1 -W 5 -F '%t %p')
check "alice: subscribe granted and the retained value delivered" \
    grep -q '^wot/lamp/properties/on {"on":true}$' <<<"$out"

# commands reach wotgw's own subscription byte for byte, with the principal
timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P "$SECRET" \
    -t 'wot/+/properties/+/set' -t 'wot/+/actions/+' -q 1 -C 2 -W 8 -F '%t|%p|%P|%R' \
    >"$T/own.out" 2>&1 &
OWN=$!
sleep 0.5
out=$(pub -u alice -P "$A_PW" -t wot/lamp/properties/on/set -m '{"on": false, "x": "é"}' -q 1)
check "alice: writeproperty PUBLISH accepted (QoS 1, not 135)" \
    bash -c 'grep -q "PUBACK (Mid: 1, RC:" <<<"$1" && ! grep -q "RC:135" <<<"$1"' _ "$out"
out=$(pub -u alice -P "$A_PW" -i alice-1 -t wot/lamp/actions/toggle -m '' -q 1 -D publish response-topic wot/lamp/actions/toggle/response/alice-1/r7)
check "alice: invokeaction with her own response topic accepted" bash -c '! grep -q "RC:135" <<<"$1"' _ "$out"
wait $OWN
check "wotgw receives the write byte for byte with wotgw-principal=alice" \
    grep -qx 'wot/lamp/properties/on/set|{"on": false, "x": "é"}|wotgw-principal:alice|' "$T/own.out"
check "wotgw receives the invocation with its response topic" \
    grep -q '^wot/lamp/actions/toggle||wotgw-principal:alice|wot/lamp/actions/toggle/response/alice-1/r7$' "$T/own.out"

out=$(pub -u alice -P "$A_PW" -i alice-1 -t wot/lamp/actions/toggle -m '' -q 1 -D publish response-topic wot/lamp/actions/toggle/response/bob-2)
check "a response topic of another client: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -i alice-1 -t wot/lamp/actions/toggle -m '' -q 1 -D publish response-topic wot/lamp/properties/on)
check "a property topic as response topic: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t wot/lamp/properties/on/set -m 1 -q 1 -D publish user-property wotgw-principal admin)
check "a client's own wotgw-* user property: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(sub -u alice -P "$A_PW" -i alice-1 -t wot/lamp/actions/toggle/response/alice-1/# -t wot/lamp/actions/toggle/response/bob-2 -W 1)
check "response topics: her own granted, another client's 135" grep -q 'Subscribed (mid: 1): 0, 135' <<<"$out"

# MQTT 3.1.1: no response topic property of its own: the plugin adds one
timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P "$SECRET" \
    -t 'wot/+/actions/+' -t 'wot/+/properties/+/set' -q 1 -C 1 -W 8 -F '%t|%p|%P|%R' >"$T/own2.out" 2>&1 &
OWN=$!
sleep 0.5
timeout 10 mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -u eve -P "$E_PW" \
    -t wot/lamp/properties/on/set -m denied-v3 -q 1 -d >"$T/v3.out" 2>&1
check "MQTT 3.1.1: a denied publish gets no reason code (PUBACK without 135)" \
    bash -c 'grep -q "received PUBACK" "$1" && ! grep -q "RC:135" "$1"' _ "$T/v3.out"
timeout 10 mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "$P_TLS" "${CA[@]}" -u alice -P "$A_PW" \
    -i alice-v3 -t wot/lamp/actions/toggle -m v3 -q 1 >/dev/null 2>&1
wait $OWN
check "MQTT 3.1.1: the denied publish was dropped, never delivered" bash -c '! grep -q denied-v3 "$1"' _ "$T/own2.out"
check "MQTT 3.1.1: an invocation gets the response topic of its client id" \
    grep -q '^wot/lamp/actions/toggle|v3|wotgw-principal:alice|wot/lamp/actions/toggle/response/alice-v3$' "$T/own2.out"

# consumers never publish values or events, nor read commands
out=$(pub -u alice -P "$A_PW" -t wot/lamp/properties/on/set -m retained-cmd -r -q 1)
check "alice: a retained command: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t wot/lamp/properties/on -m forged -q 1)
check "alice: publishing a property value: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t wot/lamp/events/overheated -m forged -q 1)
check "alice: publishing an event: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(sub -u alice -P "$A_PW" -t wot/lamp/properties/on/set -t wot/lamp/actions/toggle -t '$SYS/#' -t other/topic -W 1)
check "alice: set/action topics, \$SYS and foreign topics: all 135" grep -q 'Subscribed (mid: 1): 135, 135, 135, 135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t 'wot/lamp/properties/%6Fn/set' -m 1 -q 1)
check "malformed topic (non-canonical encoding): PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t 'wot/lamp/properties/on/set/x' -m 1 -q 1)
check "topic outside the layout: PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(pub -u alice -P "$A_PW" -t 'wot/nosuch/properties/on/set' -m 1 -q 1)
check "unknown thing: PUBACK 135" grep -q 'RC:135' <<<"$out"

# ---- wildcards never widen access ---------------------------------------------------------
sub -u alice -P "$A_PW" -t 'wot/#' -W 4 -F '%t %p' >"$T/alice-all.out" &
SA=$!
sub -u bob -P "$B_PW" -t 'wot/+/properties/+' -W 4 -F '%t %p' >"$T/bob-all.out" &
SB=$!
sleep 1
own_pub -t wot/thermometer/properties/temperature -m 21.5 -r -q 1 >/dev/null
own_pub -t wot/lamp/properties/brightness -m 80 -q 1 >/dev/null
own_pub -t wot/lamp/events/overheated -m 95 -q 1 >/dev/null
wait $SA $SB
check "alice's wot/# was granted" grep -q 'Subscribed (mid: 1): 0' "$T/alice-all.out"
check "alice's wot/# receives the lamp's value and event" \
    bash -c 'grep -q "^wot/lamp/properties/brightness 80$" "$1" && grep -q "^wot/lamp/events/overheated 95$" "$1"' _ "$T/alice-all.out"
check "alice's wot/# never receives the thermometer" bash -c '! grep -q thermometer "$1"' _ "$T/alice-all.out"
check "bob's wot/+/properties/+ receives the thermometer only" \
    bash -c 'grep -q "^wot/thermometer/properties/temperature 21.5$" "$1" && ! grep -q "wot/lamp/" "$1"' _ "$T/bob-all.out"
check "deliveries are decided one by one (MOSQ_ACL_READ)" \
    bash -c '! grep -q "wot/lamp/properties/on {\"on\":true}" "$1"' _ "$T/bob-all.out"

# ---- bearer tokens as the password ----------------------------------------------------------
TOK_RW=$(mint --sub svc1 --scope "lamp:read lamp:write")
TOK_R=$(mint --sub svc2 --scope "lamp:read")
out=$(pub -u anything -P "$TOK_RW" -t wot/lamp/properties/on/set -m 1 -q 1)
check "JWT with lamp:write: PUBLISH accepted" bash -c 'grep -q "CONNACK (0)" <<<"$1" && ! grep -q "RC:135" <<<"$1"' _ "$out"
out=$(pub -P "$TOK_R" -t wot/lamp/properties/on/set -m 1 -q 1)
check "JWT with lamp:read only (no user name): PUBLISH refused, PUBACK 135" grep -q 'RC:135' <<<"$out"
out=$(sub -P "$TOK_R" -t wot/lamp/properties/on -C 1 -W 5 -F '%p')
check "JWT with lamp:read: subscribe delivers the retained value" grep -q '{"on":true}' <<<"$out"
out=$(sub -P "$TOK_R" -t wot/thermometer/properties/temperature -W 1)
check "JWT with lamp:read: the thermometer refused (135)" grep -q 'Subscribed (mid: 1): 135' <<<"$out"

# a token that expires during the connection: refused on the next publish
TOK_SHORT=$(mint --sub svc3 --scope "lamp:write" --ttl 2)
{ echo first; sleep 3; echo second; } |
    pub -P "$TOK_SHORT" -t wot/lamp/properties/on/set -q 1 -l >"$T/expiry.out"
check "short token: the first publish accepted" grep -q 'PUBACK (Mid: 1, RC:16)\|PUBACK (Mid: 1, RC:0)' "$T/expiry.out"
check "short token: after exp the next publish refused (135) on the same connection" \
    bash -c 'grep -q "PUBACK (Mid: 2, RC:135)" "$1" && [ "$(grep -c "CONNACK" "$1")" -eq 1 ]' _ "$T/expiry.out"
check "short token: expiry logged" grep -q 'access token has expired' "$T/broker.log"

# ---- client certificates (listener with require_certificate) ---------------------------------
csub() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_CERT" "${CA[@]}" -d "$@" 2>&1; }
out=$(csub --cert "$PKI/client1.crt" --key "$PKI/client1.key" -t wot/lamp/properties/on -C 1 -W 5 -F '%p')
check "client certificate CN=client1: connected without a password, value delivered" \
    bash -c 'grep -q "CONNACK (0)" <<<"$1" && grep -q "{\"on\":true}" <<<"$1"' _ "$out"
check "client certificate: connection logged as client1" grep -q "connected as client1" "$T/broker.log"
out=$(csub --cert "$PKI/client1.crt" --key "$PKI/client1.key" -t wot/thermometer/properties/temperature -W 1)
check "client1 on the thermometer: 135" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
out=$(csub --cert "$PKI/rogue-client.crt" --key "$PKI/rogue-client.key" -t wot/lamp/properties/on -W 1)
check "a certificate of a rogue CA: no connection" bash -c '! grep -q "CONNACK (0)" <<<"$1"' _ "$out"
out=$(csub -t wot/lamp/properties/on -W 1)
check "no certificate on the certificate listener: no connection" bash -c '! grep -q "CONNACK (0)" <<<"$1"' _ "$out"
out=$(csub --cert "$PKI/dashboard.crt" --key "$PKI/dashboard.key" -t wot/lamp/properties/on -W 1)
check "CN=dashboard (not allowed): connected, SUBSCRIBE 135" \
    bash -c 'grep -q "CONNACK (0)" <<<"$1" && grep -q "Subscribed (mid: 1): 135" <<<"$1"' _ "$out"

# ---- wotgw's own client ------------------------------------------------------------------------
out=$(timeout 10 mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P wrong-secret-0123456789 -t wot/lamp/properties/on -m x -d 2>&1)
check "wotgw's client id with a wrong password: CONNACK 135" refused "$out"
out=$(pub -u alice -P "$A_PW" -i wotgw -t wot/lamp/properties/on/set -m 1 -q 1)
check "a consumer using wotgw's client id: CONNACK 135" refused "$out"
out=$(pub -u wotgw -P "$A_PW" -t wot/lamp/properties/on/set -m 1 -q 1)
check "a consumer using wotgw's user name: CONNACK 135" refused "$out"
out=$(own_pub -t wot/lamp/properties/on/set -m x -q 1 -d)
check "wotgw's own client may not publish commands (135)" grep -q 'RC:135' <<<"$out"
out=$(own_pub -t 'wot/nosuch/properties/x' -m x -q 1 -d)
check "wotgw's own client: values of unknown things refused (135)" grep -q 'RC:135' <<<"$out"

# wotgw's persistent session: QoS 1 commands wait for it while it is away
timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P "$SECRET" \
    -c -x 600 -q 1 -t 'wot/+/properties/+/set' -W 1 >/dev/null 2>&1
out=$(pub -u alice -P "$A_PW" -t wot/lamp/properties/on/set -m queued-while-away -q 1)
out=$(timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_LOCAL" -i wotgw -u wotgw -P "$SECRET" \
    -c -x 600 -q 1 -t 'wot/+/properties/+/set' -C 1 -W 5 -F '%t %p' 2>&1)
check "wotgw's persistent session receives a command queued while it was away" \
    grep -q '^wot/lamp/properties/on/set queued-while-away$' <<<"$out"

# ---- TLS versions ---------------------------------------------------------------------------------
tls() { timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$PKI/ca.crt" "${@:2}" </dev/null 2>&1; }
check "TLS 1.3: handshake completes" grep -q 'Protocol *: TLSv1.3\|New, TLSv1.3' <<<"$(tls "$P_TLS" -tls1_3)"
check "TLS 1.2: refused (tls_version tlsv1.3)" bash -c '! grep -q "New, TLSv1.2" <<<"$1"' _ "$(tls "$P_TLS" -tls1_2)"
check "TLS 1.1: refused" bash -c '! grep -q "New, TLSv1.1\|New, TLSv1," <<<"$1"' _ "$(tls "$P_TLS" -tls1_1 -cipher DEFAULT@SECLEVEL=0)"

# ---- reload --------------------------------------------------------------------------------------
# revoke alice on the lamp: SIGHUP, her subscription refused now
write_conf group:nobody
kill -HUP "$B1"
check "SIGHUP: the plugin reloaded" wait_for 5 grep -q 'mqtts: reloaded' "$T/broker.log"
out=$(sub -u alice -P "$A_PW" -t wot/lamp/properties/on -W 1)
check "after the reload alice's subscription is refused (135)" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
# a broken wotgw.conf: logged with FILE:LINE, the policy in force stays
cp "$T/wotgw.conf" "$T/wotgw.conf.good"
printf '[thing broken]\ntd = nosuch.td.json\nfrobnicate = yes\n' >>"$T/wotgw.conf"
bad=$(grep -n '^frobnicate' "$T/wotgw.conf" | cut -d: -f1)
kill -HUP "$B1"
check "broken reload logged with FILE:LINE" wait_for 5 grep -q "wotgw.conf:$bad:.*frobnicate" "$T/broker.log"
check "broken reload: the previous policy stays in force" wait_for 3 grep -q 'previous one stays' "$T/broker.log"
out=$(sub -u bob -P "$B_PW" -t wot/thermometer/properties/temperature -C 1 -W 5 -F '%p')
check "after a broken reload bob is still served" grep -q '^21.5$' <<<"$out"
out=$(sub -u alice -P "$A_PW" -t wot/lamp/properties/on -W 1)
check "after a broken reload alice is still refused" grep -q 'Subscribed (mid: 1): 135' <<<"$out"
check "the broker survives the reloads" kill -0 "$B1"

# ---- fail closed ------------------------------------------------------------------------------------
# a second broker whose first load fails refuses everyone, then a good
# config and SIGHUP let clients in
P_TLS_SAVE=$P_TLS P_CERT_SAVE=$P_CERT P_LOCAL_SAVE=$P_LOCAL
P_TLS=$(free_port) P_CERT=$(free_port) P_LOCAL=$(free_port)
cp "$T/wotgw.conf" "$T/closed.conf"
mkdir -p "$T/mqtt-state2"
mk_broker_conf "$T/mosquitto2.conf" "$T/closed.conf" tlsv1.2
sed -i "s#$T/mqtt-state/#$T/mqtt-state2/#" "$T/mosquitto2.conf"
start_broker "$T/mosquitto2.conf" "$T/broker2.log"
B2=$BROKER_PID
check "broker with a broken wotgw.conf still starts" wait_for 10 port_open "$P_TLS"
check "  ... and says it refuses every client" wait_for 5 grep -q 'no configuration loaded: every client is refused' "$T/broker2.log"
out=$(pub -u bob -P "$B_PW" -t wot/thermometer/properties/temperature -m 1 -q 1)
check "fail closed: valid credentials refused (CONNACK 135)" refused "$out"
out=$(own_pub -t wot/lamp/properties/on -m x -d)
check "fail closed: wotgw's own client refused too" refused "$out"
cp "$T/wotgw.conf.good" "$T/closed.conf"
kill -HUP "$B2"
check "after a good SIGHUP the configuration is loaded" wait_for 5 grep -q 'mqtts: reloaded' "$T/broker2.log"
out=$(sub -u bob -P "$B_PW" -t wot/thermometer/properties/temperature -W 1)
check "  ... and bob may subscribe" grep -q 'Subscribed (mid: 1): 0' <<<"$out"
# this broker was configured with tls_version tlsv1.2: 1.2 works, 1.1 never
check "tls_version tlsv1.2: TLS 1.2 accepted" grep -q 'New, TLSv1.2\|Protocol *: TLSv1.2' <<<"$(tls "$P_TLS" -tls1_2)"
check "tls_version tlsv1.2: TLS 1.1 still refused" bash -c '! grep -q "New, TLSv1.1\|New, TLSv1," <<<"$1"' _ "$(tls "$P_TLS" -tls1_1 -cipher DEFAULT@SECLEVEL=0)"

# ---- shutdown (ASan: leaks are reported at exit) ---------------------------------------------------
for b in "$B1" "$B2"; do
    kill -TERM "$b"
    wait "$b"
    rc=$?
    check "broker $b exits cleanly on SIGTERM (rc $rc)" [ "$rc" -eq 0 ]
done
check "no sanitizer report in the broker logs" \
    bash -c '! grep -q -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" -e "runtime error:" "$1" "$2"' \
    _ "$T/broker.log" "$T/broker2.log"
if [ "$_fails" -gt 0 ]; then
    echo "# broker log (tail):"
    tail -n 40 "$T/broker.log" | sed 's/^/#   /'
fi
finish
