/* map.c - average precision, VOC (all-point) and COCO (101-point) styles.
 *
 * Per class c:
 *   1. rank c's detections by score, highest first (ties: the order added);
 *   2. match them, one after another, to c's ground truths of the same
 *      image (VOC or COCO rule, see map.h), giving tp[i] = 1 or 0;
 *   3. with cum(i) = tp[0] + ... + tp[i]: recall(i) = cum(i) / npos,
 *      precision(i) = cum(i) / (i + 1), and the envelope
 *      env(i) = max over j >= i of precision(j);
 *   4. VOC all-point AP = sum over true positives i of env(i) / npos (the
 *      area under the envelope: recall grows by 1/npos at each of them);
 *      COCO AP = (1/101) sum over r = t/100, t = 0..100, of env(first i
 *      with recall(i) >= r), 0 when there is none.  recall(i) >= t/100 is
 *      tested exactly, as 100 cum(i) >= t npos, so no rounding decides.
 *   Both sums run once from the last rank to the first, carrying the
 *   running maximum of the precision.
 * With a size range, step 2 marks some detections "ignored" (they took a
 * truth outside the range, or took nothing and are outside it themselves);
 * they are dropped from the ranking before step 3, and npos counts only the
 * truths in the range.
 */
#include "map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detections.h"

/* ---- collecting ---------------------------------------------------------- */

static int push(ecn_map_item **v, int *n, int *cap, ecn_map_item it, ecn_err *err)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 256;
        ecn_map_item *p = realloc(*v, (size_t)nc * sizeof *p);
        if (!p) return ecn_fail(err, "map: out of memory after %d boxes", *n);
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = it;
    return 0;
}

/* sqrt(w h) of a box in the pixels of the image being added. */
static float side_of(const ecn_map_set *s, ecn_box b)
{
    float w = b.w * (s->image_w > 0 ? s->image_w : 1), h = b.h * (s->image_h > 0 ? s->image_h : 1);
    return w > 0 && h > 0 ? sqrtf(w * h) : 0;
}

int ecn_map_add_gt(ecn_map_set *s, int image, int cls, ecn_box box, ecn_err *err)
{
    return push(&s->gt, &s->n_gt, &s->cap_gt, (ecn_map_item){image, cls, 0, box, side_of(s, box)}, err);
}

int ecn_map_add_det(ecn_map_set *s, int image, int cls, float score, ecn_box box, ecn_err *err)
{
    return push(&s->det, &s->n_det, &s->cap_det, (ecn_map_item){image, cls, score, box, side_of(s, box)}, err);
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static ecn_box clip_box(ecn_box b)
{
    float l = clamp01(b.x - b.w / 2), r = clamp01(b.x + b.w / 2);
    float t = clamp01(b.y - b.h / 2), bo = clamp01(b.y + b.h / 2);
    return (ecn_box){(l + r) / 2, (t + bo) / 2, r - l, bo - t};
}

int ecn_map_add_detections(ecn_map_set *s, int image, const ecn_detection *d, int n, ecn_err *err)
{
    for (int i = 0; i < n; i++) {
        if (!d[i].prob) continue;
        ecn_box b = clip_box(d[i].box);
        for (int k = 0; k < d[i].classes; k++)
            if (d[i].prob[k] > 0 && ecn_map_add_det(s, image, k, d[i].prob[k], b, err)) return -1;
    }
    return 0;
}

void ecn_map_set_free(ecn_map_set *s)
{
    free(s->gt);
    free(s->det);
    memset(s, 0, sizeof *s);
}

/* ---- AP of a ranked list ------------------------------------------------- */

double ecn_ap_voc(const unsigned char *tp, int n, int npos)
{
    int total = 0;
    for (int i = 0; i < n; i++) total += tp[i];
    double sum = 0, env = 0;
    int cum = total; /* cum(i) while walking back */
    for (int i = n - 1; i >= 0; i--) {
        double prec = (double)cum / (i + 1);
        if (prec > env) env = prec;
        if (tp[i]) sum += env;
        cum -= tp[i];
    }
    return npos > 0 ? sum / npos : 0;
}

double ecn_ap_coco(const unsigned char *tp, int n, int npos)
{
    if (npos <= 0 || n <= 0) return 0;
    int total = 0;
    for (int i = 0; i < n; i++) total += tp[i];
    double sum = 0, env = 0;
    int cum = total;
    for (int i = n - 1; i >= 0; i--) {
        double prec = (double)cum / (i + 1);
        if (prec > env) env = prec;
        int prev = cum - tp[i];
        /* thresholds t in 1..100 first reached at rank i: 100 prev < t npos <= 100 cum */
        int reached = (int)(100LL * cum / npos) - (int)(100LL * prev / npos);
        sum += reached * env;
        if (i == 0) sum += env; /* t = 0: rank 0 */
        cum = prev;
    }
    return sum / 101;
}

/* ---- matching ---------------------------------------------------------- */

typedef struct keyed {
    ecn_map_item it;
    int order; /* position in the set */
} keyed;

static int by_class_score(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->it.cls != b->it.cls) return a->it.cls < b->it.cls ? -1 : 1;
    if (a->it.score != b->it.score) return a->it.score > b->it.score ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int by_class_image(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->it.cls != b->it.cls) return a->it.cls < b->it.cls ? -1 : 1;
    if (a->it.image != b->it.image) return a->it.image < b->it.image ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* First index of g[0..n) (sorted by image) whose image is >= image. */
static int lower_image(const keyed *g, int n, int image)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (g[mid].it.image < image) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static double iou_of(ecn_box a, ecn_box b)
{
    float v = ecn_box_iou(a, b);
    return v >= 0 ? v : 0; /* NaN (two empty boxes) counts as no overlap */
}

/* The ground truth that detection d takes at IoU t, or -1; *ignored is set
 * when that truth is outside the size range (ign[j] = 1).  VOC: the best
 * overlap of all, if above t and (a counted one) free; COCO: the best free
 * counted one if >= t, else the best free ignored one if >= t. */
static int take(const keyed *d, const keyed *g, int a, int b, double t, int coco, const unsigned char *taken,
                const unsigned char *ign, int *ignored)
{
    int best = -1, best_ign = -1;
    double best_iou = -1, best_ign_iou = -1;
    for (int j = a; j < b; j++) {
        if (coco && taken[j]) continue;
        double iou = iou_of(d->it.box, g[j].it.box);
        if (coco && ign[j]) {
            if (iou > best_ign_iou) best_ign_iou = iou, best_ign = j;
        } else if (iou > best_iou) {
            best_iou = iou;
            best = j;
        }
    }
    *ignored = 0;
    if (coco) {
        if (best >= 0 && best_iou >= t) return best;
        *ignored = 1;
        return best_ign >= 0 && best_ign_iou >= t ? best_ign : -1;
    }
    if (best < 0 || !(best_iou > t)) return -1;
    *ignored = ign[best];
    return ign[best] || !taken[best] ? best : -1;
}

/* tp[i]: 1 true positive, 0 false positive, 2 ignored (it took an ignored
 * truth, or took nothing and is outside the size range itself). */
static void match(const keyed *d, int nd, const keyed *g, int ng, double t, int coco, const ecn_map_opts *o,
                  const unsigned char *ign, unsigned char *tp, unsigned char *taken)
{
    memset(taken, 0, (size_t)ng);
    for (int i = 0; i < nd; i++) {
        int a = lower_image(g, ng, d[i].it.image), b = a, ignored;
        while (b < ng && g[b].it.image == d[i].it.image) b++;
        int j = take(&d[i], g, a, b, t, coco, taken, ign, &ignored);
        int outside = o->side_max > 0 && !(d[i].it.side >= o->side_min && d[i].it.side < o->side_max);
        if (j >= 0) taken[j] = 1;
        tp[i] = j >= 0 ? (ignored ? 2 : 1) : outside ? 2 : 0;
    }
}

/* Drop the ignored entries (2) of tp[0..n), keeping the order; returns how
 * many are left, and in *kept_above how many of the first `above` are. */
static int drop_ignored(unsigned char *tp, int n, int above, int *kept_above)
{
    int k = 0;
    *kept_above = 0;
    for (int i = 0; i < n; i++) {
        if (tp[i] == 2) continue;
        tp[k++] = tp[i];
        if (i < above) ++*kept_above;
    }
    return k;
}

/* ---- evaluation ---------------------------------------------------------- */

static int check_classes(const ecn_map_item *v, int n, int classes, const char *what, ecn_err *err)
{
    for (int i = 0; i < n; i++)
        if (v[i].cls < 0 || v[i].cls >= classes)
            return ecn_fail(err, "map: %s %d has class %d: expected 0 to %d", what, i, v[i].cls, classes - 1);
    return 0;
}

static keyed *sorted_copy(const ecn_map_item *v, int n, int (*cmp)(const void *, const void *), ecn_err *err)
{
    keyed *k = ecn_calloc(n ? (size_t)n : 1, sizeof *k, err);
    if (!k) return NULL;
    for (int i = 0; i < n; i++) k[i] = (keyed){v[i], i};
    qsort(k, (size_t)n, sizeof *k, cmp);
    return k;
}

/* Marks the truths outside the size range; returns how many are counted. */
static int mark_ignored(const keyed *g, int ng, const ecn_map_opts *o, unsigned char *ign)
{
    int counted = 0;
    for (int j = 0; j < ng; j++) {
        ign[j] = o->side_max > 0 && !(g[j].it.side >= o->side_min && g[j].it.side < o->side_max);
        counted += !ign[j];
    }
    return counted;
}

/* One class: d[0..nd) ranked, g[0..ng) by image; tp, taken and ign are scratch. */
static void evaluate_class(const keyed *d, int nd, const keyed *g, int ng, const ecn_map_opts *o, unsigned char *tp,
                           unsigned char *taken, unsigned char *ign, ecn_map_class *c)
{
    memset(c, 0, sizeof *c);
    int npos = mark_ignored(g, ng, o, ign);
    int above = 0; /* detections with score >= conf: a prefix of the ranking */
    while (above < nd && d[above].it.score >= o->conf) above++;
    match(d, nd, g, ng, o->iou, 0, o, ign, tp, taken);
    int n = drop_ignored(tp, nd, above, &above);
    c->gt = npos, c->det = n;
    for (int i = 0; i < above; i++) c->tp += tp[i];
    c->fp = above - c->tp;
    c->precision = above ? (double)c->tp / above : 0;
    c->recall = npos ? (double)c->tp / npos : 0;
    if (!npos) {
        c->ap50 = c->ap = -1;
        for (int k = 0; k < ECN_MAP_IOUS; k++) c->ap_at[k] = -1;
        return;
    }
    c->ap50 = ecn_ap_voc(tp, n, npos);
    for (int k = 0; k < ECN_MAP_IOUS; k++) {
        int unused;
        match(d, nd, g, ng, (50 + 5 * k) / 100.0, 1, o, ign, tp, taken);
        c->ap_at[k] = ecn_ap_coco(tp, drop_ignored(tp, nd, 0, &unused), npos);
        c->ap += c->ap_at[k] / ECN_MAP_IOUS;
    }
}

static void summarize(ecn_map_result *r)
{
    double s50 = 0, s = 0, s75 = 0;
    for (int k = 0; k < r->classes; k++) {
        const ecn_map_class *c = &r->per_class[k];
        r->gt += c->gt, r->tp += c->tp, r->fp += c->fp;
        if (!c->gt) continue;
        r->with_gt++;
        s50 += c->ap50, s += c->ap, s75 += c->ap_at[5];
    }
    r->map50 = r->with_gt ? s50 / r->with_gt : -1;
    r->map = r->with_gt ? s / r->with_gt : -1;
    r->map75 = r->with_gt ? s75 / r->with_gt : -1;
    r->precision = r->tp + r->fp ? (double)r->tp / (r->tp + r->fp) : 0;
    r->recall = r->gt ? (double)r->tp / r->gt : 0;
    r->f1 = r->precision + r->recall > 0 ? 2 * r->precision * r->recall / (r->precision + r->recall) : 0;
}

int ecn_map_evaluate(const ecn_map_set *s, int classes, const ecn_map_opts *o, ecn_map_result *r, ecn_err *err)
{
    memset(r, 0, sizeof *r);
    if (classes < 1) return ecn_fail(err, "map: %d classes: expected 1 or more", classes);
    if (check_classes(s->gt, s->n_gt, classes, "ground truth", err) ||
        check_classes(s->det, s->n_det, classes, "detection", err))
        return -1;
    keyed *d = sorted_copy(s->det, s->n_det, by_class_score, err);
    keyed *g = d ? sorted_copy(s->gt, s->n_gt, by_class_image, err) : NULL;
    unsigned char *tp = g ? ecn_calloc((size_t)s->n_det + 1, 1, err) : NULL;
    unsigned char *taken = tp ? ecn_calloc((size_t)s->n_gt + 1, 1, err) : NULL;
    unsigned char *ign = taken ? ecn_calloc((size_t)s->n_gt + 1, 1, err) : NULL;
    r->per_class = ign ? ecn_calloc((size_t)classes, sizeof *r->per_class, err) : NULL;
    if (r->per_class) {
        r->classes = classes;
        for (int c = 0, di = 0, gi = 0; c < classes; c++) {
            int d0 = di, g0 = gi;
            while (di < s->n_det && d[di].it.cls == c) di++;
            while (gi < s->n_gt && g[gi].it.cls == c) gi++;
            evaluate_class(d + d0, di - d0, g + g0, gi - g0, o, tp, taken, ign, &r->per_class[c]);
        }
        summarize(r);
    }
    free(d);
    free(g);
    free(tp);
    free(taken);
    free(ign);
    return r->per_class ? 0 : -1;
}

void ecn_map_result_free(ecn_map_result *r)
{
    free(r->per_class);
    memset(r, 0, sizeof *r);
}
