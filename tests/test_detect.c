/* test_detect.c - boxes, NMS, the [yolo]/[region] heads and drawing.
 *
 * All cases are small enough to compute by hand; the numbers in the
 * comments are the expected values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/layer.h"
#include "detect/detections.h"
#include "ecnet.h"
#include "testlib.h"

extern const ecn_layer_ops ecn_yolo_ops, ecn_region_ops;

static int near(float a, float b, float tol) { return fabsf(a - b) <= tol; }

static ecn_box box(float x, float y, float w, float h)
{
    ecn_box b = {x, y, w, h};
    return b;
}

static void test_iou(void)
{
    ecn_box a = box(.5f, .5f, 1, 1);
    CHECK(ecn_box_iou(a, a) == 1, "IoU of a box with itself: %g", ecn_box_iou(a, a));
    /* Shifted by half a width: intersection .5, union 1.5. */
    float v = ecn_box_iou(a, box(1, .5f, 1, 1));
    CHECK(near(v, 1.f / 3, 1e-6f), "half overlap: %g, expected 1/3", v);
    /* Contained quarter: intersection .25, union 1. */
    v = ecn_box_iou(a, box(.5f, .5f, .5f, .5f));
    CHECK(near(v, .25f, 1e-6f), "contained: %g, expected .25", v);
    /* Apart, and touching. */
    CHECK(ecn_box_iou(a, box(3, 3, 1, 1)) == 0, "apart: 0");
    CHECK(ecn_box_iou(a, box(1.5f, .5f, 1, 1)) == 0, "touching: 0");
    CHECK(near(ecn_box_intersection(box(0, 0, 2, 2), box(1, 1, 2, 2)), 1, 1e-6f),
          "intersection of corners: 1");
    CHECK(near(ecn_box_union(box(0, 0, 2, 2), box(1, 1, 2, 2)), 7, 1e-6f), "union: 7");
}

static ecn_detection det(ecn_box b, float obj, float p0, float p1)
{
    ecn_detection d = {b, obj, 2, malloc(2 * sizeof(float))};
    d.prob[0] = p0;
    d.prob[1] = p1;
    return d;
}

static const ecn_detection *find_box(const ecn_detection *d, int n, float x)
{
    for (int i = 0; i < n; i++)
        if (d[i].box.x == x) return &d[i];
    return NULL;
}

static void test_nms(void)
{
    /* d0 and d1 overlap (IoU ~.82); d2 lies apart; d3 has objectness 0.
     * Class 0: d0 (.8) beats d1 (.7); d2 (.6) is alone.
     * Class 1: d1 (.6) beats d0 (.1). */
    ecn_detection d[4];
    d[0] = det(box(.50f, .5f, .4f, .4f), .9f, .8f, .1f);
    d[1] = det(box(.52f, .5f, .4f, .4f), .9f, .7f, .6f);
    d[2] = det(box(.10f, .1f, .1f, .1f), .8f, .6f, 0);
    d[3] = det(box(.51f, .5f, .4f, .4f), 0, 0, 0);
    d[3].prob[0] = .99f; /* would suppress everything if it took part */
    int n = ecn_nms_sort(d, 4, .45f);
    CHECK(n == 3, "kept %d with objectness, expected 3", n);
    CHECK(d[3].objectness == 0, "the empty one went last");
    const ecn_detection *a = find_box(d, n, .50f), *b = find_box(d, n, .52f), *c = find_box(d, n, .10f);
    CHECK(a && b && c, "all three boxes still there");
    if (a && b && c) {
        CHECK(a->prob[0] == .8f && a->prob[1] == 0, "d0: %g %g, expected .8 0", a->prob[0], a->prob[1]);
        CHECK(b->prob[0] == 0 && b->prob[1] == .6f, "d1: %g %g, expected 0 .6", b->prob[0], b->prob[1]);
        CHECK(c->prob[0] == .6f && c->prob[1] == 0, "d2: %g %g, expected .6 0", c->prob[0], c->prob[1]);
    }
    /* The last sort was by class 1: d1, then d0, then d2. */
    CHECK(d[0].box.x == .52f && d[1].box.x == .50f && d[2].box.x == .10f, "order after the sorts");
    for (int i = 0; i < 4; i++) free(d[i].prob);

    /* Equal probabilities keep their order (a stable sort, as Darknet gets
     * from glibc): the first of two identical boxes survives. */
    d[0] = det(box(.3f, .3f, .2f, .2f), .9f, .7f, 0);
    d[1] = det(box(.3f, .3f, .2f, .2f), .9f, .7f, 0);
    d[1].classes = 1;
    n = ecn_nms_sort(d, 2, .45f);
    CHECK(n == 2 && d[0].prob[0] == .7f && d[1].prob[0] == 0 && d[0].classes == 2,
          "tie: the first one wins");
    free(d[0].prob);
    free(d[1].prob);
}

static void test_letterbox_correction(void)
{
    int nw, nh;
    ecn_letterbox_size(200, 100, 64, 64, &nw, &nh);
    CHECK(nw == 64 && nh == 32, "200x100 in 64x64: %d x %d, expected 64 x 32", nw, nh);
    ecn_letterbox_size(640, 427, 416, 416, &nw, &nh);
    CHECK(nw == 416 && nh == 277, "640x427 in 416x416: %d x %d, expected 416 x 277", nw, nh);
    ecn_letterbox_size(100, 300, 416, 416, &nw, &nh);
    CHECK(nw == 138 && nh == 416, "100x300 in 416x416: %d x %d, expected 138 x 416", nw, nh);

    /* 200x100 image in a 64x64 net: the picture fills rows 16..47.  A box at
     * (.3, .4, .2, .5) of the image is at (.3, (16 + .4*32)/64 = .45, .2, .25)
     * of the net input. */
    ecn_detection d = {box(.3f, .45f, .2f, .25f), 1, 0, NULL};
    ecn_correct_letterbox(&d, 1, 200, 100, 64, 64);
    CHECK(near(d.box.x, .3f, 1e-6f) && near(d.box.y, .4f, 1e-6f) && near(d.box.w, .2f, 1e-6f) &&
              near(d.box.h, .5f, 1e-6f),
          "hand case: %g %g %g %g, expected .3 .4 .2 .5", d.box.x, d.box.y, d.box.w, d.box.h);

    /* Round trips: image box -> net box (placing it as the letterbox does)
     * -> corrected back. */
    const int sizes[][4] = {{640, 427, 416, 416}, {768, 576, 608, 608}, {100, 300, 416, 416},
                            {500, 375, 320, 256}, {416, 416, 416, 416}};
    const ecn_box boxes[] = {box(.5f, .5f, .3f, .6f), box(.1f, .9f, .05f, .1f), box(.8f, .2f, .4f, .4f)};
    float worst = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int iw = sizes[s][0], ih = sizes[s][1], W = sizes[s][2], H = sizes[s][3];
        ecn_letterbox_size(iw, ih, W, H, &nw, &nh);
        for (size_t k = 0; k < sizeof boxes / sizeof boxes[0]; k++) {
            ecn_box b = boxes[k];
            ecn_detection e = {box(((W - nw) / 2 + b.x * nw) / W, ((H - nh) / 2.f + b.y * nh) / H,
                                   b.w * nw / W, b.h * nh / H),
                               1, 0, NULL};
            /* (W - nw) / 2 is an integer division in the letterbox, but the
             * correction uses (W - nw) / 2. : the same only when W - nw is even. */
            if ((W - nw) % 2 || (H - nh) % 2) continue;
            ecn_correct_letterbox(&e, 1, iw, ih, W, H);
            float m = fmaxf(fmaxf(fabsf(e.box.x - b.x), fabsf(e.box.y - b.y)),
                            fmaxf(fabsf(e.box.w - b.w), fabsf(e.box.h - b.h)));
            if (m > worst) worst = m;
        }
    }
    CHECK(worst < 1e-5f, "letterbox round trips: worst error %g", worst);
}

/* Build one head from cfg text with the given input shape. */
static int make_head(const char *text, ecn_shape in, ecn_shape net_in, ecn_layer *l, ecn_err *err)
{
    ecn_cfg cfg;
    memset(l, 0, sizeof *l);
    if (ecn_cfg_parse(text, strlen(text), "test.cfg", &cfg, err)) return -1;
    const ecn_layer_ops *ops = ecn_layer_ops_find(cfg.sections[0].name);
    ecn_opts o = {&cfg, &cfg.sections[0], err, 0};
    ecn_build b = {.layers = NULL, .index = 0, .trunk_last = -1, .input = in, .net_input = net_in, .batch = 1};
    l->ops = ops;
    l->batch = 1;
    l->in = in;
    int rc = ops ? ops->make(l, &o, &b) : -1;
    if (rc == 0 && o.failed) rc = -1;
    /* Every option must have been read (none is reported as a typo). */
    for (int i = 0; rc == 0 && i < cfg.sections[0].n_opts; i++)
        if (!cfg.sections[0].opts[i].used) {
            snprintf(err->msg, sizeof err->msg, "option %s not read", cfg.sections[0].opts[i].key);
            rc = -1;
        }
    ecn_cfg_free(&cfg);
    return rc;
}

static float logistic(float x) { return 1.f / (1.f + expf(-x)); }

static void test_yolo(void)
{
    ecn_err err = {{0}};
    ecn_layer l;
    /* 2x2 grid, one anchor (mask=1 of num=3), 2 classes: 7 channels.
     * Net input 64 wide, 32 high. */
    const char *cfg = "[yolo]\nmask=1\nanchors=10,14, 20,30, 40,50\nclasses=2\nnum=3\n"
                      "jitter=.3\nignore_thresh=.7\ntruth_thresh=1\nrandom=1\nmax=50\n";
    ecn_shape in = {7, 2, 2}, net_in = {3, 32, 64};
    int rc = make_head(cfg, in, net_in, &l, &err);
    CHECK(rc == 0, "make [yolo]: %s", err.msg);
    if (rc) return;
    CHECK(l.out.c == 7 && l.out.h == 2 && l.out.w == 2, "output shape = input shape");
    CHECK(l.keep_output == 1, "keep_output");
    CHECK(l.ops->max_detections(&l) == 4, "max detections 2*2*1");

    /* Forward: logistic on x, y, objectness and classes; tw, th untouched. */
    float input[28], output[28];
    for (int i = 0; i < 28; i++) input[i] = (float)(i % 5) - 2.f;
    l.output = output;
    const float *ins[1] = {input};
    ecn_ctx ctx = {0};
    l.ops->forward(&l, ins, &ctx);
    int bad = 0;
    for (int i = 0; i < 28; i++) {
        int entry = i / 4;
        float want = (entry == 2 || entry == 3) ? input[i] : logistic(input[i]);
        bad += !near(output[i], want, 1e-6f);
    }
    CHECK(bad == 0, "forward: %d values wrong", bad);

    /* Decode a hand-made output.  Planes of 4 cells: x y tw th obj c0 c1. */
    float out[28] = {
        .5f, 0, 0, 0,                   /* x */
        .25f, 0, 0, 1,                  /* y */
        0, 0, 0, -(float)M_LN2,         /* tw */
        (float)M_LN2, 0, 0, 0,          /* th */
        .9f, .4f, .5f, .6f,             /* objectness: cells 1, 2 are <= .5 */
        .8f, 1, 1, .5f,                 /* class 0 */
        .3f, 1, 1, 1,                   /* class 1 */
    };
    ecn_detection dets[4];
    ecn_detect_opts opts = {.thresh = .5f, .nms = .45f};
    int n = l.ops->detections(&l, out, &opts, net_in, dets, 4);
    CHECK(n == 2, "yolo: %d detections, expected 2", n);
    if (n == 2) {
        /* Cell 0 (row 0, col 0), anchor 1 = (20, 30):
         * x = .5/2, y = .25/2, w = 1*20/64, h = 2*30/32; probs .72, .27 -> 0 */
        ecn_detection *d = &dets[0];
        CHECK(near(d->box.x, .25f, 1e-6f) && near(d->box.y, .125f, 1e-6f) &&
                  near(d->box.w, 20.f / 64, 1e-6f) && near(d->box.h, 60.f / 32, 1e-6f),
              "cell 0 box %g %g %g %g", d->box.x, d->box.y, d->box.w, d->box.h);
        CHECK(d->objectness == .9f && d->classes == 2, "cell 0 objectness %g", d->objectness);
        CHECK(near(d->prob[0], .72f, 1e-6f) && d->prob[1] == 0, "cell 0 probs %g %g", d->prob[0],
              d->prob[1]);
        /* Cell 3 (row 1, col 1): x = 1/2, y = 2/2, w = .5*20/64, h = 30/32;
         * probs .3 -> 0, .6 */
        d = &dets[1];
        CHECK(near(d->box.x, .5f, 1e-6f) && near(d->box.y, 1, 1e-6f) &&
                  near(d->box.w, 10.f / 64, 1e-6f) && near(d->box.h, 30.f / 32, 1e-6f),
              "cell 3 box %g %g %g %g", d->box.x, d->box.y, d->box.w, d->box.h);
        CHECK(d->prob[0] == 0 && near(d->prob[1], .6f, 1e-6f), "cell 3 probs %g %g", d->prob[0],
              d->prob[1]);
    }
    for (int i = 0; i < (n > 0 ? n : 0); i++) free(dets[i].prob);

    /* The same with the letterbox undone: a 128x32 image fills the 64x32
     * net input's rows 8..23 (new size 64x16). */
    opts.letterboxed = 1;
    opts.image_w = 128;
    opts.image_h = 32;
    n = l.ops->detections(&l, out, &opts, net_in, dets, 4);
    CHECK(n == 2, "yolo letterboxed: %d detections", n);
    if (n == 2) {
        /* y = (.125 - 8/32) / (16/32) = -.25; h = (60/32) * 2 */
        ecn_detection *d = &dets[0];
        CHECK(near(d->box.x, .25f, 1e-6f) && near(d->box.y, -.25f, 1e-6f) &&
                  near(d->box.w, 20.f / 64, 1e-6f) && near(d->box.h, 120.f / 32, 1e-6f),
              "letterboxed box %g %g %g %g", d->box.x, d->box.y, d->box.w, d->box.h);
    }
    for (int i = 0; i < (n > 0 ? n : 0); i++) free(dets[i].prob);
    l.ops->destroy(&l);

    /* Without mask, all anchors; the channel check names the filters needed. */
    rc = make_head("[yolo]\nclasses=80\nnum=3\nanchors=1,2,3,4,5,6\n", (ecn_shape){255, 4, 4},
                   net_in, &l, &err);
    CHECK(rc == 0, "yolo without mask: %s", err.msg);
    if (rc == 0) l.ops->destroy(&l);
    rc = make_head("[yolo]\nclasses=80\nnum=9\nmask=0,1,2\n", (ecn_shape){256, 4, 4}, net_in, &l,
                   &err);
    CHECK(rc == -1 && strstr(err.msg, "filters=255"), "wrong channels: '%s'", err.msg);
    rc = make_head("[yolo]\nclasses=2\nnum=3\nmask=3\n", (ecn_shape){7, 2, 2}, net_in, &l, &err);
    CHECK(rc == -1 && strstr(err.msg, "mask"), "mask out of range: '%s'", err.msg);
    rc = make_head("[yolo]\nclasses=2\nnum=1\nanchors=1,2,3\n", (ecn_shape){7, 2, 2}, net_in, &l,
                   &err);
    CHECK(rc == -1 && strstr(err.msg, "anchors"), "too many anchors: '%s'", err.msg);
}

static void test_region(void)
{
    ecn_err err = {{0}};
    ecn_layer l;
    /* 1x2 grid (h=1, w=2), 2 anchors in grid units, 2 classes, softmax. */
    const char *cfg = "[region]\nanchors=1,1, 2,0.5\nbias_match=1\nclasses=2\ncoords=4\nnum=2\n"
                      "softmax=1\njitter=.3\nrescore=1\nobject_scale=5\nnoobject_scale=1\n"
                      "class_scale=1\ncoord_scale=1\nabsolute=1\nthresh=.6\nrandom=1\n";
    ecn_shape in = {14, 1, 2}, net_in = {3, 32, 64};
    int rc = make_head(cfg, in, net_in, &l, &err);
    CHECK(rc == 0, "make [region]: %s", err.msg);
    if (rc) return;
    CHECK(l.ops->max_detections(&l) == 4, "max detections 1*2*2");

    /* Forward: per anchor, planes x y tw th obj c0 c1 of 2 cells. */
    float input[28], output[28];
    for (int i = 0; i < 28; i++) input[i] = .25f * (float)(i % 7) - .5f;
    l.output = output;
    const float *ins[1] = {input};
    ecn_ctx ctx = {0};
    l.ops->forward(&l, ins, &ctx);
    int bad = 0;
    for (int a = 0; a < 2; a++)
        for (int cell = 0; cell < 2; cell++) {
            const float *x = input + a * 14 + cell;
            const float *y = output + a * 14 + cell;
            for (int e = 0; e < 5; e++) {
                float want = (e == 2 || e == 3) ? x[e * 2] : logistic(x[e * 2]);
                bad += !near(y[e * 2], want, 1e-6f);
            }
            float e0 = expf(x[10]), e1 = expf(x[12]);
            bad += !near(y[10], e0 / (e0 + e1), 1e-6f) + !near(y[12], e1 / (e0 + e1), 1e-6f);
        }
    CHECK(bad == 0, "region forward: %d values wrong", bad);

    /* Decode.  Anchor 0, cell 1: obj .8, classes .9/.1; the rest have obj .3. */
    float out[28] = {
        /* anchor 0 */ 0, .5f, 0, .5f, 0, 0, 0, 0, .3f, .8f, .5f, .9f, .5f, .1f,
        /* anchor 1 */ .5f, .5f, .5f, .5f, 0, 0, 0, 0, .3f, .3f, .5f, .5f, .5f, .5f,
    };
    ecn_detection dets[4];
    ecn_detect_opts opts = {.thresh = .5f, .nms = .45f};
    int n = l.ops->detections(&l, out, &opts, net_in, dets, 4);
    CHECK(n == 4, "region gives every cell and anchor: %d", n);
    if (n == 4) {
        /* Anchor-major: dets[1] is anchor 0, cell 1 (col 1):
         * x = 1.5/2, y = .5/1, w = 1*1/2, h = 1*1/1; probs .72, .08 -> 0. */
        ecn_detection *d = &dets[1];
        CHECK(near(d->box.x, .75f, 1e-6f) && near(d->box.y, .5f, 1e-6f) &&
                  near(d->box.w, .5f, 1e-6f) && near(d->box.h, 1, 1e-6f),
              "region box %g %g %g %g", d->box.x, d->box.y, d->box.w, d->box.h);
        CHECK(d->objectness == .8f && near(d->prob[0], .72f, 1e-6f) && d->prob[1] == 0,
              "region obj %g probs %g %g", d->objectness, d->prob[0], d->prob[1]);
        /* Anchor 1, cell 0: w = 2/2, h = .5/1. */
        d = &dets[2];
        CHECK(near(d->box.x, .25f, 1e-6f) && near(d->box.w, 1, 1e-6f) && near(d->box.h, .5f, 1e-6f),
              "region anchor 1 box %g %g %g %g", d->box.x, d->box.y, d->box.w, d->box.h);
        CHECK(dets[0].objectness == 0 && dets[2].objectness == 0 && dets[3].objectness == 0,
              "low objectness is 0");
        CHECK(dets[0].prob[0] == 0 && dets[0].prob[1] == 0, "no probs when objectness is 0");
        for (int i = 0; i < 4; i++) free(dets[i].prob);
    }
    l.ops->destroy(&l);

    rc = make_head("[region]\nclasses=20\nnum=5\ncoords=4\n", (ecn_shape){100, 13, 13}, net_in, &l,
                   &err);
    CHECK(rc == -1 && strstr(err.msg, "filters=125"), "region channels: '%s'", err.msg);
    rc = make_head("[region]\nclasses=2\nnum=1\ntree=data/9k.tree\n", (ecn_shape){7, 2, 2}, net_in,
                   &l, &err);
    CHECK(rc == -1 && strstr(err.msg, "not supported"), "tree unsupported: '%s'", err.msg);
}

/* The whole path through a network: [yolo] right on the network input. */
static void test_net(void)
{
    const char *cfg = "[net]\nwidth=2\nheight=2\nchannels=7\n\n"
                      "[yolo]\nmask=0\nanchors=1,1\nclasses=2\nnum=1\n";
    ecn_net *net = NULL;
    ecn_err err = {{0}};
    int rc = ecn_net_from_cfg_text(cfg, strlen(cfg), "yolo.cfg", NULL, &net, &err);
    if (rc) {
        test_skip("network from cfg text: %s", err.msg);
        return;
    }
    /* Two cells with objects overlapping in class 0, one with class 1; raw
     * values (the head applies the logistic): 3 -> .95, -3 -> .05. */
    float in[28] = {
        0, 0, 0, 0,   /* x: centre of the cell */
        0, 0, 0, 0,   /* y */
        2, 2, 0, 0,   /* tw: cells 0, 1 are big (e^2/2 of the image) */
        2, 2, 0, 0,   /* th */
        3, 2, 3, -3,  /* objectness .95 .88 .95 .05 */
        3, 3, -3, 3,  /* class 0 */
        -3, -3, 3, 3, /* class 1 */
    };
    ecn_net_forward(net, in, NULL, NULL);
    ecn_detect_opts opts = {.thresh = .5f, .nms = .45f};
    ecn_detection *d = NULL;
    int n = -1;
    rc = ecn_net_detections(net, &opts, &d, &n, &err);
    CHECK(rc == 0, "ecn_net_detections: %s", err.msg);
    if (rc == 0) {
        /* Cells 0 and 1 overlap (IoU > .45): cell 1 loses class 0. */
        CHECK(n == 3, "%d detections, expected 3", n);
        int with_class0 = 0, with_class1 = 0;
        for (int i = 0; i < n; i++) {
            with_class0 += d[i].prob[0] > 0;
            with_class1 += d[i].prob[1] > 0;
        }
        CHECK(with_class0 == 1 && with_class1 == 1, "after NMS: %d with class 0, %d with class 1",
              with_class0, with_class1);
        ecn_detections_free(d, n);
    }
    opts.nms = 0;
    rc = ecn_net_detections(net, &opts, &d, &n, &err);
    CHECK(rc == 0 && n == 3, "without NMS: rc %d, %d detections", rc, n);
    if (rc == 0) {
        int with_class0 = 0;
        for (int i = 0; i < n; i++) with_class0 += d[i].prob[0] > 0;
        CHECK(with_class0 == 2, "without NMS both keep class 0");
        CHECK(d[0].box.x == .25f && d[1].box.x == .75f, "without NMS the order is the cells'");
        ecn_detections_free(d, n);
    }
    ecn_net_free(net);
}

static void test_draw(void)
{
    ecn_image im = {100, 80, 3, NULL};
    im.data = malloc(100 * 80 * 3 * sizeof(float));
    for (int i = 0; i < 100 * 80 * 3; i++) im.data[i] = .5f;
    ecn_detection d = {box(.5f, .5f, .4f, .5f), .9f, 3, calloc(3, sizeof(float))};
    d.prob[2] = .8f;
    const char *names[] = {"cat", "dog", "bird"};
    int drawn = ecn_draw_detections(&im, &d, 1, .5f, names, 3);
    CHECK(drawn == 1, "drew %d boxes", drawn);
    float rgb[3];
    ecn_class_color(2, rgb);
    /* Box from x 30..70, y 20..60; 3 pixels thick. */
    const size_t plane = 100 * 80;
    int edge_ok = 1;
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 3; k++) {
            edge_ok &= im.data[k * plane + 40 * 100 + 30 + t] == rgb[k]; /* left */
            edge_ok &= im.data[k * plane + 40 * 100 + 70 - t] == rgb[k]; /* right */
            edge_ok &= im.data[k * plane + (60 - t) * 100 + 50] == rgb[k]; /* bottom */
        }
    CHECK(edge_ok, "the box edges have the class colour");
    CHECK(im.data[40 * 100 + 50] == .5f && im.data[40 * 100 + 33] == .5f, "inside untouched");
    /* A label bar above the box, with some text in it. */
    int bar = 0, ink = 0;
    for (int y = 0; y < 20; y++)
        for (int x = 30; x < 70; x++) {
            float r = im.data[y * 100 + x], g = im.data[plane + y * 100 + x];
            bar += r == rgb[0] && g == rgb[1];
            ink += r != rgb[0] && r != .5f;
        }
    CHECK(bar > 50 && ink > 10, "label: %d bar pixels, %d text pixels", bar, ink);
    CHECK(ecn_draw_detections(&im, &d, 1, .9f, names, 3) == 0, "nothing above .9");
    free(d.prob);
    free(im.data);
}

int main(void)
{
    test_iou();
    test_nms();
    test_letterbox_correction();
    test_yolo();
    test_region();
    test_net();
    test_draw();
    return test_finish("test_detect");
}
