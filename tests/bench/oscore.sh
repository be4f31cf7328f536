#!/usr/bin/env bash
# oscore.sh - OSCORE-protected CoAP requests through wotgw against the same
# requests over CoAPS (DTLS 1.2 PSK), in one run (issue 6's benchmark). Not
# part of `make check`.
#
#   tests/bench/oscore.sh             # after make all
#   DURATION=10 ROUNDS=5 INFLIGHT=16 tests/bench/oscore.sh
#
# Both read /things/coaplamp/properties/on through wotgw from
# wotgw-simdev's CoAP binding (the device over plain CoAP behind wotgw):
#   coaps   tests/bench/coap-load.c (libcoap, PSK), INFLIGHT sessions with
#           one confirmable GET in flight each;
#   oscore  build/wotgw-oscore-client --load: INFLIGHT protected GETs in
#           flight over plain CoAP (one UDP socket, one OSCORE context).
# The load runs on CPU LOAD_CPU [0], wotgw and the device on SERVER_CPU
# [1]. Prints one line per run and the ratio of the medians (oscore /
# coaps requests/s). The thing's policy is SEC ["psk | oscore"].
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
INFLIGHT=${INFLIGHT:-16}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
SEC=${SEC:-psk | oscore}
T=$(mktemp -d /tmp/wotgw-bench-oscore.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench-oscore: $*" >&2; exit 1; }
udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

[ -x "$BUILD/wotgw" ] && [ -x "$BUILD/wotgw-simdev" ] && [ -x "$BUILD/wotgw-oscore-client" ] ||
    die "run make all first"
cc -O2 -o "$T/coap-load" tests/bench/coap-load.c $(pkg-config --cflags --libs libcoap-3-gnutls) ||
    die "coap-load.c does not build"

HP=$(tcp_port) DCP=$(udp_port) GP=$(udp_port) GPP=$(udp_port) GHP=$(tcp_port)
KEY=bench-coaps-key-0001
mkdir -p "$T/things" "$T/state"
"$BUILD/wotgw-simdev" --listen "127.0.0.1:$HP" --coap-listen "127.0.0.1:$DCP" --write-tds "$T/things" >/dev/null ||
    die "simdev TDs"
taskset -c "$SERVER_CPU" "$BUILD/wotgw-simdev" --listen "127.0.0.1:$HP" --coap-listen "127.0.0.1:$DCP" -q \
    >"$T/simdev.log" 2>&1 &
pids+=($!)
printf 'bench:%s\n' "$(printf '%s' "$KEY" | od -An -tx1 | tr -d ' \n')" >"$T/psk"
chmod 600 "$T/psk"
"$BUILD/wotgw-passwd" -f "$T/oscore" oscore add bench >/dev/null 2>&1 || die "wotgw-passwd oscore add"
cat >"$T/wotgw.conf" <<CONF
[gateway]
td_dir = things
state_dir = state
base_url = https://127.0.0.1:$GHP

[coaps]
listen = 127.0.0.1:$GP
coap_listen = 127.0.0.1:$GPP

[credentials]
psk = psk
oscore = oscore

[thing coaplamp]
td = coap-lamp.td.json
security = $SEC
allow = user:bench
CONF
"$BUILD/wotgw" -t -c "$T/wotgw.conf" >/dev/null || die "wotgw -t"
taskset -c "$SERVER_CPU" "$BUILD/wotgw" -c "$T/wotgw.conf" 2>"$T/wotgw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'ready:' "$T/wotgw.log" && break; sleep 0.05; done
grep -q 'ready:' "$T/wotgw.log" || die "wotgw did not start: $(tail -3 "$T/wotgw.log")"

seq=1
coaps=() osc=()
for r in $(seq "$ROUNDS"); do
    c=$(taskset -c "$LOAD_CPU" "$T/coap-load" -s "$INFLIGHT" -d "$DURATION" -u bench -k "$KEY" \
        "coaps://127.0.0.1:$GP/things/coaplamp/properties/on")
    echo "round $r coaps (psk)   $c"
    coaps+=("$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$c")")
    o=$(taskset -c "$LOAD_CPU" "$BUILD/wotgw-oscore-client" -f "$T/oscore" -n bench -s "$seq" \
        --load "$DURATION" --inflight "$INFLIGHT" "coap://127.0.0.1:$GPP/things/coaplamp/properties/on" | tail -1)
    seq=$((seq + 10000000))
    echo "round $r oscore        $o"
    osc+=("$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$o")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mc=$(median "${coaps[@]}") mo=$(median "${osc[@]}")
awk -v c="$mc" -v o="$mo" 'BEGIN { printf "median rps: coaps %d, oscore %d, ratio oscore/coaps %.2f\n", c, o, c ? o / c : 0 }'
