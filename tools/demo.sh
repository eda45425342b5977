#!/bin/sh
# make demo: ecnet next to the reference Darknet on YOLOv3-tiny, then the
# edge/cloud split of a network with early exits on Fashion-MNIST.
#   1. the layer table ecnet reads from Darknet's own cfg;
#   2. a .weights file written by libdarknet (calibrated random parameters:
#      no trained weights can be downloaded here) run by ecnet's detector;
#   3. the time of one forward pass in each;
#   4. the trained branch network: accuracy, offload rate, bytes per frame;
#   5. the same network as processes: a cloud and EDGES edges (cameras at FPS
#      frames/s) on loopback, their accuracy, offload rate, bytes and latency,
#      and the cloud ingress measured against what `ecnet rate` predicts.
set -eu
E=${ECNET:-build/ecnet}
B=${BUILD:-build}
CFG=/usr/share/darknet/cfg/yolov3-tiny.cfg
IMG=/usr/share/darknet/data/dog.jpg
OUT=${OUT:-out/demo}
mkdir -p "$OUT"

echo "== ecnet info $CFG"
"$E" info "$CFG" | tail -n 8
echo
echo "== one weights file for both engines ($OUT/yolov3-tiny.weights)"
"$B/darknet_ref" image "$IMG" "$OUT/dog416.f32" --width 416 --height 416 --letterbox
"$B/darknet_ref" weights "$CFG" "$OUT/yolov3-tiny.weights" --input "$OUT/dog416.f32" 2>/dev/null
echo
echo "== ecnet detect (threshold 0.9: random weights find 'objects' everywhere)"
"$E" detect "$CFG" "$OUT/yolov3-tiny.weights" "$IMG" --names /usr/share/darknet/data/coco.names \
    --thresh 0.9 --out "$OUT/predictions.png" | cut -d: -f1 | sort | uniq -c | sort -rn | head -n 8
echo "(boxes drawn into $OUT/predictions.png; tests/test_darknet checks them against libdarknet)"
echo
echo "== speed of one forward pass"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
"$E" bench "$CFG" --iters 5
printf 'darknet: %s\n' "$(cd /usr/share/darknet && darknet speed cfg/yolov3-tiny.cfg 3 2>/dev/null | grep '^Speed' | head -n 1)"
echo
echo "== early exits and the split: cfg/fashion-branchy.cfg on the Fashion-MNIST test set"
echo "   (frames an exit is sure of are answered at the edge; the rest cross the split at"
echo "    8 bits, Huffman-coded, and the cloud half answers them)"
"$E" eval cfg/fashion-branchy.cfg weights/fashion-branchy.weights --data fashion-mnist 2>/dev/null
echo
echo "== the edge/cloud split as processes: one cloud, $((EDGES=${EDGES:-4})) edges on loopback"
echo "   (each edge is a camera at ${FPS:=250} frames/s streaming its quarter of the test set;"
echo "    every frame gets one result: at an exit, from the cloud, or from a fallback)"
CB="cfg/fashion-branchy.cfg weights/fashion-branchy.weights"
"$E" eval $CB --data fashion-mnist --json 2>/dev/null >"$OUT/eval.json"
"$E" cloud $CB --listen 127.0.0.1:0 --workers 2 --print-port >"$OUT/cloud.port" 2>"$OUT/cloud.err" &
CLOUD=$!
for _ in $(seq 100); do grep -q listening "$OUT/cloud.port" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$OUT/cloud.port")
PER=$((10000 / EDGES))
PIDS=""
i=0
while [ $i -lt "$EDGES" ]; do
    "$E" edge $CB --cloud "127.0.0.1:$PORT" --data fashion-mnist --first $((i * PER)) --images $PER \
        --fps "$FPS" --json >"$OUT/edge$i.json" &
    PIDS="$PIDS $!"
    i=$((i + 1))
done
wait $PIDS
kill -TERM $CLOUD; wait $CLOUD || true
num() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" "$2"; }
printf 'edge  frames  top-1    offload  fallbacks  bytes/offload  p50 ms  p99 ms\n'
i=0
while [ $i -lt "$EDGES" ]; do
    f="$OUT/edge$i.json"
    printf '%4d  %6s  %6.2f%%  %6.1f%%  %9s  %13s  %6s  %6s\n' $i "$(num frames "$f")" \
        "$(awk -v x="$(num top1 "$f")" 'BEGIN {print 100 * x}')" "$(awk -v x="$(num offload_rate "$f")" 'BEGIN {print 100 * x}')" \
        "$(num fallbacks "$f")" "$(num bytes_per_offload "$f")" "$(num p50_ms "$f")" "$(num p99_ms "$f")"
    i=$((i + 1))
done
cat "$OUT"/edge*.json | awk -v eval_top1="$(num top1 "$OUT/eval.json")" '
    function v(k,  m) { return match($0, "\"" k "\":[0-9.e+-]+") ? substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0 : 0 }
    { frames += v("frames"); correct += v("top1") * v("frames"); off += v("offloaded"); bytes += v("offload_bytes");
      rate += v("offload_bytes") * 8 / v("seconds") }
    END { printf "fleet: top-1 %.2f%% (the inline run: %.2f%%), offload %.1f%%, %.1f bytes per offloaded frame\n",
                 100 * correct / frames, 100 * eval_top1, 100 * off / frames, bytes / off;
          printf "       against 784 bytes of raw 8-bit input per frame: %.1f%% of the uplink of sending every image\n",
                 100 * bytes / (784 * frames);
          printf "%.6f\n", rate / 1e6 > "/dev/stderr" }' 2>"$OUT/measured_mbps"
MEASURED=$(cat "$OUT/measured_mbps")
"$E" rate --cameras "$EDGES" --fps "$FPS" --offload-rate "$(num offload_rate "$OUT/eval.json")" \
    --bytes "$(num bytes_per_offload "$OUT/eval.json")" --json >"$OUT/rate.json"
awk -v m="$MEASURED" -v p="$(num mean_mbps "$OUT/rate.json")" -v p99="$(num p99_mbps "$OUT/rate.json")" 'BEGIN {
    printf "cloud ingress (frame bytes): measured %.4f Mbit/s; ecnet rate predicts %.4f Mbit/s (p99 %.4f)\n", m, p, p99;
    printf "   from the offline offload rate and bytes/frame: %+.1f%% off the measurement\n", 100 * (p - m) / m }'
