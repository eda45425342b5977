#!/bin/sh
# make bench: ecnet against its peers, measured in the same run on the same
# machine, so that a noisy machine still gives meaningful ratios.
#   - the split codecs on the fashion-branchy split (392 8-bit symbols a
#     frame): huffman and rans encode and decode speed as multiples of zlib -6
#     measured in the same `ecnet codec` run, and their size against the
#     order-0 entropy bound (needs the Fashion-MNIST data);
#   - forward time of darknet19, darknet53 (256x256) and yolov3-tiny (416x416),
#     ecnet against `darknet speed` (the darknet package);
#   - ecnet's effective GFLOPS against an OpenBLAS sgemm probe;
#   - peak memory of yolov3 inference at 416x416, ecnet against darknet.
# OPENBLAS_CORETYPE is unset so that OpenBLAS picks its best kernel; the
# kernel in use is printed.
set -u
E=${ECNET:-build/ecnet}
B=${BUILD:-build}
CFG=/usr/share/darknet/cfg
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
ITERS=${ITERS:-30}  # best of: shared machines stall now and then

field() { # field NAME < json
    sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}

# One codec's row of `ecnet codec --json`, without DPCM: "enc dec of-bound".
codec_row() { # codec_row NAME LEVEL < json
    tr '{' '\n' | grep "\"name\":\"$1\",\"dpcm\":\"none\",\"level\":$2," |
        sed -n 's/.*"encode_mb_s":\([0-9.e+-]*\),"decode_mb_s":\([0-9.e+-]*\),.*"bound_ratio_fraction":\([0-9.e+-]*\).*/\1 \2 \3/p'
}
if codecs=$("$E" codec cfg/fashion-branchy.cfg weights/fashion-branchy.weights --data fashion-mnist --json \
        2>/dev/null); then
    z=$(echo "$codecs" | codec_row zlib 6)
    printf '%-14s %10s %10s %14s %14s %9s\n' "split codec" "enc MB/s" "dec MB/s" "enc / zlib-6" "dec / zlib-6" "of bound"
    for c in "zlib 6" "huffman 0" "rans 0"; do
        name=${c% *}; [ "${c#* }" = 0 ] || name="$name -${c#* }"
        echo "$codecs" | codec_row $c | awk -v name="$name" -v z="$z" '{
            split(z, r, " ");
            printf "%-14s %10.1f %10.1f %13.1fx %13.1fx %8.1f%%\n", name, $1, $2, $1 / r[1], $2 / r[2], 100 * $3 }'
    done
    echo "(fashion-branchy split, 392 8-bit symbols a frame, coded frame by frame; one ecnet codec run)"
else
    echo "bench: ecnet codec could not run (Fashion-MNIST data missing?); no codec figures" >&2
fi
echo

if [ ! -x /usr/bin/darknet ] || [ ! -d "$CFG" ]; then
    echo "bench: the darknet package is not installed; no peer to compare with" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$CFG" "$tmp/cfg"

printf '%-12s %9s %12s %12s %10s\n' network input "ecnet ms" "darknet ms" speedup
for spec in darknet19:256 darknet53:256 yolov3-tiny:416; do
    net=${spec%%:*}; size=${spec##*:}
    probe=""; [ "$net" = darknet53 ] && probe=--sgemm
    json=$("$E" bench "$CFG/$net.cfg" --width "$size" --height "$size" --iters "$ITERS" --json $probe)
    ours=$(echo "$json" | field ms_best)
    [ "$net" = darknet53 ] && d53=$json
    # darknet speed runs the cfg at its own size: give it a copy at this size.
    sed -e "s/^width=.*/width=$size/" -e "s/^height=.*/height=$size/" "$CFG/$net.cfg" > "$tmp/$net.cfg"
    theirs=$(cd "$tmp" && darknet speed "$net.cfg" 3 2>/dev/null | sed -n 's/^Speed: \([0-9.]*\) sec\/eval.*/\1/p')
    theirs_ms=$(echo "$theirs" | awk '{printf "%.1f", $1 * 1000}')
    printf '%-12s %9s %12.2f %12s %9.1fx\n' "$net" "${size}x$size" "$ours" "$theirs_ms" \
        "$(echo "$theirs_ms $ours" | awk '{print $1 / $2}')"
done

echo
out=$d53 # the same run as the darknet53 row above
g=$(echo "$out" | field gflops); s=$(echo "$out" | field sgemm_gflops)
core=$(echo "$out" | sed -n 's/.*"blas_core":"\([^"]*\)".*/\1/p')
printf 'darknet53 256x256: %.1f GFLOPS; OpenBLAS sgemm peak (2048^3, %s kernel): %.1f GFLOPS -> %.0f%% of peak\n' \
    "$g" "$core" "$s" "$(echo "$g $s" | awk '{print 100 * $1 / $2}')"

echo
ours=$("$E" bench "$CFG/yolov3.cfg" --width 416 --height 416 --iters 1 --json | field peak_rss_mb)
if [ -x "$B/darknet_ref" ]; then
    theirs=$("$B/darknet_ref" speed "$CFG/yolov3.cfg" --width 416 --height 416 --iters 1 2>/dev/null | field peak_rss_mb)
    printf 'yolov3 416x416 peak memory: ecnet %.0f MB, darknet %.0f MB (%.1fx less)\n' "$ours" "$theirs" \
        "$(echo "$theirs $ours" | awk '{print $1 / $2}')"
else
    printf 'yolov3 416x416 peak memory: ecnet %.0f MB (build/darknet_ref missing: no darknet figure)\n' "$ours"
fi
