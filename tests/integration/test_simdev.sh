#!/usr/bin/env bash
# The simulated device (wotgw-simdev) on its own, through curl: its TDs,
# every route of the lamp, the thermometer and the faulty thing, bounds,
# keep-alive, IPv6, and a clean exit 0 on SIGTERM/SIGINT with requests
# still waiting (under ASan a leak would make that exit code 86).
source tests/integration/lib.sh "$@"

SIMDEV=$BUILD/wotgw-simdev
[ -x "$SIMDEV" ] || { fail "$SIMDEV missing"; finish; }

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
body() { curl -s --max-time 5 "$@"; }

# start_dev NAME ARGS...: starts a device on a free port; sets PORT_<NAME>, PID_<NAME>
start_dev() {
    local name=$1; shift
    local port
    port=$(free_port)
    bg "$SIMDEV" --listen "127.0.0.1:$port" "$@" >"$T/$name.out" 2>"$T/$name.err"
    eval "PID_$name=$!; PORT_$name=$port"
    wait_for 10 grep -q "^wotgw-simdev: listening on http://127.0.0.1:$port\$" "$T/$name.out"
}

# jqe ARGS...: jq -e, quietly
jqe() { jq -e "$@" >/dev/null; }

# exited PID: true once PID is gone or a zombie
exited() { [ ! -e "/proc/$1/stat" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# stop_dev PID SIGNAL: sends SIGNAL, waits at most 5 s (then SIGKILL); the
# exit code in STOP_RC. (No background watchdog subshell: one killed by a
# signal runs lib.sh's EXIT trap, which removes $T.)
stop_dev() {
    kill -"$2" "$1"
    wait_for 5 exited "$1" || kill -9 "$1"
    wait "$1"
    STOP_RC=$?
}

# ---- command line and TDs -------------------------------------------------------------
P=$(free_port)
"$SIMDEV" --listen "127.0.0.1:$P" --write-tds "$T/tds" 2>"$T/tds.err"; rc=$?
check "--write-tds exits 0" [ $rc -eq 0 ]
for t in lamp thermometer faulty; do
    f=$T/tds/$t.td.json
    check "--write-tds wrote $t.td.json, valid JSON" jqe . "$f" >/dev/null
    check "$t TD: id, base, nosec, TD 1.1 context" jqe --arg b "http://127.0.0.1:$P/$t/" --arg id "urn:dev:wotgw-sim:$t" \
        '.id == $id and .base == $b and .security == "nosec_sc"
         and .securityDefinitions.nosec_sc.scheme == "nosec"
         and .["@context"] == "https://www.w3.org/2022/wot/td/v1.1"' "$f"
    check "$t TD: every href is relative" jqe '[.. | objects | .href? // empty | select(test("^[a-z]+:"))] | length == 0' "$f"
done
check "lamp TD: title, properties, toggle, overheated with longpoll and sse forms" jqe '
    .title == "Lamp" and .properties.on.type == "boolean" and .properties.on.observable
    and .properties.brightness.minimum == 0 and .properties.brightness.maximum == 100
    and ([.properties.on.forms[] | select(.subprotocol == "longpoll" and .op == "observeproperty")] | length == 1)
    and (.actions.toggle.forms[0].href == "actions/toggle")
    and ([.events.overheated.forms[] | select(.subprotocol == "sse" and .contentType == "text/event-stream")] | length == 1)
    and ([.events.overheated.forms[] | select(.subprotocol == "longpoll")] | length == 1)
    and (.forms[0].op == "readallproperties")' "$T/tds/lamp.td.json"
check "thermometer TD: read-only temperature and unit" jqe '
    .title == "Thermometer" and .properties.temperature.readOnly and .properties.unit.readOnly
    and .properties.temperature.observable' "$T/tds/thermometer.td.json"
check "faulty TD: read-only faults, writable octet-stream blob, echo action" jqe '
    .title == "Faulty device"
    and ([.properties | to_entries[] | select(.key != "blob") | .value.readOnly] | all)
    and (.properties.blob.readOnly | not)
    and .properties.blob.forms[0].contentType == "application/octet-stream"
    and (.actions.echo.forms[0].href == "actions/echo")' "$T/tds/faulty.td.json"
if command -v node >/dev/null && [ -d tests/node/node_modules/ajv ]; then
    check "device TDs validate against the W3C TD 1.1 JSON Schema" \
        node tests/node/validate-td.mjs "$T"/tds/*.td.json >"$T/validate.log"
else
    fail "node or tests/node/node_modules missing: TD schema validation not run"
fi
"$SIMDEV" --listen "127.0.0.1:$P" --print-td lamp >"$T/lamp.printed" 2>/dev/null; rc=$?
check "--print-td lamp exits 0 and prints what --write-tds wrote" \
    bash -c '[ $1 -eq 0 ] && cmp -s "$2" "$3"' _ $rc "$T/lamp.printed" "$T/tds/lamp.td.json"
"$SIMDEV" --listen "[::1]:$P" --print-td faulty >"$T/v6.json" 2>/dev/null
check "--print-td with an IPv6 listen address: base http://[::1]:PORT/" \
    jqe --arg b "http://[::1]:$P/faulty/" '.base == $b' "$T/v6.json"
"$SIMDEV" --listen "127.0.0.1:$P" --print-td nosuch >/dev/null 2>&1; rc=$?
check "--print-td of an unknown thing exits 1" [ $rc -eq 1 ]
"$SIMDEV" --listen "localhost:$P" --print-td lamp >/dev/null 2>&1; rc=$?
check "--listen with a host name is refused (exit 2)" [ $rc -eq 2 ]
"$SIMDEV" --write-tds "$T/x" >/dev/null 2>&1; rc=$?
check "no --listen: usage, exit 2" [ $rc -eq 2 ]
"$SIMDEV" --listen "127.0.0.1:$P" --slow-ms abc >/dev/null 2>&1; rc=$?
check "--slow-ms abc: exit 2" [ $rc -eq 2 ]

# ---- the lamp ----------------------------------------------------------------------------
start_dev A --slow-ms 300 --event-interval-ms 200 || fail "device A did not start"
B=http://127.0.0.1:$PORT_A

check "GET lamp on: 200 false, application/json" \
    bash -c '[ "$(curl -s -D "$2" "$1/lamp/properties/on")" = false ] && grep -qi "^content-type: application/json" "$2"' _ "$B" "$T/h1"
check "GET lamp brightness: 50" [ "$(body "$B/lamp/properties/brightness")" = 50 ]
check "PUT brightness 42: 204" [ "$(code -X PUT -H 'Content-Type: application/json' -d 42 "$B/lamp/properties/brightness")" = 204 ]
check "GET brightness: 42" [ "$(body "$B/lamp/properties/brightness")" = 42 ]
check "PUT brightness 101: 400 with a JSON error" \
    bash -c '[ "$(curl -s -o "$2" -w "%{http_code}" -X PUT -H "Content-Type: application/json" -d 101 "$1/lamp/properties/brightness")" = 400 ] && jq -e ".error | length > 0" "$2" >/dev/null' _ "$B" "$T/e1"
check "PUT brightness \"x\" (wrong type): 400" [ "$(code -X PUT -H 'Content-Type: application/json' -d '"x"' "$B/lamp/properties/brightness")" = 400 ]
check "PUT brightness 4.5 (not an integer): 400" [ "$(code -X PUT -H 'Content-Type: application/json' -d 4.5 "$B/lamp/properties/brightness")" = 400 ]
check "PUT on 1 (not a boolean): 400" [ "$(code -X PUT -H 'Content-Type: application/json' -d 1 "$B/lamp/properties/on")" = 400 ]
check "PUT malformed JSON: 400" [ "$(code -X PUT -H 'Content-Type: application/json' -d '{' "$B/lamp/properties/on")" = 400 ]
check "PUT text/plain: 415" [ "$(code -X PUT -H 'Content-Type: text/plain' -d true "$B/lamp/properties/on")" = 415 ]
check "PUT without a content type: 415" [ "$(code -X PUT -H 'Content-Type:' -d true "$B/lamp/properties/on")" = 415 ]
check "PUT application/json; charset=utf-8: 204" [ "$(code -X PUT -H 'Content-Type: application/json; charset=utf-8' -d true "$B/lamp/properties/on")" = 204 ]
check "readallproperties: {on: true, brightness: 42}" \
    jqe '. == {"on": true, "brightness": 42}' <<<"$(body "$B/lamp/properties")"
check "toggle: 200 {on: false}" jqe '. == {"on": false}' <<<"$(body -X POST "$B/lamp/actions/toggle")"
check "toggle again: {on: true}, and GET on agrees" \
    bash -c '[ "$(curl -s -X POST "$1/lamp/actions/toggle" | jq -c .)" = "{\"on\":true}" ] && [ "$(curl -s "$1/lamp/properties/on")" = true ]' _ "$B"
check "DELETE a property: 405 with Allow: GET, PUT" \
    bash -c 'curl -s -D - -o /dev/null -X DELETE "$1/lamp/properties/on" | grep -qi "^allow: GET, PUT"' _ "$B"
check "GET an action: 405" [ "$(code "$B/lamp/actions/toggle")" = 405 ]
check "unknown thing, property, path: 404" \
    bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" "$1/nosuch/properties/on")$(curl -s -o /dev/null -w "%{http_code}" "$1/lamp/properties/nosuch")$(curl -s -o /dev/null -w "%{http_code}" "$1/")" = 404404404 ]' _ "$B"

# observeproperty (long-poll): blocks until the value changes
curl -s --max-time 10 "$B/lamp/properties/brightness/observe" >"$T/obs" &
obs=$!
sleep 0.5
check "observe long-poll still waiting before the change" kill -0 $obs
curl -s -X PUT -H 'Content-Type: application/json' -d 77 "$B/lamp/properties/brightness" >/dev/null
wait $obs
check "observe long-poll answers the new value 77" [ "$(cat "$T/obs")" = 77 ]

# events: long-poll and SSE (every 200 ms here)
t0=$(date +%s%N)
ev=$(body "$B/lamp/events/overheated")
t1=$(date +%s%N)
check "event long-poll answers a temperature (a number)" jqe 'type == "number" and . >= 70 and . < 90' <<<"$ev"
check "event long-poll answers within the event interval" [ $(((t1 - t0) / 1000000)) -lt 1500 ]
curl -s -N --max-time 1.5 -D "$T/sse.h" "$B/lamp/events/overheated/sse" >"$T/sse" 2>/dev/null
check "SSE: text/event-stream" grep -qi '^content-type: text/event-stream' "$T/sse.h"
check "SSE: several 'data: N' events in 1.5 s" bash -c '[ "$(grep -cE "^data: [0-9]+\.[0-9]$" "$1")" -ge 3 ]' _ "$T/sse"
check "SSE: events separated by blank lines" bash -c 'grep -c "^$" "$1" | awk "{ exit !(\$1 >= 3) }"' _ "$T/sse"

# ---- events only on trigger ----------------------------------------------------------------
start_dev Q --event-interval-ms 0 -q || fail "device Q did not start"
BQ=http://127.0.0.1:$PORT_Q
curl -s --max-time 10 "$BQ/lamp/events/overheated" >"$T/evq" &
evq=$!
sleep 0.7
check "--event-interval-ms 0: no event without a trigger" kill -0 $evq
check "POST /lamp/_trigger/overheated: 204" [ "$(code -X POST "$BQ/lamp/_trigger/overheated")" = 204 ]
wait $evq
check "the triggered event reaches the waiting long-poll" jqe 'type == "number"' "$T/evq"
check "-q: no request log" bash -c '! grep -q "GET /" "$1"' _ "$T/Q.err"
check "without -q: one log line per request" grep -q "GET /lamp/properties/on 200" "$T/A.err"

# ---- the thermometer ------------------------------------------------------------------------
check "temperature: a number" jqe 'type == "number"' <<<"$(body "$B/thermometer/properties/temperature")"
check "unit: \"celsius\"" [ "$(body "$B/thermometer/properties/unit")" = '"celsius"' ]
check "thermometer readallproperties" jqe '(.temperature | type) == "number" and .unit == "celsius"' <<<"$(body "$B/thermometer/properties")"
check "PUT temperature (read-only): 405" [ "$(code -X PUT -H 'Content-Type: application/json' -d 3 "$B/thermometer/properties/temperature")" = 405 ]
before=$(body "$B/thermometer/properties/temperature")
after=$(body --max-time 5 "$B/thermometer/properties/temperature/observe")
check "temperature observe answers a changed value" bash -c '[ -n "$2" ] && [ "$1" != "$2" ]' _ "$before" "$after"

# ---- the faulty thing -------------------------------------------------------------------------
t0=$(date +%s%N)
check "slow: {slow: true}" jqe '. == {"slow": true}' <<<"$(body "$B/faulty/properties/slow")"
t1=$(date +%s%N)
check "slow: after --slow-ms (300 ms)" [ $(((t1 - t0) / 1000000)) -ge 290 ]
curl -s --max-time 1 "$B/faulty/properties/hang" >/dev/null; rc=$?
check "hang: no answer (curl times out, exit 28)" [ $rc -eq 28 ]
curl -s --max-time 5 -o "$T/broken" "$B/faulty/properties/broken"; rc=$?
check "broken: curl sees a partial body (exit 18) after 10 bytes" bash -c '[ $1 -eq 18 ] && [ "$(stat -c %s "$2")" -eq 10 ]' _ $rc "$T/broken"
check "status: 503 with a JSON body" \
    bash -c '[ "$(curl -s -o "$2" -w "%{http_code}" "$1/faulty/properties/status")" = 503 ] && jq -e ".error" "$2" >/dev/null' _ "$B" "$T/st"
check "headers: lower-cased names of the request headers" jqe '.authorization == "Bearer t0k" and .["x-mixed-case"] == "v" and .host' \
    <<<"$(body -H 'Authorization: Bearer t0k' -H 'X-Mixed-Case: v' "$B/faulty/properties/headers")"
check "blob: initially empty application/octet-stream" \
    bash -c '[ -z "$(curl -s -D "$2" "$1/faulty/properties/blob")" ] && grep -qi "^content-type: application/octet-stream" "$2" && grep -qi "^content-length: 0" "$2"' _ "$B" "$T/bh"
head -c 300000 /dev/urandom >"$T/blob"
check "blob: PUT 300 KB of random bytes: 204" [ "$(code -X PUT -H 'Content-Type: image/x-test' --data-binary @"$T/blob" "$B/faulty/properties/blob")" = 204 ]
curl -s -D "$T/bh2" -o "$T/blob.back" "$B/faulty/properties/blob"
check "blob: GET gives the same bytes" cmp -s "$T/blob" "$T/blob.back"
check "blob: GET gives the stored content type" grep -qi '^content-type: image/x-test' "$T/bh2"
head -c 1048577 /dev/zero >"$T/toobig"
check "blob: PUT of 1 MiB + 1 byte: 413" [ "$(code -X PUT -H 'Content-Type: a/b' --data-binary @"$T/toobig" "$B/faulty/properties/blob")" = 413 ]
check "blob: chunked PUT over 1 MiB: 413" [ "$(code -X PUT -H 'Content-Type: a/b' -H 'Transfer-Encoding: chunked' --data-binary @"$T/toobig" "$B/faulty/properties/blob")" = 413 ]
check "blob: still the old bytes after the refused PUTs" \
    bash -c 'curl -s "$1/faulty/properties/blob" | cmp -s - "$2"' _ "$B" "$T/blob"
head -c 1048576 /dev/urandom >"$T/mib"
curl -s -D "$T/eh" -o "$T/mib.back" -X POST -H 'Content-Type: application/x-echo' --data-binary @"$T/mib" "$B/faulty/actions/echo"
check "echo: 1 MiB comes back byte for byte" cmp -s "$T/mib" "$T/mib.back"
check "echo: with its content type" grep -qi '^content-type: application/x-echo' "$T/eh"
check "echo: over 1 MiB: 413" [ "$(code -X POST -H 'Content-Type: a/b' --data-binary @"$T/toobig" "$B/faulty/actions/echo")" = 413 ]

# ---- keep-alive, connections, many clients -------------------------------------------------------------
c0=$(body "$B/_sim/stats" | jq .connections)
curl -s -o /dev/null -o /dev/null -o /dev/null "$B/lamp/properties/on" "$B/lamp/properties/brightness" "$B/lamp/properties"
c1=$(body "$B/_sim/stats" | jq .connections)
check "keep-alive: three requests of one curl use one connection" [ $((c1 - c0)) -eq 2 ]
for i in $(seq 1 50); do curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$B/lamp/properties/on" & done >"$T/many" 2>/dev/null
wait_for 15 bash -c '[ "$(wc -l <"$1")" -eq 50 ]' _ "$T/many"
check "50 concurrent clients: all 200" [ "$(grep -c '^200$' "$T/many")" -eq 50 ]

# ---- IPv6 ---------------------------------------------------------------------------------------------------
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    P6=$(free_port)
    bg "$SIMDEV" --listen "[::1]:$P6" -q >"$T/v6.out" 2>&1
    wait_for 10 grep -q "listening on http://\[::1\]:$P6" "$T/v6.out"
    check "IPv6 [::1]: GET lamp on 200" [ "$(code -g "http://[::1]:$P6/lamp/properties/on")" = 200 ]
else
    ok "IPv6 skipped: no ::1 on this machine"
fi

# ---- SIGTERM / SIGINT with requests waiting -------------------------------------------------------
curl -s --max-time 20 "$B/faulty/properties/hang" >/dev/null 2>&1 &
w1=$!
curl -s --max-time 20 "$B/lamp/properties/on/observe" >/dev/null 2>&1 &
w2=$!
curl -s -N --max-time 20 "$B/lamp/events/overheated/sse" >/dev/null 2>&1 &
w3=$!
curl -s --max-time 20 -X PUT -H 'Content-Type: a/b' --data-binary @"$T/mib" "$B/faulty/properties/blob" >/dev/null 2>&1 &
sleep 0.5
check "waiting requests are counted" jqe '.waiting >= 3' <<<"$(body "$B/_sim/stats")"
t0=$(date +%s%N)
stop_dev "$PID_A" TERM; rc=$STOP_RC
t1=$(date +%s%N)
check "SIGTERM with waiting requests: exit 0" [ "$rc" = 0 ]
check "SIGTERM: exits promptly" [ $(((t1 - t0) / 1000000)) -lt 3000 ]
wait_for 3 bash -c '! kill -0 $1 2>/dev/null && ! kill -0 $2 2>/dev/null && ! kill -0 $3 2>/dev/null' _ $w1 $w2 $w3
check "SIGTERM: the waiting clients are answered or closed, none left hanging" \
    bash -c '! kill -0 $1 2>/dev/null && ! kill -0 $2 2>/dev/null && ! kill -0 $3 2>/dev/null' _ $w1 $w2 $w3
check "no sanitizer report from device A" bash -c '[ -s "$1" ] && ! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error" "$1"' _ "$T/A.err"
stop_dev "$PID_Q" INT; rc=$STOP_RC
check "SIGINT: exit 0" [ "$rc" = 0 ]
check "no sanitizer report from device Q" bash -c '[ -f "$1" ] && ! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error" "$1"' _ "$T/Q.err"

P=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("ready", flush=True); time.sleep(5)' "$P" >"$T/busy.ready" &
busy=$!
wait_for 10 grep -qs ready "$T/busy.ready"
timeout 5 "$SIMDEV" --listen "127.0.0.1:$P" -q >/dev/null 2>"$T/busy.err"; rc=$?
kill $busy 2>/dev/null
check "a port in use: exit 1 with a message" bash -c '[ $1 -eq 1 ] && grep -q "cannot listen" "$2"' _ $rc "$T/busy.err"

finish
