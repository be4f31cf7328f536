#!/usr/bin/env bash
# README's first command, minus `make deps` and the build: tools/demo.sh
# sets up a fresh demo directory (self-signed certificate, random demo
# credentials, issuer key), starts the simulated device and wotgw, and
# prints curl commands. Every printed command is run as printed and must
# get the answer the demo promises; then SIGTERM stops both processes.
source tests/integration/lib.sh "$@"

GW=$(free_port)
DEV=$(free_port)
COAP=$(free_port) # a TCP port free now; the demo binds it on UDP
DEMO="$T/demo"
out="$T/demo.out"
BUILDDIR=$BUILD DEMO_DIR=$DEMO DEMO_PORT=$GW DEMO_DEVICE_PORT=$DEV DEMO_COAP_PORT=$COAP \
    bash tools/demo.sh >"$out" 2>&1 &
demo_pid=$!
_pids+=("$demo_pid")
wait_for 60 grep -q '^Ctrl-C stops the demo' "$out"
check "demo: prints what to try once wotgw is up" grep -q '^Ctrl-C stops the demo' "$out" ||
    { sed 's/^/#   /' "$out"; finish; }

check "demo: nothing secret is shipped: the demo dir is created fresh" test -f "$DEMO/credentials.txt"
check "demo: credentials file is private (0600)" test "$(stat -c %a "$DEMO/credentials.txt")" = 600
check "demo: TLS key is private" test "$(stat -c %a "$DEMO/tls/server.key")" = 600
check "demo: wotgw -t accepts the demo config" "$WOTGW" -t -c "$DEMO/wotgw.conf"

TOKEN=$(sed -n 's/^  TOKEN=//p' "$out")
check "demo: a bearer token is printed" test -n "$TOKEN"
export TOKEN
mapfile -t cmds < <(grep '^  curl ' "$out" | sed 's/^  //')
check "demo: 10 or more curl commands printed" test "${#cmds[@]}" -ge 10
# expected status of each printed command, in order
expect=(200 200 204 200 200 200 200 200 200 401)
for i in "${!cmds[@]}"; do
    c=${cmds[$i]}
    # run as printed (the shell expands $TOKEN), adding only the status output
    got=$(eval "$c -s -o $T/body.$i -w '%{http_code}'" 2>/dev/null)
    short=$(sed -E 's|--cacert [^ ]+ ||; s|https://localhost:[0-9]+||; s|Bearer [^"]+|Bearer ...|; s|alice:[^ ]+|alice:...|; s|X-API-Key: [^"]+|X-API-Key: ...|; s|--cert .* --key [^ ]+|--cert dashboard|' <<<"$c")
    if [ "$got" = "${expect[$i]:-200}" ]; then ok "demo: $short -> $got"; else fail "demo: $short -> $got (want ${expect[$i]:-200})"; fi
done
check "demo: basic read of lamp/on answers a JSON boolean" grep -Eq '^(true|false)$' "$T/body.0"
check "demo: the toggle answers the new state" grep -q '"on"' "$T/body.3"
coapcmd=$(grep '^  coap-client-gnutls ' "$out" | sed 's/^  //')
check "demo: a coap-client command with the pre-shared key is printed" test -n "$coapcmd"
temp=$(eval "timeout 20 $coapcmd" 2>/dev/null)
check "demo: the printed coap-client command reads the temperature over CoAPS ($temp)" \
    bash -c '[[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]' _ "$temp"
check "demo: the directory lists the lamp" jq -e 'map(.title) | index("Lamp") != null' "$T/body.8" >/dev/null

# no demo password in what wotgw printed
pw=$(sed -n 's/^DEMO_PASSWORD=//p' "$DEMO/credentials.txt")
check "demo: the password is not in wotgw's log lines" \
    bash -c "! grep -v '^  curl\|^Credentials' '$out' | grep -qF -- '$pw'"

children=$(pgrep -P "$demo_pid" | tr '\n' ' ')
check "demo: the device and wotgw run as the demo's children" test "$(wc -w <<<"$children")" -ge 2
gone() { for p in $children "$demo_pid"; do [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && return 1; done; return 0; }
kill -TERM "$demo_pid"
wait_for 10 gone
check "demo: SIGTERM stops the device and wotgw" gone
finish
