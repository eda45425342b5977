/* discriminator.c - the difficult-case discriminator (rules and fitting in
 * discriminator.h).
 *
 * Fitting works on a table of per-frame features for each confidence of
 * the grid.  The budget method then tries every count threshold c: the
 * uncertain frames with more than c estimated objects are uploaded by rule
 * 2; the other uncertain frames are sorted by min_area, and rule 3 uploads
 * a prefix of that order, so the best area threshold is found by one scan
 * of the prefixes (cut only between two different areas).  The paper method
 * scans the true counts and areas the same way, counting correct labels
 * instead of objects.
 */
#include "discriminator.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { CONF_STEPS = 25 }; /* grid: work * k / CONF_STEPS, k = 1 .. CONF_STEPS - 1 */

/* ---- the rules --------------------------------------------------------------- */

static int same_box(ecn_box a, ecn_box b) { return a.x == b.x && a.y == b.y && a.w == b.w && a.h == b.h; }

/* 1 when an earlier (stronger) detection has det[i]'s box: another class of
 * the same object. */
static int seen_before(const ecn_map_item *det, int i)
{
    for (int j = 0; j < i; j++)
        if (same_box(det[j].box, det[i].box)) return 1;
    return 0;
}

void ecn_disc_features_of(const ecn_map_item *det, int n, float work, float conf, ecn_disc_features *f)
{
    float lowest = conf < work ? conf : work;
    f->predicted = f->estimated = 0;
    f->min_area = 1;
    for (int i = 0; i < n && det[i].score >= lowest; i++) {
        if (seen_before(det, i)) continue;
        if (det[i].score >= work) f->predicted++;
        if (det[i].score < conf) continue;
        f->estimated++;
        float area = det[i].box.w * det[i].box.h;
        if (area < f->min_area) f->min_area = area;
    }
}

int ecn_disc_difficult(const ecn_disc_features *f, const ecn_disc_thresholds *t)
{
    if (f->estimated == f->predicted) return 0; /* rule 1 */
    if (t->empty && f->predicted == 0) return 1; /* the empty-answer rule */
    if (f->estimated > t->count) return 1;      /* rule 2 */
    return f->min_area < t->area;               /* rule 3 */
}

void ecn_disc_decide(const ecn_cascade *c, const ecn_disc_thresholds *t, unsigned char *upload)
{
    const ecn_cascade_dets *d = c->model[ECN_SMALL];
    for (int i = 0; i < c->images; i++) {
        ecn_disc_features f;
        ecn_disc_features_of(d->det + d->first[i], d->first[i + 1] - d->first[i], c->conf, t->conf, &f);
        upload[i] = (unsigned char)ecn_disc_difficult(&f, t);
    }
}

/* ---- fitting ---------------------------------------------------------------- */

typedef struct frame_feat {
    int est, pred, gain; /* gain: objects found by the big model minus by the small */
    int missed;          /* the small model shows nothing, the big one finds objects */
    float area;
} frame_feat;

typedef struct area_gain {
    float area;
    int gain, missed;
} area_gain;

typedef struct limits {
    int budget; /* the most uploads */
    int missed; /* the fewest missed frames uploaded */
} limits;

typedef struct choice {
    long score; /* budget: objects gained; paper: frames labelled right */
    int uploads;
    ecn_disc_thresholds t;
    int valid;
} choice;

static int by_area(const void *pa, const void *pb)
{
    const area_gain *a = pa, *b = pb;
    return a->area < b->area ? -1 : a->area > b->area;
}

static void consider(choice *best, long score, int uploads, ecn_disc_thresholds t)
{
    if (best->valid && (score < best->score || (score == best->score && uploads >= best->uploads))) return;
    *best = (choice){score, uploads, t, 1};
}

/* The area threshold that uploads the k smallest of v[0 .. m) (k < m). */
static float cut_at(const area_gain *v, int k) { return k == 0 ? 0 : (v[k - 1].area + v[k].area) / 2; }

static void features_at(const ecn_cascade *c, float conf, frame_feat *ff)
{
    const ecn_cascade_dets *d = c->model[ECN_SMALL];
    for (int i = 0; i < c->images; i++) {
        ecn_disc_features f;
        ecn_disc_features_of(d->det + d->first[i], d->first[i + 1] - d->first[i], c->conf, conf, &f);
        const ecn_cascade_frame *fr = &c->frame[i];
        ff[i] = (frame_feat){f.estimated, f.predicted, fr->found[ECN_BIG] - fr->found[ECN_SMALL],
                             fr->shown[ECN_SMALL] == 0 && fr->found[ECN_BIG] > 0, f.min_area};
    }
}

/* Budget method, one (conf, count, empty) in t: the frames of rule 2 (and
 * of rule 1b), then the best prefix of the rest by area within the limits. */
static void best_for_count(const frame_feat *ff, int n, ecn_disc_thresholds t, limits lim, area_gain *buf,
                           choice *best)
{
    int up = 0, m = 0, missed = 0;
    long gain = 0;
    for (int i = 0; i < n; i++) {
        if (ff[i].est == ff[i].pred) continue;
        if (ff[i].est > t.count || (t.empty && ff[i].pred == 0)) up++, gain += ff[i].gain, missed += ff[i].missed;
        else buf[m++] = (area_gain){ff[i].area, ff[i].gain, ff[i].missed};
    }
    if (up > lim.budget) return;
    if (m == 0 && missed >= lim.missed) consider(best, gain, up, t);
    qsort(buf, (size_t)m, sizeof *buf, by_area);
    for (int k = 0; k < m && up + k <= lim.budget; k++) {
        t.area = cut_at(buf, k);
        if ((k == 0 || buf[k].area != buf[k - 1].area) && missed >= lim.missed) consider(best, gain, up + k, t);
        gain += buf[k].gain;
        missed += buf[k].missed;
    }
}

static int fit_budget(const ecn_cascade *c, const ecn_disc_fit_opts *o, ecn_disc_thresholds *t, ecn_err *err)
{
    int n = c->images, missed = 0, allow_empty = o->empty_rule != 0;
    for (int i = 0; i < n; i++) missed += c->frame[i].shown[ECN_SMALL] == 0 && c->frame[i].found[ECN_BIG] > 0;
    limits lim = {(int)(o->target_upload * n + 1e-9), (int)ceil(o->min_escalated * missed - 1e-9)};
    frame_feat *ff = ecn_calloc((size_t)n, sizeof *ff, err);
    area_gain *buf = ecn_calloc((size_t)n, sizeof *buf, err);
    choice best = {0};
    for (int k = 1; ff && buf && k < CONF_STEPS; k++) {
        float conf = c->conf * k / CONF_STEPS;
        features_at(c, conf, ff);
        int most = 0;
        for (int i = 0; i < n; i++) most = ff[i].est > most ? ff[i].est : most;
        for (int empty = 0; empty <= allow_empty; empty++)
            for (int count = 0; count <= most; count++)
                best_for_count(ff, n, (ecn_disc_thresholds){conf, count, 0, c->conf, empty}, lim, buf, &best);
    }
    free(ff);
    free(buf);
    if (!best.valid)
        return ecn_fail(err, "discriminator: no thresholds upload %d of the %d frames the small model misses within "
                        "%d uploads", lim.missed, missed, lim.budget);
    *t = best.t;
    return 0;
}

/* Paper method, the confidence: the estimated objects of the whole list
 * closest to the true ones. */
static int paper_conf(const ecn_cascade *c, frame_feat *ff, float *conf)
{
    long truths = 0, best_gap = -1;
    for (int i = 0; i < c->images; i++) truths += c->n_truth[i];
    for (int k = 1; k < CONF_STEPS; k++) {
        float v = c->conf * k / CONF_STEPS;
        features_at(c, v, ff);
        long est = 0;
        for (int i = 0; i < c->images; i++) est += ff[i].est;
        long gap = labs(est - truths);
        if (best_gap < 0 || gap < best_gap) best_gap = gap, *conf = v;
    }
    return 0;
}

/* Paper method, count and area: the rule on the true count and true
 * minimum area that labels the most frames right. */
static void paper_rules(const ecn_cascade *c, area_gain *buf, ecn_disc_thresholds *t)
{
    int n = c->images, most = 0;
    for (int i = 0; i < n; i++) most = c->n_truth[i] > most ? c->n_truth[i] : most;
    choice best = {0};
    for (int count = 0; count <= most; count++) {
        int m = 0;
        long right = 0;
        for (int i = 0; i < n; i++) {
            int hard = c->frame[i].found[ECN_BIG] > c->frame[i].found[ECN_SMALL];
            float area = 1;
            for (int j = 0; j < c->n_truth[i]; j++)
                if (c->truth[i][j].w * c->truth[i][j].h < area) area = c->truth[i][j].w * c->truth[i][j].h;
            if (c->n_truth[i] > count) right += hard;
            else buf[m++] = (area_gain){area, hard ? 1 : -1, 0}, right += !hard;
        }
        qsort(buf, (size_t)m, sizeof *buf, by_area);
        for (int k = 0; k < m; k++) {
            ecn_disc_thresholds cut = {t->conf, count, cut_at(buf, k), c->conf, 0};
            if (k == 0 || buf[k].area != buf[k - 1].area) consider(&best, right, 0, cut);
            right += buf[k].gain;
        }
        if (m == 0) consider(&best, right, 0, (ecn_disc_thresholds){t->conf, count, 0, c->conf, 0});
    }
    t->count = best.t.count;
    t->area = best.t.area;
}

static int fit_paper(const ecn_cascade *c, ecn_disc_thresholds *t, ecn_err *err)
{
    frame_feat *ff = ecn_calloc((size_t)c->images, sizeof *ff, err);
    area_gain *buf = ecn_calloc((size_t)c->images, sizeof *buf, err);
    int rc = ff && buf ? paper_conf(c, ff, &t->conf) : -1;
    if (!rc) paper_rules(c, buf, t);
    t->work = c->conf;
    free(ff);
    free(buf);
    return rc;
}

int ecn_disc_fit(const ecn_cascade *c, const ecn_disc_fit_opts *o, ecn_disc_thresholds *t, ecn_err *err)
{
    if (!c->frame) return ecn_fail(err, "discriminator: the cascade is not prepared");
    if (!(c->conf > 0 && c->conf <= 1)) return ecn_fail(err, "discriminator: working confidence %g: expected 0 to 1", c->conf);
    *t = (ecn_disc_thresholds){c->conf, 0, 0, c->conf, 0};
    if (o->method == ECN_DISC_PAPER) return fit_paper(c, t, err);
    if (!(o->target_upload >= 0 && o->target_upload <= 1 && o->min_escalated >= 0 && o->min_escalated <= 1))
        return ecn_fail(err, "discriminator: target upload %g, min escalated %g: expected 0 to 1", o->target_upload,
                        o->min_escalated);
    return fit_budget(c, o, t, err);
}

void ecn_disc_quality_of(const ecn_cascade *c, const unsigned char *upload, ecn_disc_quality *q)
{
    memset(q, 0, sizeof *q);
    q->frames = c->images;
    for (int i = 0; i < c->images; i++) {
        int hard = c->frame[i].found[ECN_BIG] > c->frame[i].found[ECN_SMALL], up = upload[i] != 0;
        q->difficult += hard;
        q->flagged += up;
        q->hits += hard && up;
    }
    int right = q->hits + (q->frames - q->difficult - q->flagged + q->hits);
    q->accuracy = q->frames ? (double)right / q->frames : 0;
    q->precision = q->flagged ? (double)q->hits / q->flagged : 0;
    q->recall = q->difficult ? (double)q->hits / q->difficult : 0;
    q->f1 = q->precision + q->recall > 0 ? 2 * q->precision * q->recall / (q->precision + q->recall) : 0;
}

/* ---- the thresholds file ------------------------------------------------------- */

int ecn_disc_save(const char *path, const ecn_disc_thresholds *t, const char *comment, ecn_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return ecn_fail(err, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "# difficult-case discriminator of the small-big cascade (ecnet cascade --thresholds)\n");
    if (comment) fprintf(f, "# %s\n", comment);
    fprintf(f, "conf = %.9g\ncount = %d\narea = %.9g\nwork = %.9g\nempty = %d\n", t->conf, t->count, t->area, t->work,
            t->empty);
    return fclose(f) ? ecn_fail(err, "%s: cannot write", path) : 0;
}

/* One "key = value" line into t; *seen collects bits of the keys read. */
static int parse_line(char *line, ecn_disc_thresholds *t, int *seen)
{
    char key[32], rest[8];
    double v;
    if (sscanf(line, " %31[a-z] = %lf %7s", key, &v, rest) != 2) return -1;
    static const char *const keys[] = {"conf", "count", "area", "work", "empty"};
    for (int k = 0; k < 5; k++) {
        if (strcmp(key, keys[k])) continue;
        if (k == 0) t->conf = (float)v;
        else if (k == 1) t->count = (int)v;
        else if (k == 2) t->area = (float)v;
        else if (k == 3) t->work = (float)v;
        else t->empty = (int)v;
        *seen |= 1 << k;
        return (k == 1 && v != (int)v) || (k == 4 && v != 0 && v != 1) ? -1 : 0;
    }
    return -1;
}

int ecn_disc_load(const char *path, ecn_disc_thresholds *t, ecn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return ecn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char line[256];
    int seen = 0, no = 0, rc = 0;
    *t = (ecn_disc_thresholds){0, 0, 0, 0, 0};
    while (!rc && fgets(line, sizeof line, f)) {
        no++;
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0) continue;
        if (parse_line(p, t, &seen))
            rc = ecn_fail(err, "%s:%d: expected conf, count, area, work or empty = a number", path, no);
    }
    fclose(f);
    if (!rc && (seen & 7) != 7) rc = ecn_fail(err, "%s: expected conf, count and area", path);
    if (!rc && !(t->conf > 0 && t->conf <= 1 && t->count >= 0 && t->area >= 0))
        rc = ecn_fail(err, "%s: expected 0 < conf <= 1, count >= 0, area >= 0", path);
    return rc;
}
