#!/usr/bin/env bash
# External issuers (issue 7, auth/extiss.h): a JWKS fetched from jwks_uri
# (served by a python3 HTTPS test server with the test CA), key rotation
# with one rate-limited refetch on an unknown kid, a JWKS that is
# unreachable at start (fail closed, then works after a refresh), and RFC
# 7662 introspection (active / inactive / expired / wrong scope, the cache,
# the endpoint down and a wrong client secret: 503). Over MQTT (the real
# broker with wotgw's plugin): the jwks_uri keys the daemon sends the
# plugin (auth/keysync.h), refused before it did (fail closed), the
# rotation and the dropped set followed, introspection tokens refused.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

gw_pki || exit 1
gw_device || exit 1
source tests/integration/mqttenv.sh
# msub TOKEN: subscribes to the lamp's "on" with the token as the password
msub() { timeout 10 mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$P_TLS" --cafile "$PKI/ca.crt" -d \
    -P "$1" -t wot/lamp/properties/on -W 1 2>&1; }
mq_ok() { grep -q 'CONNACK (0)' <<<"$1" && grep -Eq 'Subscribed \(mid: 1\): [012]$' <<<"$1"; }
mq_refused() { grep -q 'CONNACK (135)' <<<"$1"; }
export -f msub mq_ok mq_refused
export P_TLS PKI

SRV=$T/srv
LATE=$T/late
mkdir -p "$SRV" "$LATE"
cat >"$T/idp.py" <<'PY'
# A tiny HTTPS identity provider for the test: GET /jwks serves DIR/jwks.json,
# POST /introspect answers from DIR/tokens.json (token -> answer object,
# unknown -> inactive) after checking HTTP Basic against DIR/client.
# Every request is counted in DIR/<name>.count.
import base64, json, os, ssl, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, cert, key, d = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def bump(name):
    p = os.path.join(d, name + ".count")
    n = int(open(p).read()) if os.path.exists(p) else 0
    with open(p + ".tmp", "w") as f:
        f.write(str(n + 1))
    os.replace(p + ".tmp", p)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body):
        b = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        if self.path != "/jwks":
            return self.reply(404, {})
        bump("jwks")
        b = open(os.path.join(d, "jwks.json"), "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/jwk-set+json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        if self.path != "/introspect":
            return self.reply(404, {})
        bump("introspect")
        want = "Basic " + base64.b64encode(open(os.path.join(d, "client")).read().strip().encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.reply(401, {"error": "invalid_client"})
        f = urllib.parse.parse_qs(body)
        if f.get("token_type_hint") != ["access_token"] or len(f.get("token", [])) != 1:
            return self.reply(400, {"error": "invalid_request"})
        toks = json.load(open(os.path.join(d, "tokens.json")))
        ans = dict(toks.get(f["token"][0], {"active": False}))
        time.sleep(ans.pop("_delay", 0))
        self.reply(200, ans)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY

# keys: ext-1 served at start, ext-2 after the rotation, ext-3 never
mkkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/issuers/$1.pem" 2>/dev/null &&
    bash "$JWKFROMPEM" "$T/issuers/$1.pem" "$1" >"$T/issuers/$1.jwks.json"; }
for k in ext-1 ext-2 ext-3 late-1; do mkkey $k || exit 1; done
cp "$T/issuers/ext-1.jwks.json" "$SRV/jwks.json"
cp "$T/issuers/late-1.jwks.json" "$LATE/jwks.json"
echo "gw:intro-S3cret" >"$SRV/client"
printf 'intro-S3cret\n' >"$T/intro.secret"
printf 'wrong-secret\n' >"$T/wrong.secret"
chmod 600 "$T/intro.secret" "$T/wrong.secret"
tok() { # tok KID ISS [ARGS]
    local k=$1 iss=$2; shift 2
    python3 "$MINTJWT" --key "$T/issuers/$k.pem" --kid "$k" --iss "$iss" --aud "$GW_AUD" "$@"
}
now=$(date +%s)
cat >"$SRV/tokens.json" <<EOF
{"opaque-active": {"active": true, "sub": "dave", "scope": "lamp:read lamp:write", "exp": $((now + 3600)), "iss": "https://intro.test", "aud": "$GW_AUD", "client_id": "app"},
 "opaque-username": {"active": true, "username": "erin", "scope": "lamp:read", "exp": $((now + 3600))},
 "opaque-noscope": {"active": true, "sub": "dave", "scope": "other:read", "exp": $((now + 3600))},
 "opaque-expired": {"active": true, "sub": "dave", "scope": "lamp:read", "exp": $((now - 60))},
 "opaque-wrongaud": {"active": true, "sub": "dave", "scope": "lamp:read", "exp": $((now + 3600)), "aud": "https://elsewhere.example"},
 "opaque-slow": {"active": true, "sub": "sam", "scope": "lamp:read", "exp": $((now + 3600)), "_delay": 1.5},
 "opaque-gone": {"active": true, "sub": "sam", "scope": "lamp:read", "exp": $((now + 3600)), "_delay": 2},
 "opaque-inactive": {"active": false}}
EOF

SRV_PORT=$(free_port)
LATE_PORT=$(free_port)
DOWN_PORT=$(free_port)
start_idp() { # start_idp PORT DIR
    python3 "$T/idp.py" "$1" "$PKI/server-ec.crt" "$PKI/server-ec.key" "$2" 2>>"$T/idp.log" &
    IDP_PID=$!
    _pids+=("$IDP_PID")
    wait_for 10 curl -fsS -o /dev/null --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$1/jwks" 2>/dev/null
}
start_idp "$SRV_PORT" "$SRV" || { echo "idp did not start"; cat "$T/idp.log"; exit 1; }
rm -f "$SRV/jwks.count"

write_conf() { # write_conf INTROSPECTION_URL SECRET_FILE
    {
        gw_conf
        mq_conf_section
        cat <<EOF
[issuer ext]
issuer = https://ext.test
jwks_uri = https://127.0.0.1:$SRV_PORT/jwks
ca = pki/ca.crt
audience = $GW_AUD
leeway = 0s
jwks_refresh = 1h
jwks_refetch_min = 60s

[issuer late]
issuer = https://late.test
jwks_uri = https://127.0.0.1:$LATE_PORT/jwks
ca = pki/ca.crt
audience = $GW_AUD
jwks_refresh = 1s
jwks_max_stale = 4s

[issuer intro]
issuer = https://intro.test
introspection_url = $1
introspection_client_id = gw
introspection_secret_file = $2
introspection_cache = 16
introspection_cache_ttl = 60s
ca = pki/ca.crt
audience = $GW_AUD

[thing lamp]
td = lamp.td.json
security = bearer
EOF
    } >"$T/wotgw.conf"
}
write_conf "https://127.0.0.1:$SRV_PORT/introspect" intro.secret
mq_broker_up
T0=$(tok ext-1 https://ext.test --sub alice --scope lamp:read)
out=$(msub "$T0")
check "MQTT before wotgw ran: a jwks_uri issuer's token is refused (fail closed)" mq_refused "$out"
gw_start "$T/wotgw.conf" || exit 1

cnt() { cat "$1/$2.count" 2>/dev/null || echo 0; }
P=$GW_URL/things/lamp/properties/on
st() { gw_status -H "Authorization: Bearer $1" "$P"; }
hdrs() { gw_curl -o /dev/null -D - -H "Authorization: Bearer $1" "$P" 2>/dev/null; }

# ---- jwks_uri -------------------------------------------------------------------------------
check "daemon up while the 'late' JWKS is unreachable" kill -0 "$GW_PID"
check "the first JWKS fetch happened at start" wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null)" = 1 ]' _ "$SRV/jwks.count"
T1=$(tok ext-1 https://ext.test --sub alice --scope lamp:read)
check "token of the fetched key (kid ext-1): 200" [ "$(st "$T1")" = 200 ]
check "MQTT: the same token, with the set the daemon sent the plugin: subscribed" \
    wait_for 5 bash -c 'mq_ok "$(msub "$1")"' _ "$T1"
check "no refetch for a known kid" [ "$(cnt "$SRV" jwks)" = 1 ]

cp "$T/issuers/ext-2.jwks.json" "$SRV/jwks.json" # rotation
T2=$(tok ext-2 https://ext.test --sub alice --scope lamp:read)
check "token with the new kid ext-2 after the rotation: 200" [ "$(st "$T2")" = 200 ]
check "... after exactly one refetch" [ "$(cnt "$SRV" jwks)" = 2 ]
T3=$(tok ext-3 https://ext.test --sub alice --scope lamp:read)
c3=$(st "$T3")
check "a second unknown kid right after: 401 ($c3)" [ "$c3" = 401 ]
check "... without another fetch (jwks_refetch_min)" [ "$(cnt "$SRV" jwks)" = 2 ]
check "the rotated-out key ext-1 is refused now: 401" [ "$(st "$T1")" = 401 ]
check "MQTT follows the rotation: ext-2 subscribes" wait_for 5 bash -c 'mq_ok "$(msub "$1")"' _ "$T2"
check "... and ext-1 is refused (CONNACK 135)" wait_for 5 bash -c 'mq_refused "$(msub "$1")"' _ "$T1"
check "401 for a refused key says invalid_token" bash -c 'grep -qi "^www-authenticate:.*invalid_token" <<<"$1"' _ "$(hdrs "$T3")"
TS=$(tok ext-2 https://ext.test --sub alice --scope other:read)
check "fetched key, token without the scope: 403" [ "$(st "$TS")" = 403 ]

TL=$(tok late-1 https://late.test --sub bob --scope lamp:read)
check "unreachable JWKS: its token is refused (401, fail closed)" [ "$(st "$TL")" = 401 ]
check "the fetch failure is logged" grep -q "issuer late: fetching the JWK Set" "$GW_LOG"
start_idp "$LATE_PORT" "$LATE" || fail "late idp start"
check "JWKS server up: the token works after a background refresh" wait_for 15 bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 --cacert "$1" -H "Authorization: Bearer $2" "$3")" = 200 ]' _ "$PKI/ca.crt" "$TL" "$P"
check "the recovery is logged" grep -q "issuer late: JWK Set from" "$GW_LOG"
check "MQTT: the late set reached the plugin too" wait_for 5 bash -c 'mq_ok "$(msub "$1")"' _ "$TL"
kill "$IDP_PID" 2>/dev/null
wait "$IDP_PID" 2>/dev/null
check "JWKS server gone: the last good set is still used (200)" [ "$(st "$TL")" = 200 ]
check "... until jwks_max_stale has passed: then its tokens are refused (401)" \
    wait_for 15 bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 --cacert "$1" -H "Authorization: Bearer $2" "$3")" = 401 ]' _ "$PKI/ca.crt" "$TL" "$P"
check "the drop is logged" grep -q "issuer late: no good JWK Set .* (jwks_max_stale): its keys are dropped" "$GW_LOG"
check "MQTT: the dropped set is dropped in the broker too (CONNACK 135)" \
    wait_for 5 bash -c 'mq_refused "$(msub "$1")"' _ "$TL"

# ---- introspection -------------------------------------------------------------------------
i0=$(cnt "$SRV" introspect)
check "introspection: active token reads the property (200)" [ "$(st opaque-active)" = 200 ]
out=$(msub opaque-active)
check "MQTT: an introspection token is refused (the plugin cannot introspect)" mq_refused "$out"
check "... after one introspection" [ "$(cnt "$SRV" introspect)" = $((i0 + 1)) ]
check "a second request is served from the cache: 200" [ "$(st opaque-active)" = 200 ]
check "... the server was not asked again" [ "$(cnt "$SRV" introspect)" = $((i0 + 1)) ]
check "active with only 'username': 200" [ "$(st opaque-username)" = 200 ]
check "inactive token: 401" [ "$(st opaque-inactive)" = 401 ]
check "unknown token (inactive): 401 invalid_token" bash -c 'grep -q "^HTTP/[0-9.]* 401" <<<"$1" && grep -qi "invalid_token" <<<"$1"' _ "$(hdrs opaque-unknown)"
h=$(hdrs opaque-noscope)
check "active without the scope: 403 insufficient_scope" bash -c 'grep -q "^HTTP/[0-9.]* 403" <<<"$1" && grep -qi "insufficient_scope" <<<"$1"' _ "$h"
check "exp in the past in the answer: 401" [ "$(st opaque-expired)" = 401 ]
check "aud of another resource server: 401" [ "$(st opaque-wrongaud)" = 401 ]
i1=$(cnt "$SRV" introspect)
check "inactive answers are cached too (no new introspection)" bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 --cacert "$1" -H "Authorization: Bearer opaque-inactive" "$2")" = 401 ] && [ "$(cat "$3")" = "$4" ]' _ "$PKI/ca.crt" "$P" "$SRV/introspect.count" "$i1"
check "a JWT of a jwks_uri issuer is not sent to introspection" bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 --cacert "$1" -H "Authorization: Bearer $2" "$3")" = 200 ] && [ "$(cat "$4")" = "$5" ]' _ "$PKI/ca.crt" "$T2" "$P" "$SRV/introspect.count" "$i1"
i3=$(cnt "$SRV" introspect)
slow=()
for k in 1 2 3 4 5; do
    gw_status -H "Authorization: Bearer opaque-slow" "$P" >"$T/slow.$k" &
    slow+=($!)
done
wait "${slow[@]}" # only these: the servers and the daemon run in the background too
check "five concurrent requests waiting on one slow introspection: all 200" \
    bash -c 'for k in 1 2 3 4 5; do [ "$(cat "$1/slow.$k")" = 200 ] || exit 1; done' _ "$T"
check "... and the endpoint was asked once" [ "$(cnt "$SRV" introspect)" = $((i3 + 1)) ]
GW_CURL_TIMEOUT=0.5 gw_status -H "Authorization: Bearer opaque-gone" "$P" >/dev/null
check "a client that leaves while its token is introspected: the daemon carries on" \
    wait_for 5 bash -c '[ "$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 --cacert "$1" -H "Authorization: Bearer opaque-gone" "$2")" = 200 ]' _ "$PKI/ca.crt" "$P"
check "the token never appears in the log" bash -c '! grep -q "opaque-" "$1"' _ "$GW_LOG"

reload() {
    local n
    n=$(grep -c "reloaded:" "$GW_LOG")
    kill -HUP "$GW_PID"
    wait_for 10 bash -c '[ "$(grep -c "reloaded:" "$1")" -gt "$2" ]' _ "$GW_LOG" "$n"
}
# endpoint down
write_conf "https://127.0.0.1:$DOWN_PORT/introspect" intro.secret
check "reload: introspection_url of a closed port" reload
h=$(hdrs opaque-active)
check "introspection endpoint down: 503 (cannot decide)" grep -q "^HTTP/[0-9.]* 503" <<<"$h"
check "the failure is logged" grep -q "issuer intro: introspection at https://127.0.0.1:$DOWN_PORT/introspect failed" "$GW_LOG"
check "JWT issuers still work meanwhile (keys kept over the reload): 200" [ "$(st "$T2")" = 200 ]

# wrong client secret
write_conf "https://127.0.0.1:$SRV_PORT/introspect" wrong.secret
check "reload: a wrong introspection client secret" reload
i2=$(cnt "$SRV" introspect)
check "wrong client secret: the server says 401, the request gets 503" [ "$(st opaque-active)" = 503 ]
check "... the server was asked" [ "$(cnt "$SRV" introspect)" = $((i2 + 1)) ]
check "the 401 of the endpoint is logged with a hint" grep -q "HTTP status 401, check introspection_client_id" "$GW_LOG"

# back to the right secret
write_conf "https://127.0.0.1:$SRV_PORT/introspect" intro.secret
check "reload: the right secret again" reload
check "introspection works again: 200" [ "$(st opaque-active)" = 200 ]

# config errors
cp "$T/wotgw.conf" "$T/bad.conf"
sed -i '/^\[issuer ext\]/,/^$/ s|^jwks_uri = .*|&\njwks = issuers/ext-1.jwks.json|' "$T/bad.conf"
check "two key sources in one [issuer]: wotgw -t refuses it" bash -c '! "$1" -t -c "$2" >"$3" 2>&1 && grep -q "give only one of jwks, jwks_uri and introspection_url" "$3"' _ "$WOTGW" "$T/bad.conf" "$T/bad.out"
cp "$T/wotgw.conf" "$T/bad2.conf"
sed -i "s|^jwks_uri = https://127.0.0.1:$SRV_PORT/jwks|jwks_uri = http://127.0.0.1:$SRV_PORT/jwks|" "$T/bad2.conf"
check "jwks_uri over plain http: refused" bash -c '! "$1" -t -c "$2" >/dev/null 2>&1' _ "$WOTGW" "$T/bad2.conf"

check "daemon stops cleanly (exit 0, no leak under ASan)" gw_stop

write_conf "https://127.0.0.1:$SRV_PORT/introspect" missing.secret
timeout 20 env -u NOTIFY_SOCKET "$WOTGW" -c "$T/wotgw.conf" >"$T/nosecret.log" 2>&1
rc=$?
check "an unreadable introspection_secret_file: the daemon does not start (exit 1, no leak; got $rc)" \
    bash -c '[ "$1" = 1 ] && grep -q "issuer intro: cannot read introspection_secret_file" "$2"' _ "$rc" "$T/nosecret.log"
finish
