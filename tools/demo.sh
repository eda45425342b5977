#!/bin/sh
# make demo: ecnet next to the reference Darknet on YOLOv3-tiny, then the
# edge/cloud split of a network with early exits on Fashion-MNIST.
#   1. the layer table ecnet reads from Darknet's own cfg;
#   2. a .weights file written by libdarknet (calibrated random parameters:
#      no trained weights can be downloaded here) run by ecnet's detector;
#   3. the time of one forward pass in each;
#   4. the trained branch network: accuracy, offload rate, bytes per frame.
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
