#!/usr/bin/env bash
# Runs every tests/integration/test_*.sh against the binaries in BUILDDIR.
# Each script prints "ok - ..." / "not ok - ..." lines and exits non-zero
# on failure. A suite that runs longer than SUITE_TIMEOUT seconds (600) is
# stopped and fails: a hang must never eat CI's whole time budget.
set -u
limit=${SUITE_TIMEOUT:-600}
builddir=${1:-build}
pass=0; fail=0
for t in tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    log="$builddir/$name.log"
    start=$SECONDS
    timeout -k 15 "$limit" bash "$t" "$builddir" > "$log" 2>&1 </dev/null
    rc=$?
    [ "$rc" -eq 124 ] && echo "# $name: stopped after $limit s (timeout)" >>"$log"
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1)); echo "ok - $name ($(grep -c '^ok ' "$log") checks, $((SECONDS - start)) s)"
    else
        fail=$((fail + 1)); echo "not ok - $name"; grep -E '^(not ok|#)' "$log" | head -n 20 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
done
echo "integration($builddir): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
