#!/usr/bin/env bash
# Bad input from consumers: oversized headers (431) and bodies (413,
# Content-Length and chunked), malformed paths and percent encoding (400),
# dot segments (400/404, never anything else), huge and malformed JWTs
# (401), many idle connections (slowloris), garbage on the TLS port. After
# each the daemon is up and serves; memory stays bounded over a burst of
# 2000 bad requests; SIGTERM exits 0 (no leak under ASan).
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

BAD="python3 $ROOT/tests/integration/badclient.py"
IDLE_S=2
gw_pki || { fail "test PKI"; finish; }
gw_device --event-interval-ms 0 || { fail "simulated device starts"; finish; }
PW='Bad-Input-Pass-9'
gw_user alice "$PW" family
gw_issuer idp ec
{
    gw_conf
    gw_limits max_header_size=4K max_body_size=8K max_token_size=2K idle_timeout=${IDLE_S}s \
        device_timeout=3s
    cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic | bearer:idp
allow = group:family

[thing faulty]
td = faulty.td.json
security = basic
allow = group:family
EOF
} > "$T/wotgw.conf"
# ASan builds: a small quarantine, so that RSS growth over the burst
# measures what the daemon keeps, not what ASan holds back from reuse
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16" gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }

AUTH=(-u "alice:$PW")
BASIC="Basic $(printf 'alice:%s' "$PW" | base64 -w0)"
ON=$GW_URL/things/lamp/properties/on
alive() {
    kill -0 "$GW_PID" 2>/dev/null && [ "$(gw_status "${AUTH[@]}" "$ON")" = 200 ]
}
after() { check "$1: daemon still up and serving" alive; }
# st ARGS: status of gw_curl --path-as-is ARGS
st() { gw_status --path-as-is "$@"; }
# raw: prints the status of the raw request on stdin (TLS)
raw() { $BAD raw 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" "$@" | cut -d' ' -f1; }
in_set() { local v=$1; shift; for x; do [ "$v" = "$x" ] && return 0; done; return 1; }

check "baseline: 200 with a password" [ "$(gw_status "${AUTH[@]}" "$ON")" = 200 ]

# ---- headers --------------------------------------------------------------------------
a2k=$(head -c 2048 /dev/zero | tr '\0' a)
a5k=$(head -c 5000 /dev/zero | tr '\0' a)
check "a 2 KiB header (under max_header_size 4K): 200" [ "$(st "${AUTH[@]}" -H "X-Pad: $a2k" "$ON")" = 200 ]
s=$(st "${AUTH[@]}" -H "X-Big: $a5k" "$ON")
check "one 5000-byte header: 431 (got $s)" [ "$s" = 431 ]
many=()
for i in $(seq 1 100); do many+=(-H "X-Many-$i: $(printf '%060d' "$i")"); done
s=$(st "${AUTH[@]}" "${many[@]}" "$ON")
check "100 headers of 70 bytes: 431 (got $s)" [ "$s" = 431 ]
after "oversized headers"

# ---- bodies --------------------------------------------------------------------------
ECHO=$GW_URL/things/faulty/actions/echo
head -c 4000 /dev/urandom > "$T/body4k"
head -c 9000 /dev/urandom > "$T/body9k"
gw_curl "${AUTH[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$T/body4k" \
    -o "$T/echo4k" -w '%{http_code}' "$ECHO" > "$T/echo4k.code" 2>/dev/null
check "a 4000-byte body (under max_body_size 8K): 200 and echoed byte for byte" \
    bash -c '[ "$(cat "$1.code")" = 200 ] && cmp -s "$1" "$2"' _ "$T/echo4k" "$T/body4k"
s=$(gw_status "${AUTH[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$T/body9k" "$ECHO")
check "a 9000-byte body with Content-Length: 413 (got $s)" [ "$s" = 413 ]
s=$(gw_status "${AUTH[@]}" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T/body9k" "$ECHO")
check "a 9000-byte chunked body: 413 (got $s)" [ "$s" = 413 ]
s=$(printf 'POST /things/faulty/actions/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n' "$BASIC" |
    $BAD raw 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" --timeout 5)
check "Content-Length 10 GiB, no body sent: 413 at once (got $s)" \
    bash -c '[ "${1%% *}" = 413 ] && awk -v t="${1#* }" "BEGIN { exit !(t < 2) }"' _ "$s"
s=$(gw_status "${AUTH[@]}" -X PUT -H 'Content-Type: application/json' --data-binary @"$T/body9k" \
    "$GW_URL/things/lamp/properties/brightness")
check "a 9000-byte property write: 413 (got $s)" [ "$s" = 413 ]
after "oversized bodies"

# ---- malformed paths and percent encoding ------------------------------------------------
for p in '/things/lamp/properties/%zz' '/things/lamp/properties/%4' '/things/lamp/properties/on%00' \
    '/things/lamp/properties/%00on' '/things/lamp/properties/on%0a' '/things/lamp/properties/%C0%AF' \
    '/things/lamp/properties/%E0%80%AE%E0%80%AE' '/things/lamp/properties/%FF%FE' \
    '/things/%C0%AE%C0%AE/properties/on'; do
    s=$(st "${AUTH[@]}" "$GW_URL$p")
    check "GET $p: 400 (got $s)" [ "$s" = 400 ]
done
for p in '/things/lamp/properties/o n' '/things/lamp/properties/on"' $'/things/lamp/properties/\xff' \
    '/things/lamp/properties/<on>' '/things/lamp\properties/on'; do
    s=$(printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\n\r\n' "$p" "$BASIC" | raw)
    check "raw GET $(printf '%q' "$p"): 400 (got $s)" [ "$s" = 400 ]
done
after "malformed paths"

# ---- dot segments: 400 or 404, never anything else -----------------------------------------
for p in '/things/lamp/properties/../properties/on' '/things/./lamp/properties/on' \
    '/things/lamp/properties/./on' '/things/lamp/properties/on/..' '/things/lamp/..' \
    '/things/faulty/../lamp/properties/on' '/../../../etc/passwd' '/things/../things' \
    '/things/lamp/properties/%2e%2e/properties/on' '/things/%2e/lamp/properties/on' \
    '/things/%2E%2E/lamp/properties/on' '/things/lamp/properties/.%2e/.%2E/faulty/properties/headers' \
    '/things/lamp/properties/on%2f..%2f..%2ffaulty' '/things/lamp/properties/%2e'; do
    s=$(st "${AUTH[@]}" "$GW_URL$p")
    check "GET $p: 400 or 404 (got $s)" in_set "$s" 400 404
done
after "dot segments"

# ---- tokens ------------------------------------------------------------------------------
b64u() { basenc --base64url -w0 | tr -d '='; }
now=$(date +%s)
CLAIMS=$(printf '{"iss":"https://idp.test","aud":"%s","sub":"x","scope":"lamp:read","iat":%d,"exp":%d}' "$GW_AUD" "$now" $((now + 600)) | b64u)
GOOD=$(gw_token idp --sub x --scope "lamp:read")
check "baseline: a valid token reads (200)" [ "$(gw_status -H "Authorization: Bearer $GOOD" "$ON")" = 200 ]
HUGE=$(gw_token idp --sub x --scope "lamp:read" --claim "pad=\"$(head -c 1800 /dev/zero | tr '\0' p)\"")
NONE="$(printf '{"alg":"none","typ":"JWT"}' | b64u).$CLAIMS."
NONE2="$(printf '{"alg":"none","typ":"JWT","kid":"idp-1"}' | b64u).$CLAIMS"
openssl pkey -in "$T/issuers/idp.pem" -pubout -out "$T/idp.pub.pem" 2>/dev/null
HSIN="$(printf '{"alg":"HS256","typ":"JWT","kid":"idp-1"}' | b64u).$CLAIMS"
HS_PEM="$HSIN.$(printf '%s' "$HSIN" | openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$T/idp.pub.pem")" -binary | b64u)"
HS_JWK="$HSIN.$(printf '%s' "$HSIN" | openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$T/issuers/idp.jwks.json")" -binary | b64u)"
SIG=${GOOD##*.}
declare -A TOK=(
    ["over max_token_size ($((${#HUGE} / 1024)) KiB, signed)"]=$HUGE
    ["bad base64 (!)"]="eyJhbGciOiJFUzI1NiJ9!.$CLAIMS.$SIG"
    ["bad base64 in the payload"]="eyJhbGciOiJFUzI1NiJ9.@@@@.$SIG"
    ["two segments"]="eyJhbGciOiJFUzI1NiJ9.$CLAIMS"
    ["four segments"]="$GOOD.$SIG"
    ["alg none, empty signature"]=$NONE
    ["alg none, kid of the issuer, no signature"]=$NONE2
    ["HS256 with the public key PEM as secret"]=$HS_PEM
    ["HS256 with the JWKS as secret"]=$HS_JWK
    ["header not JSON"]="$(printf 'not json' | b64u).$CLAIMS.$SIG"
    ["claims of a valid token, signature cut"]="${GOOD%.*}.${SIG:0:20}"
    ["empty token"]=""
)
for k in "${!TOK[@]}"; do
    gw_curl --path-as-is -o "$T/tok.body" -D "$T/tok.hdr" -w '%{http_code}' \
        -H "Authorization: Bearer ${TOK[$k]}" "$ON" > "$T/tok.code" 2>/dev/null
    s=$(cat "$T/tok.code")
    check "token $k: 401 (got $s)" [ "$s" = 401 ]
    if [ -n "${TOK[$k]}" ]; then
        check "token $k: Bearer error=\"invalid_token\"" grep -qi '^www-authenticate: Bearer .*error="invalid_token"' "$T/tok.hdr"
    fi
done
after "bad tokens"

# ---- slowloris --------------------------------------------------------------------------
out=$($BAD slowloris 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" 200 "$IDLE_S" \
    --cacert "$PKI/ca.crt" "${AUTH[@]}" "$ON")
echo "# slowloris: $out"
jget() { jq -r "$1" <<<"$out"; }
check "slowloris: 200 idle connections opened" [ "$(jget .opened)" -ge 190 ]
check "slowloris: a real request meanwhile answers 200 (got $(jget .real_status))" [ "$(jget .real_status)" = 200 ]
check "slowloris: ... within 2 s ($(jget .real_s) s)" awk -v t="$(jget .real_s)" 'BEGIN { exit !(t < 2) }'
check "slowloris: the idle ones were dropped after idle_timeout ($(jget .closed_after_idle)/$(jget .opened))" \
    [ "$(jget .closed_after_idle)" -eq "$(jget .opened)" ]
after "slowloris"

# ---- garbage on the TLS port ---------------------------------------------------------------
printf 'HELLO GATEWAY, THIS IS NOT HTTP\r\n\r\n\x00\x01\x02' |
    timeout 15 openssl s_client -quiet -connect "127.0.0.1:$GW_PORT" -CAfile "$PKI/ca.crt" \
        > "$T/sclient.out" 2>"$T/sclient.err"
rc=$?
check "openssl s_client sending non-HTTP: the gateway ends the connection (rc $rc, not a hang)" [ $rc -ne 124 ]
check "openssl s_client sending non-HTTP: nothing but an HTTP error comes back" \
    bash -c '[ ! -s "$1" ] || head -1 "$1" | grep -q "^HTTP/1\.[01] 4[0-9][0-9]"' _ "$T/sclient.out"
t0=$(date +%s.%N)
curl -sS --max-time 10 -o "$T/plain.out" -w '%{http_code}' "http://127.0.0.1:$GW_PORT/things" > "$T/plain.code" 2>/dev/null
rc=$?
check "plain HTTP on the HTTPS port: refused, not a hang (curl $rc, HTTP $(cat "$T/plain.code"))" \
    bash -c '[ $1 -ne 28 ] && [ "$(cat "$2")" != 200 ]' _ $rc "$T/plain.code"
s=$(head -c 8192 /dev/urandom | $BAD raw 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" --plain --timeout $((IDLE_S + 5)))
check "8 KiB of random bytes on the TLS port: connection closed ($s)" \
    bash -c '[ "${1%% *}" = closed ] || [ "${1%% *}" = garbage ]' _ "$s"
s=$(printf 'GET /things HTTP/1.1\r\nHost: x\r\n\r\n' | $BAD raw 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" --plain --timeout $((IDLE_S + 5)))
check "a plain HTTP request on the TLS port: never answered as HTTP ($s)" \
    bash -c '[ "${1%% *}" = closed ] || [ "${1%% *}" = garbage ]' _ "$s"
after "garbage on the TLS port"

# ---- memory over a burst of bad requests --------------------------------------------------
fds() { ls "/proc/$GW_PID/fd" | wc -l; }
$BAD burst 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" 300 "$BASIC" > "$T/warm.json" # warm-up
sleep $((IDLE_S + 1))
rss0=$(gw_rss_kib "$GW_PID") fd0=$(fds)
$BAD burst 127.0.0.1 "$GW_PORT" "$PKI/ca.crt" 2000 "$BASIC" > "$T/burst.json"
echo "# burst: $(cat "$T/burst.json")"
rss1=$(gw_rss_kib "$GW_PID")
sleep $((IDLE_S + 1))
fd1=$(fds)
check "burst: 2000 bad requests, every one answered with its error" \
    jq -e '.counts | to_entries | map(select(.key | test(":(4[0-9][0-9]|closed)$") | not)) | length == 0' "$T/burst.json" >/dev/null
check "burst: the 4xx kinds got their status" jq -e '.counts as $c |
    ["bad-token:401", "huge-token:401", "bad-percent:400", "big-body:413", "big-header:431"]
    | all(. as $k | ($c[$k] // 0) > 0)' "$T/burst.json" >/dev/null
growth=$((rss1 - rss0))
check "burst: VmRSS grew by $((growth / 1024)) MiB ($rss0 -> $rss1 KiB), under 20 MiB" [ $growth -lt 20480 ]
check "burst: no file descriptor left behind ($fd0 -> $fd1)" [ "$fd1" -le $((fd0 + 2)) ]
after "the burst"

gw_stop; rc=$?
check "SIGTERM after all of it: exit 0 (no leak under ASan)" [ $rc -eq 0 ]
check "no password in the daemon log" bash -c '! grep -qF -- "$1" "$2"' _ "$PW" "$GW_LOG"
finish
