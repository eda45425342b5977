/* anchors.h - anchor boxes from a data set's boxes by k-means.
 *
 * Boxes are (w, h) pairs in network pixels.  The distance of a box to an
 * anchor is 1 - IoU with both aligned at a corner, so only the shapes count
 * (YOLOv2's choice: Euclidean distance would let big boxes dominate).
 */
#ifndef ECN_ANCHORS_H
#define ECN_ANCHORS_H

#include "../ecnet.h"

/* IoU of two boxes placed at the same corner: min(w) min(h) / union. */
float ecn_anchor_iou(float w1, float h1, float w2, float h2);

/* Mean over the n boxes (wh: w0, h0, w1, h1, ...) of the IoU with their best
 * anchor among k (anchors: w, h pairs). */
double ecn_anchors_mean_iou(const float *wh, int n, const float *anchors, int k);

/* k-means with k-means++ seeding (the next centre drawn with probability
 * proportional to (1 - IoU to the nearest centre)^2), Lloyd iterations until
 * no box changes cluster (at most 1000), an empty cluster restarting at the
 * box with the worst IoU to its centre; `restarts` runs (at least 1) from
 * one random stream of `seed`, the best mean IoU kept.  anchors: 2k floats,
 * sorted by area (w h), smallest first.  Needs n >= k >= 1 and positive
 * sizes.  Deterministic given the seed. */
int ecn_anchors_kmeans(const float *wh, int n, int k, unsigned long long seed, int restarts, float *anchors,
                       double *mean_iou, ecn_err *err);

#endif
