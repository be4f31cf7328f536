#!/usr/bin/env bash
# Runs each cmocka unit test binary; prints a summary line
# "unit(BUILDDIR): N passed, N failed" (N = test binaries).
set -u
builddir=$1; shift
pass=0; fail=0; failed=()
for t in "$@"; do
    if "$t" > "$builddir/$(basename "$t").log" 2>&1; then
        pass=$((pass + 1))
        echo "ok - $(basename "$t") ($(grep -c '^\[       OK \]' "$builddir/$(basename "$t").log") cases)"
    else
        fail=$((fail + 1)); failed+=("$t")
        echo "not ok - $(basename "$t")"
        sed 's/^/    /' "$builddir/$(basename "$t").log" | tail -n 40
    fi
done
echo "unit($builddir): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
