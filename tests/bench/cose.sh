#!/usr/bin/env bash
# cose.sh - COSE message rates of wotgw's own library against `openssl
# speed` for the same algorithm, in one run (issue 6's benchmark). Not
# part of `make check`.
#
#   tests/bench/cose.sh             # after make all (needs build/libwotgw.a)
#   DURATION=5 ROUNDS=5 CPU=0 tests/bench/cose.sh
#
# tests/bench/cose.c (compiled here against $BUILD/libwotgw.a) creates and
# checks COSE_Sign1 (ES256 P-256, EdDSA Ed25519), COSE_Mac0 (HMAC 256/64)
# and COSE_Encrypt0 (AES-CCM-16-64-128) messages over a PAYLOAD-byte (64)
# payload for DURATION (2) s per operation, single thread; right after it
# `openssl speed -seconds DURATION ecdsap256 ed25519`, `-hmac sha256` and
# `-evp aes-128-ccm` (and its `-decrypt`) with `-bytes PAYLOAD` run the
# same algorithms; ROUNDS (3) such rounds, all on CPU CPU (1). Prints the
# figures of each round, then a table of the medians (operations/s) and
# the ratios ours / openssl of the medians.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
DURATION=${DURATION:-2}
ROUNDS=${ROUNDS:-3}
PAYLOAD=${PAYLOAD:-64}
CPU=${CPU:-1}
T=$(mktemp -d /tmp/wotgw-bench-cose.XXXXXX)
trap 'rm -rf "$T"' EXIT
die() { echo "bench-cose: $*" >&2; exit 1; }

case "$DURATION" in '' | *[!0-9]*) die "DURATION must be whole seconds (openssl speed -seconds)" ;; esac
command -v openssl >/dev/null || die "openssl not found"
[ -f "$BUILD/libwotgw.a" ] || die "run make all first ($BUILD/libwotgw.a missing)"
PKGS="libsystemd jansson openssl libcrypt libmicrohttpd gnutls libcurl libcoap-3-gnutls libmosquitto"
# shellcheck disable=SC2046,SC2086
cc -std=gnu17 -O2 -Isrc $(pkg-config --cflags $PKGS) -o "$T/cose-bench" tests/bench/cose.c \
    "$BUILD/libwotgw.a" $(pkg-config --libs $PKGS) || die "cose.c does not build"
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$CPU")
lim=$((DURATION * 12 + 60)) # per command

echo "bench-cose: $(openssl version | cut -d' ' -f1-2), payload $PAYLOAD bytes, ${DURATION} s per operation," \
    "$ROUNDS rounds, CPU $CPU, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

# openssl's summary tables: "256 bits ecdsa (nistp256) 0.0000s 0.0001s SIGN/s VERIFY/s"
# and "hmac(sha256) 111857.92k" (1000s of bytes per second).
pk() { awk -v k="$1" -v col="$2" 'index($0, k) { v = $(NF - 2 + col) } END { print v }' "$T/pk"; }
sym() {
    awk -v k="$1" -v b="$PAYLOAD" 'index($0, k) && $NF ~ /k$/ { v = $NF }
        END { sub(/k$/, "", v); if (v != "") printf "%.1f\n", v * 1000 / b }' "$2"
}
# One round: ours, then openssl for the same algorithms, right after.
# Appends "ALG OP OURS OPENSSL" lines to $T/rows.
round() {
    timeout "$lim" "${PIN[@]}" "$T/cose-bench" -d "$DURATION" -b "$PAYLOAD" >"$T/ours" ||
        die "cose-bench failed"
    timeout "$lim" "${PIN[@]}" openssl speed -seconds "$DURATION" ecdsap256 ed25519 >"$T/pk" 2>/dev/null ||
        die "openssl speed ecdsap256 ed25519 failed"
    timeout "$lim" "${PIN[@]}" openssl speed -seconds "$DURATION" -bytes "$PAYLOAD" -hmac sha256 \
        >"$T/hmac" 2>/dev/null || die "openssl speed -hmac sha256 failed"
    timeout "$lim" "${PIN[@]}" openssl speed -seconds "$DURATION" -bytes "$PAYLOAD" -evp aes-128-ccm \
        >"$T/ccm-e" 2>/dev/null || die "openssl speed -evp aes-128-ccm failed"
    timeout "$lim" "${PIN[@]}" openssl speed -seconds "$DURATION" -bytes "$PAYLOAD" -decrypt \
        -evp aes-128-ccm >"$T/ccm-d" 2>/dev/null || die "openssl speed -decrypt -evp aes-128-ccm failed"
    declare -A theirs=(
        ["ES256 sign"]=$(pk "ecdsa (nistp256)" 1)
        ["ES256 verify"]=$(pk "ecdsa (nistp256)" 2)
        ["EdDSA sign"]=$(pk "EdDSA (Ed25519)" 1)
        ["EdDSA verify"]=$(pk "EdDSA (Ed25519)" 2)
        ["HMAC256/64 mac"]=$(sym "hmac(sha256)" "$T/hmac")
        ["HMAC256/64 check"]=$(sym "hmac(sha256)" "$T/hmac")
        ["AES-CCM-16-64-128 encrypt"]=$(sym "AES-128-CCM" "$T/ccm-e")
        ["AES-CCM-16-64-128 decrypt"]=$(sym "AES-128-CCM" "$T/ccm-d")
    )
    while read -r _ alg op rate _; do
        o=${theirs["$alg $op"]:-}
        [ -n "$o" ] || die "could not parse openssl speed's figure for $alg $op"
        echo "$alg $op $rate $o" >>"$T/rows"
        printf '  round %s %-18s %-8s ours %9.0f/s openssl %9.0f/s\n' "$1" "$alg" "$op" "$rate" "$o"
    done <"$T/ours"
}
: >"$T/rows"
for r in $(seq "$ROUNDS"); do round "$r"; done

# The table: medians over the rounds, ratio of the medians.
echo
printf '%-18s %-8s %12s %12s  %-16s %6s\n' algorithm op "ours/s" "openssl/s" "(openssl speed)" ratio
awk '
function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 " " $2; if (!(k in ours)) order[++n] = k; ours[k] = ours[k] " " $3; theirs[k] = theirs[k] " " $4 }
END {
    what["ES256"] = "ecdsap256"; what["EdDSA"] = "ed25519"
    what["HMAC256/64"] = "-hmac sha256"; what["AES-CCM-16-64-128"] = "-evp aes-128-ccm"
    for (i = 1; i <= n; i++) {
        split(order[i], ko, " "); o = median(ours[order[i]]); t = median(theirs[order[i]])
        printf "%-18s %-8s %12.0f %12.0f  %-16s %6.2f\n", ko[1], ko[2], o, t, what[ko[1]], o / t
    }
}' "$T/rows"
