#!/usr/bin/env bash
# make check: everything, then one closing line "check: N passed, N failed"
# counting the suites below.
set -u
cd "$(dirname "$0")/.."
# CI runs with no standard input at all: give every test an empty one so
# that no descriptor 0 is ever left closed (a socket opened then would get it)
exec </dev/null
jobs=${JOBS:-2}
pass=0; fail=0
suite() {
    local name=$1; shift
    echo "=== $name"
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "=== $name FAILED"; fi
}
suite "build"                      make -s -j"$jobs" all
suite "unit tests"                 make -s -j"$jobs" unit
suite "unit tests, ASan+UBSan"     make -s -j"$jobs" BUILDDIR=build-asan SAN=1 unit
suite "fuzz corpora, ASan+UBSan"   make -s -j"$jobs" BUILDDIR=build-asan SAN=1 fuzz-regress
suite "integration"                make -s integration
suite "integration, ASan+UBSan"    make -s BUILDDIR=build-asan SAN=1 integration
suite "lint"                       make -s lint
echo "check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
