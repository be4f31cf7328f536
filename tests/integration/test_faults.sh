#!/usr/bin/env bash
# Device faults and daemon signals under load:
#   device down (nothing on its port)          -> 502, quickly
#   device accepts and never answers (hang)    -> 504 at device_timeout, while
#                                                 other requests are served
#   device closes mid-answer (broken)          -> 502
#   SIGHUP with a broken config under load     -> old set keeps serving, no
#                                                 request of the load fails
#   SIGTERM with requests in flight            -> each gets a status or a clean
#                                                 close, none hangs; exit 0
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

TIMEOUT_S=3 # device_timeout
gw_pki || { fail "test PKI"; finish; }
gw_device --event-interval-ms 0 --slow-ms 1500 || { fail "simulated device starts"; finish; }
DOWN_PORT=$(free_port) # nothing listens there
jq --arg b "http://127.0.0.1:$DOWN_PORT/lamp/" '.id = "urn:dev:wotgw-sim:down" | .title = "Down" | .base = $b' \
    "$T/things/lamp.td.json" > "$T/things/down.td.json"

PW='Faults-Pass-77'
gw_user alice "$PW" family
AUTH=(-u "alice:$PW")
{
    gw_conf
    gw_limits device_timeout=${TIMEOUT_S}s
    cat <<'EOF'
[thing lamp]
td = lamp.td.json
security = basic
allow = group:family

[thing faulty]
td = faulty.td.json
security = basic
allow = group:family

[thing down]
td = down.td.json
security = basic
allow = group:family
EOF
} > "$T/wotgw.conf"
cp "$T/wotgw.conf" "$T/good.conf"
gw_start "$T/wotgw.conf" || { fail "gateway starts"; finish; }

# req NAME URLPATH [curl args]: writes "CODE SECONDS" into $T/NAME.res
req() {
    local n=$1 p=$2; shift 2
    gw_curl -o "$T/$n.body" -w '%{http_code} %{time_total}\n' "${AUTH[@]}" "$@" "$GW_URL$p" \
        > "$T/$n.res" 2>"$T/$n.err"
}
code() { cut -d' ' -f1 "$T/$1.res"; }
secs() { cut -d' ' -f2 "$T/$1.res"; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
problem() { jq -e --argjson s "$2" '.status == $s and (.title | type == "string")' "$T/$1.body" >/dev/null 2>&1; }

check "baseline: lamp reads 200" [ "$(gw_status "${AUTH[@]}" "$GW_URL/things/lamp/properties/on")" = 200 ]

# ---- device down -----------------------------------------------------------------------------
req down /things/down/properties/on
check "device down: 502 (got $(code down))" [ "$(code down)" = 502 ]
check "device down: answered quickly ($(secs down) s, device_timeout ${TIMEOUT_S} s)" lt "$(secs down)" 1.0
check "device down: problem+json body" problem down 502
check "device down: no device address in the answer" bash -c '! grep -q "$1" "$2"' _ "$DOWN_PORT" "$T/down.body"

# ---- device never answers, others keep being served ---------------------------------------
hangs=()
for i in 1 2 3 4 5; do
    req "hang$i" /things/faulty/properties/hang &
    hangs+=($!)
done
sleep 0.2
fast_ok=0 slowest=0
for i in $(seq 1 15); do
    req "fast$i" /things/lamp/properties/brightness
    [ "$(code "fast$i")" = 200 ] && lt "$(secs "fast$i")" 1.0 && fast_ok=$((fast_ok + 1))
    lt "$slowest" "$(secs "fast$i")" && slowest=$(secs "fast$i")
done
check "while 5 requests hang on a device, 15 lamp reads answer 200 each under 1 s ($fast_ok/15, slowest $slowest s)" \
    [ $fast_ok -eq 15 ]
check "the hanging requests were still pending meanwhile" [ ! -s "$T/hang1.res" ]
wait "${hangs[@]}"
for i in 1 2 3 4 5; do
    c=$(code "hang$i") s=$(secs "hang$i")
    check "hang $i: 504 (got $c)" [ "$c" = 504 ]
    check "hang $i: at device_timeout (${s} s, expected ${TIMEOUT_S} s)" \
        bash -c 'awk -v s="$1" -v t="$2" "BEGIN { exit !(s >= t - 0.2 && s < t + 2) }"' _ "$s" "$TIMEOUT_S"
done
check "hang: problem+json body" problem hang1 504

# ---- device closes mid-answer ------------------------------------------------------------------
req broken /things/faulty/properties/broken
check "device closes mid-answer: 502 (got $(code broken))" [ "$(code broken)" = 502 ]
check "device closes mid-answer: problem+json body" problem broken 502
check "device closes mid-answer: answered well before device_timeout ($(secs broken) s)" lt "$(secs broken)" 1.5
check "daemon up after the device faults" kill -0 "$GW_PID"

# ---- SIGHUP with a broken config under load ---------------------------------------------------
# load: loop of curl requests in the background, each status recorded
load() {
    local out=$1
    while [ ! -e "$T/stop-load" ]; do
        gw_curl -o /dev/null -w '%{http_code}\n' "${AUTH[@]}" "$GW_URL/things/lamp/properties/on" \
            >> "$out" 2>/dev/null || echo "curl-failed-$?" >> "$out"
    done
}
: > "$T/load1"; : > "$T/load2"
rm -f "$T/stop-load"
load "$T/load1" & L1=$!
load "$T/load2" & L2=$!
sleep 0.5
# broken: an unknown key and the lamp gone -- must not be applied
{
    sed '/^\[thing lamp\]/,/^$/d' "$T/good.conf"
    printf '\n[thing extra]\ntd = lamp.td.json\nsecurity = basic\nfrobnicate = yes\n'
} > "$T/wotgw.conf"
for i in 1 2 3; do kill -HUP "$GW_PID"; sleep 0.4; done
check "broken reload logged and refused" wait_for 5 grep -q 'keeping the running configuration' "$GW_LOG"
check "after the broken reload the lamp (missing from the new file) is still served" \
    [ "$(gw_status "${AUTH[@]}" "$GW_URL/things/lamp/properties/on")" = 200 ]
# a good reload under load too
cp "$T/good.conf" "$T/wotgw.conf"
kill -HUP "$GW_PID"
check "good reload applied" wait_for 5 grep -q 'reloaded: 3 things' "$GW_LOG"
sleep 0.5
touch "$T/stop-load"
wait $L1 $L2
n=$(cat "$T/load1" "$T/load2" | wc -l)
bad=$(cat "$T/load1" "$T/load2" | grep -vc '^200$')
check "load during the reloads: $n requests, all 200 ($bad failed)" [ "$n" -ge 20 -a "$bad" -eq 0 ]
[ "$bad" -eq 0 ] || cat "$T/load1" "$T/load2" | sort | uniq -c | sed 's/^/#   /'
check "daemon up after the reloads" kill -0 "$GW_PID"

# ---- SIGTERM with requests in flight ---------------------------------------------------------
# 8 requests to a device that answers after 1.5 s, 2 to one that never
# answers, and 2 SSE subscriptions; SIGTERM while all of them are waiting.
inflight=()
for i in $(seq 1 8); do
    ( gw_curl --max-time 15 -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$GW_URL/things/faulty/properties/slow" \
        > "$T/term$i.code" 2>/dev/null; echo $? > "$T/term$i.rc" ) &
    inflight+=($!)
done
for i in 9 10; do
    ( gw_curl --max-time 15 -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$GW_URL/things/faulty/properties/hang" \
        > "$T/term$i.code" 2>/dev/null; echo $? > "$T/term$i.rc" ) &
    inflight+=($!)
done
for i in 11 12; do
    ( gw_curl --max-time 15 -N -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$GW_URL/things/lamp/events/overheated" \
        > "$T/term$i.code" 2>/dev/null; echo $? > "$T/term$i.rc" ) &
    inflight+=($!)
done
sleep 0.6
t0=$SECONDS
gw_stop; rc=$?
check "SIGTERM with 12 requests in flight: exit 0 (got $rc; no leak under ASan)" [ $rc -eq 0 ]
check "SIGTERM: the daemon exited within 10 s ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -le 10 ]
wait "${inflight[@]}"
for i in $(seq 1 12); do
    r=$(cat "$T/term$i.rc" 2>/dev/null) c=$(cat "$T/term$i.code" 2>/dev/null)
    # 0: an HTTP answer; 52: empty reply; 56: connection closed -- all clean.
    # 28 (curl timed out) means the request hung.
    case "$r:$c" in
        0:[1-5][0-9][0-9] | 18:200 | 52:* | 56:* | 7:* | 35:*) ok "in-flight request $i at SIGTERM ended cleanly (curl $r, HTTP $c)" ;;
        *) fail "in-flight request $i at SIGTERM ended cleanly (curl $r, HTTP $c)" ;;
    esac
done
check "the device is still up (the gateway did not take it down)" kill -0 "$DEV_PID"
finish
