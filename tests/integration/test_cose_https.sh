#!/usr/bin/env bash
# COSE_Sign1 answers on the HTTPS front end (issue 6): things with
# cose_sign = yes get a per-thing ES256 key in <state_dir>/cose, their
# exposed TD names its public half ("wotgw:coseKey") and offers a second
# readproperty / invokeaction form asking for
# Accept: application/cose; cose-type="cose-sign1". The daemon, the
# simulated device, curl, and cose-js (tests/node/cose-interop) verifying
# with the key taken from the TD: same payload bytes as a plain read, a
# flipped byte refused, 406 for a thing without a key, device errors not
# signed, the key kept across a restart, a new kid after
# `wotgw-passwd cose-key THING --rotate` and a reload. $1 = build dir.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

hdr() { tr -d '\r' < "$1" | awk -v n="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == n { sub(/^[^:]*: /, ""); print }'; }
jqt() { jq -e "$@" >/dev/null; }
COSE='application/cose; cose-type="cose-sign1"'
NODEDIR=tests/node/cose-interop
verify() { timeout 30 node "$NODEDIR/verify-sign1.mjs" "$@"; }
export -f verify hdr
export NODEDIR

if [ ! -d "$NODEDIR/node_modules/cose-js" ]; then
    timeout 300 npm --prefix "$NODEDIR" install --no-audit --no-fund >"$T/npm.log" 2>&1 ||
        sed 's/^/# /' "$T/npm.log" | tail -n 20
fi
check "cose-js is installed" test -d "$NODEDIR/node_modules/cose-js"
[ -d "$NODEDIR/node_modules/cose-js" ] || finish

gw_pki || { fail "test PKI"; finish; }
gw_device || { fail "simulated device starts"; finish; }
PW='Alice-Cose-Pass-1'
gw_user alice "$PW" family
A=(-u "alice:$PW")
{
    gw_conf
    cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic
allow = group:family
cose_sign = yes

[thing faulty]
td = faulty.td.json
security = basic
allow = group:family
cose_sign = yes

[thing thermometer]
td = thermometer.td.json
security = basic
allow = group:family
EOF
} > "$T/wotgw.conf"
gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }
ok "gateway on $GW_URL"
U=$GW_URL

# ---- keys ----------------------------------------------------------------------
KEY=$T/state/cose/lamp.key
check "the daemon made the lamp's key in state_dir/cose" test -s "$KEY"
check "the key file is mode 0600" [ "$(stat -c %a "$KEY" 2>/dev/null)" = 600 ]
check "no key for the thermometer (cose_sign not set)" test ! -e "$T/state/cose/thermometer.key"
KID_CLI=$("$PASSWD" -q -f "$T/state/cose" cose-key lamp 2>"$T/passwd.err")
check "wotgw-passwd cose-key lamp prints the kid ($KID_CLI)" [ "${#KID_CLI}" = 16 ]

# ---- the exposed TD --------------------------------------------------------------
gw_curl "${A[@]}" -o "$T/lamp.td" "$U/things/lamp"
KID=$(jq -r '."wotgw:coseKey".kid' "$T/lamp.td")
check "the TD names the key (wotgw:coseKey, kid $KID)" \
    jqt '."wotgw:coseKey" | .kty == "EC" and .crv == "P-256" and .alg == "ES256" and (.x|length) == 43 and (.y|length) == 43' "$T/lamp.td"
check "the TD's kid is the one wotgw-passwd prints" [ "$KID" = "$KID_CLI" ]
check "the TD's @context has the wotgw term" \
    jqt '."@context" | map(objects | .wotgw) | any(. == "https://wotgw.example/ns#")' "$T/lamp.td"
check "readproperty of brightness has a cose-sign1 form" \
    jqt --arg c "$COSE" '.properties.brightness.forms | map(select(.op == "readproperty" and .contentType == $c and .response.contentType == $c and ."wotgw:objectSecurity" == "cose-sign1" and (."htv:headers"[0]."htv:fieldValue") == $c)) | length == 1' "$T/lamp.td"
check "invokeaction of toggle has a cose-sign1 form (JSON input, COSE response)" \
    jqt --arg c "$COSE" '.actions.toggle.forms | map(select(.op == "invokeaction" and .contentType == "application/json" and .response.contentType == $c)) | length == 1' "$T/lamp.td"
check "writeproperty and observe forms are not doubled" \
    jqt '[.properties[].forms[] | select(.op != "readproperty" and ."wotgw:objectSecurity" != null)] | length == 0' "$T/lamp.td"
gw_curl "${A[@]}" -o "$T/thermo.td" "$U/things/thermometer"
check "the thermometer's TD has no COSE key or forms" \
    bash -c '! grep -q "cose" "$1"' _ "$T/thermo.td"
if [ -f tests/node/validate-td.mjs ] && [ -d tests/node/node_modules ]; then
    for n in lamp thermo; do
        if out=$(timeout 30 node tests/node/validate-td.mjs "$T/$n.td" 2>&1); then
            ok "the $n TD is valid against the TD 1.1 schema"
        else
            fail "the $n TD is valid against the TD 1.1 schema"
            printf '%s\n' "$out" | head -n 10 | sed 's/^/# /'
        fi
    done
fi

# ---- readproperty -------------------------------------------------------------------
gw_curl "${A[@]}" -o "$T/plain" "$U/things/lamp/properties/brightness"
st=$(gw_curl "${A[@]}" -H "Accept: $COSE" -D "$T/h1" -o "$T/m1" -w '%{http_code}' "$U/things/lamp/properties/brightness")
check "readproperty with Accept cose-sign1: 200 ($st)" [ "$st" = 200 ]
check "Content-Type: $COSE" [ "$(hdr "$T/h1" content-type)" = "$COSE" ]
check "Vary: Accept" [ "$(hdr "$T/h1" vary)" = "Accept" ]
if out=$(verify "$T/lamp.td" "$T/m1" "$T/plain"); then
    ok "cose-js verifies it with the TD's key; payload = the plain read ($out)"
else
    fail "cose-js verifies it with the TD's key: $out"
fi
check "content type in the protected header: 50 (application/json)" grep -q 'ctype=50 ' <<<"$out"
# flip one byte of the signature, then one of the payload
python3 - "$T/m1" "$T/m1-sig" "$T/m1-pay" "$(wc -c < "$T/plain")" <<'EOF'
import sys
m = bytearray(open(sys.argv[1], 'rb').read())
s = bytearray(m); s[-1] ^= 0x01; open(sys.argv[2], 'wb').write(s)
n = int(sys.argv[4])
# the payload ends just before the 64-byte signature and its 2-byte header
p = bytearray(m); p[len(m) - 64 - 2 - 1] ^= 0x01; open(sys.argv[3], 'wb').write(p)
EOF
check "a flipped signature byte fails verification" bash -c '! verify "$@" >/dev/null' _ "$T/lamp.td" "$T/m1-sig"
check "a flipped payload byte fails verification" bash -c '! verify "$@" >/dev/null' _ "$T/lamp.td" "$T/m1-pay"

st=$(gw_curl "${A[@]}" -H 'Accept: application/cose' -o "$T/m1b" -w '%{http_code}' "$U/things/lamp/properties/on")
check "Accept: application/cose (no cose-type) also gets a Sign1 ($st)" \
    bash -c '[ "$1" = 200 ] && verify "$2" "$3" >/dev/null' _ "$st" "$T/lamp.td" "$T/m1b"
st=$(gw_curl "${A[@]}" -H "Accept: application/json" -D "$T/h2" -o "$T/p2" -w '%{http_code}' "$U/things/lamp/properties/brightness")
check "Accept: application/json still gets plain JSON ($st)" \
    bash -c '[ "$1" = 200 ] && cmp -s "$2" "$3"' _ "$st" "$T/p2" "$T/plain"
st=$(gw_curl "${A[@]}" -H "Accept: $COSE;q=0, application/json" -o "$T/p3" -w '%{http_code}' "$U/things/lamp/properties/brightness")
check "cose-sign1 with q=0 is not chosen ($st)" bash -c '[ "$1" = 200 ] && cmp -s "$2" "$3"' _ "$st" "$T/p3" "$T/plain"

# binary payload with a media type that has no CoAP Content-Format: ctype as text
head -c 300 /dev/urandom > "$T/blob"
st=$(gw_curl "${A[@]}" -X PUT -H 'Content-Type: application/x-wotgw-test' --data-binary @"$T/blob" -o /dev/null -w '%{http_code}' "$U/things/faulty/properties/blob")
check "write a binary blob ($st)" [ "${st:0:1}" = 2 ]
gw_curl "${A[@]}" -o "$T/faulty.td" "$U/things/faulty"
gw_curl "${A[@]}" -H "Accept: $COSE" -o "$T/m4" "$U/things/faulty/properties/blob"
if out=$(verify "$T/faulty.td" "$T/m4" "$T/blob"); then
    ok "binary payload signed byte for byte, ctype as text ($out)"
else
    fail "binary payload signed byte for byte: $out"
fi
check "the media type text is the protected content type" grep -q 'ctype=application/x-wotgw-test ' <<<"$out"
check "each thing has its own key" [ "$(jq -r '."wotgw:coseKey".kid' "$T/faulty.td")" != "$KID" ]

# ---- invokeaction ---------------------------------------------------------------------
st=$(gw_curl "${A[@]}" -X POST -H "Accept: $COSE" -D "$T/h5" -o "$T/m5" -w '%{http_code}' "$U/things/lamp/actions/toggle")
check "invokeaction with Accept cose-sign1: 200 ($st)" [ "$st" = 200 ]
if out=$(verify "$T/lamp.td" "$T/m5"); then
    ok "cose-js verifies the action's answer ($out)"
else
    fail "cose-js verifies the action's answer: $out"
fi

# ---- what is not signed ------------------------------------------------------------------
st=$(gw_curl "${A[@]}" -H "Accept: $COSE" -D "$T/h6" -o "$T/b6" -w '%{http_code}' "$U/things/faulty/properties/status")
check "a device error (503) is passed on unsigned ($st, $(hdr "$T/h6" content-type))" \
    bash -c '[ "$1" = 503 ] && [ "$2" != "$3" ]' _ "$st" "$(hdr "$T/h6" content-type)" "$COSE"
st=$(gw_curl "${A[@]}" -H "Accept: $COSE" -D "$T/h7" -o "$T/b7" -w '%{http_code}' "$U/things/lamp/properties/nosuch")
check "a gateway error (404) stays problem+json ($st)" \
    bash -c '[ "$1" = 404 ] && [ "$2" = application/problem+json ]' _ "$st" "$(hdr "$T/h7" content-type)"
st=$(gw_curl -H "Accept: $COSE" -o /dev/null -w '%{http_code}' "$U/things/lamp/properties/brightness")
check "no credentials: 401, not a signed answer ($st)" [ "$st" = 401 ]
st=$(gw_curl "${A[@]}" -H "Accept: $COSE" -D "$T/h8" -o "$T/b8" -w '%{http_code}' "$U/things/thermometer/properties/temperature")
check "a thing without a key: 406 ($st)" [ "$st" = 406 ]
check "406 with a problem body" \
    bash -c '[ "$(hdr "$1" content-type)" = application/problem+json ] && jq -e ".status == 406" "$2" >/dev/null' _ "$T/h8" "$T/b8"
st=$(gw_curl -H "Accept: $COSE" -o /dev/null -w '%{http_code}' "$U/things/thermometer/properties/temperature")
check "the same without credentials: 401, not 406 ($st)" [ "$st" = 401 ]
st=$(gw_curl "${A[@]}" -H "Accept: $COSE, application/json;q=0.5" -o "$T/b9" -w '%{http_code}' "$U/things/thermometer/properties/temperature")
check "a thing without a key and Accept with a fallback: plain 200 ($st)" [ "$st" = 200 ]
st=$(gw_curl "${A[@]}" -X PUT -H "Accept: $COSE" -H 'Content-Type: application/json' --data '42' -o /dev/null -w '%{http_code}' "$U/things/lamp/properties/brightness")
check "writeproperty asking only for cose-sign1: 406 ($st)" [ "$st" = 406 ]

# ---- restart and rotation -------------------------------------------------------------------
check "the daemon stops" gw_stop
gw_start "$T/wotgw.conf" || fail "gateway restarts"
gw_curl "${A[@]}" -o "$T/lamp2.td" "$U/things/lamp"
check "same kid after a restart" [ "$(jq -r '."wotgw:coseKey".kid' "$T/lamp2.td")" = "$KID" ]
NEW=$("$PASSWD" -q -f "$T/state/cose" cose-key lamp --rotate 2>"$T/passwd.err")
check "wotgw-passwd cose-key lamp --rotate prints a new kid ($NEW)" \
    bash -c '[ "${#1}" = 16 ] && [ "$1" != "$2" ]' _ "$NEW" "$KID"
check "the rotated key file is still mode 0600" [ "$(stat -c %a "$KEY" 2>/dev/null)" = 600 ]
kill -HUP "$GW_PID"
td_kid() { gw_curl "${A[@]}" "$U/things/lamp" | jq -r '."wotgw:coseKey".kid'; }
new_kid_seen() { [ "$(td_kid)" = "$NEW" ]; }
check "after a reload the TD names the new kid" wait_for 10 new_kid_seen
gw_curl "${A[@]}" -o "$T/lamp3.td" "$U/things/lamp"
gw_curl "${A[@]}" -H "Accept: $COSE" -o "$T/m10" "$U/things/lamp/properties/brightness"
check "answers verify with the new key" bash -c 'verify "$1" "$2" >/dev/null' _ "$T/lamp3.td" "$T/m10"
check "and no longer with the old one" bash -c '! verify "$1" "$2" >/dev/null' _ "$T/lamp.td" "$T/m10"

# ---- a broken key file refuses the thing on reload (the running set stays) ----------------------
cp "$KEY" "$T/key.bak"
printf 'garbage' > "$KEY"
check "wotgw -t reports the broken key file" bash -c '! "$1" -t -c "$2" >"$3" 2>&1 && grep -q "cose/lamp.key" "$3"' _ "$WOTGW" "$T/wotgw.conf" "$T/t.out"
cp "$T/key.bak" "$KEY"

sed 's/^cose_sign = yes$/cose_sign = maybe/' "$T/wotgw.conf" > "$T/bad.conf"
check "cose_sign = maybe is refused with its line" \
    bash -c '! "$1" -t -c "$2" >"$3" 2>&1 && grep -q "bad.conf:[0-9]*: cose_sign must be yes or no" "$3"' _ "$WOTGW" "$T/bad.conf" "$T/t2.out"

check "the daemon stops cleanly" gw_stop
finish
