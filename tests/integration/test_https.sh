#!/usr/bin/env bash
# The HTTPS front end and the proxy core against real peers: the daemon on
# free loopback ports, the simulated device, curl, openssl s_client and a
# Python keep-alive client. Routes (TDs, directory, well-known, read /
# write / invoke, readallproperties filtered per principal, SSE observe and
# subscribe over the device's long-poll and SSE forms), 401 challenges per
# scheme, 403 insufficient_scope, 404/405/413/431, credential stripping,
# binary byte identity, TLS versions, ECDSA and RSA certificates, client
# certificates, certificate reload on SIGHUP without dropping a connection,
# slow devices not slowing fast ones, SIGTERM with requests in flight.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

# hdr FILE NAME: the value(s) of a response header in a curl -D dump
hdr() { tr -d '\r' < "$1" | awk -v n="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == n { sub(/^[^:]*: /, ""); print }'; }
# tls_ok PORT VERSION: handshake (and the certificate verifies) at that version
tls_ok() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" "-$2" -cipher 'DEFAULT:@SECLEVEL=0' \
        -CAfile "$PKI/ca.crt" -verify_return_error > "$T/sclient.out" 2>&1 &&
        grep -q '^New, TLSv1' "$T/sclient.out"
}
# jqt FILTER FILE: jq -e, quiet
jqt() { jq -e "$@" >/dev/null; }
export -f hdr gw_curl gw_status tls_ok jqt
export T PKI

SLOW_MS=2000
gw_pki || { fail "test PKI"; finish; }
gw_device --slow-ms $SLOW_MS --event-interval-ms 0 || { fail "simulated device starts"; finish; }

PW_ALICE='Alice-Https-Pass-1'
PW_BOB='Bob-Https-Pass-2'
gw_user alice "$PW_ALICE" family
gw_user bob "$PW_BOB" guests
K_PANEL=$(gw_apikey panel family)
gw_issuer idp ec

# The device's SSE form of the event as a thing of its own, to check the
# pass-through (the lamp itself uses the long-poll form).
jq '.id = "urn:dev:wotgw-https:lamp-sse"
    | .events.overheated.forms |= map(select(.subprotocol == "sse"))' \
    "$T/things/lamp.td.json" > "$T/things/lampsse.td.json"
check "the device offers an SSE form for overheated" \
    jqt '.events.overheated.forms | length == 1' "$T/things/lampsse.td.json"

write_conf() {
    {
        gw_conf
        gw_limits max_body_size=256K max_header_size=8K device_timeout=1500ms max_streams=4
        cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic | bearer:idp | apikey | cert
allow = group:family user:client1
security.readallproperties = basic | bearer:idp
allow.readallproperties = group:family user:bob
allow.brightness.readproperty = group:family user:bob

[thing lampsse]
td = lampsse.td.json
security = basic
allow = group:family

[thing thermometer]
td = thermometer.td.json
security = nosec

[thing faulty]
td = faulty.td.json
security = basic
allow = group:family
EOF
    } > "$T/wotgw.conf"
}
write_conf
gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }
ok "gateway on $GW_URL, device on $DEV_URL"
U=$GW_URL
A=(-u "alice:$PW_ALICE")
B=(-u "bob:$PW_BOB")
TOK_READ=$(gw_token idp --sub carol --scope "lamp:read")
TOK_OTHER=$(gw_token idp --sub carol --scope "other:read")


# ---- directory and TDs --------------------------------------------------------------
gw_curl -D "$T/h" -o "$T/wk.json" "$U/.well-known/wot"
check "well-known: the directory TD (td+json) with the /things listing form" \
    bash -c '[[ $(hdr "$1" content-type) == application/td+json* ]] &&
             jq -e --arg u "$2/things" "(.properties.things.forms[0].href == \$u) and (.\"@type\" == \"ThingDirectory\")" "$3" >/dev/null' \
    _ "$T/h" "$U" "$T/wk.json"

gw_curl -D "$T/h" -o "$T/anon.json" "$U/things"
check "things, anonymous: only the nosec thing" \
    jqt 'length == 1 and (.[0].properties | has("temperature"))' "$T/anon.json"
check "things: application/td+json" \
    bash -c '[[ $(hdr "$1" content-type) == application/td+json* ]]' _ "$T/h"
gw_curl -D "$T/h" -o "$T/anon-ld.json" -H 'Accept: application/ld+json' "$U/things"
check "things with Accept: application/ld+json: the same listing as application/ld+json" \
    bash -c '[[ $(hdr "$1" content-type) == application/ld+json* ]] && cmp -s "$2" "$3"' _ "$T/h" "$T/anon.json" "$T/anon-ld.json"
gw_curl "${A[@]}" -o "$T/alice.json" "$U/things"
check "things, alice: lamp, lampsse, thermometer and faulty" jqt 'length == 4' "$T/alice.json"
gw_curl "${B[@]}" -o "$T/bob.json" "$U/things"
check "things, bob: lamp (readallproperties, brightness) and the thermometer" jqt 'length == 2' "$T/bob.json"
check "things: no device address in any listed TD" bash -c '! grep -q "$1" "$2"' _ "127.0.0.1:$DEV_PORT" "$T/alice.json"

check "TD of the lamp, anonymous: 401" [ "$(gw_status "$U/things/lamp")" = 401 ]
check "TD of an unknown thing, anonymous: 401 too (existence does not leak)" \
    [ "$(gw_status "$U/things/nosuch")" = 401 ]
check "TD of an unknown thing, authenticated: 404" [ "$(gw_status "${A[@]}" "$U/things/nosuch")" = 404 ]
check "TD of faulty to bob (authenticated, may not see it): 404" \
    [ "$(gw_status "${B[@]}" "$U/things/faulty")" = 404 ]
check "TD with a wrong password: 401" [ "$(gw_status -u "alice:wrong" "$U/things/lamp")" = 401 ]
gw_curl "${A[@]}" -D "$T/h" -o "$T/lamp.td" "$U/things/lamp"
check "TD of the lamp to alice: 200 application/td+json, forms at the gateway" \
    bash -c '[[ $(hdr "$1" content-type) == application/td+json* ]] &&
             jq -e --arg u "$2/things/lamp/properties/on" "[.properties.on.forms[].href] | index(\$u) != null" "$3" >/dev/null' \
    _ "$T/h" "$U" "$T/lamp.td"
check "TD: Cache-Control no-store, nosniff and HSTS" \
    bash -c '[ "$(hdr "$1" cache-control)" = no-store ] && [ "$(hdr "$1" x-content-type-options)" = nosniff ] &&
             [[ $(hdr "$1" strict-transport-security) == max-age=* ]]' _ "$T/h"
check "TD HEAD: 200, no body" bash -c '[ "$(gw_curl -I "${@:2}" -o /dev/null -w "%{http_code}" "$1")" = 200 ]' \
    _ "$U/things/lamp" "${A[@]}"
check "TD over a client certificate (client1)" \
    [ "$(gw_status --cert "$PKI/client1.crt" --key "$PKI/client1.key" "$U/things/lamp")" = 200 ]

# ---- interactions ---------------------------------------------------------------------
check "readproperty: 200 with the device's JSON" \
    bash -c '[[ $(gw_curl "${@:2}" "$1") =~ ^(true|false)$ ]]' _ "$U/things/lamp/properties/on" "${A[@]}"
check "writeproperty: 2xx" bash -c '[[ $(gw_status -X PUT -H "Content-Type: application/json" -d 42 "${@:2}" "$1") == 20? ]]' \
    _ "$U/things/lamp/properties/brightness" "${A[@]}"
check "writeproperty took effect (read back through the gateway)" \
    [ "$(gw_curl "${A[@]}" "$U/things/lamp/properties/brightness")" = 42 ]
before=$(gw_curl "${A[@]}" "$U/things/lamp/properties/on")
gw_curl "${A[@]}" -X POST -o /dev/null "$U/things/lamp/actions/toggle"
after=$(gw_curl "${A[@]}" "$U/things/lamp/properties/on")
check "invokeaction toggle: on changed ($before -> $after)" [ "$before" != "$after" ]
check "readproperty with the API key" \
    [ "$(gw_status -H "X-API-Key: $K_PANEL" "$U/things/lamp/properties/on")" = 200 ]
check "readproperty with a bearer token (lamp:read)" \
    [ "$(gw_status -H "Authorization: Bearer $TOK_READ" "$U/things/lamp/properties/on")" = 200 ]
check "nosec thing: readproperty without credentials" \
    [ "$(gw_status "$U/things/thermometer/properties/temperature")" = 200 ]

gw_curl "${A[@]}" -o "$T/all-alice.json" "$U/things/lamp/properties"
check "readallproperties, alice: every property" jqt 'has("on") and has("brightness")' "$T/all-alice.json"
gw_curl "${B[@]}" -o "$T/all-bob.json" "$U/things/lamp/properties"
check "readallproperties, bob: only brightness (the one he may read)" \
    jqt 'keys == ["brightness"]' "$T/all-bob.json"
check "bob may not read on: 403" [ "$(gw_status "${B[@]}" "$U/things/lamp/properties/on")" = 403 ]

# ---- streams ------------------------------------------------------------------------------
# curl itself in the background (not the gw_curl function), so that $! is curl
SSE=(curl -sS -N --max-time 15 --cacert "$PKI/ca.crt" "${A[@]}")
"${SSE[@]}" "$U/things/lamp/events/overheated" > "$T/sub-lp.out" 2>&1 &
P1=$!
"${SSE[@]}" "$U/things/lampsse/events/overheated" > "$T/sub-sse.out" 2>&1 &
P2=$!
"${SSE[@]}" "$U/things/lamp/properties/on/observe" > "$T/obs.out" 2>&1 &
P3=$!
wait_for 5 grep -q 'stream open' "$T/sub-lp.out"
wait_for 5 grep -q 'stream open' "$T/sub-sse.out"
wait_for 5 grep -q 'stream open' "$T/obs.out"
# the device must have the gateway's calls pending before it fires: fire
# until every stream saw an event (at most 5 s)
trigger() { curl -sS -o /dev/null -X POST "$DEV_URL/lamp/_trigger/overheated"; }
for _ in $(seq 1 25); do
    trigger
    grep -q '^data: ' "$T/sub-lp.out" && grep -q '^data: ' "$T/sub-sse.out" && break
    sleep 0.2
done
gw_curl "${A[@]}" -X POST -o /dev/null "$U/things/lamp/actions/toggle"
wait_for 5 grep -q '^data: ' "$T/obs.out"
check "subscribeevent over the device's long-poll form: SSE data events" grep -q '^data: ' "$T/sub-lp.out"
check "subscribeevent over the device's SSE form: passed through" grep -q '^data: ' "$T/sub-sse.out"
check "observeproperty: an SSE event after toggle" grep -q '^data: \(true\|false\)' "$T/obs.out"
kill $P1 $P2 $P3 2>/dev/null
wait $P1 $P2 $P3 2>/dev/null
check "stream closed by the consumer is logged as such (device call cancelled)" \
    wait_for 5 grep -q 'REASON="stream closed by the consumer"' "$GW_LOG"
# max_streams = 4
for i in 1 2 3 4; do
    "${SSE[@]}" "$U/things/lamp/events/overheated" > "$T/s$i.out" 2>&1 &
    eval "S$i=\$!"
done
for i in 1 2 3 4; do wait_for 5 grep -q 'stream open' "$T/s$i.out"; done
check "a fifth stream over max_streams: 503" \
    [ "$(gw_status "${A[@]}" --max-time 3 "$U/things/lamp/events/overheated")" = 503 ]
kill $S1 $S2 $S3 $S4 2>/dev/null
wait $S1 $S2 $S3 $S4 2>/dev/null

# ---- refusals ------------------------------------------------------------------------------
gw_curl -D "$T/h" -o /dev/null "$U/things/lamp/properties/on"
check "401 challenges one per scheme: Basic, Bearer, APIKey, ClientCert" \
    bash -c 'c=$(hdr "$1" www-authenticate);
             grep -q "^Basic realm=\"wotgw-test\", charset=\"UTF-8\"$" <<<"$c" &&
             grep -q "^Bearer realm=\"wotgw-test\"$" <<<"$c" &&
             grep -q "^APIKey realm=\"wotgw-test\", header=\"X-API-Key\"$" <<<"$c" &&
             grep -q "^ClientCert realm=\"wotgw-test\"$" <<<"$c" && [ $(wc -l <<<"$c") -eq 4 ]' _ "$T/h"
check "401 body: RFC 9457 problem+json" \
    bash -c '[[ $(hdr "$1" content-type) == application/problem+json* ]]' _ "$T/h"
gw_curl -D "$T/h" -o /dev/null "$U/things/faulty/properties/blob"
check "401 for a basic-only form challenges Basic only" \
    bash -c '[ "$(hdr "$1" www-authenticate)" = "Basic realm=\"wotgw-test\", charset=\"UTF-8\"" ]' _ "$T/h"
gw_curl -D "$T/h" -o /dev/null -H "Authorization: Bearer $TOK_READ.x" "$U/things/lamp/properties/on"
check "refused token: 401 with Bearer error=\"invalid_token\"" \
    bash -c 'hdr "$1" www-authenticate | grep -q "^Bearer realm=\"wotgw-test\", error=\"invalid_token\"$"' _ "$T/h"
gw_curl -D "$T/h" -o "$T/403.json" -H "Authorization: Bearer $TOK_OTHER" "$U/things/lamp/properties/on"
check "token without the scope: 403 insufficient_scope scope=\"lamp:read\"" \
    bash -c 'grep -q "^HTTP/1.1 403" "$1" &&
             hdr "$1" www-authenticate | grep -q "error=\"insufficient_scope\", scope=\"lamp:read\""' _ "$T/h"
check "403 body: problem+json with status 403" jqt '.status == 403 and .type and .title' "$T/403.json"
check "malformed Basic (no colon): 401" \
    [ "$(gw_status -H "Authorization: Basic $(printf alice | base64)" "$U/things/lamp/properties/on")" = 401 ]
check "unknown property: 404" [ "$(gw_status "${A[@]}" "$U/things/lamp/properties/nosuch")" = 404 ]
check "unknown thing, authenticated: 404" [ "$(gw_status "${A[@]}" "$U/things/nosuch/properties/on")" = 404 ]
check "unknown thing, anonymous: 401" [ "$(gw_status "$U/things/nosuch/properties/on")" = 401 ]
check "unknown route: 404" [ "$(gw_status "$U/nothing/here")" = 404 ]
gw_curl -D "$T/h" -o /dev/null -X DELETE "${A[@]}" "$U/things/lamp/properties/on"
check "DELETE on a property: 405 Allow: GET, PUT" \
    bash -c 'grep -q "^HTTP/1.1 405" "$1" && [ "$(hdr "$1" allow)" = "GET, PUT" ]' _ "$T/h"
gw_curl -D "$T/h" -o /dev/null -X PUT -d 1 "$U/things/thermometer/properties/temperature"
check "PUT on a readOnly property: 405 Allow: GET" \
    bash -c 'grep -q "^HTTP/1.1 405" "$1" && [ "$(hdr "$1" allow)" = "GET" ]' _ "$T/h"
gw_curl -D "$T/h" -o /dev/null -X POST "$U/things"
check "POST on the directory: 405 Allow: GET, HEAD" \
    bash -c 'grep -q "^HTTP/1.1 405" "$1" && [ "$(hdr "$1" allow)" = "GET, HEAD" ]' _ "$T/h"
check "'..' in the path: 400" [ "$(gw_status --path-as-is "$U/things/../things")" = 400 ]
check "percent-encoded '..': 400" [ "$(gw_status "$U/things/%2e%2E/x")" = 400 ]
check "bad percent-encoding: 400" [ "$(gw_status "$U/things/%zz")" = 400 ]
head -c $((300 * 1024)) /dev/zero > "$T/big.bin"
check "body over max_body_size (Content-Length): 413" \
    [ "$(gw_status "${A[@]}" -X POST --data-binary @"$T/big.bin" "$U/things/faulty/actions/echo")" = 413 ]
check "body over max_body_size (chunked): 413" \
    [ "$(gw_status "${A[@]}" -X POST -H "Transfer-Encoding: chunked" --data-binary @"$T/big.bin" "$U/things/faulty/actions/echo")" = 413 ]
check "headers over max_header_size: 431" \
    [ "$(gw_status "${A[@]}" -H "X-Filler: $(head -c 9000 /dev/zero | tr '\0' a)" "$U/things/lamp/properties/on")" = 431 ]
check "header block far over the limit: refused, daemon up" \
    bash -c '[[ $(gw_status -H "X-Filler: $(head -c 60000 /dev/zero | tr "\0" a)" "$1") == 4* ]]' _ "$U/things"
check "device status passes through (faulty/status: 503)" \
    [ "$(gw_status "${A[@]}" "$U/things/faulty/properties/status")" = 503 ]

# ---- credentials never reach the device ----------------------------------------------------
gw_curl "${A[@]}" -H "X-API-Key: $K_PANEL" -H "Cookie: session=s3cr3t" -H "Proxy-Authorization: Basic eDp5" \
    -H "Forwarded: for=1.2.3.4" "$U/things/faulty/properties/headers" > "$T/seen.json"
check "faulty/headers: the device saw a request" jqt 'type == "object"' "$T/seen.json"
check "faulty/headers: no Authorization, Cookie, API key, Proxy-Authorization, Forwarded" \
    jqt '[keys[] | ascii_downcase] - ["authorization", "cookie", "x-api-key", "proxy-authorization", "forwarded"] == [keys[] | ascii_downcase]' \
    "$T/seen.json"
check "faulty/headers: no secret value anywhere" \
    bash -c '! grep -qF -e "$1" -e "s3cr3t" -e "$2" "$3"' _ "$K_PANEL" "$(printf 'alice:%s' "$PW_ALICE" | base64)" "$T/seen.json"

# ---- binary payloads --------------------------------------------------------------------------
head -c $((100 * 1024)) /dev/urandom > "$T/rand.bin"
code=$(gw_status "${A[@]}" -X PUT -H "Content-Type: application/octet-stream" --data-binary @"$T/rand.bin" \
    "$U/things/faulty/properties/blob")
gw_curl "${A[@]}" -D "$T/h" -o "$T/blob.out" "$U/things/faulty/properties/blob"
check "faulty/blob: 100 KiB written ($code) and read back byte for byte" cmp -s "$T/rand.bin" "$T/blob.out"
check "faulty/blob: content type passed through" \
    bash -c '[[ $(hdr "$1" content-type) == application/octet-stream* ]]' _ "$T/h"
gw_curl "${A[@]}" -X POST -H "Content-Type: application/octet-stream" --data-binary @"$T/rand.bin" \
    -o "$T/echo.out" "$U/things/faulty/actions/echo"
check "actions/echo: 100 KiB random payload byte-identical" cmp -s "$T/rand.bin" "$T/echo.out"
check "device Set-Cookie / Server never passed back" \
    bash -c '! hdr "$1" set-cookie | grep -q . && ! hdr "$1" server | grep -qi python' _ "$T/h"

# ---- TLS -------------------------------------------------------------------------------------
check "TLS 1.3: accepted" tls_ok "$GW_PORT" tls1_3
check "TLS 1.3: AEAD suite" grep -qE 'Cipher is TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)' "$T/sclient.out"
check "TLS 1.3: ECDSA certificate" bash -c 'echo | openssl s_client -connect "127.0.0.1:$1" -CAfile "$2" 2>/dev/null | grep -qi "Peer signature type: ecdsa"' _ "$GW_PORT" "$PKI/ca.crt"
check "TLS 1.2: refused by default" bash -c '! tls_ok "$1" tls1_2' _ "$GW_PORT"
check "TLS 1.1: refused" bash -c '! tls_ok "$1" tls1_1' _ "$GW_PORT"
check "TLS 1.0: refused" bash -c '! tls_ok "$1" tls1' _ "$GW_PORT"

# a second daemon: tls_min_version = 1.2 and the RSA certificate
start_second() { # PORT CONF LOG
    env -u NOTIFY_SOCKET "$WOTGW" -c "$2" 2>"$3" &
    _pids+=($!)
    SECOND_PID=$!
    wait_for 10 bash -c 'echo | timeout 2 openssl s_client -connect "127.0.0.1:$1" >/dev/null 2>&1' _ "$1"
}
P2=$(free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:$P2 [::1]:$P2/" -e "s/^tls_min_version = .*/tls_min_version = 1.2/" \
    -e "s/server-ec/server-rsa/g" "$T/wotgw.conf" > "$T/second.conf"
start_second "$P2" "$T/second.conf" "$T/second.log"
check "tls_min_version = 1.2: TLS 1.2 accepted" tls_ok "$P2" tls1_2
check "TLS 1.2: an ECDHE AEAD suite" grep -qE 'Cipher is ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)' "$T/sclient.out"
check "TLS 1.2 CBC suites refused" \
    bash -c '! echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -tls1_2 -cipher "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA256" >/dev/null 2>&1' _ "$P2"
check "tls_min_version = 1.2: TLS 1.3 still accepted" tls_ok "$P2" tls1_3
check "TLS 1.3 with the RSA certificate" grep -q 'Server public key is 2048 bit' "$T/sclient.out"
check "tls_min_version = 1.2: TLS 1.1 refused" bash -c '! tls_ok "$1" tls1_1' _ "$P2"
check "tls_min_version = 1.2: TLS 1.0 refused" bash -c '! tls_ok "$1" tls1' _ "$P2"
check "IPv6 listener [::1]" \
    [ "$(curl -sS --cacert "$PKI/ca.crt" -o /dev/null -w '%{http_code}' "https://[::1]:$P2/.well-known/wot")" = 200 ]
kill -TERM "$SECOND_PID"
wait "$SECOND_PID"
check "second daemon: clean exit" [ $? -eq 0 ]

# ---- client certificates ----------------------------------------------------------------------
check "client cert of the configured CA (client1, allowed): 200" \
    [ "$(gw_status --cert "$PKI/client1.crt" --key "$PKI/client1.key" "$U/things/lamp/properties/on")" = 200 ]
check "client cert of the configured CA (dashboard, not allowed): 403" \
    [ "$(gw_status --cert "$PKI/dashboard.crt" --key "$PKI/dashboard.key" "$U/things/lamp/properties/on")" = 403 ]
check "no client cert: 401" [ "$(gw_status "$U/things/lamp/properties/on")" = 401 ]
check "client cert of a rogue CA (same CN client1): 401" \
    [ "$(gw_status --cert "$PKI/rogue-client.crt" --key "$PKI/rogue-client.key" "$U/things/lamp/properties/on")" = 401 ]
check "the rogue certificate was logged as not verified" grep -q 'client certificate not verified' "$GW_LOG"

# ---- slow devices do not slow down fast ones ------------------------------------------------
: > "$T/slow.codes"
for i in $(seq 1 50); do
    gw_curl "${A[@]}" --max-time 20 -o /dev/null -w '%{http_code}\n' "$U/things/faulty/properties/slow" >> "$T/slow.codes" &
    _pids+=($!)
done
sleep 0.5
# per request: total minus the TLS handshake (the first one shakes hands
# while 50 curl processes do the same on 2 cores)
gw_curl "${A[@]}" --max-time 20 -w '%{time_appconnect} %{time_total}\n' \
    $(for i in $(seq 1 20); do echo "-o /dev/null $U/things/lamp/properties/on"; done) > "$T/fast.times"
check "20 lamp reads while 50 slow requests are in flight: each under $((SLOW_MS / 4)) ms" \
    awk -v lim="$SLOW_MS" 'NF { n++; if (($2 - $1) * 1000 > lim / 4) bad++ } END { exit !(n == 20 && !bad) }' "$T/fast.times"
check "the 50 slow requests all answered" wait_for 15 bash -c '[ "$(grep -c "^" "$1")" -eq 50 ]' _ "$T/slow.codes"
check "the 50 slow requests: 504 (over device_timeout) or 200, never a hang" \
    bash -c '! grep -vqE "^(200|504)$" "$1"' _ "$T/slow.codes"

# ---- reload: new certificate, established connection kept ----------------------------------
: > "$T/sig"
python3 tests/integration/https/keepalive.py "$GW_PORT" "$PKI/ca.crt" "$T/sig" > "$T/ka.out" 2>&1 &
KA=$!
wait_for 10 grep -q ready "$T/sig"
sed -i 's/server-ec/server-rsa/g' "$T/wotgw.conf"
kill -HUP "$GW_PID"
wait_for 10 grep -q 'certificate, key, client CA and limits reloaded' "$GW_LOG"
echo go > "$T/sig"
wait "$KA"; rc=$?
check "keep-alive connection opened before the reload still answers after it (same connection, old cert)" [ $rc -eq 0 ]
check "a new connection after the reload gets the new (RSA) certificate" \
    bash -c 'echo | openssl s_client -connect "127.0.0.1:$1" -CAfile "$2" 2>/dev/null | grep -q "Server public key is 2048 bit"' _ "$GW_PORT" "$PKI/ca.crt"
check "reads work after the reload" [ "$(gw_status "${A[@]}" "$U/things/lamp/properties/on")" = 200 ]
# a broken key: the reload fails, the running set keeps serving
cp "$PKI/server-rsa.key" "$T/rsa.key.bak"
cp "$PKI/server-ec.key" "$PKI/server-rsa.key"
kill -HUP "$GW_PID"
check "reload with a key that does not match: refused with FILE: message" \
    wait_for 10 grep -q 'server-rsa.key: the key does not match the certificate' "$GW_LOG"
check "... keeping the running configuration" wait_for 5 grep -q 'keeping the running configuration' "$GW_LOG"
check "... and still serving TLS with the old certificate" \
    bash -c 'echo | openssl s_client -connect "127.0.0.1:$1" -CAfile "$2" 2>/dev/null | grep -q "Server public key is 2048 bit"' _ "$GW_PORT" "$PKI/ca.crt"
out=$("$WOTGW" -t -c "$T/wotgw.conf" 2>&1); rc=$?
check "wotgw -t reports the key (exit 1, FILE: message)" \
    bash -c '[ $1 -eq 1 ] && grep -q "server-rsa.key: the key does not match" <<<"$2"' _ $rc "$out"
cp "$T/rsa.key.bak" "$PKI/server-rsa.key"

# ---- reloads under load; a stream the new policy no longer allows ends -------------------
"${SSE[@]}" --max-time 20 "$U/things/lampsse/events/overheated" > "$T/rl-stream.out" 2>&1 &
RS=$!
wait_for 5 grep -q 'stream open' "$T/rl-stream.out"
BASIC_HDR="Authorization: Basic $(printf 'alice:%s' "$PW_ALICE" | base64 -w0)"
wrk -t1 -c8 -d4s -H "$BASIC_HDR" "$U/things/lamp/properties/on" > "$T/wrk.out" 2>&1 &
WRK=$!
sleep 1
sed -i '/^\[thing lampsse\]/,/^$/ s/^allow = group:family/allow = user:nobody/' "$T/wotgw.conf"
for i in 1 2 3; do
    kill -HUP "$GW_PID"
    sleep 0.6
done
wait "$WRK"
check "three reloads under load: every request answered 200 (no error, no non-2xx)" \
    bash -c 'grep -q "requests in" "$1" && ! grep -qE "Non-2xx|Socket errors" "$1"' _ "$T/wrk.out"
check "wrk did real work during the reloads" \
    awk '/requests in/ { exit !($1 > 100) }' "$T/wrk.out"
check "the stream the new policy refuses ended with the reload" wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$RS"
check "... and was logged as refused after the reload" grep -q 'REASON="refused after reload"' "$GW_LOG"
wait "$RS" 2>/dev/null
check "reloads counted (4 good ones so far)" [ "$(grep -c '^reloaded:\|reloaded: ' "$GW_LOG")" -ge 4 ]

# ---- logs --------------------------------------------------------------------------------------
check "each interaction logged with its fields" \
    grep -q 'THING=lamp AFFORDANCE=on OP=readproperty PROTOCOL=https PRINCIPAL=alice PEER=127.0.0.1:[0-9]* DECISION=allow .*STATUS=200 DURATION_US=[0-9]' "$GW_LOG"
check "denials logged with DECISION=deny and the status" grep -q 'DECISION=deny .*STATUS=401' "$GW_LOG"
check "no secret in the daemon log" \
    bash -c '! grep -qF -e "$1" -e "$2" -e "$3" -e "$4" "$5"' _ "$PW_ALICE" "$PW_BOB" "$K_PANEL" "$TOK_READ" "$GW_LOG"
gw_curl "${A[@]}" -o "$T/p502.json" "$U/things/faulty/properties/broken"
gw_curl "${A[@]}" -o "$T/p504.json" "$U/things/faulty/properties/hang"
check "502 and 504 bodies are problem+json" jqt -s '.[0].status == 502 and .[1].status == 504' "$T/p502.json" "$T/p504.json"
check "no device address in any problem body" \
    bash -c '! grep -q "$1" "$2"/p50?.json "$2"/403.json' _ "127.0.0.1:$DEV_PORT" "$T"

# ---- SIGTERM with requests in flight --------------------------------------------------------------
: > "$T/term.codes"
for i in $(seq 1 10); do
    gw_curl "${A[@]}" --max-time 20 -o /dev/null -w '%{http_code}\n' "$U/things/faulty/properties/hang" >> "$T/term.codes" 2>/dev/null &
    _pids+=($!)
done
gw_curl -N --max-time 20 "${A[@]}" -o /dev/null -w '%{http_code}\n' "$U/things/lamp/events/overheated" >> "$T/term.codes" 2>/dev/null &
_pids+=($!)
sleep 0.7
check "daemon still running before SIGTERM" kill -0 "$GW_PID"
gw_stop; rc=$?
check "SIGTERM with 10 requests and a stream in flight: exit 0 (no leak under ASan)" [ $rc -eq 0 ]
check "every one of them got an answer (504/503 or the stream's 200)" \
    wait_for 10 bash -c '[ "$(grep -c "^" "$1")" -eq 11 ] && ! grep -vqE "^(200|503|504)$" "$1"' _ "$T/term.codes"
finish
