#!/usr/bin/env bash
# node-wot's HTTP client (npm @node-wot/core + @node-wot/binding-http,
# versions pinned in tests/node/nodewot/package-lock.json) consumes exposed
# TDs through wotgw over HTTPS, once with basic and once with bearer
# credentials (servient.addCredentials keyed by the TD id), and reads,
# writes and invokes (tests/node/nodewot/client.mjs asserts the values).
# A third copy of the lamp is exposed with oauth2:local and [oauth]
# flow = client: node-wot's own OAuth2 client ({clientId, clientSecret})
# gets a token from wotgw's token endpoint with the client credentials
# grant and reads properties; its write is refused (scope lampo:read only).
# (node-wot 0.9.2 sends that token request with rejectUnauthorized: false,
# oauth-manager.js: its TLS is not checked by node-wot, whatever CA is set.)
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

NW=$ROOT/tests/node/nodewot
if [ ! -d "$NW/node_modules/@node-wot/binding-http" ]; then
    npm --prefix "$NW" ci --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1 ||
        { cat "$T/npm.log"; fail "npm ci in tests/node/nodewot (make deps)"; finish; }
fi

gw_pki || { fail "test PKI"; finish; }
gw_device --event-interval-ms 0 || { fail "simulated device starts"; finish; }
# the same device exposed a second time, for tokens, under its own id
jq '.id = "urn:dev:wotgw-sim:lamp-bearer" | .title = "Lamp (tokens)"' "$T/things/lamp.td.json" \
    > "$T/things/lampb.td.json"
# ... and a third time, for wotgw's own OAuth 2.0 server
jq '.id = "urn:dev:wotgw-sim:lamp-oauth" | .title = "Lamp (OAuth)"' "$T/things/lamp.td.json" \
    > "$T/things/lampo.td.json"
SVC_SECRET=$("$PASSWD" -q -f "$T/clients" client-add svc --confidential --grants client_credentials \
    --scopes 'lampo:read')

PW='Node-Wot-Pass-42'
gw_user carol "$PW" family
gw_issuer idp ec
check "a confidential client svc with a secret" [ "${SVC_SECRET:0:4}" = wgs_ ]
{
    gw_conf
    cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic
allow = group:family

[thing lampb]
td = lampb.td.json
security = bearer:idp

[oauth]
enabled = yes
clients = clients
flow = client

[thing lampo]
td = lampo.td.json
security = oauth2:local
EOF
} > "$T/wotgw.conf"
gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }

TOKEN=$(gw_token idp --sub node-client --scope "lampb:read lampb:write lampb:invoke")
BADTOKEN=$(gw_token idp --sub node-client --scope "lampb:read" --ttl -600)

run_client() { # NAME THING CRED WRONG
    NODE_EXTRA_CA_CERTS=$PKI/ca.crt timeout 60 node "$NW/client.mjs" "$GW_URL" "$2" "$3" "$4" \
        >"$T/$1.out" 2>"$T/$1.err"
    local rc=$?
    cat "$T/$1.out"
    [ $rc -eq 0 ] || grep -v 'unknown format' "$T/$1.err" | tail -20
    return $rc
}

check "node-wot with basic credentials reads, writes and invokes" \
    run_client basic lamp "{\"username\":\"carol\",\"password\":\"$PW\"}" \
    "{\"username\":\"carol\",\"password\":\"wrong-$PW\"}"
check "node-wot with a bearer token reads, writes and invokes" \
    run_client bearer lampb "{\"token\":\"$TOKEN\"}" "{\"token\":\"$BADTOKEN\"}"
check "node-wot with oauth2 (client credentials against wotgw's token endpoint) reads" \
    run_client oauth lampo "{\"clientId\":\"svc\",\"clientSecret\":\"$SVC_SECRET\"}" \
    "{\"clientId\":\"svc\",\"clientSecret\":\"wgs_wrong${SVC_SECRET:8}\"}"
check "basic run made its assertions" bash -c '[ "$(grep -c "^ok - " "$1")" -ge 10 ]' _ "$T/basic.out"
check "bearer run made its assertions" bash -c '[ "$(grep -c "^ok - " "$1")" -ge 9 ]' _ "$T/bearer.out"
# one token for the script's GET of the TD, one (at least) fetched by node-wot itself
check "node-wot fetched its own token: >= 2 client_credentials grants for svc in the log" \
    bash -c '[ "$(grep -c "token issued: grant=client_credentials client=svc" "$1")" -ge 2 ]' _ "$GW_LOG"
check "oauth2 run made its assertions" bash -c '[ "$(grep -c "^ok - " "$1")" -ge 7 ]' _ "$T/oauth.out"

# the values node-wot wrote are the device's now (read on the device itself)
check "the device holds what node-wot wrote (brightness 81)" \
    bash -c '[ "$(curl -fsS --max-time 5 "$1/lamp/properties/brightness")" = 81 ]' _ "$DEV_URL"

check "daemon still running" kill -0 "$GW_PID"
gw_stop; rc=$?
check "SIGTERM: exit 0 (no leak under ASan)" [ $rc -eq 0 ]
check "no password, token or client secret in the daemon log" \
    bash -c '! grep -qF -e "$1" -e "$2" -e "$3" "$4"' _ "$PW" "$TOKEN" "$SVC_SECRET" "$GW_LOG"
finish
