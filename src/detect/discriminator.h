/* discriminator.h - the difficult-case discriminator of the small-big
 * model cascade: which frames the edge uploads to the big model.
 *
 * A small detector misses small objects and objects in crowded frames.  The
 * discriminator reads the small model's own boxes at two score levels:
 *
 *   predicted   objects with score >= the working confidence (what the small
 *               model answers, 0.25)
 *   estimated   objects with score >= a lower confidence t.conf: boxes too
 *               weak to be answered are still evidence of an object
 *   min_area    the smallest w h (relative to the frame: the object's area
 *               ratio) of the estimated objects; 1 when there is none
 *
 * An object is a box: the classes of one detection (boxes with the same
 * coordinates) count once, at its highest score.  A frame is difficult
 * (uploaded) by the paper's three rules, in order:
 *
 *   1. estimated == predicted: no uncertain object, easy;
 *   2. estimated > t.count: crowded, difficult;
 *   3. min_area < t.area: a small object, difficult; else easy.
 *
 * and, when t.empty is 1, one more of ecnet's between 1 and 2:
 *
 *   1b. predicted == 0 (and, past rule 1, estimated > 0): the small model
 *       answers nothing but sees something, difficult.
 *
 * The three thresholds are fitted on the training list, where both models'
 * finds are known (cascade.h), by one of two methods:
 *
 *   budget  (default) every t.conf of a grid (the working confidence times
 *           1/25, 2/25, ..., 24/25), every t.count, and every t.area between
 *           two consecutive min_area values (and, with empty_rule, rule 1b
 *           off and on): the thresholds that find the most objects end to
 *           end with at most target_upload of the frames uploaded and at
 *           least min_escalated of the frames where the small model shows
 *           nothing and the big one finds objects (ties: fewer uploads, then
 *           rule 1b off).  For fixed conf and count, rule 3
 *           uploads the uncertain frames in order of min_area, so scanning
 *           that order finds the best t.area exactly.
 *   paper   as the paper does: t.conf minimises |sum of estimated - sum of
 *           true object counts| over the list; t.count and t.area are those
 *           that best classify the frames (accuracy) from the true count and
 *           the true minimum area ratio, a frame being difficult when the big
 *           model finds more objects than the small one.  No upload budget.
 */
#ifndef ECN_DISCRIMINATOR_H
#define ECN_DISCRIMINATOR_H

#include "cascade.h"

typedef struct ecn_disc_thresholds {
    float conf; /* lower confidence of the estimated objects */
    int count;  /* rule 2: more estimated objects than this */
    float area; /* rule 3: a smaller minimum area ratio than this */
    float work; /* the working confidence the predicted objects use (informative) */
    int empty;  /* 1: the empty-answer rule (1b) is on */
} ecn_disc_thresholds;

typedef struct ecn_disc_features {
    int predicted, estimated;
    float min_area;
} ecn_disc_features;

/* Features of one frame's detections det[0 .. n) (by descending score). */
void ecn_disc_features_of(const ecn_map_item *det, int n, float work, float conf, ecn_disc_features *f);
/* 1 when the rules call the frame difficult. */
int ecn_disc_difficult(const ecn_disc_features *f, const ecn_disc_thresholds *t);
/* upload[i] for every frame of c (the small model's detections, c->conf as
 * the working confidence). */
void ecn_disc_decide(const ecn_cascade *c, const ecn_disc_thresholds *t, unsigned char *upload);

typedef enum ecn_disc_method { ECN_DISC_BUDGET, ECN_DISC_PAPER } ecn_disc_method;

typedef struct ecn_disc_fit_opts {
    ecn_disc_method method;
    double target_upload; /* budget: the most frames uploaded, as a share (0 .. 1) */
    int empty_rule;       /* budget: may switch rule 1b on (the fit decides) */
    double min_escalated; /* budget: upload at least this share (0 .. 1) of the frames where the small
                           * model shows nothing and the big model finds objects */
} ecn_disc_fit_opts;

int ecn_disc_fit(const ecn_cascade *c, const ecn_disc_fit_opts *o, ecn_disc_thresholds *t, ecn_err *err);

/* How well upload[] matches the difficult frames (the big model finds more
 * objects than the small one): difficult cases are the positives. */
typedef struct ecn_disc_quality {
    int frames, difficult, flagged, hits;
    double accuracy, precision, recall, f1;
} ecn_disc_quality;

void ecn_disc_quality_of(const ecn_cascade *c, const unsigned char *upload, ecn_disc_quality *q);

/* Text file, key = value lines (conf, count, area, work, empty), '#' comments:
 * written with `comment` as a first comment line (may be NULL). */
int ecn_disc_save(const char *path, const ecn_disc_thresholds *t, const char *comment, ecn_err *err);
int ecn_disc_load(const char *path, ecn_disc_thresholds *t, ecn_err *err);

#endif
