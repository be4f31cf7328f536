#!/usr/bin/env bash
# Replays every fuzz target's corpus (tests/fuzz/corpus/NAME) through the
# standalone driver built with ASan+UBSan.
set -u
pass=0; fail=0
for b in "$@"; do
    n=$(basename "$b"); n=${n#fuzz_}
    dir=tests/fuzz/corpus/$n
    if [ ! -d "$dir" ]; then
        echo "not ok - fuzz_$n: no corpus in $dir"; fail=$((fail + 1)); continue
    fi
    if out=$("$b" "$dir" 2>&1); then
        echo "ok - fuzz_$n corpus: $(echo "$out" | tail -n 1)"; pass=$((pass + 1))
    else
        echo "not ok - fuzz_$n corpus"; echo "$out" | tail -n 30 | sed 's/^/    /'; fail=$((fail + 1))
    fi
done
echo "fuzz-regress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
