#!/bin/sh
# Runs every test program given, adds up their "N passed, N failed" lines and
# prints the total as the last line.  Exit status 1 if anything failed.
total_pass=0; total_fail=0; total_skip=0; broken=0
for t in "$@"; do
    out=$("$t" 2>&1); status=$?
    printf '%s\n' "$out" | grep -E 'FAIL|SKIP|passed' | sed 's/^/  /'
    line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "  $t: crashed or printed no summary (exit $status)"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
        broken=$((broken + 1)); continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + ${s:-0}))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then broken=$((broken + 1)); fi
done
total_fail=$((total_fail + broken))
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
