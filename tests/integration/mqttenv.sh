# mqttenv.sh - the MQTT front end's broker for the integration tests: a
# real mosquitto run with the shipped configuration (conf/mosquitto/
# wotgw.conf, ports and paths replaced) and wotgw's plugin. Sourced after
# lib.sh (and gwenv.sh when the test also runs the daemon):
#
#   source tests/integration/mqttenv.sh    # skips the test without mosquitto
#   mq_pki_dir=$PKI                        # where server-ec.crt/key and ca.crt are
#   mk_broker_conf OUT WOTGW_CONF tlsv1.3  # the shipped config for this test
#   start_broker OUT LOG                   # sets BROKER_PID
#   wait_for 10 port_open "$P_TLS"
# and for a test that also runs the daemon with [mqtt]:
#   { gw_conf; mq_conf_section; cat <<EOF ... EOF; } >"$T/wotgw.conf"
#   mq_broker_up                           # the broker on that config, checked
#
# Ports: $P_TLS (consumers, TLS), $P_CERT (client certificates), $P_LOCAL
# (wotgw's own plain connection, 127.0.0.1). Under ASan (BUILD ending in
# -asan) the plugin is an ASan-instrumented .so in a plain mosquitto
# binary: libasan is preloaded and leak checking stays on.

MOSQ=/usr/sbin/mosquitto
PLUGIN=$BUILD/wotgw_mosquitto.so
for tool in "$MOSQ" mosquitto_pub mosquitto_sub openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        ok "# SKIP $tool not installed (apt-get install mosquitto mosquitto-clients)"
        finish
    fi
done
if [ ! -f "$PLUGIN" ]; then
    _san=0
    case $BUILD in *-asan) _san=1 ;; esac
    make -s BUILDDIR="$BUILD" SAN=$_san "$PLUGIN" >"$T/make.log" 2>&1 || cat "$T/make.log"
fi
check "the plugin is built ($PLUGIN)" test -f "$PLUGIN"
[ -f "$PLUGIN" ] || finish

PRELOAD=
case $BUILD in
*-asan)
    PRELOAD=$(gcc -print-file-name=libasan.so)
    if [ ! -e "$PRELOAD" ]; then
        ok "# SKIP ASan variant: libasan.so not found for LD_PRELOAD"
        finish
    fi
    # LeakSanitizer runs at the broker's exit. mosquitto 2.0.11 leaks one
    # subscription entry of a persistent session (allocated in sub__add
    # from handle__subscribe, no plugin frame): that function alone is
    # suppressed. The binary has no frame pointers, so the broker unwinds
    # with DWARF (fast_unwind_on_malloc=0) for suppressions to see it. (A
    # suppression naming the mosquitto binary would hide the plugin's
    # leaks too: the broker calls every plugin callback.)
    printf 'leak:sub__add\n' >"$T/lsan.supp"
    export LSAN_OPTIONS=suppressions=$T/lsan.supp:print_suppressions=0
    BROKER_ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0:malloc_context_size=30
    ;;
esac

P_TLS=$(free_port)
P_CERT=$(free_port)
P_LOCAL=$(free_port)
mq_pki_dir=${PKI:-$T/pki}
mkdir -p "$T/mqtt-state"

# mk_broker_conf OUT PLUGIN_OPT_CONFIG TLS_VERSION: the shipped broker config
mk_broker_conf() {
    {
        [ "$(id -u)" -eq 0 ] && echo "user $(id -un)"
        sed -e "s#^listener 8883\$#listener $P_TLS 127.0.0.1#" \
            -e "s#^listener 8884\$#listener $P_CERT 127.0.0.1#" \
            -e "s#^listener 1883 127.0.0.1\$#listener $P_LOCAL 127.0.0.1#" \
            -e "s#/etc/wotgw/tls/server.crt#$mq_pki_dir/server-ec.crt#" \
            -e "s#/etc/wotgw/tls/server.key#$mq_pki_dir/server-ec.key#" \
            -e "s#/etc/wotgw/tls/clients-ca.crt#$mq_pki_dir/ca.crt#" \
            -e "s#/usr/lib/wotgw/wotgw_mosquitto.so#$PLUGIN#" \
            -e "s#^plugin_opt_config .*#plugin_opt_config $2#" \
            -e "s#/var/lib/wotgw-mqtt/#$T/mqtt-state/#" \
            -e "s#^tls_version tlsv1.3#tls_version $3#" \
            "$ROOT/conf/mosquitto/wotgw.conf"
    } >"$1"
}

# start_broker CONF LOG: starts mosquitto (appending to LOG), sets BROKER_PID
start_broker() {
    if [ -n "$PRELOAD" ]; then
        LD_PRELOAD=$PRELOAD ASAN_OPTIONS=$BROKER_ASAN_OPTIONS "$MOSQ" -c "$1" >>"$2" 2>&1 &
    else
        "$MOSQ" -c "$1" >>"$2" 2>&1 &
    fi
    BROKER_PID=$!
    _pids+=("$BROKER_PID")
}

# stop_broker: SIGTERM, waits; returns the broker's exit status
stop_broker() {
    kill -TERM "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# mq_conf_section: wotgw.conf's [mqtt] section for these ports, with
# wotgw's own password made in $T/mqtt-secret
mq_conf_section() {
    [ -s "$T/mqtt-secret" ] || openssl rand -base64 32 >"$T/mqtt-secret"
    printf '[mqtt]\nbroker_url = mqtts://localhost:%s\nbroker = 127.0.0.1:%s\npassword_file = mqtt-secret\n\n' \
        "$P_TLS" "$P_LOCAL"
}

# mq_broker_up: the broker with the shipped config (TLS 1.3) and the plugin
# loading $T/wotgw.conf; checks that it listens and loaded the config
mq_broker_up() {
    mk_broker_conf "$T/mosquitto.conf" "$T/wotgw.conf" tlsv1.3
    start_broker "$T/mosquitto.conf" "$T/broker.log"
    check "broker with the plugin listens" wait_for 10 port_open "$P_TLS"
    check "the plugin loaded wotgw.conf" wait_for 5 grep -q 'mqtts: loaded' "$T/broker.log"
}
