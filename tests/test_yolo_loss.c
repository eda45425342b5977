/* test_yolo_loss.c - the training losses of the detector heads [yolo] and
 * [region] (Darknet's forward_yolo_layer / forward_region_layer).
 *
 * Most checks use a head fed straight by the network input, so that the raw
 * predictions (tx, ty, tw, th, to, classes) are chosen here: a few boxes are
 * crafted to overlap a truth by a known IoU, every other prediction is a
 * tiny box that overlaps nothing.  For those nets the WHOLE delta tensor is
 * compared with an expectation built here:
 *
 *   - everywhere: the no-object delta (0 - obj, times noobject_scale for
 *     [region]), or 0 where the prediction's best IoU with a truth exceeds
 *     ignore_thresh / thresh (IoU computed here);
 *   - at the cell and anchor responsible for each truth (chosen by hand in
 *     the comments below, and the choice re-derived from the anchor IoUs):
 *     Darknet's formulas written out.
 *
 * Then: the same on a small convolutional net (random weights), the
 * backward pass (the head's delta reaches the layer before unchanged), a
 * few SGD steps that must lower the loss, and no truth -> no loss.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/optimizer.h"

typedef struct tbox {
    float x, y, w, h;
} tbox;

/* ---- helpers -------------------------------------------------------- */

/* Darknet's IoU of centre/size boxes, written out again. */
static float t_iou(tbox a, tbox b)
{
    float l = fmaxf(a.x - a.w / 2, b.x - b.w / 2), r = fminf(a.x + a.w / 2, b.x + b.w / 2);
    float t = fmaxf(a.y - a.h / 2, b.y - b.h / 2), d = fminf(a.y + a.h / 2, b.y + b.h / 2);
    float iw = r - l, ih = d - t;
    float inter = iw < 0 || ih < 0 ? 0 : iw * ih;
    return inter / (a.w * a.h + b.w * b.h - inter);
}

static float logit(float p) { return logf(p / (1 - p)); }

static ecn_net *open_net(const char *cfg, int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_err err;
    ecn_net *net = NULL;
    if (ecn_net_from_cfg_text(cfg, strlen(cfg), "test", &lo, &net, &err) ||
        ecn_net_train_begin(net, &err)) {
        CHECK(0, "building the net: %s", err.msg);
        ecn_net_free(net);
        return NULL;
    }
    return net;
}

/* Index of entry e of anchor n at cell (i, j) of image b. */
static size_t at(const ecn_layer *l, int entries, int b, int n, int i, int j, int e)
{
    size_t wh = (size_t)l->out.w * l->out.h;
    return (size_t)b * ecn_layer_outputs(l) + ((size_t)n * entries + e) * wh + (size_t)j * l->out.w + i;
}

/* Compare a whole delta tensor; report the first few mismatches. */
static void check_tensor(const char *what, const float *got, const float *want, size_t n)
{
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        float tol = 1e-5f + 1e-5f * fabsf(want[k]);
        if (!(fabsf(got[k] - want[k]) <= tol)) {
            if (bad < 5) CHECK(0, "%s: delta[%zu] = %.7g, expected %.7g", what, k, got[k], want[k]);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d of %zu deltas differ", what, bad, n);
}

static void check_loss(const char *what, float loss, const float *delta, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++) s += (double)delta[k] * delta[k];
    CHECK(fabs(loss - s) <= 1e-4 * s + 1e-6, "%s: loss %.7g, sum of squared deltas %.7g", what,
          loss, s);
}

/* Darknet's delta_yolo_box / delta_region_box for the entries at p (out) and
 * d (delta), wh apart; aw, ah the anchor in the units of size_w, size_h
 * (net pixels for [yolo], grid cells for [region]). */
static void box_delta(float *d, const float *p, size_t wh, tbox t, int i, int j, int gw, int gh,
                      float aw, float ah, float size_w, float size_h, float scale)
{
    d[0] = scale * (t.x * gw - i - p[0]);
    d[wh] = scale * (t.y * gh - j - p[wh]);
    d[2 * wh] = scale * ((float)log(t.w * size_w / aw) - p[2 * wh]);
    d[3 * wh] = scale * ((float)log(t.h * size_h / ah) - p[3 * wh]);
}

/* The anchor (index into an anchors list) whose shape best overlaps the
 * truth's, both centred at 0; ties go to the first. */
static int best_anchor(tbox t, const float *anchors, int count, float unit_w, float unit_h)
{
    int best = 0;
    float best_iou = 0;
    for (int a = 0; a < count; a++) {
        tbox s = {0, 0, anchors[2 * a] / unit_w, anchors[2 * a + 1] / unit_h};
        float iou = t_iou(s, (tbox){0, 0, t.w, t.h});
        if (iou > best_iou) {
            best_iou = iou;
            best = a;
        }
    }
    return best;
}

/* ---- [yolo] fed by the network input -------------------------------- */

/* 8 x 8 grid on an 8 x 8 "image", so the anchors are in grid cells too. */
static const float Y_ANCHORS[12] = {1, 1.25f, 2, 2.5f, 3.5f, 3, 5, 6, 7.5f, 5, 7, 7.5f};
#define Y_ENTRIES 7 /* 4 + 1 + 2 classes */

static ecn_net *yolo_direct(float ignore, float truth_thresh, int max)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "[net]\nwidth=8\nheight=8\nchannels=21\n\n"
             "[yolo]\nmask=0,1,2\nanchors=1,1.25, 2,2.5, 3.5,3, 5,6, 7.5,5, 7,7.5\nclasses=2\n"
             "num=6\nignore_thresh=%g\ntruth_thresh=%g\nmax=%d\n",
             ignore, truth_thresh, max);
    return open_net(cfg, 2);
}

/* Raw predictions for two images: tiny boxes everywhere (tw = th = -4), a
 * spread of objectness and class logits; then the crafted ones. */
static void yolo_input(const ecn_layer *l, float *x)
{
    unsigned long long rng = 99;
    size_t n = 2 * ecn_layer_outputs(l), wh = 64;
    for (size_t k = 0; k < n; k++) {
        size_t e = (k % (Y_ENTRIES * wh)) / wh;
        float u = ecn_rng_uniform(&rng);
        x[k] = e < 2 ? u - .5f : e < 4 ? -4.f : 4 * u - 2;
    }
    /* Image 0, anchor 2 (3.5 x 3 cells): P1 at cell (4,5) and P2 at cell
     * (3,5), both .45 x .35, centred at x = (c + .9) / 8, y = 5.5 / 8. */
    for (int c = 3; c <= 4; c++) {
        x[at(l, Y_ENTRIES, 0, 2, c, 5, 0)] = logit(.9f);
        x[at(l, Y_ENTRIES, 0, 2, c, 5, 1)] = 0;
        x[at(l, Y_ENTRIES, 0, 2, c, 5, 2)] = logf(.45f * 8 / 3.5f);
        x[at(l, Y_ENTRIES, 0, 2, c, 5, 3)] = logf(.35f * 8 / 3);
    }
}

/* Truths (3 boxes of 5 floats per image):
 *   image 0: C (.6875, .6875, .4, .35) class 1 -> 3.2 x 2.8 pixels: anchor
 *               2 (3.5 x 3, IoU .853; anchor 1 .558) at cell (5, 5);
 *            D (.2, .15, .9, .85) class 0 -> 7.2 x 6.8: anchor 5 (IoU .884),
 *               not in the mask: no positive delta anywhere;
 *            then the zero box that ends the list.
 *   image 1: E (.3, .3, .25, .3) class 0 and F (.35, .32, .24, .32) class 1:
 *               both anchor 1 at cell (2, 2), so F's class delta meets E's;
 *            G (1, .5, .2, .25) class 1: anchor 1, cell x = 8 clamped to 7. */
static const float TRUTH[30] = {
    .6875f, .6875f, .4f, .35f, 1, .2f, .15f, .9f, .85f, 0, 0, 0, 0, 0, 0,
    .3f, .3f, .25f, .3f, 0, .35f, .32f, .24f, .32f, 1, 1, .5f, .2f, .25f, 1,
};

static tbox truth_of(int b, int t)
{
    const float *p = TRUTH + 15 * b + 5 * t;
    return (tbox){p[0], p[1], p[2], p[3]};
}

/* The no-object deltas of every prediction (the first step of the loss). */
static void yolo_noobject(const ecn_layer *l, const float *out, float *want, float ignore, int max)
{
    const int mask[3] = {0, 1, 2};
    for (int b = 0; b < 2; b++)
        for (int n = 0; n < 3; n++)
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 8; i++) {
                    size_t e = at(l, Y_ENTRIES, b, n, i, j, 0), wh = 64;
                    tbox pred = {(i + out[e]) / 8, (j + out[e + wh]) / 8,
                                 expf(out[e + 2 * wh]) * Y_ANCHORS[2 * mask[n]] / 8,
                                 expf(out[e + 3 * wh]) * Y_ANCHORS[2 * mask[n] + 1] / 8};
                    float best = 0;
                    for (int t = 0; t < 3 && t < max && TRUTH[15 * b + 5 * t + 2] != 0; t++)
                        best = fmaxf(best, t_iou(pred, truth_of(b, t)));
                    want[e + 4 * wh] = best > ignore ? 0 : -out[e + 4 * wh];
                }
}

/* The responsible deltas of a truth at (b, n, i, j): box, objectness and
 * classes (cls_delta: 0 sets every class, 1 only the truth's, Darknet's
 * quirk when an earlier truth already set them). */
static void yolo_positive(const ecn_layer *l, const float *out, float *want, int b, int n, int i,
                          int j, tbox t, int cls, int only_cls)
{
    size_t e = at(l, Y_ENTRIES, b, n, i, j, 0), wh = 64;
    box_delta(want + e, out + e, wh, t, i, j, 8, 8, Y_ANCHORS[2 * n], Y_ANCHORS[2 * n + 1], 8, 8,
              2 - t.w * t.h);
    want[e + 4 * wh] = 1 - out[e + 4 * wh];
    for (int k = 0; k < 2; k++)
        if (!only_cls || k == cls) want[e + (5 + k) * wh] = (k == cls) - out[e + (5 + k) * wh];
}

static void test_yolo_direct(void)
{
    /* The hand-made anchor choices, re-derived. */
    CHECK(best_anchor(truth_of(0, 0), Y_ANCHORS, 6, 8, 8) == 2, "C's best anchor is 2");
    CHECK(best_anchor(truth_of(0, 1), Y_ANCHORS, 6, 8, 8) == 5, "D's best anchor is 5");
    CHECK(best_anchor(truth_of(1, 0), Y_ANCHORS, 6, 8, 8) == 1, "E's best anchor is 1");
    CHECK(best_anchor(truth_of(1, 1), Y_ANCHORS, 6, 8, 8) == 1, "F's best anchor is 1");
    CHECK(best_anchor(truth_of(1, 2), Y_ANCHORS, 6, 8, 8) == 1, "G's best anchor is 1");

    for (int variant = 0; variant < 3; variant++) {
        /* 0: defaults (ignore .5, truth_thresh 1); 1: truth_thresh .6 makes
         * P1 a match too; 2: max=2 drops image 1's third box G. */
        float ignore = .5f, tt = variant == 1 ? .6f : 1;
        int max = variant == 2 ? 2 : 90;
        ecn_net *net = yolo_direct(ignore, tt, max);
        if (!net) return;
        ecn_layer *l = &net->layers[0];
        size_t n = 2 * ecn_layer_outputs(l);
        float *x = malloc(n * sizeof *x), *want = calloc(n, sizeof *want);
        yolo_input(l, x);
        float loss = ecn_net_train_forward(net, x, TRUTH, 15);
        const float *out = l->output;

        /* The crafted predictions overlap C as planned: P1 by .7, P2 by .36. */
        size_t p1 = at(l, Y_ENTRIES, 0, 2, 4, 5, 0), p2 = at(l, Y_ENTRIES, 0, 2, 3, 5, 0), wh = 64;
        tbox b1 = {(4 + out[p1]) / 8, (5 + out[p1 + wh]) / 8,
                   expf(out[p1 + 2 * wh]) * 3.5f / 8, expf(out[p1 + 3 * wh]) * 3 / 8};
        tbox b2 = b1;
        b2.x -= 1.f / 8;
        float iou1 = t_iou(b1, truth_of(0, 0)), iou2 = t_iou(b2, truth_of(0, 0));
        CHECK(fabsf(iou1 - .7f) < 1e-3f && fabsf(iou2 - .36f) < 1e-3f, "crafted IoUs %g %g", iou1,
              iou2);

        yolo_noobject(l, out, want, ignore, max);
        /* The ignore rule, explicitly: P1 (IoU .7 > .5) no objectness
         * delta, P2 (.36) pushed toward 0. */
        if (variant != 1) CHECK(l->delta[p1 + 4 * wh] == 0, "P1 (IoU .7 > ignore .5): obj delta 0");
        CHECK(fabsf(l->delta[p2 + 4 * wh] + out[p2 + 4 * wh]) < 1e-6f,
              "P2 (IoU .36 < ignore .5): obj delta -obj");
        if (variant == 1) {
            /* truth_thresh .6 < .7: P1 trained toward C from its own cell (4, 5). */
            yolo_positive(l, out, want, 0, 2, 4, 5, truth_of(0, 0), 1, 0);
            float s = 2 - .4f * .35f;
            CHECK(fabsf(l->delta[p1] - s * (.6875f * 8 - 4 - .9f)) < 1e-5f,
                  "truth_thresh match: x delta %g", l->delta[p1]);
            CHECK(fabsf(l->delta[p1 + 4 * wh] - (1 - out[p1 + 4 * wh])) < 1e-6f,
                  "truth_thresh match: obj delta 1 - obj");
        }
        /* Image 0: C at anchor 2, cell (5, 5). */
        yolo_positive(l, out, want, 0, 2, 5, 5, truth_of(0, 0), 1, 0);
        /* Image 1: E then F at anchor 1, cell (2, 2): F's class goes up
         * without resetting E's (Darknet's delta_yolo_class). */
        yolo_positive(l, out, want, 1, 1, 2, 2, truth_of(1, 0), 0, 0);
        yolo_positive(l, out, want, 1, 1, 2, 2, truth_of(1, 1), 1, 1);
        if (max > 2) yolo_positive(l, out, want, 1, 1, 7, 4, truth_of(1, 2), 1, 0);

        char what[64];
        snprintf(what, sizeof what, "yolo direct (variant %d)", variant);
        check_tensor(what, l->delta, want, n);
        check_loss(what, loss, l->delta, n);

        /* Spot checks of the formulas with the numbers written out. */
        size_t c = at(l, Y_ENTRIES, 0, 2, 5, 5, 0);
        float s = 2 - .4f * .35f;
        CHECK(fabsf(l->delta[c] - s * (5.5f - 5 - out[c])) < 1e-5f, "C: x delta");
        CHECK(fabsf(l->delta[c + 2 * wh] - s * (logf(3.2f / 3.5f) - out[c + 2 * wh])) < 1e-5f,
              "C: w delta");
        CHECK(fabsf(l->delta[c + 3 * wh] - s * (logf(2.8f / 3.f) - out[c + 3 * wh])) < 1e-5f,
              "C: h delta");
        CHECK(fabsf(l->delta[c + 5 * wh] + out[c + 5 * wh]) < 1e-6f &&
                  fabsf(l->delta[c + 6 * wh] - (1 - out[c + 6 * wh])) < 1e-6f,
              "C: class deltas (0 - p0, 1 - p1)");
        size_t ef = at(l, Y_ENTRIES, 1, 1, 2, 2, 0);
        CHECK(l->delta[ef + 5 * wh] > 0 && l->delta[ef + 6 * wh] > 0,
              "E and F in one cell: both classes pushed up");
        size_t g = at(l, Y_ENTRIES, 1, 1, 7, 4, 0);
        if (max > 2)
            CHECK(fabsf(l->delta[g] - (2 - .2f * .25f) * (1 - out[g])) < 1e-5f,
                  "G at x = 1: clamped into column 7, x target 1");
        else
            CHECK(l->delta[g + 4 * wh] <= 0, "max=2: the third box is not read");
        /* D's anchor is not in the mask: no positive objectness in image 0
         * beyond C (and P1 with truth_thresh .6). */
        int positives = 0;
        for (int a = 0; a < 3; a++)
            for (size_t k = 0; k < wh; k++) positives += l->delta[at(l, Y_ENTRIES, 0, a, 0, 0, 4) + k] > 0;
        CHECK(positives == (variant == 1 ? 2 : 1), "image 0: %d positive objectness deltas",
              positives);
        free(x);
        free(want);
        ecn_net_free(net);
    }
}

/* ---- [region] fed by the network input ------------------------------ */

static const float R_ANCHORS[6] = {1, 1.25f, 2, 2.5f, 3.5f, 3}; /* grid cells */
#define R_ENTRIES 7

static ecn_net *region_direct(int softmax, int bias_match, int rescore)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "[net]\nwidth=8\nheight=8\nchannels=21\n\n"
             "[region]\nanchors=1,1.25, 2,2.5, 3.5,3\nclasses=2\ncoords=4\nnum=3\n"
             "softmax=%d\nbias_match=%d\nrescore=%d\nthresh=.6\nobject_scale=5\n"
             "noobject_scale=.5\nclass_scale=2\ncoord_scale=1.5\n",
             softmax, bias_match, rescore);
    return open_net(cfg, 2);
}

/* Raw predictions: tiny boxes everywhere; P1 (IoU .7 with C) at cell (4,5)
 * and P2 (.36) at (3,5), anchor 2, as for [yolo]; at C's cell (5, 5) anchor
 * 2 predicts .5 x .35 at C's centre (IoU .8), anchor 0 C's own shape (IoU
 * 1).  The anchors are those of mask 0,1,2 of the [yolo] test, in cells. */
static void region_input(const ecn_layer *l, float *x)
{
    unsigned long long rng = 1234;
    size_t n = 2 * ecn_layer_outputs(l), wh = 64;
    for (size_t k = 0; k < n; k++) {
        size_t e = (k % (R_ENTRIES * wh)) / wh;
        float u = ecn_rng_uniform(&rng);
        x[k] = e < 2 ? u - .5f : e < 4 ? -4.f : 4 * u - 2;
    }
    for (int c = 3; c <= 4; c++) {
        x[at(l, R_ENTRIES, 0, 2, c, 5, 0)] = logit(.9f);
        x[at(l, R_ENTRIES, 0, 2, c, 5, 1)] = 0;
        x[at(l, R_ENTRIES, 0, 2, c, 5, 2)] = logf(.45f * 8 / 3.5f);
        x[at(l, R_ENTRIES, 0, 2, c, 5, 3)] = logf(.35f * 8 / 3);
    }
    size_t a2 = at(l, R_ENTRIES, 0, 2, 5, 5, 0), a0 = at(l, R_ENTRIES, 0, 0, 5, 5, 0);
    x[a2] = x[a2 + wh] = 0;
    x[a2 + 2 * wh] = logf(.5f * 8 / 3.5f);
    x[a2 + 3 * wh] = logf(.35f * 8 / 3);
    x[a0] = x[a0 + wh] = 0;
    x[a0 + 2 * wh] = logf(.4f * 8 / 1);
    x[a0 + 3 * wh] = logf(.35f * 8 / 1.25f);
}

static void test_region_direct(void)
{
    for (int variant = 0; variant < 3; variant++) {
        /* 0: softmax, bias_match, rescore; 1: softmax, matching by the
         * predicted shape (anchor 0 wins at C's cell), no rescore;
         * 2: logistic classes (the class quirk of two truths in a cell). */
        int softmax = variant < 2, bias_match = variant == 0, rescore = variant == 0;
        ecn_net *net = region_direct(softmax, bias_match, rescore);
        if (!net) return;
        ecn_layer *l = &net->layers[0];
        size_t n = 2 * ecn_layer_outputs(l), wh = 64;
        float *x = malloc(n * sizeof *x), *want = calloc(n, sizeof *want);
        region_input(l, x);
        float loss = ecn_net_train_forward(net, x, TRUTH, 15);
        const float *out = l->output;

        if (softmax) {
            size_t k = at(l, R_ENTRIES, 1, 2, 6, 6, 5);
            CHECK(fabsf(out[k] + out[k + wh] - 1) < 1e-6f, "softmax classes sum to 1");
        }
        /* No object (noobject_scale .5), unless IoU > thresh .6. */
        for (int b = 0; b < 2; b++)
            for (int a = 0; a < 3; a++)
                for (int j = 0; j < 8; j++)
                    for (int i = 0; i < 8; i++) {
                        size_t e = at(l, R_ENTRIES, b, a, i, j, 0);
                        tbox pred = {(i + out[e]) / 8, (j + out[e + wh]) / 8,
                                     expf(out[e + 2 * wh]) * R_ANCHORS[2 * a] / 8,
                                     expf(out[e + 3 * wh]) * R_ANCHORS[2 * a + 1] / 8};
                        float best = 0;
                        for (int t = 0; t < 3 && TRUTH[15 * b + 5 * t + 2] != 0; t++)
                            best = fmaxf(best, t_iou(pred, truth_of(b, t)));
                        want[e + 4 * wh] = best > .6f ? 0 : .5f * (0 - out[e + 4 * wh]);
                    }
        size_t p1 = at(l, R_ENTRIES, 0, 2, 4, 5, 4), p2 = at(l, R_ENTRIES, 0, 2, 3, 5, 4);
        CHECK(l->delta[p1] == 0, "region: P1 (IoU .7 > thresh .6) gets no objectness delta");
        CHECK(fabsf(l->delta[p2] + .5f * out[p2]) < 1e-6f, "region: P2 gets .5 * (0 - obj)");

        /* The positives, truth by truth.  With bias_match the anchors' own
         * shapes choose (as for [yolo]: C anchor 2, E, F, G anchor 1; D, which
         * has no mask to miss here, anchor 2 at cell (1, 1)); without it the
         * predicted shapes at the truth's cell: at C's cell anchor 0 (IoU 1),
         * elsewhere all predictions are tiny boxes inside the truth, so the
         * largest, anchor 2, overlaps most. */
        int a1 = bias_match ? 1 : 2;
        CHECK(best_anchor(truth_of(0, 1), R_ANCHORS, 3, 8, 8) == 2, "D's best anchor is 2");
        struct {
            int b, t, a, i, j, cls;
        } pos[5] = {{0, 0, bias_match ? 2 : 0, 5, 5, 1}, {0, 1, 2, 1, 1, 0}, {1, 0, a1, 2, 2, 0},
                    {1, 1, a1, 2, 2, 1}, {1, 2, a1, 7, 4, 1}};
        for (int q = 0; q < 5; q++) {
            tbox t = truth_of(pos[q].b, pos[q].t);
            size_t e = at(l, R_ENTRIES, pos[q].b, pos[q].a, pos[q].i, pos[q].j, 0);
            tbox pred = {(pos[q].i + out[e]) / 8, (pos[q].j + out[e + wh]) / 8,
                         expf(out[e + 2 * wh]) * R_ANCHORS[2 * pos[q].a] / 8,
                         expf(out[e + 3 * wh]) * R_ANCHORS[2 * pos[q].a + 1] / 8};
            float iou = t_iou(pred, t);
            if (q == 0) CHECK(fabsf(iou - (bias_match ? .8f : 1.f)) < 1e-3f, "C's IoU %g", iou);
            box_delta(want + e, out + e, wh, t, pos[q].i, pos[q].j, 8, 8, R_ANCHORS[2 * pos[q].a],
                      R_ANCHORS[2 * pos[q].a + 1], 8, 8, 1.5f * (2 - t.w * t.h));
            want[e + 4 * wh] = 5 * ((rescore ? iou : 1) - out[e + 4 * wh]);
            int only = !softmax && q == 3; /* F after E, logistic classes */
            for (int k = 0; k < 2; k++)
                if (!only || k == pos[q].cls)
                    want[e + (5 + k) * wh] = 2 * ((k == pos[q].cls) - out[e + (5 + k) * wh]);
        }
        char what[64];
        snprintf(what, sizeof what, "region direct (variant %d)", variant);
        check_tensor(what, l->delta, want, n);
        check_loss(what, loss, l->delta, n);
        size_t ef = at(l, R_ENTRIES, 1, a1, 2, 2, 5);
        if (softmax)
            CHECK(l->delta[ef] < 0 && l->delta[ef + wh] > 0, "softmax: the last truth's class wins");
        else
            CHECK(l->delta[ef] > 0 && l->delta[ef + wh] > 0, "logistic: both classes pushed up");
        free(x);
        free(want);
        ecn_net_free(net);
    }
}

/* ---- convolutional nets: responsible cell, backward, SGD, no truth ---- */

static const char *YOLO_CONV =
    "[net]\nwidth=32\nheight=32\nchannels=3\nmomentum=.9\ndecay=.0005\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=4\nstride=4\n\n"
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=4,5, 8,10, 14,12, 20,24, 30,20, 28,30\nclasses=2\nnum=6\n";

static const char *REGION_CONV =
    "[net]\nwidth=32\nheight=32\nchannels=3\nmomentum=.9\ndecay=.0005\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=4\nstride=4\n\n"
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
    "[region]\nanchors=.5,.6, 1,1.25, 2,1.5\nclasses=2\ncoords=4\nnum=3\nsoftmax=1\n"
    "bias_match=1\nrescore=1\nobject_scale=5\nnoobject_scale=1\nclass_scale=1\ncoord_scale=1\n";

/* A: (.3, .55, .25, .35) class 1 -> 8 x 11.2 pixels: anchor 1 (8 x 10, IoU
 * .893) at cell (2, 4); B: (.7, .3, .9, .8) class 0 -> 28.8 x 25.6: anchor 5
 * (28 x 30), outside the mask. */
static const float CONV_TRUTH[10] = {.3f, .55f, .25f, .35f, 1, .7f, .3f, .9f, .8f, 0};

static void test_yolo_conv(void)
{
    static const float anchors[12] = {4, 5, 8, 10, 14, 12, 20, 24, 30, 20, 28, 30};
    tbox A = {.3f, .55f, .25f, .35f}, B = {.7f, .3f, .9f, .8f};
    CHECK(best_anchor(A, anchors, 6, 32, 32) == 1, "A's best anchor is 1");
    CHECK(best_anchor(B, anchors, 6, 32, 32) == 5, "B's best anchor is 5");
    ecn_net *net = open_net(YOLO_CONV, 1);
    if (!net) return;
    ecn_net_randomize(net, 5);
    ecn_layer *l = &net->layers[3], *conv = &net->layers[2];
    CHECK(l->out.w == 8 && l->out.h == 8, "8 x 8 grid");
    size_t n = ecn_layer_outputs(l), wh = 64;
    float x[32 * 32 * 3];
    unsigned long long rng = 3;
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = ecn_rng_uniform(&rng);

    float loss = ecn_net_train_forward(net, x, CONV_TRUTH, 10);
    const float *out = l->output;
    float *want = calloc(n, sizeof *want);
    /* No object everywhere (ignore_thresh .5). */
    for (int a = 0; a < 3; a++)
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 8; i++) {
                size_t e = at(l, Y_ENTRIES, 0, a, i, j, 0);
                tbox pred = {(i + out[e]) / 8, (j + out[e + wh]) / 8,
                             expf(out[e + 2 * wh]) * anchors[2 * a] / 32,
                             expf(out[e + 3 * wh]) * anchors[2 * a + 1] / 32};
                float best = fmaxf(t_iou(pred, A), t_iou(pred, B));
                want[e + 4 * wh] = best > .5f ? 0 : -out[e + 4 * wh];
            }
    /* A at anchor 1, cell (2, 4): Darknet's formulas written out. */
    size_t e = at(l, Y_ENTRIES, 0, 1, 2, 4, 0);
    float s = 2 - .25f * .35f;
    want[e] = s * (.3f * 8 - 2 - out[e]);
    want[e + wh] = s * (.55f * 8 - 4 - out[e + wh]);
    want[e + 2 * wh] = s * ((float)log(.25f * 32 / 8) - out[e + 2 * wh]);
    want[e + 3 * wh] = s * ((float)log(.35f * 32 / 10) - out[e + 3 * wh]);
    want[e + 4 * wh] = 1 - out[e + 4 * wh];
    want[e + 5 * wh] = 0 - out[e + 5 * wh];
    want[e + 6 * wh] = 1 - out[e + 6 * wh];
    check_tensor("yolo conv: responsible cell and no-object deltas", l->delta, want, n);
    check_loss("yolo conv", loss, l->delta, n);
    CHECK(out[e] > 0 && out[e] < 1 && out[e + 4 * wh] > 0 && out[e + 4 * wh] < 1,
          "x and objectness are logistic outputs");

    /* Backward: the delta reaches the convolution unchanged (no logistic
     * derivative: Darknet's cross-entropy-style delta). */
    ecn_net_backward(net, x);
    double md = 0;
    for (size_t k = 0; k < n; k++) md = fmax(md, fabs(conv->delta[k] - l->delta[k]));
    CHECK(md < 1e-6, "backward: conv delta = yolo delta (max diff %g)", md);
    free(want);
    ecn_net_free(net);
}

/* `steps` SGD steps (Darknet's defaults: momentum .9, decay .0005) on one
 * image and its truth: the mean loss of the last 10 steps must be well below
 * the first (the [region] loss oscillates on the way: object_scale 5 and the
 * rescore target move together). */
static void sgd_run(const char *name, const char *cfg, int steps, float lr)
{
    ecn_net *net = open_net(cfg, 1);
    if (!net) return;
    ecn_net_randomize(net, 11);
    ecn_err err;
    ecn_optimizer *opt = NULL;
    if (ecn_optimizer_create(net, &opt, &err)) {
        CHECK(0, "%s: optimizer: %s", name, err.msg);
        ecn_net_free(net);
        return;
    }
    float x[32 * 32 * 3];
    unsigned long long rng = 17;
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = ecn_rng_uniform(&rng);
    float first = 0;
    double tail = 0;
    int finite = 1;
    for (int s = 0; s < steps; s++) {
        float loss = ecn_net_train_step(net, x, CONV_TRUTH, 10);
        ecn_optimizer_update(opt, lr, 1);
        if (s == 0) first = loss;
        if (s >= steps - 10) tail += loss / 10.;
        finite &= isfinite(loss) != 0;
    }
    printf("  %-8s SGD %d steps: loss %.4g, mean of the last 10 %.4g\n", name, steps, first, tail);
    CHECK(finite, "%s: the loss became infinite or NaN", name);
    CHECK(tail < .3 * first, "%s: %d SGD steps took the loss from %g to %g only", name, steps,
          first, tail);
    ecn_optimizer_free(opt);
    ecn_net_free(net);
}

static void test_no_truth(const char *name, const char *cfg)
{
    ecn_net *net = open_net(cfg, 1);
    if (!net) return;
    ecn_net_randomize(net, 5);
    ecn_layer *l = &net->layers[3], *conv = &net->layers[2];
    size_t n = ecn_layer_outputs(l);
    float x[32 * 32 * 3];
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = (float)(k % 7) / 7;
    /* A loss first, so that stale deltas would show; its backward hands the
     * head's delta to the convolution unchanged. */
    ecn_net_train_step(net, x, CONV_TRUTH, 10);
    double md = 0, mag = 0;
    for (size_t k = 0; k < n; k++) {
        md = fmax(md, fabs(conv->delta[k] - l->delta[k]));
        mag = fmax(mag, fabs(l->delta[k]));
    }
    CHECK(md < 1e-6 && mag > .1, "%s backward: conv delta = head delta (max diff %g)", name, md);
    float loss = ecn_net_train_step(net, x, NULL, 0);
    int nonzero = 0;
    for (size_t k = 0; k < n; k++) nonzero += l->delta[k] != 0 || conv->delta[k] != 0;
    CHECK(loss == 0 && l->loss == 0, "%s without truth: loss %g", name, loss);
    CHECK(nonzero == 0, "%s without truth: %d nonzero deltas", name, nonzero);

    /* A truth with no boxes: every prediction is background. */
    float empty[10] = {0};
    loss = ecn_net_train_forward(net, x, empty, 10);
    size_t wh = (size_t)l->out.w * l->out.h, bad = 0;
    double s = 0;
    for (size_t k = 0; k < n; k++) {
        size_t e = (k / wh) % Y_ENTRIES;
        float want = e == 4 ? -l->output[k] : 0;
        bad += fabsf(l->delta[k] - want) > 1e-6f;
        s += (double)want * want;
    }
    CHECK(bad == 0, "%s, no boxes: %zu deltas are not the no-object delta", name, bad);
    CHECK(fabs(loss - s) < 1e-4 * s, "%s, no boxes: loss %g, expected %g", name, loss, s);
    ecn_net_free(net);
}

#ifndef STEPS
#define STEPS 100
#endif
#ifndef LR
#define LR .001f
#endif

int main(void)
{
    test_yolo_direct();
    test_region_direct();
    test_yolo_conv();
    sgd_run("yolo", YOLO_CONV, STEPS, LR);
    sgd_run("region", REGION_CONV, STEPS, LR);
    test_no_truth("yolo", YOLO_CONV);
    test_no_truth("region", REGION_CONV);
    return test_finish("test_yolo_loss");
}
