#!/usr/bin/env bash
# node-wot's HTTP client (npm @node-wot/core + @node-wot/binding-http,
# versions pinned in tests/node/nodewot/package-lock.json) consumes exposed
# TDs through wotgw over HTTPS, once with basic and once with bearer
# credentials (servient.addCredentials keyed by the TD id), and reads,
# writes and invokes (tests/node/nodewot/client.mjs asserts the values).
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

PW='Node-Wot-Pass-42'
gw_user carol "$PW" family
gw_issuer idp ec
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
check "basic run made its assertions" bash -c '[ "$(grep -c "^ok - " "$1")" -ge 10 ]' _ "$T/basic.out"
check "bearer run made its assertions" bash -c '[ "$(grep -c "^ok - " "$1")" -ge 9 ]' _ "$T/bearer.out"

# the values node-wot wrote are the device's now (read on the device itself)
check "the device holds what node-wot wrote (brightness 81)" \
    bash -c '[ "$(curl -fsS --max-time 5 "$1/lamp/properties/brightness")" = 81 ]' _ "$DEV_URL"

check "daemon still running" kill -0 "$GW_PID"
gw_stop; rc=$?
check "SIGTERM: exit 0 (no leak under ASan)" [ $rc -eq 0 ]
check "no password or token in the daemon log" bash -c '! grep -qF -e "$1" -e "$2" "$3"' _ "$PW" "$TOKEN" "$GW_LOG"
finish
