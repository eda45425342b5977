/* map_net.h - run a detector over the images of a detection set and collect
 * its detections and the labels' boxes for ecn_map_evaluate (map.h).
 *
 * Each image goes through `ecnet detect`'s path: letterboxed to the network
 * input (or plainly resized), a forward pass (the network's batch of images
 * at a time), every [yolo]/[region] head decoded for that image, the
 * letterbox undone, Darknet's per-class NMS; each class of each box with
 * probability above thresh becomes a scored detection, its box clipped to
 * the image.  The set's boxes are sized in the image's pixels (for the size
 * ranges of ecn_map_opts).
 */
#ifndef ECN_MAP_NET_H
#define ECN_MAP_NET_H

#include "../ecnet.h"
#include "../train/data.h"
#include "map.h"

typedef struct ecn_map_run_opts {
    float thresh; /* keep class probabilities above this (0.005) */
    float nms;    /* NMS overlap (0.45); 0: none */
    int resize;   /* plain resize instead of the letterbox */
    int limit;    /* only the first `limit` images; 0: all */
} ecn_map_run_opts;

typedef void (*ecn_map_progress)(void *user, int done, int total);

/* Images 0 .. limit-1 of ds (a detection set) through net into *ms.  The
 * network must detect ds->classes classes. */
int ecn_map_run(ecn_net *net, const ecn_dataset *ds, const ecn_map_run_opts *o, ecn_map_set *ms,
                ecn_map_progress progress, void *user, ecn_err *err);

/* 1 when the network has a [yolo] or [region] head. */
int ecn_net_is_detector(const ecn_net *net);

#endif
