#!/usr/bin/env bash
# mqtt.sh - the MQTT front end's benchmark, in one run on loopback with the
# Debian mosquitto broker and the shipped broker config. Not part of
# `make check`; see tests/bench/README.md, section "MQTT".
#
#   tests/bench/mqtt.sh                  # after make all (or make bench-mqtt)
#   DURATION=10 ROUNDS=5 WINDOW=32 tests/bench/mqtt.sh
#
# Targets (each run: WINDOW QoS 1 messages in flight end to end for
# DURATION s or MESSAGES messages, then a latency run with one in flight):
#   anchor   mosquitto, shipped config without the plugin (anonymous):
#            publisher (TLS 1.3) -> subscriber, publish -> delivery
#   plugin   the same broker config with wotgw's plugin (mk_broker_conf):
#            alice (basic password) publishes to wot/lamp/properties/on/set,
#            wotgw's own client id and password subscribes; no daemon
#   e2e      broker + plugin + the wotgw daemon + wotgw-simdev: alice
#            invokes wot/lamp/actions/toggle (MQTT 5 response topic,
#            correlation data), round trip to the result
#   http     the device's POST /lamp/actions/toggle directly (wrk)
# The load client tests/bench/mqtt-load.c (libmosquitto) is compiled here
# and runs on LOAD_CPU; brokers, daemon and device on SERVER_CPU.
#
# Environment (defaults): ROUNDS (3) interleaved rounds of all TARGETS
# ("anchor plugin e2e http"); DURATION (4) s or MESSAGES (200000) per
# loaded run, LAT_MESSAGES (2000) or DURATION s per window-1 run; WINDOW
# (16) messages in flight; WARMUP_MSGS (200) not counted per run;
# SUB_LISTENER (local: the subscriber of anchor/plugin on the plain
# loopback listener as wotgw's daemon; tls: on the TLS listener);
# BROKER_NODELAY (unset: as shipped; true/false: set_tcp_nodelay in all
# three brokers); LOAD_CPU / SERVER_CPU (0 / 1); BUILD (build).
# Exit status 1 when a run failed (it is left out of the table).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
DURATION=${DURATION:-4}
MESSAGES=${MESSAGES:-200000}
LAT_MESSAGES=${LAT_MESSAGES:-2000}
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-16}
WARMUP_MSGS=${WARMUP_MSGS:-200}
SUB_LISTENER=${SUB_LISTENER:-local}
BROKER_NODELAY=${BROKER_NODELAY:-}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
TARGETS=${TARGETS:-anchor plugin e2e http}
if [ "$(nproc)" -lt 2 ]; then LOAD_CPU=0 SERVER_CPU=0; fi
for v in DURATION MESSAGES LAT_MESSAGES ROUNDS WINDOW WARMUP_MSGS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench-mqtt: $v must be a positive integer" >&2; exit 2; }
done

[ -x "$BUILD/wotgw" ] && [ -x "$BUILD/wotgw-simdev" ] && [ -x "$BUILD/wotgw-passwd" ] ||
    { echo "bench-mqtt: run make all first" >&2; exit 1; }
source tests/integration/lib.sh "$BUILD"
source tests/integration/gwenv.sh
die() { echo "bench-mqtt: $*" >&2; exit 1; }
gw_pki || die "test PKI"
for tool in /usr/sbin/mosquitto wrk; do
    command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done
source tests/integration/mqttenv.sh >/dev/null
cc -O2 -Wall -o "$T/mqtt-load" tests/bench/mqtt-load.c -lmosquitto || die "mqtt-load.c does not build"

pin() { taskset -a -p -c "$SERVER_CPU" "$1" >/dev/null; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

# ---- credentials, device, configs -------------------------------------------
A_PW="alice-bench-$(openssl rand -hex 8)"
gw_user alice "$A_PW" family || die "gw_user"
openssl rand -base64 32 >"$T/mqtt-secret"
chmod 600 "$T/mqtt-secret"
gw_device || die "simulated device"
pin "$DEV_PID"

# wotgw_conf NAME P_TLS P_LOCAL: a wotgw.conf for the plugin (and daemon)
wotgw_conf() {
    {
        gw_conf
        cat <<EOF
[mqtt]
broker_url = mqtts://localhost:$2
broker = 127.0.0.1:$3
password_file = mqtt-secret

[thing lamp]
td = lamp.td.json
security = basic
allow = user:alice
EOF
    } >"$T/$1"
}

# broker NAME plugin|none: sets B_TLS_NAME, B_LOCAL_NAME, B_PID_NAME
broker() {
    local n=$1
    P_TLS=$(free_port) P_CERT=$(free_port) P_LOCAL=$(free_port)
    wotgw_conf "wotgw-$n.conf" "$P_TLS" "$P_LOCAL"
    mk_broker_conf "$T/mosq-$n.tmp" "$T/wotgw-$n.conf" tlsv1.3
    mkdir -p "$T/mqtt-state-$n"
    if [ "$2" = none ]; then
        sed -e '/^plugin/d' -e 's/^allow_anonymous false/allow_anonymous true/' "$T/mosq-$n.tmp"
    else
        cat "$T/mosq-$n.tmp"
    fi | sed "s#$T/mqtt-state/#$T/mqtt-state-$n/#" >"$T/mosq-$n.conf"
    [ -n "$BROKER_NODELAY" ] && echo "set_tcp_nodelay $BROKER_NODELAY" >>"$T/mosq-$n.conf"
    start_broker "$T/mosq-$n.conf" "$T/broker-$n.log"
    wait_for 10 port_open "$P_TLS" || die "broker $n does not listen: $(tail -3 "$T/broker-$n.log")"
    pin "$BROKER_PID"
    printf -v "B_TLS_$n" %s "$P_TLS"
    printf -v "B_LOCAL_$n" %s "$P_LOCAL"
    printf -v "B_PID_$n" %s "$BROKER_PID"
}
want() { [[ " $TARGETS " == *" $1 "* ]]; }
want anchor && broker A none
want plugin && { broker B plugin; grep -q 'mqtts: loaded' "$T/broker-B.log" || die "plugin not loaded"; }
if want e2e; then
    broker C plugin
    GW_LOG=$T/wotgw.log
    gw_start "$T/wotgw-C.conf" || die "daemon does not start"
    pin "$GW_PID"
    wait_for 10 grep -q 'mqtt: connected to the broker' "$GW_LOG" || die "wotgw not connected to the broker"
fi
[ "$(curl -sS --max-time 5 -X POST -o /dev/null -w '%{http_code}' "$DEV_URL/lamp/actions/toggle")" = 200 ] ||
    die "the device's toggle action does not answer 200"

# ---- runs ---------------------------------------------------------------------
LOAD=(timeout $((DURATION + 40)) taskset -c "$LOAD_CPU" "$T/mqtt-load")
export MQ_PUB_PW=$A_PW
MQ_SUB_PW=$(cat "$T/mqtt-secret")
export MQ_SUB_PW
CA=(--cafile "$PKI/ca.crt")
# the subscriber of anchor / plugin: wotgw's listener (plain, loopback) or TLS
subargs() {
    local tls=B_TLS_$1 local=B_LOCAL_$1
    if [ "$SUB_LISTENER" = tls ]; then echo "-s ${!tls} -S"; else echo "-s ${!local}"; fi
}
run_target() { # TARGET WINDOW N SECS -> one key=value line (or FAILED)
    local t=$1 w=$2 n=$3 d=$4 out rc
    case $t in
    anchor)
        # shellcheck disable=SC2046
        out=$("${LOAD[@]}" stream -p "$B_TLS_A" "${CA[@]}" $(subargs A) -i bench-pub -u alice \
            -I wotgw -U wotgw -t wot/lamp/properties/on/set -m true -w "$w" -n "$n" -d "$d" \
            -W "$WARMUP_MSGS" -c "broker=$B_PID_A" 2>"$T/load.err") ;;
    plugin)
        # shellcheck disable=SC2046
        out=$("${LOAD[@]}" stream -p "$B_TLS_B" "${CA[@]}" $(subargs B) -i bench-pub -u alice \
            -I wotgw -U wotgw -t wot/lamp/properties/on/set -m true -w "$w" -n "$n" -d "$d" \
            -W "$WARMUP_MSGS" -c "broker=$B_PID_B" 2>"$T/load.err") ;;
    e2e)
        out=$("${LOAD[@]}" rr -p "$B_TLS_C" "${CA[@]}" -i bench-rr -u alice \
            -t wot/lamp/actions/toggle -T wot/lamp/actions/toggle/response/bench-rr \
            -w "$w" -n "$n" -d "$d" -W "$WARMUP_MSGS" \
            -c "broker=$B_PID_C" -c "wotgw=$GW_PID" -c "device=$DEV_PID" 2>"$T/load.err") ;;
    http)
        local c0 c1
        c0=$(cpu_ns "$DEV_PID")
        out=$(timeout $((d + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c "$w" -d "${d}s" --timeout 5s \
            -s "$T/wrk-post.lua" "$DEV_URL/lamp/actions/toggle" 2>"$T/load.err" | grep '^WRKJSON ')
        c1=$(cpu_ns "$DEV_PID")
        out=$(python3 -c '
import json, sys
j = json.loads(sys.argv[1][8:]); n = j["requests"]; s = j["duration_us"] / 1e6
err = j["connect_errors"] + j["read_errors"] + j["write_errors"] + j["status_errors"] + j["timeouts"]
print("ok=%d errors=%d secs=%.3f rate=%.0f p50_us=%d p99_us=%d cpu_device_us=%.1f" % (
    n, err, s, n / s, j["lat_p50_us"], j["lat_p99_us"], (int(sys.argv[3]) - int(sys.argv[2])) / 1e3 / max(n, 1)))
' "$out" "$c0" "$c1" 2>>"$T/load.err") || out=
        [[ $out == *" errors=0 "* ]] || out= ;;
    esac
    rc=$?
    if [ $rc -ne 0 ] || [ -z "$out" ]; then
        echo "FAILED $(tr '\n' ' ' <"$T/load.err" | cut -c1-200)"
    else
        echo "$out"
    fi
}
{ echo 'wrk.method = "POST"'; cat tests/bench/wrk-report.lua; } >"$T/wrk-post.lua"

echo "# bench-mqtt: $(mosquitto -h 2>/dev/null | head -1), $(nproc) CPUs, load on CPU $LOAD_CPU, servers on CPU $SERVER_CPU"
echo "# ROUNDS=$ROUNDS DURATION=${DURATION}s MESSAGES=$MESSAGES WINDOW=$WINDOW LAT_MESSAGES=$LAT_MESSAGES SUB_LISTENER=$SUB_LISTENER BROKER_NODELAY=${BROKER_NODELAY:-(as shipped)}"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    for t in $TARGETS; do
        line=$(run_target "$t" "$WINDOW" "$MESSAGES" "$DURATION")
        printf 'round %d %-7s window %-3s %s\n' "$r" "$t" "$WINDOW" "$line"
        echo "$t load $r $line" >>"$T/results"
        line=$(run_target "$t" 1 "$LAT_MESSAGES" "$DURATION")
        printf 'round %d %-7s window %-3s %s\n' "$r" "$t" 1 "$line"
        echo "$t lat $r $line" >>"$T/results"
    done
done

# ---- the table ------------------------------------------------------------------
python3 - "$T/results" "$WINDOW" <<'EOF'
import sys, statistics
rows = {}
bad = 0
for line in open(sys.argv[1]):
    t, mode, rnd, rest = line.split(" ", 3)
    if rest.startswith("FAILED"):
        bad += 1
        rows.setdefault((t, mode), [])
        continue
    kv = dict(x.split("=", 1) for x in rest.split())
    d = {k: float(v) for k, v in kv.items()}
    d["round"] = int(rnd)
    rows.setdefault((t, mode), []).append(d)
def med(t, mode, k):
    v = [r[k] for r in rows.get((t, mode), []) if k in r]
    return statistics.median(v) if v else None
def f(x, fmt):
    return fmt % x if x is not None else "-"
w = sys.argv[2]
names = {"anchor": "anchor (no plugin)", "plugin": "plugin (no daemon)",
         "e2e": "end to end (rr)", "http": "device over HTTP"}
print()
print("%-19s %4s %9s %8s %8s %8s %8s %9s %9s %9s %9s" % (
    "target", "ok", "msg/s", "p50 ms", "p99 ms", "p50 ms", "p99 ms", "broker", "wotgw", "device", "client"))
print("%-19s %4s %9s %17s %17s %39s" % ("", "", "(w=%s)" % w, "(window %s)" % w, "(window 1)",
                                         "CPU us per message (w=%s)" % w))
for t in ["anchor", "plugin", "e2e", "http"]:
    if (t, "load") not in rows:
        continue
    print("%-19s %4s %9s %8s %8s %8s %8s %9s %9s %9s %9s" % (
        names[t], "%d" % len(rows[(t, "load")]), f(med(t, "load", "rate"), "%.0f"),
        f(med(t, "load", "p50_us") and med(t, "load", "p50_us") / 1e3, "%.3f"),
        f(med(t, "load", "p99_us") and med(t, "load", "p99_us") / 1e3, "%.3f"),
        f(med(t, "lat", "p50_us") and med(t, "lat", "p50_us") / 1e3, "%.3f"),
        f(med(t, "lat", "p99_us") and med(t, "lat", "p99_us") / 1e3, "%.3f"),
        f(med(t, "load", "cpu_broker_us"), "%.1f"), f(med(t, "load", "cpu_wotgw_us"), "%.1f"),
        f(med(t, "load", "cpu_device_us"), "%.1f"), f(med(t, "load", "cpu_load_us"), "%.1f")))
print()
def ratio(a, b, k, mode="load"):
    # per round (the two ran seconds apart), then the median of the ratios
    ys = {r["round"]: r[k] for r in rows.get((b, mode), []) if r.get(k)}
    v = [r[k] / ys[r["round"]] for r in rows.get((a, mode), []) if k in r and r["round"] in ys]
    return statistics.median(v) if v else None
print("ratios (the median of the per-round ratios):")
r = ratio("plugin", "anchor", "rate")
if r is not None:
    print("plugin / anchor msg/s:          %.2f  (goal >= 0.8: %s)" % (r, "met" if r >= 0.8 else "MISSED"))
    r = ratio("plugin", "anchor", "cpu_broker_us")
    print("plugin / anchor broker CPU/msg: %s  (the plugin's share of the broker's CPU: %s)" % (
        f(r, "%.2f"), f(r and (r - 1) * 100, "%+.0f %%")))
    print("plugin / anchor p50 (window 1): %s" % f(ratio("plugin", "anchor", "p50_us", "lat"), "%.2f"))
r = ratio("e2e", "http", "rate")
if r is not None:
    print("end to end / HTTP commands/s:   %.4f" % r)
    print("end to end / HTTP p50 (window 1): %s" % f(ratio("e2e", "http", "p50_us", "lat"), "%.1f"))
    cpu = [med("e2e", "load", k) for k in ("cpu_broker_us", "cpu_wotgw_us", "cpu_device_us")]
    if None not in cpu and med("http", "load", "cpu_device_us"):
        print("end to end / HTTP server CPU per command: %.1f (%.1f us: broker %.1f + wotgw %.1f + device %.1f)" % (
            sum(cpu) / med("http", "load", "cpu_device_us"), sum(cpu), *cpu))
if bad:
    print("%d run(s) FAILED (left out)" % bad)
sys.exit(1 if bad else 0)
EOF
rc=$?
want e2e && { gw_stop || echo "bench-mqtt: wotgw did not stop cleanly" >&2; }
exit $rc
