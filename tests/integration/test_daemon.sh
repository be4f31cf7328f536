#!/usr/bin/env bash
# The daemon itself: -t, --print-td, sd_notify (READY, STATUS, RELOADING,
# STOPPING, WATCHDOG), SIGHUP reload (good and broken), SIGTERM, and no
# secret in any output.
source tests/integration/lib.sh "$@"

cp -r tests/data/daemon/. "$T/"
mkdir -p "$T/state"
SECRET='Corr3ct-Horse-Battery'
printf '%s\n' "$SECRET" | "$PASSWD" -f "$T/users" useradd alice -g family --stdin >/dev/null 2>"$T/passwd.err" \
    || { cat "$T/passwd.err"; fail "wotgw-passwd useradd"; }
C=$T/wotgw.conf

# ---- -t -------------------------------------------------------------------
out=$("$WOTGW" -t -c "$C" 2>&1); rc=$?
check "-t on a good config exits 0" [ $rc -eq 0 ]
check "-t prints a one-line summary" bash -c '[ "$(printf "%s\n" "$1" | wc -l)" -eq 1 ] && [[ $1 == *"configuration OK"*"1 thing"* ]]' _ "$out"

cp "$C" "$T/bad.conf"
printf '\n[thing lamp2]\ntd = lamp.td.json\nsecurity = basic\nallow = group:family\nfrobnicate = yes\n' >> "$T/bad.conf"
badline=$(grep -n '^frobnicate' "$T/bad.conf" | cut -d: -f1)
out=$("$WOTGW" -t -c "$T/bad.conf" 2>&1); rc=$?
check "-t on an unknown key exits 1" [ $rc -eq 1 ]
check "-t names FILE:LINE of the unknown key" grep -q "bad.conf:$badline:.*frobnicate" <<<"$out"

printf '{"id": "urn:x", "title": "broken", \n "properties": {,}}\n' > "$T/things/broken.td.json"
cp "$C" "$T/badtd.conf"
printf '\n[thing broken]\ntd = broken.td.json\nsecurity = basic\nallow = *\n' >> "$T/badtd.conf"
out=$("$WOTGW" -t -c "$T/badtd.conf" 2>&1); rc=$?
check "-t on a broken TD exits 1" [ $rc -eq 1 ]
check "-t names the broken TD file and line" grep -q "broken.td.json:2:" <<<"$out"

out=$("$WOTGW" -t -c "$T/missing.conf" 2>&1); rc=$?
check "-t on a missing config exits 1 and names it" bash -c '[ $1 -eq 1 ] && [[ $2 == *missing.conf* ]]' _ $rc "$out"

# ---- --print-td --------------------------------------------------------------
"$WOTGW" -c "$C" --print-td lamp > "$T/lamp.exposed.json" 2>"$T/print.err"; rc=$?
check "--print-td exits 0" [ $rc -eq 0 ]
check "--print-td prints the exposed TD (JSON with the device id)" \
    bash -c '[ "$(jq -r .id "$1")" = "urn:dev:wotgw-test:lamp-1" ]' _ "$T/lamp.exposed.json"
check "--print-td: the device address never appears" bash -c '! grep -q "127.0.0.1:18081" "$1"' _ "$T/lamp.exposed.json"
check "--print-td: forms point at the gateway" grep -q "https://gw.test:8443/things/lamp/properties/on" "$T/lamp.exposed.json"
check "--print-td: basic security definition" bash -c 'jq -e "[.securityDefinitions[] | select(.scheme == \"basic\")] | length == 1" "$1" >/dev/null' _ "$T/lamp.exposed.json"
"$WOTGW" -c "$C" --print-td nosuch >/dev/null 2>"$T/print2.err"; rc=$?
check "--print-td of an unknown thing exits 1" [ $rc -eq 1 ]

# ---- run under a fake systemd ----------------------------------------------------
N=$T/notify.log; : > "$N"
bg python3 tests/tools/notify-listener.py "$T/notify.sock" "$N"
wait_for 5 test -S "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 "$WOTGW" -c "$C" 2>"$T/daemon.err" &
D=$!; _pids+=($D)
check "READY=1 after start" wait_for 10 grep -q '^READY=1' "$N"
check "STATUS= with the number of things" wait_for 5 grep -q 'STATUS=1 things' "$N"
check "watchdog pings (WATCHDOG=1) while idle" wait_for 5 grep -q '^WATCHDOG=1' "$N"

# broken reload: old set keeps serving
cp "$C" "$T/good.conf"
cp "$T/bad.conf" "$C"
: > "$N"
kill -HUP $D
check "RELOADING=1 on SIGHUP" wait_for 5 grep -q '^RELOADING=1' "$N"
check "READY=1 again after a failed reload" wait_for 5 grep -q '^READY=1' "$N"
check "failed reload logged with FILE:LINE" wait_for 5 grep -q "wotgw.conf:$badline:.*frobnicate" "$T/daemon.err"
check "failed reload keeps the running configuration" wait_for 5 grep -q 'keeping the running configuration' "$T/daemon.err"
check "daemon still running after a broken reload" kill -0 $D

# good reload with a second thing
cp "$T/good.conf" "$C"
printf '\n[thing thermometer]\ntd = thermometer.td.json\nsecurity = nosec\n' >> "$C"
: > "$N"
kill -HUP $D
check "good reload: reloaded with 2 things" wait_for 5 grep -q 'reloaded: 2 things' "$T/daemon.err"
check "good reload: STATUS shows 2 things" wait_for 8 grep -q 'STATUS=2 things' "$N"

kill -TERM $D
wait $D; rc=$?
check "SIGTERM: clean exit 0 (no leak under ASan)" [ $rc -eq 0 ]
check "STOPPING=1 on SIGTERM" grep -q '^STOPPING=1' "$N"

# ---- without systemd ----------------------------------------------------------------
env -u NOTIFY_SOCKET "$WOTGW" -c "$C" 2>"$T/plain.err" &
D=$!; _pids+=($D)
check "without NOTIFY_SOCKET: starts (ready line logged)" wait_for 10 grep -q 'ready:' "$T/plain.err"
kill -INT $D; wait $D; rc=$?
check "without NOTIFY_SOCKET: SIGINT stops cleanly" [ $rc -eq 0 ]

# ---- a broken TD refuses that thing only -------------------------------------------
cp "$C" "$T/mixed.conf"
printf '{ "id": "urn:dev:broken2",\n  "title": \n' > "$T/things/broken2.td.json"
printf '\n[thing broken2]\ntd = broken2.td.json\nsecurity = basic\nallow = group:family\n' >> "$T/mixed.conf"
env -u NOTIFY_SOCKET "$WOTGW" -c "$T/mixed.conf" 2>"$T/mixed.err" &
D=$!; _pids+=($D)
check "a broken TD: the daemon still starts with the other thing" \
    wait_for 10 grep -q 'ready: [1-9][0-9]* things (1 refused)' "$T/mixed.err"
check "a broken TD: the refusal names the file and line" grep -q "broken2.td.json:[0-9]*:" "$T/mixed.err"
check "a broken TD: the refusal names the thing" grep -q "thing 'broken2' refused" "$T/mixed.err"
kill -TERM $D; wait $D; rc=$?
check "a broken TD: SIGTERM exits 0" [ $rc -eq 0 ]

# ---- secrets ------------------------------------------------------------------------
hash=$(cut -d: -f2 "$T/users" | head -n 1)
printf 'bob:%s:family:extra:fields\n' "$hash" >> "$T/users"
"$WOTGW" -t -c "$C" >"$T/secret.out" 2>&1
check "-t with a broken users line fails" grep -q "users:" "$T/secret.out"
check "no password hash echoed in any output" bash -c '! grep -qF -- "$1" "$2"/*.err "$2"/*.out "$2"/notify.log' _ "$hash" "$T"
check "no password in any output" bash -c '! grep -qF -- "$1" "$2"/*.err "$2"/*.out "$2"/notify.log' _ "$SECRET" "$T"

finish
