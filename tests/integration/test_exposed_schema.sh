#!/usr/bin/env bash
# The exposed TD of every loadable TD in tests/data/tds (written by the
# unit test test_expose with WOTGW_EXPOSED_OUT set; policy: security =
# basic | bearer, allow = *, a scopes override), each once with the HTTPS
# binding only and once with an [mqtt] section as well (NAME-mqtts),
# validates against the W3C TD 1.1 JSON Schema (tests/node/validate-td.mjs,
# ajv), one check a file.
set -euo pipefail
source tests/integration/lib.sh "$@"
set -e

bin=$BUILD/tests/test_expose
if [ ! -x "$bin" ]; then
    san=0
    case $BUILD in *-asan) san=1 ;; esac
    make -s BUILDDIR="$BUILD" SAN=$san "$bin" >"$T/make.log" 2>&1 || { cat "$T/make.log"; }
fi
check "test_expose is built" test -x "$bin"
[ -x "$bin" ] || finish

if [ ! -d tests/node/node_modules ]; then
    npm --prefix tests/node install --no-audit --no-fund >"$T/npm.log" 2>&1 || cat "$T/npm.log"
fi
check "tests/node has its modules (ajv)" test -d tests/node/node_modules
check "tests/node/validate-td.mjs exists" test -f tests/node/validate-td.mjs

mkdir -p "$T/exposed"
rc=0
WOTGW_EXPOSED_OUT=$T/exposed "$bin" >"$T/test_expose.log" 2>&1 || rc=$?
check "test_expose writes the exposed TDs" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/test_expose.log" | tail -n 20

shopt -s nullglob
files=("$T"/exposed/*.td.json)
check "at least 8 exposed TDs written (${#files[@]})" [ "${#files[@]}" -ge 8 ]
# the same TDs with an [mqtt] section ("-mqtts"): mqtts:// forms with the
# WoT MQTT binding template's mqv: terms, validated below like the rest
mq=("$T"/exposed/*-mqtts.td.json)
n_mq=0
for f in "${mq[@]}"; do
    grep -q '"mqv:controlPacket"' "$f" && grep -q '"href": "mqtts://' "$f" &&
        grep -q '"mqv": "https://www.w3.org/2019/wot/mqtt#"' "$f" && n_mq=$((n_mq + 1))
done
check "at least 8 exposed TDs with mqtts forms and the mqv context ($n_mq)" [ "$n_mq" -ge 8 ]

if [ -f tests/node/validate-td.mjs ] && [ -d tests/node/node_modules ]; then
    # the validator itself must refuse a TD without security
    if [ "${#files[@]}" -gt 0 ]; then
        node -e 'const fs=require("fs");const t=JSON.parse(fs.readFileSync(process.argv[1]));delete t.security;fs.writeFileSync(process.argv[2],JSON.stringify(t))' \
            "${files[0]}" "$T/broken.json"
        check "the validator refuses an exposed TD without security" \
            bash -c '! node tests/node/validate-td.mjs "$1" >/dev/null 2>&1' _ "$T/broken.json"
    fi
    for f in "${files[@]}"; do
        name=$(basename "$f" .td.json)
        if out=$(node tests/node/validate-td.mjs "$f" 2>&1); then
            ok "schema-valid: $name"
        else
            fail "schema-valid: $name"
            printf '%s\n' "$out" | head -n 15 | sed 's/^/# /'
        fi
    done
fi
check "the unit test wrote an exposed TD with OSCORE forms" \
    grep -q '"wotgw:objectSecurity": "oscore"' "$T/exposed/policy-lamp-oscore.td.json"

# ---- an OSCORE thing in a real config: wotgw -t and --print-td ----------------
if [ ! -x "$WOTGW" ] || [ ! -x "$PASSWD" ]; then
    san=0
    case $BUILD in *-asan) san=1 ;; esac
    make -s BUILDDIR="$BUILD" SAN=$san "$WOTGW" "$PASSWD" >"$T/make2.log" 2>&1 || cat "$T/make2.log"
fi
check "wotgw and wotgw-passwd are built" test -x "$WOTGW" -a -x "$PASSWD"
o=$T/oscore
mkdir -p "$o/state"
# the peer's side goes to a file nobody reads: no master secret is printed
check "wotgw-passwd oscore add writes a contexts file" \
    timeout 20 "$PASSWD" -f "$o/oscore.ctx" oscore add sensor-7 >"$o/peer.conf" 2>"$o/passwd.err"
cup=$(free_udp_port)
cp=$(free_udp_port)
mkconf() { # mkconf "[credentials] LINE"
    cat <<CONF
[gateway]
state_dir = state
base_url = https://gw.test:8443
[credentials]
$1
[coaps]
listen = 127.0.0.1:$cp
coap_listen = 127.0.0.1:$cup
coap_url = coap://gw.test:5683
[thing lamp]
td = $ROOT/tests/data/policy/lamp.td.json
security = oscore
allow = user:sensor-7
security.brightness = nosec
security.toggle = oscore | psk
security.readallproperties = oscore
CONF
}
mkconf "oscore = oscore.ctx" >"$o/wotgw.conf"
rc=0
timeout 20 "$WOTGW" -c "$o/wotgw.conf" -t >"$o/t.out" 2>&1 || rc=$?
check "wotgw -t accepts a thing with security = oscore" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# /' "$o/t.out"
rc=0
timeout 20 "$WOTGW" -c "$o/wotgw.conf" --print-td lamp >"$o/lamp.td.json" 2>"$o/print.err" || rc=$?
check "wotgw --print-td prints the OSCORE thing's TD" [ "$rc" -eq 0 ]
check "its securityDefinition is wotgw:OSCORESecurityScheme" \
    grep -q '"scheme": "wotgw:OSCORESecurityScheme"' "$o/lamp.td.json"
check "its @context defines the wotgw: prefix" \
    grep -q '"wotgw": "https://wotgw.example/ns#"' "$o/lamp.td.json"
# every form marked oscore is a coap://, coaps:// or https:// one (RFC
# 8613 section 11); the oscore-only property has marked CoAP and HTTPS
# forms, no HTTPS observe form; the nosec one none marked
check "wotgw:objectSecurity \"oscore\" on CoAP(S) and HTTPS forms; no HTTPS observe form for oscore alone" \
    timeout 20 python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
forms = [f for k in ("properties", "actions", "events") for a in t.get(k, {}).values() for f in a["forms"]]
forms += t.get("forms", [])
marked = [f for f in forms if f.get("wotgw:objectSecurity") == "oscore"]
assert marked, "no form marked oscore"
assert all(f["href"].startswith(("coap://", "coaps://", "https://")) for f in marked), marked
on = t["properties"]["on"]["forms"]
ops = lambda f: f["op"] if isinstance(f["op"], list) else [f["op"]]
https_on = [f for f in on if f["href"].startswith("https:")]
assert https_on and all(f.get("wotgw:objectSecurity") == "oscore" for f in https_on), on
assert not any("observeproperty" in ops(f) for f in https_on), on
assert any(f["href"].startswith("coap://gw.test:5683/") and f.get("wotgw:objectSecurity") == "oscore" for f in on), on
br = t["properties"]["brightness"]["forms"]
assert not any("wotgw:objectSecurity" in f for f in br), br
' "$o/lamp.td.json"
if [ -f tests/node/validate-td.mjs ] && [ -d tests/node/node_modules ]; then
    if out=$(node tests/node/validate-td.mjs "$o/lamp.td.json" 2>&1); then
        ok "schema-valid: the OSCORE thing's TD from wotgw --print-td"
    else
        fail "schema-valid: the OSCORE thing's TD from wotgw --print-td"
        printf '%s\n' "$out" | head -n 15 | sed 's/^/# /'
    fi
fi
secret=$(grep -o 'master_secret=[0-9a-fA-F]*' "$o/oscore.ctx" | head -n 1 | cut -d= -f2)
check "no master secret in anything wotgw printed" \
    bash -c '[ -n "$1" ] && ! grep -qiF "$1" "$2" "$3" "$4"' _ "$secret" "$o/t.out" "$o/lamp.td.json" "$o/print.err"

# without [credentials] oscore: refused at the policy line
mkconf "" >"$o/none.conf"
rc=0
timeout 20 "$WOTGW" -c "$o/none.conf" -t >"$o/none.out" 2>&1 || rc=$?
line=$(grep -n '^security = oscore' "$o/none.conf" | cut -d: -f1)
check "wotgw -t without [credentials] oscore: refused ($rc)" [ "$rc" -ne 0 ]
check "... at FILE:LINE of the security key" \
    grep -q "none.conf:$line: security: oscore needs an OSCORE contexts file" "$o/none.out"
[ "$rc" -ne 0 ] || sed 's/^/# /' "$o/none.out"
# a broken contexts file: refused with its own FILE:LINE
{ cat "$o/oscore.ctx"; echo "sensor-8 sender_id=00 recipient_id=zz master_secret=00"; } >"$o/bad.ctx"
chmod 640 "$o/bad.ctx"
mkconf "oscore = bad.ctx" >"$o/bad.conf"
rc=0
timeout 20 "$WOTGW" -c "$o/bad.conf" -t >"$o/bad.out" 2>&1 || rc=$?
check "wotgw -t with a broken contexts file: refused ($rc)" [ "$rc" -ne 0 ]
check "... with the contexts file's FILE:LINE" grep -q "bad.ctx:2: " "$o/bad.out"
[ "$rc" -ne 0 ] || sed 's/^/# /' "$o/bad.out"
mkconf "oscore = missing.ctx" >"$o/miss.conf"
rc=0
timeout 20 "$WOTGW" -c "$o/miss.conf" -t >"$o/miss.out" 2>&1 || rc=$?
check "wotgw -t with a missing contexts file: refused ($rc)" [ "$rc" -ne 0 ]
finish
