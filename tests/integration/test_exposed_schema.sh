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
finish
