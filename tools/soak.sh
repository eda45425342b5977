#!/bin/sh
# make soak: many edge processes streaming to one cloud, with 1 and then 2
# cloud workers.  Every frame must get exactly one result: per edge, results
# equal frames; over the fleet, the frames the cloud answered equal the
# offloads the edges got answers for (none lost, none answered twice), with
# no fallbacks (the deadline is long: only a failure could cause one).
# Prints, for each worker count, the cloud's throughput (frames answered per
# second) and the edges' latency (the median of their p50s, the worst p99).
# Every frame is offloaded (--threshold 0) and the edges are load
# generators (--replay: each runs its head once per image, then resends the
# frame), so the cloud is the bottleneck and its worker pool is what is
# measured.  MODEL=heavy (the default) serves Fashion-MNIST's branchy head
# with a deliberately heavy tail (four 3x3 convolutions of 256 filters,
# random parameters: speed is measured, not accuracy), so that a frame costs
# the cloud far more than an edge; MODEL=branchy serves the committed model,
# whose tail is lighter than the edges' own work.
#   EDGES (64)  SOAK_SECONDS (30)  WORKERS ("1 2")  MODEL (heavy)  JSON (0: a table; 1: one object)
set -eu
E=${ECNET:-build/ecnet}
EDGES=${EDGES:-64}
SECS=${SOAK_SECONDS:-30}
WORKERS=${WORKERS:-1 2}
JSON=${JSON:-0}
MODEL=${MODEL:-heavy}
OUT=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$OUT"' EXIT
CFG=cfg/fashion-branchy.cfg
W=weights/fashion-branchy.weights
if [ "$MODEL" = heavy ]; then
    awk '/^# ---- cloud/ {exit} {print}' $CFG >"$OUT/heavy.cfg"
    for _ in 1 2 3 4; do
        printf '[convolutional]\nfilters=256\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n' >>"$OUT/heavy.cfg"
    done
    printf '[convolutional]\nfilters=10\nsize=1\nstride=1\npad=0\nactivation=linear\n\n[avgpool]\n\n[softmax]\n' \
        >>"$OUT/heavy.cfg"
    CFG=$OUT/heavy.cfg
    W=random:1
fi

num() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" "$2"; }

soak_one() { # $1: workers; writes $OUT/row: one line "workers fps p50 p99 frames results offloaded fallbacks answered"
    "$E" cloud $CFG $W --listen 127.0.0.1:0 --workers "$1" --print-port >"$OUT/port" 2>"$OUT/cloud.err" &
    cloud=$!
    pids=$cloud
    for _ in $(seq 100); do grep -q listening "$OUT/port" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$OUT/port")
    [ -n "$port" ] || { echo "soak: the cloud did not start" >&2; cat "$OUT/cloud.err" >&2; exit 1; }
    i=0
    while [ $i -lt "$EDGES" ]; do
        nice -n 19 "$E" edge $CFG $W --cloud "127.0.0.1:$port" --data fashion-mnist --threshold 0 --replay 200 \
            --duration "$SECS" --first $((i * 151)) --deadline-ms 30000 --json >"$OUT/edge$i.json" 2>"$OUT/edge$i.err" &
        pids="$pids $!"
        i=$((i + 1))
    done
    failed=0
    for p in $pids; do [ "$p" = "$cloud" ] || wait "$p" || failed=$((failed + 1)); done
    kill -TERM "$cloud"; wait "$cloud" || failed=$((failed + 1))
    pids=""
    answered=$(sed -n 's/.*stopped after \([0-9]*\) frames.*/\1/p' "$OUT/cloud.err")
    frames=0 results=0 offloaded=0 fallbacks=0
    : >"$OUT/p50" ; : >"$OUT/p99"
    i=0
    while [ $i -lt "$EDGES" ]; do
        f="$OUT/edge$i.json"
        if [ ! -s "$f" ]; then echo "soak: edge $i printed nothing:" >&2; cat "$OUT/edge$i.err" >&2; failed=$((failed + 1)); fi
        frames=$((frames + $(num frames "$f"))); results=$((results + $(num results "$f")))
        offloaded=$((offloaded + $(num offloaded "$f"))); fallbacks=$((fallbacks + $(num fallbacks "$f")))
        [ "$(num frames "$f")" = "$(num results "$f")" ] || { echo "soak: edge $i lost results" >&2; failed=$((failed + 1)); }
        num p50_ms "$f" >>"$OUT/p50"; num p99_ms "$f" >>"$OUT/p99"
        i=$((i + 1))
    done
    p50=$(sort -g "$OUT/p50" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    p99=$(sort -g "$OUT/p99" | tail -n 1)
    fps=$(awk -v a="${answered:-0}" -v s="$SECS" 'BEGIN {printf "%.1f", a / s}')
    echo "$1 $fps $p50 $p99 $frames $results $offloaded $fallbacks ${answered:--1} $failed" >"$OUT/row"
}

rows=""
status=0
for w in $WORKERS; do
    [ "$JSON" = 1 ] || [ ! -t 2 ] || printf 'soak: %s edges, %s s, %s worker(s)...\n' "$EDGES" "$SECS" "$w" >&2
    soak_one "$w"
    row=$(cat "$OUT/row")
    rows="$rows$row
"
    set -- $row
    if [ "$5" != "$6" ] || [ "$8" != 0 ] || [ "$7" != "$9" ] || [ "${10}" != 0 ]; then status=1; fi
done

if [ "$JSON" = 1 ]; then
    printf '%s' "$rows" | awk -v e="$EDGES" -v s="$SECS" -v ok="$status" 'BEGIN {printf "{\"edges\":%d,\"seconds\":%d,\"runs\":[", e, s}
        NF {printf "%s{\"workers\":%d,\"frames_per_s\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"frames\":%d,\"results\":%d,\"offloaded\":%d,\"fallbacks\":%d,\"cloud_answered\":%d}", (NR > 1 ? "," : ""), $1, $2, $3, $4, $5, $6, $7, $8, $9}
        END {printf "],\"ok\":%s}\n", (ok == 0 ? "true" : "false")}'
else
    echo "soak: $EDGES edge processes, $SECS s each run, every frame offloaded, model $MODEL"
    echo "workers  cloud frames/s  p50 ms (median edge)  p99 ms (worst edge)  frames  results  offloaded  fallbacks  cloud answered"
    printf '%s' "$rows" | awk 'NF {printf "%7d  %14s  %20s  %19s  %6d  %7d  %9d  %9d  %14d\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
    if [ $status = 0 ]; then echo "soak: every frame got exactly one result"; else echo "soak: FAILED: lost, duplicated or failed frames (see above)"; fi
fi
exit $status
