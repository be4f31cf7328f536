#!/usr/bin/env bash
# run.sh - benchmark wotgw against nginx on loopback (tests/bench/README.md).
#
# One run measures, with wrk pinned to one core and the servers (proxy and
# simulated device) pinned to the other, interleaved for ROUNDS rounds:
#   device        the simulated device directly, plain HTTP, keep-alive
#   nginx         nginx (1 worker) as TLS 1.3 reverse proxy, keep-alive upstream
#   wotgw-bearer  wotgw, a bearer JWT (ES256) checked on every request
#   wotgw-basic   wotgw, HTTP basic auth on every request
#   nginx-basic   nginx with auth_basic (same password hash), for reference
#   nginx-hs      nginx, "Connection: close": one full TLS 1.3 handshake per request
#   wotgw-hs      wotgw, the same (bearer)
# requests/s, p50/p99 latency, server CPU time per request (proxy and device,
# from /proc/PID/task/*/schedstat), wotgw's RSS idle with THINGS extra
# things loaded and under load. Prints a table, then a JSON summary (also
# written to $BENCH_OUT when set).
#
# Environment (defaults in brackets):
#   BUILD [build]  DURATION [10] s per run  ROUNDS [3]  CONNECTIONS [32]
#   HS_DURATION [5]  HS_CONNECTIONS [16]  WARMUP [2] s  THREADS [1]
#   LOAD_CPU [0]  SERVER_CPU [1]  THINGS [100]  NGINX_ACCESS_LOG [on]
#   TARGETS [all of the above, in that order]  BENCH_OUT [unset]
#   CLIENT_CIPHERSUITES [unset: OpenSSL's default order] e.g. TLS_AES_128_GCM_SHA256
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BENCH=$ROOT/tests/bench

BUILD=${BUILD:-build}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
HS_DURATION=${HS_DURATION:-5}
HS_CONNECTIONS=${HS_CONNECTIONS:-16}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-1}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
THINGS=${THINGS:-100}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-on}
TARGETS=${TARGETS:-device nginx wotgw-bearer wotgw-basic nginx-basic nginx-hs wotgw-hs}
CLIENT_CIPHERSUITES=${CLIENT_CIPHERSUITES:-}
CLIENT_CNF=
BENCH_OUT=${BENCH_OUT:-}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

for v in DURATION ROUNDS CONNECTIONS HS_DURATION HS_CONNECTIONS WARMUP THREADS LOAD_CPU \
    SERVER_CPU THINGS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((DURATION > 0 && ROUNDS > 0 && CONNECTIONS > 0 && HS_DURATION > 0 && HS_CONNECTIONS > 0 &&
    THREADS > 0)) || die "DURATION, ROUNDS, CONNECTIONS, HS_*, THREADS must be > 0"
((THINGS <= 1000)) || die "THINGS at most 1000"
((CONNECTIONS >= THREADS && HS_CONNECTIONS >= THREADS)) || die "CONNECTIONS must be >= THREADS"
for t in $TARGETS; do
    case $t in
    device | nginx | wotgw-bearer | wotgw-basic | nginx-basic | nginx-hs | wotgw-hs) ;;
    *) die "unknown target '$t'" ;;
    esac
done

[ -d "$BUILD" ] || die "no build directory $BUILD (run make all)"
BUILD=$(cd "$BUILD" && pwd)
WOTGW=$BUILD/wotgw
PASSWD=$BUILD/wotgw-passwd
SIMDEV=$BUILD/wotgw-simdev
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
for tool in wrk openssl curl taskset python3 jq; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
[ -x "$NGINX" ] || die "nginx not found (Debian package nginx-light)"
[ -x "$SIMDEV" ] || die "$SIMDEV missing: the simulated device is needed for every target"
[ -x "$PASSWD" ] || die "$PASSWD missing (make all)"

NCPU=$(nproc)
PIN=1
if ((NCPU < 2)); then
    note "only $NCPU CPU: no pinning, numbers are not comparable with pinned runs"
    PIN=0
elif ((LOAD_CPU >= NCPU || SERVER_CPU >= NCPU || LOAD_CPU == SERVER_CPU)); then
    die "LOAD_CPU and SERVER_CPU must be two different CPUs below $NCPU"
fi
# client CMD...: CMD (wrk, openssl s_client) with the clients' OpenSSL config, if any
client() { if [ -n "$CLIENT_CNF" ]; then OPENSSL_CONF=$CLIENT_CNF "$@"; else "$@"; fi; }
on_load() { if ((PIN)); then client taskset -c "$LOAD_CPU" "$@"; else client "$@"; fi; }
# ( exec_on CPU CMD... ) &: the background process is CMD itself, so $! is its PID
exec_on() {
    local cpu=$1
    shift
    if ((PIN)); then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}

T=$(mktemp -d /tmp/wotgw-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_for SECONDS COMMAND...: polls COMMAND every 100 ms
wait_for() {
    local limit=$1
    shift
    local end=$((SECONDS + limit))
    while ((SECONDS < end)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}
alive() { kill -0 "$1" 2>/dev/null; }
# cpu_ns PID...: CPU time (ns) of every thread of the processes so far
cpu_ns() {
    local s=0 p f v
    for p in "$@"; do
        for f in /proc/"$p"/task/*/schedstat; do
            read -r v _ 2>/dev/null <"$f" && s=$((s + v))
        done
    done
    echo "$s"
}
# rss_kib PID...: sum of VmRSS (KiB); hwm_kib: sum of VmHWM
status_kib() {
    local field=$1 s=0 p k v
    shift
    for p in "$@"; do
        while read -r k v _; do
            [ "$k" = "$field:" ] && s=$((s + v))
        done 2>/dev/null <"/proc/$p/status"
    done
    echo "$s"
}
rss_kib() { status_kib VmRSS "$@"; }
# pss_kib PID...: proportional set size (shared library pages divided among
# the processes that map them)
pss_kib() {
    local s=0 p k v
    for p in "$@"; do
        while read -r k v _; do
            [ "$k" = "Pss:" ] && s=$((s + v))
        done 2>/dev/null <"/proc/$p/smaps_rollup"
    done
    echo "$s"
}
hwm_kib() { status_kib VmHWM "$@"; }
# rss_sampler FILE PID...: writes the highest VmRSS sum seen to FILE, every 250 ms
rss_sampler() {
    local file=$1 max=0 cur
    shift
    while :; do
        cur=$(rss_kib "$@")
        ((cur > max)) && max=$cur && echo "$max" >"$file"
        sleep 0.25
    done
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
is_200() { [ "$(http_code "$@")" = 200 ]; }

# ---- the clients' TLS 1.3 cipher suites (wrk and openssl use OpenSSL) ---------
if [ -n "$CLIENT_CIPHERSUITES" ]; then
    [[ $CLIENT_CIPHERSUITES =~ ^[A-Z0-9_:]+$ ]] || die "CLIENT_CIPHERSUITES: TLS_... names separated by ':'"
    cat >"$T/client-openssl.cnf" <<EOF
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = $CLIENT_CIPHERSUITES
EOF
    CLIENT_CNF=$T/client-openssl.cnf
fi

# ---- the libraries' share of the RSS: a do-nothing process linking them ------
LIB_FLOOR=0
PKGS=(libsystemd jansson openssl libcrypt libmicrohttpd gnutls libcurl)
read -r -a pkg_flags <<<"$(pkg-config --cflags --libs "${PKGS[@]}")"
if ${CC:-cc} -O2 -o "$T/rss-floor" "$BENCH/rss-floor.c" -pie -Wl,-z,relro,-z,now \
    "${pkg_flags[@]}" 2>"$T/rss-floor.log"; then
    LIB_FLOOR=$("$T/rss-floor" | tail -1)
else
    note "rss-floor.c did not build: $(head -3 "$T/rss-floor.log")"
fi

# ---- certificate: one ECDSA P-256 key and certificate for nginx and wotgw ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$T/server.key" -out "$T/server.crt" 2>/dev/null || die "openssl req failed"
chmod 600 "$T/server.key"

DPORT=$(free_port)
NPORT=$(free_port)
NCHECK_PORT=$(free_port)
WPORT=$(free_port)

# ---- the simulated device -----------------------------------------------------
mkdir -p "$T/things"
"$SIMDEV" --listen "127.0.0.1:$DPORT" --write-tds "$T/things" >/dev/null ||
    die "wotgw-simdev --write-tds failed"
[ -f "$T/things/lamp.td.json" ] || die "wotgw-simdev wrote no lamp.td.json"
(exec_on "$SERVER_CPU" "$SIMDEV" --listen "127.0.0.1:$DPORT" -q) >"$T/simdev.log" 2>&1 &
DEV_PID=$!
PIDS+=("$DEV_PID")
DEV_URL=http://127.0.0.1:$DPORT/lamp/properties/on
wait_for 10 is_200 "$DEV_URL" || die "device did not answer 200 on $DEV_URL ($(tail -3 "$T/simdev.log"))"

# ---- credentials -----------------------------------------------------------------
PW=bench-$(openssl rand -hex 12)
printf '%s\n' "$PW" | "$PASSWD" -q -f "$T/users" useradd bench -g bench --stdin ||
    die "wotgw-passwd useradd failed"
HASH=$(awk -F: '$1 == "bench" { print $2 }' "$T/users")
printf 'bench:%s\n' "$HASH" >"$T/htpasswd"
BASIC=$(printf 'bench:%s' "$PW" | base64 -w0)
ISS=https://issuer.bench.invalid
AUD=https://127.0.0.1:$WPORT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/issuer.key" 2>/dev/null ||
    die "issuer key"
tools/jwk-from-pem.sh "$T/issuer.key" bench-1 >"$T/issuer.jwks.json" || die "jwk-from-pem failed"
TOKEN=$(tools/mint-jwt.py --key "$T/issuer.key" --kid bench-1 --iss "$ISS" --aud "$AUD" \
    --sub bench-client --scope "lamp:read" --ttl 86400) || die "mint-jwt failed"

# ---- nginx ------------------------------------------------------------------------
NG=$T/nginx
mkdir -p "$NG/tmp"
user_line=
if [ "$(id -u)" = 0 ]; then
    # as root the master drops the worker to nobody: the worker must reach its temp dirs
    user_line="user nobody nogroup;"
    chmod 755 "$T" "$NG" "$NG/tmp"
fi
access_log=off
[ "$NGINX_ACCESS_LOG" = off ] || access_log="$NG/access.log"
sed -e "s|@PREFIX@|$NG|g" -e "s|@DEVICE_PORT@|$DPORT|g" -e "s|@PORT@|$NPORT|g" \
    -e "s|@CERT@|$T/server.crt|g" \
    -e "s|@KEY@|$T/server.key|g" -e "s|@HTPASSWD@|$T/htpasswd|g" \
    -e "s|@ACCESS_LOG@|$access_log|g" -e "s|@USER_LINE@|$user_line|g" \
    "$BENCH/nginx.conf.in" >"$NG/nginx.conf"
chmod 644 "$T/htpasswd"
"$NGINX" -e "$NG/error.log" -p "$NG" -c "$NG/nginx.conf" -t -q 2>"$NG/test.log" ||
    die "nginx -t failed: $(cat "$NG/test.log")"
(exec_on "$SERVER_CPU" "$NGINX" -e "$NG/error.log" -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;') &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=https://127.0.0.1:$NPORT/things/lamp/properties/on
NGINX_BASIC_URL=https://127.0.0.1:$NPORT/basic/things/lamp/properties/on
wait_for 10 is_200 -k "$NGINX_URL" || die "nginx did not answer 200 on $NGINX_URL"
[ "$(http_code -k "$NGINX_BASIC_URL")" = 401 ] || die "nginx auth_basic does not refuse"
is_200 -k -H "Authorization: Basic $BASIC" "$NGINX_BASIC_URL" ||
    die "nginx auth_basic does not accept the password hash"
# NGINX_PIDS: the master and its worker(s); NGINX_WORKERS: the workers
nginx_pids() {
    read -r -a NGINX_WORKERS <<<"$(cat /proc/"$NGINX_PID"/task/*/children 2>/dev/null)"
    NGINX_PIDS=("$NGINX_PID" "${NGINX_WORKERS[@]}")
}
nginx_pids

# ---- wotgw --------------------------------------------------------------------------
WOTGW_OK=0
WOTGW_WHY=
WOTGW_PID=
WOTGW_URL=https://127.0.0.1:$WPORT/things/lamp/properties/on
WOTGW_RSS_IDLE=0
WOTGW_ANON_IDLE=0
WOTGW_PSS_IDLE=0
WOTGW_RSS_IDLE_SERVED=0
WOTGW_N_THINGS=0
{
    cat <<EOF
# wotgw.conf of the benchmark (generated by tests/bench/run.sh)
[gateway]
base_url = https://127.0.0.1:$WPORT

[https]
listen = 127.0.0.1:$WPORT
certificate = $T/server.crt
key = $T/server.key

[limits]
max_connections = $((CONNECTIONS + HS_CONNECTIONS + 256))
max_pending_requests = $((CONNECTIONS + HS_CONNECTIONS + 512))

[credentials]
users = $T/users

[issuer bench]
issuer = $ISS
jwks = $T/issuer.jwks.json
audience = $AUD

[thing lamp]
td = $T/things/lamp.td.json
security = basic | bearer:bench
allow = user:bench
EOF
    # THINGS more things, each its own copy of a device TD (as 100 real
    # devices would be), alternating lamp and thermometer
    srcs=()
    for f in "$T"/things/*.td.json; do
        case $(basename "$f") in faulty.td.json) continue ;; esac
        srcs+=("$f")
    done
    mkdir -p "$T/things/extra"
    for ((i = 0; i < THINGS; i++)); do
        n=$(printf 'thing%03d' "$i")
        src=${srcs[$((i % ${#srcs[@]}))]}
        jq --arg id "urn:wotgw:bench:$n" --arg t "Bench $n" '.id = $id | .title = $t' "$src" \
            >"$T/things/extra/$n.td.json" || die "jq on $src failed"
        printf '\n[thing %s]\ntd = %s\nsecurity = basic | bearer:bench\nallow = user:bench\n' \
            "$n" "$T/things/extra/$n.td.json"
    done
} >"$T/wotgw.conf"

if [ ! -x "$WOTGW" ]; then
    WOTGW_WHY="$WOTGW missing"
elif ! "$WOTGW" -t -c "$T/wotgw.conf" >"$T/wotgw-t.log" 2>&1; then
    WOTGW_WHY="wotgw -t refused the bench config: $(tail -3 "$T/wotgw-t.log" | tr '\n' ' ')"
else
    (exec_on "$SERVER_CPU" "$WOTGW" -c "$T/wotgw.conf") >"$T/wotgw.log" 2>&1 &
    WOTGW_PID=$!
    PIDS+=("$WOTGW_PID")
    port_open() { alive "$WOTGW_PID" && (: </dev/tcp/127.0.0.1/"$WPORT") 2>/dev/null; }
    if ! wait_for 15 port_open; then
        WOTGW_WHY="wotgw does not listen on $WPORT: $(tail -3 "$T/wotgw.log" | tr '\n' ' ')"
    else
        sleep 1 # idle: loaded, listening, not one request served yet
        WOTGW_RSS_IDLE=$(rss_kib "$WOTGW_PID")
        WOTGW_ANON_IDLE=$(status_kib RssAnon "$WOTGW_PID")
        WOTGW_PSS_IDLE=$(pss_kib "$WOTGW_PID")
        c_none=$(http_code -k "$WOTGW_URL")
        c_bearer=$(http_code -k -H "Authorization: Bearer $TOKEN" "$WOTGW_URL")
        c_basic=$(http_code -k -H "Authorization: Basic $BASIC" "$WOTGW_URL")
        if [ "$c_none" = 401 ] && [ "$c_bearer" = 200 ] && [ "$c_basic" = 200 ]; then
            WOTGW_OK=1
            sleep 0.5
            WOTGW_RSS_IDLE_SERVED=$(rss_kib "$WOTGW_PID")
            WOTGW_N_THINGS=$(grep -c '^\[thing ' "$T/wotgw.conf")
        else
            WOTGW_WHY="wotgw answers none=$c_none bearer=$c_bearer basic=$c_basic (want 401/200/200)"
        fi
    fi
fi
[ "$WOTGW_OK" = 1 ] || note "wotgw targets skipped: $WOTGW_WHY"

# ---- what each server negotiates ----------------------------------------------------
tls_params() {
    client openssl s_client -connect "127.0.0.1:$1" -servername localhost -brief </dev/null 2>&1 |
        awk -F': ' '/^(Protocol version|Ciphersuite|Peer signature type|Signature type|Server Temp Key|Negotiated TLS1.3 group)/ { printf "%s%s=%s", sep, $1, $2; sep="; " }'
}
NGINX_TLS=$(tls_params "$NPORT")
WOTGW_TLS=
[ "$WOTGW_OK" = 1 ] && WOTGW_TLS=$(tls_params "$WPORT")
echo "TLS nginx: $NGINX_TLS"
[ "$WOTGW_OK" = 1 ] && echo "TLS wotgw: $WOTGW_TLS"

# ---- session resumption: every -hs handshake must be a full one --------------------
# resumes PORT: "Reused" when a second connection resumes the first one's
# session (ticket or cache), "New" otherwise
resumes() {
    local sess=$T/tls.sess
    rm -f "$sess"
    (sleep 0.5) | client openssl s_client -connect "127.0.0.1:$1" -servername localhost \
        -sess_out "$sess" >/dev/null 2>&1
    if [ ! -s "$sess" ]; then
        echo New
        return
    fi
    (sleep 0.3) | client openssl s_client -connect "127.0.0.1:$1" -servername localhost \
        -sess_in "$sess" 2>/dev/null | awk '/^(New|Reused),/ { sub(",", "", $1); print $1; exit }'
}
NGINX_RESUMES=$(resumes "$NPORT")
WOTGW_RESUMES=
[ "$WOTGW_OK" = 1 ] && WOTGW_RESUMES=$(resumes "$WPORT")
echo "session resumption offered (openssl s_client -sess_in): nginx ${NGINX_RESUMES:-?}, wotgw ${WOTGW_RESUMES:--}"
# And wrk itself: a second nginx with an access log ($ssl_session_reused)
# on another port, for 1 s of "Connection: close" requests.
# A second nginx with an access log, on another port, for 1 s of handshakes.
sed -e "s|access_log [^;]*;|access_log $NG/check-access.log bench;|" \
    -e "s|listen 127.0.0.1:$NPORT ssl;|listen 127.0.0.1:$NCHECK_PORT ssl;|" \
    -e "s|pid $NG/nginx.pid;|pid $NG/check.pid;|" "$NG/nginx.conf" >"$NG/check.conf"
"$NGINX" -e "$NG/check-error.log" -p "$NG" -c "$NG/check.conf" -g 'daemon off;' &
CHECK_PID=$!
PIDS+=("$CHECK_PID")
RESUMED=-1
HS_CHECKED=0
WRK_TLS=
if wait_for 10 is_200 -k "https://127.0.0.1:$NCHECK_PORT/things/lamp/properties/on"; then
    on_load wrk -t1 -c4 -d1s -H 'Connection: close' \
        "https://127.0.0.1:$NCHECK_PORT/things/lamp/properties/on" >/dev/null 2>&1
    HS_CHECKED=$(grep -c ' 200$' "$NG/check-access.log")
    RESUMED=$(awk '$3 == "r"' "$NG/check-access.log" | wc -l)
    WRK_TLS=$(awk '{ print $1 " " $2 }' "$NG/check-access.log" | sort | uniq -c |
        awk '{ printf "%s%s %s x%s", sep, $2, $3, $1; sep = ", " }')
fi
kill "$CHECK_PID" 2>/dev/null
wait "$CHECK_PID" 2>/dev/null
echo "wrk with Connection: close: $RESUMED of $HS_CHECKED TLS sessions resumed (want 0); wrk negotiated: $WRK_TLS"

# ---- one measured run ----------------------------------------------------------------
RESULTS=$T/results.jsonl
: >"$RESULTS"
# run_target NAME ROUND SECONDS: appends one JSON line to $RESULTS (ROUND 0: warm-up)
run_target() {
    local name=$1 round=$2 secs=$3 conns=$CONNECTIONS url proxy=() hdr=()
    nginx_pids
    case $name in
    device) url=$DEV_URL ;;
    nginx) url=$NGINX_URL proxy=("${NGINX_PIDS[@]}") ;;
    nginx-basic)
        url=$NGINX_BASIC_URL proxy=("${NGINX_PIDS[@]}")
        hdr=(-H "Authorization: Basic $BASIC")
        ;;
    nginx-hs)
        url=$NGINX_URL proxy=("${NGINX_PIDS[@]}") conns=$HS_CONNECTIONS
        hdr=(-H "Connection: close")
        ;;
    wotgw-bearer) url=$WOTGW_URL proxy=("$WOTGW_PID") hdr=(-H "Authorization: Bearer $TOKEN") ;;
    wotgw-basic) url=$WOTGW_URL proxy=("$WOTGW_PID") hdr=(-H "Authorization: Basic $BASIC") ;;
    wotgw-hs)
        url=$WOTGW_URL proxy=("$WOTGW_PID") conns=$HS_CONNECTIONS
        hdr=(-H "Authorization: Bearer $TOKEN" -H "Connection: close")
        ;;
    esac
    local p0 d0 p1 d1 out js rssf=$T/rss.$name sampler=
    echo 0 >"$rssf"
    if ((${#proxy[@]})); then
        (exec_on "$LOAD_CPU" bash -c "$(declare -f status_kib rss_kib rss_sampler); rss_sampler $rssf ${proxy[*]}") &
        sampler=$!
    fi
    p0=$(cpu_ns "${proxy[@]}")
    d0=$(cpu_ns "$DEV_PID")
    out=$(on_load wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 5s -s "$BENCH/wrk-report.lua" \
        "${hdr[@]}" "$url" 2>&1)
    p1=$(cpu_ns "${proxy[@]}")
    d1=$(cpu_ns "$DEV_PID")
    if [ -n "$sampler" ]; then
        kill "$sampler" 2>/dev/null
        wait "$sampler" 2>/dev/null
    fi
    js=$(sed -n 's/^WRKJSON //p' <<<"$out")
    if [ -z "$js" ]; then
        note "$name: wrk gave no result: $(tail -3 <<<"$out" | tr '\n' ' ')"
        js='{"requests":0,"duration_us":1,"connect_errors":1}'
    fi
    local alive_ok=true
    for p in "$DEV_PID" "${proxy[@]}"; do alive "$p" || alive_ok=false; done
    jq -c --arg t "$name" --argjson r "$round" --argjson c "$conns" \
        --argjson pc $((p1 - p0)) --argjson dc $((d1 - d0)) --argjson rss "$(cat "$rssf")" \
        --argjson alive "$alive_ok" \
        '. + {target: $t, round: $r, connections: $c, proxy_cpu_ns: $pc, device_cpu_ns: $dc,
              proxy_rss_max_kib: $rss, servers_alive: $alive}' <<<"$js" >>"$RESULTS"
    if [ "$round" != 0 ]; then
        jq -r '"  \(.target)  round \(.round): \((.requests * 1e6 / .duration_us) | floor) req/s, p50 \(.lat_p50_us / 1000) ms, p99 \(.lat_p99_us / 1000) ms, errors \(.connect_errors + .read_errors + .write_errors + .status_errors + .timeouts)"' \
            <<<"$(tail -1 "$RESULTS")"
    fi
}

runnable() {
    case $1 in wotgw-*) [ "$WOTGW_OK" = 1 ] ;; *) true ;; esac
}
secs_of() { case $1 in *-hs) echo "$HS_DURATION" ;; *) echo "$DURATION" ;; esac; }

echo "warm-up ($WARMUP s per target)"
if ((WARMUP > 0)); then
    for t in $TARGETS; do runnable "$t" && run_target "$t" 0 "$WARMUP"; done
fi
[ "$WOTGW_OK" = 1 ] && WOTGW_RSS_WARM=$(rss_kib "$WOTGW_PID")
nginx_pids
NGINX_RSS_IDLE=$(rss_kib "${NGINX_PIDS[@]}")
NGINX_ANON_IDLE=$(status_kib RssAnon "${NGINX_PIDS[@]}")
NGINX_PSS_IDLE=$(pss_kib "${NGINX_PIDS[@]}")
for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r of $ROUNDS"
    for t in $TARGETS; do runnable "$t" && run_target "$t" "$r" "$(secs_of "$t")"; done
done

WOTGW_RSS_AFTER=0
WOTGW_HWM=0
if [ "$WOTGW_OK" = 1 ] && alive "$WOTGW_PID"; then
    WOTGW_RSS_AFTER=$(rss_kib "$WOTGW_PID")
    WOTGW_HWM=$(hwm_kib "$WOTGW_PID")
fi
nginx_pids
NGINX_RSS_AFTER=$(rss_kib "${NGINX_PIDS[@]}")
NGINX_WORKER_RSS=$(rss_kib "${NGINX_WORKERS[@]}")

# ---- report -----------------------------------------------------------------------------
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg kernel "$(uname -r)" \
    --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --argjson ncpu "$NCPU" --argjson pinned "$PIN" --argjson load_cpu "$LOAD_CPU" \
    --argjson server_cpu "$SERVER_CPU" \
    --arg nginx "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" \
    --arg wrk "$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')" \
    --arg openssl "$(openssl version)" \
    --arg gnutls "$(pkg-config --modversion gnutls 2>/dev/null)" \
    --arg mhd "$(pkg-config --modversion libmicrohttpd 2>/dev/null)" \
    --arg curl "$(pkg-config --modversion libcurl 2>/dev/null)" \
    --arg wotgw_rev "$(git -C "$ROOT" describe --always --dirty 2>/dev/null)" \
    --argjson duration "$DURATION" --argjson hs_duration "$HS_DURATION" \
    --argjson rounds "$ROUNDS" --argjson connections "$CONNECTIONS" \
    --argjson hs_connections "$HS_CONNECTIONS" --argjson threads "$THREADS" \
    --arg targets "$TARGETS" --arg access_log "$NGINX_ACCESS_LOG" \
    --arg client_suites "$CLIENT_CIPHERSUITES" \
    --arg nginx_tls "$NGINX_TLS" --arg wotgw_tls "$WOTGW_TLS" \
    --argjson resumed "$RESUMED" --argjson hs_checked "$HS_CHECKED" --arg wrk_tls "$WRK_TLS" \
    --arg nginx_resumes "$NGINX_RESUMES" --arg wotgw_resumes "$WOTGW_RESUMES" \
    --argjson wotgw_ok "$WOTGW_OK" --arg wotgw_why "$WOTGW_WHY" \
    --argjson things "$WOTGW_N_THINGS" \
    --argjson w_idle "$WOTGW_RSS_IDLE" --argjson w_idle_served "$WOTGW_RSS_IDLE_SERVED" \
    --argjson w_warm "${WOTGW_RSS_WARM:-0}" --argjson w_after "$WOTGW_RSS_AFTER" \
    --argjson w_hwm "$WOTGW_HWM" --argjson n_idle "$NGINX_RSS_IDLE" \
    --argjson w_anon "$WOTGW_ANON_IDLE" --argjson w_pss "$WOTGW_PSS_IDLE" \
    --argjson n_anon "$NGINX_ANON_IDLE" --argjson n_pss "$NGINX_PSS_IDLE" \
    --argjson floor "$LIB_FLOOR" \
    --argjson n_after "$NGINX_RSS_AFTER" --argjson n_worker "$NGINX_WORKER_RSS" \
    '{date: $date,
      machine: {kernel: $kernel, cpu: $cpu, ncpu: $ncpu, pinned: ($pinned == 1),
                load_cpu: $load_cpu, server_cpu: $server_cpu},
      versions: {nginx: $nginx, wrk: $wrk, openssl: $openssl, gnutls: $gnutls,
                 libmicrohttpd: $mhd, libcurl: $curl, wotgw: $wotgw_rev},
      settings: {duration_s: $duration, hs_duration_s: $hs_duration, rounds: $rounds,
                 connections: $connections, hs_connections: $hs_connections,
                 wrk_threads: $threads, targets: ($targets | split(" ")),
                 nginx_access_log: $access_log, client_ciphersuites: $client_suites},
      tls: {nginx: $nginx_tls, wotgw: $wotgw_tls,
            wrk_sessions_resumed: $resumed, wrk_sessions_checked: $hs_checked,
            wrk_negotiated_with_nginx: $wrk_tls,
            resumption_nginx: $nginx_resumes, resumption_wotgw: $wotgw_resumes},
      wotgw: {available: ($wotgw_ok == 1), why_not: $wotgw_why, things: $things,
              rss_idle_kib: $w_idle, rss_anon_idle_kib: $w_anon, pss_idle_kib: $w_pss,
              rss_after_first_requests_kib: $w_idle_served,
              rss_after_warmup_kib: $w_warm, rss_after_runs_kib: $w_after,
              rss_peak_kib: $w_hwm},
      library_floor_rss_kib: $floor,
      nginx: {rss_idle_kib: $n_idle, rss_anon_idle_kib: $n_anon, pss_idle_kib: $n_pss,
              rss_after_runs_kib: $n_after,
              worker_rss_after_runs_kib: $n_worker}}' >"$T/meta.json"

python3 "$BENCH/report.py" "$T/meta.json" "$RESULTS" "$T/summary.json"
rc=$?
echo
echo "JSON summary:"
cat "$T/summary.json"
[ -n "$BENCH_OUT" ] && cp "$T/summary.json" "$BENCH_OUT" && note "summary written to $BENCH_OUT"
exit "$rc"
