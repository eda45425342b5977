/* map.h - mean average precision of a detector (VOC and COCO styles).
 *
 * Independent of any network: collect ground-truth boxes and scored
 * detections per image into an ecn_map_set, then ecn_map_evaluate.  Boxes
 * are centre/size relative to their image (ecn_box); IoU does not change when
 * x and y are scaled apart, so relative boxes give the pixel IoU.
 *
 *   ap50  VOC: detections of a class ranked by score; each takes the ground
 *         truth of its image and class with the highest IoU; a true positive
 *         when that IoU > iou (0.5) and the truth is not taken yet, else a
 *         false positive (a duplicate included).  AP = area under the
 *         precision envelope (all-point interpolation, VOC 2010 on).
 *   ap    COCO: for each IoU t in .50, .55, ..., .95: each detection takes
 *         the still free truth of highest IoU >= t; AP_t = the mean over
 *         recall r = 0, .01, ..., 1 of the envelope's precision at the first
 *         rank whose recall >= r (0 when the recall never gets there);
 *         ap = mean of the ten AP_t.
 *   map50, map: means over the classes that have ground truth.
 *
 * Size ranges (COCO's area ranges, by side instead of area): with
 * side_max > 0 only the ground truths whose side sqrt(w h) in pixels is in
 * [side_min, side_max) count.  The others are "ignored": a detection that
 * they would take (VOC: the truth of highest IoU is ignored and above the
 * IoU; COCO: no counted truth is free at t, an ignored one is) is neither a
 * true nor a false positive, and a detection that takes nothing counts as a
 * false positive only when its own side is in the range.  So AP for small
 * objects is not charged for the large ones a detector finds.
 */
#ifndef ECN_MAP_H
#define ECN_MAP_H

#include "../ecnet.h"

enum { ECN_MAP_IOUS = 10 }; /* COCO's IoU thresholds .50:.05:.95 */

typedef struct ecn_map_item {
    int image, cls;
    float score; /* detections only */
    ecn_box box;
    float side;  /* sqrt(w h) in pixels (in relative units when the image size is 0) */
} ecn_map_item;

typedef struct ecn_map_set {
    ecn_map_item *gt, *det;
    int n_gt, n_det, cap_gt, cap_det;
    int image_w, image_h; /* pixel size of the image whose boxes are being added; 0: unknown */
} ecn_map_set;

int ecn_map_add_gt(ecn_map_set *s, int image, int cls, ecn_box box, ecn_err *err);
int ecn_map_add_det(ecn_map_set *s, int image, int cls, float score, ecn_box box, ecn_err *err);
/* One detection per class with nonzero probability of each of d[0..n) (as
 * ecn_net_detections leaves them: below the threshold and suppressed classes
 * are 0), its box clipped to the image. */
int ecn_map_add_detections(ecn_map_set *s, int image, const ecn_detection *d, int n, ecn_err *err);
void ecn_map_set_free(ecn_map_set *s);

typedef struct ecn_map_opts {
    float iou;  /* IoU of ap50 and of the precision/recall figures (0.5) */
    float conf; /* score from which precision and recall are counted (0.25) */
    float side_min, side_max; /* size range of the counted truths, pixels; side_max 0: all */
} ecn_map_opts;

typedef struct ecn_map_class {
    int gt, det;                /* ground truths, detections */
    double ap50;                /* VOC all-point AP at opts.iou; -1 without ground truth */
    double ap;                  /* COCO AP .50:.95; -1 without ground truth */
    double ap_at[ECN_MAP_IOUS]; /* COCO 101-point AP at each IoU */
    int tp, fp;                 /* detections with score >= conf, VOC matching at opts.iou */
    double precision, recall;   /* of those */
} ecn_map_class;

typedef struct ecn_map_result {
    int classes, with_gt;       /* classes, of them with ground truth */
    double map50, map, map75;   /* -1 when no class has ground truth */
    int gt, tp, fp;             /* all classes, at conf */
    double precision, recall, f1;
    ecn_map_class *per_class;   /* classes entries */
} ecn_map_result;

/* Detections or truths of a class outside 0 .. classes-1 are an error. */
int ecn_map_evaluate(const ecn_map_set *s, int classes, const ecn_map_opts *o, ecn_map_result *r, ecn_err *err);
void ecn_map_result_free(ecn_map_result *r);

/* AP of one ranked list: tp[i] is 1 when the i-th detection (by descending
 * score) is a true positive; npos ground truths (> 0). */
double ecn_ap_voc(const unsigned char *tp, int n, int npos);
double ecn_ap_coco(const unsigned char *tp, int n, int npos);

#endif
