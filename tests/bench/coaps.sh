#!/usr/bin/env bash
# coaps.sh - CoAPS (PSK) through wotgw to a CoAP device against the same
# device directly over plain CoAP, in one run (issue 4's benchmark). Not
# part of `make check`.
#
#   tests/bench/coaps.sh            # after make all
#   DURATION=10 ROUNDS=3 SESSIONS=16 tests/bench/coaps.sh
#
# The load generator is tests/bench/coap-load.c (libcoap, built here):
# SESSIONS client sessions, one confirmable GET in flight each (NSTART 1),
# GET /lamp/properties/on of wotgw-simdev's CoAP binding directly, and
# GET /things/coaplamp/properties/on through wotgw (DTLS 1.2 PSK, the
# device over plain CoAP). The load runs on CPU LOAD_CPU [0], wotgw and the
# device on SERVER_CPU [1]. Prints one line per run and the ratio of the
# medians (wotgw / direct requests/s).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-16}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
T=$(mktemp -d /tmp/wotgw-bench-coaps.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench-coaps: $*" >&2; exit 1; }
udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

[ -x "$BUILD/wotgw" ] && [ -x "$BUILD/wotgw-simdev" ] || die "run make all first"
cc -O2 -o "$T/coap-load" tests/bench/coap-load.c $(pkg-config --cflags --libs libcoap-3-gnutls) ||
    die "coap-load.c does not build"

HP=$(tcp_port) DCP=$(udp_port) GP=$(udp_port) GHP=$(tcp_port)
KEY=bench-coaps-key-0001
mkdir -p "$T/things"
"$BUILD/wotgw-simdev" --listen "127.0.0.1:$HP" --coap-listen "127.0.0.1:$DCP" --write-tds "$T/things" >/dev/null ||
    die "simdev TDs"
taskset -c "$SERVER_CPU" "$BUILD/wotgw-simdev" --listen "127.0.0.1:$HP" --coap-listen "127.0.0.1:$DCP" -q \
    >"$T/simdev.log" 2>&1 &
pids+=($!)
printf 'bench:%s\n' "$(printf '%s' "$KEY" | od -An -tx1 | tr -d ' \n')" >"$T/psk"
chmod 600 "$T/psk"
cat >"$T/wotgw.conf" <<EOF
[gateway]
td_dir = things
state_dir = state
base_url = https://127.0.0.1:$GHP

[coaps]
listen = 127.0.0.1:$GP

[credentials]
psk = psk

[thing coaplamp]
td = coap-lamp.td.json
security = psk
allow = user:bench
EOF
"$BUILD/wotgw" -t -c "$T/wotgw.conf" >/dev/null || die "wotgw -t"
taskset -c "$SERVER_CPU" "$BUILD/wotgw" -c "$T/wotgw.conf" 2>"$T/wotgw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'ready:' "$T/wotgw.log" && break; sleep 0.05; done
grep -q 'ready:' "$T/wotgw.log" || die "wotgw did not start: $(tail -3 "$T/wotgw.log")"

run() { taskset -c "$LOAD_CPU" "$T/coap-load" -s "$SESSIONS" -d "$DURATION" "$@"; }
direct=() via=()
for r in $(seq "$ROUNDS"); do
    d=$(run "coap://127.0.0.1:$DCP/lamp/properties/on")
    echo "round $r direct (coap)        $d"
    direct+=("$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$d")")
    w=$(run -u bench -k "$KEY" "coaps://127.0.0.1:$GP/things/coaplamp/properties/on")
    echo "round $r wotgw (coaps -> coap) $w"
    via+=("$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$w")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
md=$(median "${direct[@]}") mv=$(median "${via[@]}")
awk -v d="$md" -v v="$mv" 'BEGIN { printf "median rps: direct %d, wotgw %d, ratio %.2f\n", d, v, d ? v / d : 0 }'
