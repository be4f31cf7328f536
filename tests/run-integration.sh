#!/usr/bin/env bash
# Runs every tests/integration/test_*.sh against the binaries in BUILDDIR.
# Each script prints "ok - ..." / "not ok - ..." lines and exits non-zero
# on failure.
set -u
builddir=${1:-build}
pass=0; fail=0
for t in tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    log="$builddir/$name.log"
    if bash "$t" "$builddir" > "$log" 2>&1; then
        pass=$((pass + 1)); echo "ok - $name ($(grep -c '^ok ' "$log") checks)"
    else
        fail=$((fail + 1)); echo "not ok - $name"; grep -E '^(not ok|#)' "$log" | head -n 20 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
done
echo "integration($builddir): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
