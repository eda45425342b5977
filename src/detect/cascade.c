/* cascade.c - the small-big model cascade (see cascade.h).
 *
 * 1. Each detector runs once over the list (ecn_map_run of map_net.h); its
 *    scored detections are grouped by image and sorted by score.
 * 2. ecn_cascade_prepare finds, per frame and model, how many true objects
 *    the detections with score >= conf find (VOC's matching), how many
 *    detections clear conf, and each model's mAP alone.
 * 3. A policy yields upload[i] per frame; ecn_cascade_evaluate adds up the
 *    chosen model's finds per frame (finds are per frame, so they add) and
 *    computes the mAP of the end-to-end detections.
 * The cache (cache file format in cascade.h) is in cascade_cache.c.
 */
#include "cascade.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detections.h"

/* ---- detections grouped by image ------------------------------------------ */

typedef struct ordered {
    ecn_map_item it;
    int order;
} ordered;

static int by_score(const void *pa, const void *pb)
{
    const ordered *a = pa, *b = pb;
    if (a->it.score != b->it.score) return a->it.score > b->it.score ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sort det[0 .. n) by descending score, keeping the order of equal scores. */
static int sort_by_score(ecn_map_item *det, int n, ecn_err *err)
{
    ordered *o = ecn_calloc(n ? (size_t)n : 1, sizeof *o, err);
    if (!o) return -1;
    for (int i = 0; i < n; i++) o[i] = (ordered){det[i], i};
    qsort(o, (size_t)n, sizeof *o, by_score);
    for (int i = 0; i < n; i++) det[i] = o[i].it;
    free(o);
    return 0;
}

int ecn_cascade_dets_from_map(const ecn_map_set *ms, int images, ecn_cascade_dets *d, ecn_err *err)
{
    memset(d, 0, sizeof *d);
    d->images = images;
    d->first = ecn_calloc((size_t)images + 1, sizeof *d->first, err);
    d->det = ecn_calloc(ms->n_det ? (size_t)ms->n_det : 1, sizeof *d->det, err);
    if (!d->first || !d->det) {
        ecn_cascade_dets_free(d);
        return -1;
    }
    for (int k = 0; k < ms->n_det; k++) {
        int i = ms->det[k].image;
        if (i < 0 || i >= images) {
            ecn_cascade_dets_free(d);
            return ecn_fail(err, "cascade: a detection of image %d, expected 0 to %d", i, images - 1);
        }
        d->first[i + 1]++;
    }
    for (int i = 0; i < images; i++) d->first[i + 1] += d->first[i];
    int *fill = ecn_calloc((size_t)images + 1, sizeof *fill, err);
    int rc = fill ? 0 : -1;
    if (!rc) memcpy(fill, d->first, ((size_t)images + 1) * sizeof *fill);
    for (int k = 0; !rc && k < ms->n_det; k++) d->det[fill[ms->det[k].image]++] = ms->det[k];
    for (int i = 0; !rc && i < images; i++)
        rc = sort_by_score(d->det + d->first[i], d->first[i + 1] - d->first[i], err);
    free(fill);
    if (rc) ecn_cascade_dets_free(d);
    return rc;
}

void ecn_cascade_dets_free(ecn_cascade_dets *d)
{
    free(d->first);
    free(d->det);
    memset(d, 0, sizeof *d);
}

int ecn_cascade_detect(ecn_net *net, const ecn_dataset *ds, const ecn_map_run_opts *o, ecn_cascade_dets *d,
                       ecn_map_progress progress, void *user, ecn_err *err)
{
    ecn_map_set ms = {0};
    int images = o->limit > 0 && o->limit < ds->n ? o->limit : ds->n;
    int rc = ecn_map_run(net, ds, o, &ms, progress, user, err);
    if (!rc) rc = ecn_cascade_dets_from_map(&ms, images, d, err);
    ecn_map_set_free(&ms);
    return rc;
}

/* ---- finds per frame -------------------------------------------------------- */

int ecn_cascade_found(const ecn_map_item *det, int n, const ecn_box_label *truth, int n_truth, float conf,
                      float iou, unsigned char *taken)
{
    int found = 0;
    memset(taken, 0, (size_t)n_truth);
    for (int i = 0; i < n && det[i].score >= conf; i++) {
        int best = -1;
        float best_iou = -1;
        for (int j = 0; j < n_truth; j++) {
            if (truth[j].cls != det[i].cls) continue;
            float v = ecn_box_iou(det[i].box, (ecn_box){truth[j].x, truth[j].y, truth[j].w, truth[j].h});
            if (!(v >= 0)) v = 0; /* NaN: two empty boxes */
            if (v > best_iou) best_iou = v, best = j;
        }
        if (best >= 0 && best_iou > iou && !taken[best]) {
            taken[best] = 1;
            found++;
        }
    }
    return found;
}

/* Detections of model m on frame i with score >= conf. */
static int shown_of(const ecn_cascade_dets *d, int i, float conf)
{
    int k = d->first[i];
    while (k < d->first[i + 1] && d->det[k].score >= conf) k++;
    return k - d->first[i];
}

/* mAP@iou of the detections of model upload[i] on each frame i. */
static int map50_of(const ecn_cascade *c, const unsigned char *upload, double *map50, ecn_err *err)
{
    ecn_map_set ms = {0};
    int rc = 0;
    for (int i = 0; !rc && i < c->images; i++) {
        const ecn_cascade_dets *d = c->model[upload[i] ? ECN_BIG : ECN_SMALL];
        for (int k = d->first[i]; !rc && k < d->first[i + 1]; k++)
            rc = ecn_map_add_det(&ms, i, d->det[k].cls, d->det[k].score, d->det[k].box, err);
        for (int k = 0; !rc && k < c->n_truth[i]; k++) {
            const ecn_box_label *t = &c->truth[i][k];
            rc = ecn_map_add_gt(&ms, i, t->cls, (ecn_box){t->x, t->y, t->w, t->h}, err);
        }
    }
    ecn_map_opts o = {.iou = c->iou, .conf = c->conf};
    ecn_map_result r = {0};
    if (!rc) rc = ecn_map_evaluate(&ms, c->classes, &o, &r, err);
    if (!rc) *map50 = r.map50;
    ecn_map_result_free(&r);
    ecn_map_set_free(&ms);
    return rc;
}

static int check_models(const ecn_cascade *c, ecn_err *err)
{
    for (int m = 0; m < 2; m++) {
        const char *name = m == ECN_SMALL ? "small" : "big";
        if (!c->model[m] || c->model[m]->images != c->images)
            return ecn_fail(err, "cascade: the %s model has results for %d images: expected %d", name,
                            c->model[m] ? c->model[m]->images : 0, c->images);
        const ecn_cascade_dets *d = c->model[m];
        for (int k = 0; k < d->first[d->images]; k++)
            if (d->det[k].cls < 0 || d->det[k].cls >= c->classes)
                return ecn_fail(err, "cascade: the %s model detects class %d: expected 0 to %d", name,
                                d->det[k].cls, c->classes - 1);
    }
    return 0;
}

static int fill_frames(ecn_cascade *c, ecn_err *err)
{
    int most = 0;
    for (int i = 0; i < c->images; i++) most = c->n_truth[i] > most ? c->n_truth[i] : most;
    unsigned char *taken = ecn_calloc(most ? (size_t)most : 1, 1, err);
    if (!taken) return -1;
    for (int i = 0; i < c->images; i++) {
        ecn_cascade_frame *f = &c->frame[i];
        f->truths = c->n_truth[i];
        for (int m = 0; m < 2; m++) {
            const ecn_cascade_dets *d = c->model[m];
            int n = d->first[i + 1] - d->first[i];
            f->found[m] = ecn_cascade_found(d->det + d->first[i], n, c->truth[i], f->truths, c->conf, c->iou, taken);
            f->shown[m] = shown_of(d, i, c->conf);
        }
    }
    free(taken);
    return 0;
}

int ecn_cascade_prepare(ecn_cascade *c, ecn_err *err)
{
    c->frame = NULL;
    if (c->images < 1) return ecn_fail(err, "cascade: no images");
    if (check_models(c, err)) return -1;
    c->frame = ecn_calloc((size_t)c->images, sizeof *c->frame, err);
    unsigned char *mask = ecn_calloc((size_t)c->images, 1, err);
    int rc = c->frame && mask ? fill_frames(c, err) : -1;
    if (!rc) rc = map50_of(c, mask, &c->map50[ECN_SMALL], err);
    if (!rc) memset(mask, 1, (size_t)c->images);
    if (!rc) rc = map50_of(c, mask, &c->map50[ECN_BIG], err);
    free(mask);
    if (rc) ecn_cascade_free(c);
    return rc;
}

void ecn_cascade_free(ecn_cascade *c)
{
    free(c->frame);
    c->frame = NULL;
}

int ecn_cascade_evaluate(const ecn_cascade *c, const unsigned char *upload, ecn_cascade_result *r, ecn_err *err)
{
    memset(r, 0, sizeof *r);
    r->images = c->images;
    for (int i = 0; i < c->images; i++) {
        const ecn_cascade_frame *f = &c->frame[i];
        int up = upload[i] != 0;
        r->uploaded += up;
        r->truths += f->truths;
        r->objects += f->found[up];
        r->objects_small += f->found[ECN_SMALL];
        r->objects_big += f->found[ECN_BIG];
        if (f->shown[ECN_SMALL] == 0 && f->found[ECN_BIG] > 0) {
            r->missed_frames++;
            r->missed_uploaded += up;
        }
    }
    r->upload_ratio = (double)r->uploaded / c->images;
    r->objects_ratio = r->objects_big ? (double)r->objects / r->objects_big : -1;
    r->missed_escalated = r->missed_frames ? (double)r->missed_uploaded / r->missed_frames : -1;
    r->map50_small = c->map50[ECN_SMALL];
    r->map50_big = c->map50[ECN_BIG];
    if (map50_of(c, upload, &r->map50, err)) return -1;
    r->map50_ratio = r->map50 >= 0 && r->map50_big > 0 ? r->map50 / r->map50_big : -1;
    return 0;
}

/* ---- ranking policies --------------------------------------------------------- */

static const char *const policy_names[ECN_POLICY_COUNT] = {"discriminator", "random", "blur", "confidence", "top1"};

const char *ecn_cascade_policy_name(ecn_cascade_policy p)
{
    return (int)p >= 0 && (int)p < ECN_POLICY_COUNT ? policy_names[p] : "?";
}

int ecn_cascade_policy_parse(const char *name, ecn_cascade_policy *p)
{
    for (int k = 0; k < ECN_POLICY_COUNT; k++)
        if (strcmp(name, policy_names[k]) == 0) {
            *p = (ecn_cascade_policy)k;
            return 0;
        }
    return -1;
}

/* The paper's top-1 confidence of frame i: the mean over the classes of the
 * highest score of each class (0 for a class without a detection). */
static double mean_class_top1(const ecn_cascade *c, int i, float *best)
{
    const ecn_cascade_dets *d = c->model[ECN_SMALL];
    for (int k = 0; k < c->classes; k++) best[k] = 0;
    for (int k = d->first[i]; k < d->first[i + 1]; k++)
        if (d->det[k].score > best[d->det[k].cls]) best[d->det[k].cls] = d->det[k].score;
    double sum = 0;
    for (int k = 0; k < c->classes; k++) sum += best[k];
    return sum / c->classes;
}

static int rank_random(int n, unsigned long long seed, double *score, ecn_err *err)
{
    int *perm = ecn_calloc((size_t)n, sizeof *perm, err);
    if (!perm) return -1;
    for (int i = 0; i < n; i++) perm[i] = i;
    ecn_shuffle(perm, n, &seed);
    for (int k = 0; k < n; k++) score[perm[k]] = n - k; /* perm[0] first */
    free(perm);
    return 0;
}

int ecn_cascade_rank(const ecn_cascade *c, ecn_cascade_policy p, const double *focus, unsigned long long seed,
                     double *score, ecn_err *err)
{
    const ecn_cascade_dets *d = c->model[ECN_SMALL];
    if (p == ECN_POLICY_RANDOM) return rank_random(c->images, seed, score, err);
    if (p == ECN_POLICY_BLUR && !focus) return ecn_fail(err, "cascade: the blur policy needs the focus measures");
    if (p == ECN_POLICY_BLUR) {
        for (int i = 0; i < c->images; i++) score[i] = -focus[i];
    } else if (p == ECN_POLICY_TOP1) {
        for (int i = 0; i < c->images; i++) score[i] = d->first[i] < d->first[i + 1] ? -d->det[d->first[i]].score : 0;
    } else if (p == ECN_POLICY_CONFIDENCE) {
        float *best = ecn_calloc((size_t)c->classes, sizeof *best, err);
        if (!best) return -1;
        for (int i = 0; i < c->images; i++) score[i] = -mean_class_top1(c, i, best);
        free(best);
    } else {
        return ecn_fail(err, "cascade: %s is not a ranking policy", ecn_cascade_policy_name(p));
    }
    return 0;
}

typedef struct ranked {
    double score;
    int i;
} ranked;

static int by_rank(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

int ecn_cascade_upload_top(const double *score, int n, double ratio, unsigned char *upload, ecn_err *err)
{
    if (!(ratio >= 0 && ratio <= 1)) return ecn_fail(err, "cascade: upload ratio %g: expected 0 to 1", ratio);
    ranked *r = ecn_calloc(n ? (size_t)n : 1, sizeof *r, err);
    if (!r) return -1;
    for (int i = 0; i < n; i++) r[i] = (ranked){score[i], i};
    qsort(r, (size_t)n, sizeof *r, by_rank);
    int take = (int)floor(ratio * n + .5);
    memset(upload, 0, (size_t)n);
    for (int k = 0; k < take; k++) upload[r[k].i] = 1;
    free(r);
    return 0;
}
