#!/usr/bin/env bash
# make demo: runs wotgw in front of the simulated nosec devices on loopback.
#
# First run: builds build/demo/ from conf/wotgw.conf with a self-signed
# development certificate, a demo user with a random password, an API key,
# a demo token issuer (key + JWKS), a client CA and a client certificate.
# Nothing of that is in the repository; delete build/demo to start over.
# Then starts wotgw-simdev (127.0.0.1:8081) and wotgw (https://localhost:8443)
# in the foreground and prints what to try. Ctrl-C stops both.
#
# Environment: BUILDDIR (default build), DEMO_DIR (default BUILDDIR/demo),
# DEMO_PORT (8443), DEMO_DEVICE_PORT (8081), DEMO_COAP_PORT (5684, UDP).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${BUILDDIR:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
D=${DEMO_DIR:-$B/demo}
GW_PORT=${DEMO_PORT:-8443}
DEV_PORT=${DEMO_DEVICE_PORT:-8081}
COAP_PORT=${DEMO_COAP_PORT:-5684}
BASE=https://localhost:$GW_PORT
ISS=https://auth.home.example/realms/home
AUD=https://gateway.home.example:8443

say() { printf '%s\n' "$*"; }

setup() {
    say "demo: creating $D (first run)"
    rm -rf "$D.tmp"
    mkdir -p "$D.tmp"/{things,tls,issuers}
    chmod 0700 "$D.tmp"
    cd "$D.tmp"
    # The example config, with the demo's addresses.
    sed -e "s|^base_url = .*|base_url = $BASE|" \
        -e "s|^listen = .*|listen = 127.0.0.1:$GW_PORT [::1]:$GW_PORT|" \
        -e "s|^audience = .*|audience = $AUD|" \
        -e "s|^#psk = psk|psk = psk|" -e "s|^#\\[coaps\\]|[coaps]|" \
        -e "s|^#listen = 0.0.0.0:5684 .*|listen = 127.0.0.1:$COAP_PORT|" \
        "$ROOT/conf/wotgw.conf" > wotgw.conf
    # The devices' own TDs, as the simulated device describes itself.
    "$B/wotgw-simdev" --listen "127.0.0.1:$DEV_PORT" --write-tds things
    rm -f things/faulty.td.json

    # A self-signed ECDSA P-256 development certificate for localhost.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
        -keyout tls/server.key -out tls/server.crt 2>/dev/null
    # A client CA and a client certificate for the "cert" scheme.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=wotgw demo client CA" -keyout tls/clients-ca.key -out tls/clients-ca.crt 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=dashboard" -keyout tls/dashboard.key -out tls/dashboard.csr 2>/dev/null
    openssl x509 -req -in tls/dashboard.csr -CA tls/clients-ca.crt -CAkey tls/clients-ca.key \
        -CAcreateserial -days 365 -out tls/dashboard.crt 2>/dev/null
    rm -f tls/dashboard.csr
    chmod 0600 tls/*.key
    printf '# certificate -> user (wotgw.conf(5))\ncn:dashboard dashboard\n' > cert-identities

    # Users (random password) and an API key.
    pass=$(openssl rand -base64 18 | tr -d '/+=')
    printf '%s\n' "$pass" | "$B/wotgw-passwd" -q -f users useradd alice -g family --stdin
    key=$("$B/wotgw-passwd" -q -f apikeys apikey-add heating-controller | grep -o 'wgk_[A-Za-z0-9_-]*' | head -n1)
    # The same service over CoAPS, with a pre-shared key.
    psk=$("$B/wotgw-passwd" -q -f psk psk-add heating-controller)

    # A demo token issuer: its signing key stays here, its JWKS goes to wotgw.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out issuers/home.key 2>/dev/null
    chmod 0600 issuers/home.key
    "$ROOT/tools/jwk-from-pem.sh" issuers/home.key demo-1 > issuers/home.jwks.json

    umask 077
    cat > credentials.txt <<EOF
# wotgw demo credentials (created $(date -u +%FT%TZ)); delete $D to renew
DEMO_USER=alice
DEMO_PASSWORD=$pass
DEMO_APIKEY=$key
DEMO_PSK=$psk
EOF
    cd "$ROOT"
    "$B/wotgw" -t -c "$D.tmp/wotgw.conf"
    mv "$D.tmp" "$D"
}

[ -x "$B/wotgw" ] && [ -x "$B/wotgw-simdev" ] || { echo "demo: build first (make all)" >&2; exit 1; }
[ -d "$D" ] || setup
# shellcheck disable=SC1091
. "$D/credentials.txt"
token=$(tools/mint-jwt.py --key "$D/issuers/home.key" --kid demo-1 --iss "$ISS" --aud "$AUD" \
    --sub alice --ttl 86400 --scope "lamp:read lamp:write lamp:invoke lamp:subscribe lamp:switch")

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

"$B/wotgw-simdev" --listen "127.0.0.1:$DEV_PORT" -q > "$D/simdev.log" 2>&1 &
pids+=($!)
"$B/wotgw" -c "$D/wotgw.conf" &
pids+=($!)
# wait until the gateway answers
up=
for _ in $(seq 100); do
    curl -s -o /dev/null --cacert "$D/tls/server.crt" "$BASE/.well-known/wot" && { up=1; break; }
    sleep 0.1
done
if [ -z "$up" ]; then
    echo "demo: wotgw did not come up on $BASE (port $GW_PORT or $DEV_PORT in use? set DEMO_PORT / DEMO_DEVICE_PORT)" >&2
    exit 1
fi

cat <<EOF

wotgw demo is running: gateway $BASE, simulated devices http://127.0.0.1:$DEV_PORT (loopback only).
Credentials (also in $D/credentials.txt): user alice / $DEMO_PASSWORD, API key $DEMO_APIKEY,
CoAPS pre-shared key of heating-controller $DEMO_PSK
A bearer token for alice is in \$TOKEN below (valid 24 h, scopes lamp:read lamp:write lamp:invoke lamp:subscribe lamp:switch).

Try:
  TOKEN=$token
  # read the lamp's "on" property with a password (basic) and with the token (bearer):
  curl --cacert $D/tls/server.crt -u alice:$DEMO_PASSWORD $BASE/things/lamp/properties/on
  curl --cacert $D/tls/server.crt -H "Authorization: Bearer \$TOKEN" $BASE/things/lamp/properties/on
  # switch it on, toggle it (the token's lamp:switch scope), read everything:
  curl --cacert $D/tls/server.crt -u alice:$DEMO_PASSWORD -X PUT -H 'Content-Type: application/json' -d true $BASE/things/lamp/properties/on
  curl --cacert $D/tls/server.crt -H "Authorization: Bearer \$TOKEN" -X POST $BASE/things/lamp/actions/toggle
  curl --cacert $D/tls/server.crt -u alice:$DEMO_PASSWORD $BASE/things/lamp/properties
  # the thermometer with the API key or the client certificate:
  curl --cacert $D/tls/server.crt -H "X-API-Key: $DEMO_APIKEY" $BASE/things/thermometer/properties/temperature
  curl --cacert $D/tls/server.crt --cert $D/tls/dashboard.crt --key $D/tls/dashboard.key $BASE/things/thermometer/properties/temperature
  # ... and over CoAP + DTLS with the pre-shared key (libcoap's client):
  coap-client-gnutls -u heating-controller -k $DEMO_PSK coaps://127.0.0.1:$COAP_PORT/things/thermometer/properties/temperature
  # the exposed TDs and the directory, and what no credentials get (401):
  curl --cacert $D/tls/server.crt -u alice:$DEMO_PASSWORD $BASE/things/lamp
  curl --cacert $D/tls/server.crt -u alice:$DEMO_PASSWORD $BASE/things
  curl -i --cacert $D/tls/server.crt $BASE/things/lamp/properties/on

Ctrl-C stops the demo.
EOF
wait -n "${pids[@]}" || true
