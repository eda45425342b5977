/* cascade_tool.h - what `ecnet cascade` and `ecnet discriminator` share:
 * both models' results over a list of the data set (from the cache when it
 * has them, else by running the networks and filling it), and printing. */
#ifndef ECN_CASCADE_TOOL_H
#define ECN_CASCADE_TOOL_H

#include <stdio.h>

#include "core/error.h"
#include "detect/cascade.h"
#include "detect/discriminator.h"

typedef struct cascade_io {
    const char *cfg[2], *weights[2]; /* ECN_SMALL, ECN_BIG */
    const char *data;                /* DIR/det.data */
    const char *cache_dir;           /* NULL or "": no cache */
    float thresh, nms;               /* kept detections (0.005) and NMS (0.45) */
    float conf, iou;                 /* working score (0.25) and match IoU (0.5) */
    int threads, quiet;              /* quiet: no progress bars (--json) */
} cascade_io;

/* One list (split 0 train, 1 test) with both models' results. */
typedef struct cascade_list {
    ecn_dataset ds;
    ecn_cascade_dets dets[2];
    ecn_cascade c; /* prepared */
} cascade_list;

/* The first `limit` images (0: all) of a split; returns an exit code. */
int cascade_list_open(const cascade_io *io, int split, int limit, cascade_list *l);
void cascade_list_free(cascade_list *l);

/* The common options' checks; an exit code (EXIT_OK to go on). */
int cascade_io_check(const cascade_io *io, const char *usage);

/* A ratio that is -1 when undefined: a number or null. */
void cascade_json_num(FILE *f, const char *key, double v);
/* The fields of a result, without braces: "policy":..., "upload_ratio":... */
void cascade_json_result(FILE *f, const char *policy, const ecn_cascade_result *r);
void cascade_json_thresholds(FILE *f, const ecn_disc_thresholds *t);
/* "12.34%" or "-" when undefined. */
const char *cascade_pct(double v, char *buf, size_t n);

#endif
