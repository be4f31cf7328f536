#!/usr/bin/env bash
# make lint: static checks that need no build. Run from the repository
# root. Prints "ok - NAME" / "not ok - NAME" (a missing tool gives
# "ok - NAME # SKIP ...") and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

fails=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- man pages: mandoc -T lint prints nothing ---------------------------------
# Two messages depend on the machine, not on the page, and are dropped:
# "referenced manual not found" (our own pages and others are not installed
# where the tests run) and "outdated mandoc.db".
if have mandoc; then
    shopt -s nullglob
    pages=(man/*.[0-9])
    shopt -u nullglob
    if [ ${#pages[@]} -eq 0 ]; then
        notok "man pages: none found in man/"
    fi
    for p in "${pages[@]}"; do
        out=$(mandoc -T lint "$p" 2>&1 |
            grep -v -e 'referenced manual not found' -e 'outdated mandoc.db' || true)
        if [ -z "$out" ]; then
            ok "mandoc -T lint $p"
        else
            notok "mandoc -T lint $p"
            printf '%s\n' "$out" | sed 's/^/#   /'
        fi
    done
else
    skip "mandoc -T lint man/*" "mandoc not installed"
fi

# ---- systemd unit -----------------------------------------------------------------
for unit in systemd/wotgw.service systemd/wotgw-mqtt.service; do
    if have systemd-analyze; then
        # --threshold compares with the exposure level times 10: 15 = 1.5.
        if out=$(systemd-analyze security --offline=true --threshold=15 "$unit" 2>&1); then
            ok "systemd-analyze security $unit: $(grep -o 'Overall exposure level.*' <<<"$out" | sed 's/Overall exposure level for [^:]*: //')"
        else
            notok "systemd-analyze security $unit (threshold 1.5)"
            grep -E 'Overall|✗' <<<"$out" | sed 's/^/#   /' || true
        fi
    else
        skip "systemd-analyze security $unit" "systemd-analyze not installed"
    fi
done

# ---- C formatting -----------------------------------------------------------------
if have clang-format; then
    mapfile -t srcs < <(find src tests -name '*.[ch]' | sort)
    if out=$(clang-format --dry-run --Werror "${srcs[@]}" 2>&1); then
        ok "clang-format: ${#srcs[@]} files in src/ and tests/"
    else
        notok "clang-format: files not formatted (make format)"
        grep -o '^[^:]*\.[ch]' <<<"$out" | sort -u | sed 's/^/#   /' || true
    fi
else
    skip "clang-format" "clang-format not installed"
fi

# ---- shell scripts parse ----------------------------------------------------------
bad=()
while IFS= read -r s; do
    bash -n "$s" 2>/dev/null || bad+=("$s")
done < <(find tests tools -name '*.sh' 2>/dev/null | sort)
if [ ${#bad[@]} -eq 0 ]; then
    ok "bash -n on every tests/ and tools/ script"
else
    notok "bash -n: ${bad[*]}"
fi

echo "lint: $fails failed"
[ "$fails" -eq 0 ]
