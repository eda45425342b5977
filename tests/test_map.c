/* test_map.c - average precision (src/detect/map.c) and `ecnet map`.
 *
 * Every expected number is computed by hand in the comments: AP of ranked
 * lists (VOC all-point and COCO 101-point), then whole sets where the
 * boxes' IoUs are known: a class with 3 truths and 4 detections, a
 * duplicate, a duplicate that VOC rejects and COCO gives to a second truth,
 * perfect detections, a class never detected, a class without truth; size
 * ranges that ignore the truths and detections of other sizes.  The tool
 * runs on a tiny composed set with a random network and prints JSON (with
 * --by-size too).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/map.h"
#include "ecnet.h"
#include "testlib.h"

static int near(double a, double b) { return fabs(a - b) < 1e-6; }

static void ranked_lists(void)
{
    /* tp = 1 0 1 0 1, 4 truths (one never found).
     * precision 1, 1/2, 2/3, 2/4, 3/5; recall 1/4, 1/4, 2/4, 2/4, 3/4.
     * envelope (max from the right): 1, 2/3, 2/3, 3/5, 3/5.
     * VOC: recall steps of 1/4 at ranks 0, 2, 4: (1 + 2/3 + 3/5) / 4 = 0.566667.
     * COCO: r = 0 -> rank 0 (1); r in .01...25 -> rank 0 (25 x 1);
     *   r in .26....50 -> rank 2 (25 x 2/3); r in .51....75 -> rank 4 (25 x 3/5);
     *   r > .75 never reached: (1 + 25 + 50/3 + 15) / 101 = 0.570957. */
    unsigned char tp[5] = {1, 0, 1, 0, 1};
    CHECK(near(ecn_ap_voc(tp, 5, 4), (1 + 2 / 3. + .6) / 4), "VOC AP %.6f", ecn_ap_voc(tp, 5, 4));
    CHECK(near(ecn_ap_coco(tp, 5, 4), (41 + 50 / 3.) / 101), "COCO AP %.6f", ecn_ap_coco(tp, 5, 4));
    /* All right: 1 in both.  One truth of three found first: VOC 1/3;
     * COCO r = 0 .. .33 reached at rank 0 (100 x 1 >= 3 t for t <= 33): 34/101. */
    unsigned char all[3] = {1, 1, 1}, one[1] = {1};
    CHECK(near(ecn_ap_voc(all, 3, 3), 1) && near(ecn_ap_coco(all, 3, 3), 1), "perfect ranking: 1");
    CHECK(near(ecn_ap_voc(one, 1, 3), 1 / 3.), "VOC one of three: %.6f", ecn_ap_voc(one, 1, 3));
    CHECK(near(ecn_ap_coco(one, 1, 3), 34 / 101.), "COCO one of three: %.6f", ecn_ap_coco(one, 1, 3));
    /* Nothing right, or nothing at all: 0. */
    unsigned char none[2] = {0, 0};
    CHECK(ecn_ap_voc(none, 2, 2) == 0 && ecn_ap_coco(none, 2, 2) == 0, "no true positive: 0");
    CHECK(ecn_ap_voc(none, 0, 2) == 0 && ecn_ap_coco(none, 0, 2) == 0, "no detection: 0");
}

static ecn_box B(float x, float y, float w, float h) { return (ecn_box){x, y, w, h}; }

/* Class 0: truths A (image 0, .3 .3 .2 .2), B (image 0, .7 .7 .1 .1),
 * C (image 1, .5 .5 .2 .4); detections, by score:
 *   d1 .9 image 0 (.3 .3 .164 .2): IoU with A = .164/.2 = .82  -> TP
 *   d2 .8 image 0 (.9 .1 .1 .1):   overlaps nothing           -> FP
 *   d3 .7 image 0 (.3 .3 .124 .2): IoU .62 with A, taken       -> FP (duplicate)
 *   d4 .6 image 1 (.5 .5 .144 .4): IoU .72 with C              -> TP
 * precision 1, 1/2, 1/3, 1/2; recall 1/3, 1/3, 1/3, 2/3; envelope 1, .5, .5, .5.
 * VOC AP50 = 1/3 x 1 + 1/3 x .5 = 0.5.
 * COCO: at t = .50 .. .70 the same ranking: r = 0 .. .33 at rank 0 (34 x 1),
 *   r = .34 .. .66 at rank 3 (33 x .5): 50.5/101 = 0.5;
 *   at t = .75, .80 d4 misses (.72 < t): 34/101; at t >= .85 d1 misses too: 0.
 *   AP = (5 x 50.5/101 + 2 x 34/101) / 10 = 320.5/1010 = 0.317327. */
static void class_three_truths(ecn_map_set *s, ecn_err *err)
{
    ecn_map_add_gt(s, 0, 0, B(.3f, .3f, .2f, .2f), err);
    ecn_map_add_gt(s, 0, 0, B(.7f, .7f, .1f, .1f), err);
    ecn_map_add_gt(s, 1, 0, B(.5f, .5f, .2f, .4f), err);
    ecn_map_add_det(s, 0, 0, .8f, B(.9f, .1f, .1f, .1f), err); /* added out of order on purpose */
    ecn_map_add_det(s, 0, 0, .9f, B(.3f, .3f, .164f, .2f), err);
    ecn_map_add_det(s, 1, 0, .6f, B(.5f, .5f, .144f, .4f), err);
    ecn_map_add_det(s, 0, 0, .7f, B(.3f, .3f, .124f, .2f), err);
}

/* Class 1: truths G1 (.2 .2 .1 .1) and G2 (.7 .7 .1 .1) in image 2; d1 .9 = G1,
 * d2 .8 = G1 again (a duplicate: FP in both styles), d3 .7 = G2.
 * tp 1 0 1: precision 1, 1/2, 2/3; envelope 1, 2/3, 2/3.
 * VOC: (1 + 2/3) / 2 = 0.833333.  COCO (every t, IoUs are 1):
 *   r = 0 .. .50 at rank 0 (51 x 1), r = .51 .. 1 at rank 2 (50 x 2/3): 84.3333/101. */
static void class_duplicate(ecn_map_set *s, ecn_err *err)
{
    ecn_map_add_gt(s, 2, 1, B(.2f, .2f, .1f, .1f), err);
    ecn_map_add_gt(s, 2, 1, B(.7f, .7f, .1f, .1f), err);
    ecn_map_add_det(s, 2, 1, .9f, B(.2f, .2f, .1f, .1f), err);
    ecn_map_add_det(s, 2, 1, .8f, B(.2f, .2f, .1f, .1f), err);
    ecn_map_add_det(s, 2, 1, .7f, B(.7f, .7f, .1f, .1f), err);
}

/* Class 2: overlapping truths G1 (.40 .5 .2 .2) and G2 (.44 .5 .2 .2), image 3.
 * d1 .9 = G1 (IoU 1).  d2 .8 at (.41 .5 .2 .2): IoU with G1 = .19/.21 = .905,
 * with G2 = .17/.23 = .739.
 * VOC: d2's best truth is G1, taken: FP.  tp 1 0: AP50 = 1/2 x 1 = 0.5.
 * COCO: d2 takes the free G2 while .739 >= t: t = .50 .. .70 tp 1 1: AP 1;
 *   t = .75 .. .95 tp 1 0: r = 0 .. .50 at rank 0: 51/101.
 *   AP = (5 + 5 x 51/101) / 10 = 0.752475. */
static void class_voc_vs_coco(ecn_map_set *s, ecn_err *err)
{
    ecn_map_add_gt(s, 3, 2, B(.40f, .5f, .2f, .2f), err);
    ecn_map_add_gt(s, 3, 2, B(.44f, .5f, .2f, .2f), err);
    ecn_map_add_det(s, 3, 2, .9f, B(.40f, .5f, .2f, .2f), err);
    ecn_map_add_det(s, 3, 2, .8f, B(.41f, .5f, .2f, .2f), err);
}

/* Class 3: five truths in five images, each found exactly: 1 and 1.
 * Class 4: two truths, no detection: 0 and 0.
 * Class 5: no truth, one detection: no AP (-1), left out of the means. */
static void classes_simple(ecn_map_set *s, ecn_err *err)
{
    for (int i = 0; i < 5; i++) {
        ecn_box b = B(.1f + .15f * i, .5f, .1f, .3f);
        ecn_map_add_gt(s, 10 + i, 3, b, err);
        ecn_map_add_det(s, 10 + i, 3, .5f + .01f * i, b, err);
    }
    ecn_map_add_gt(s, 20, 4, B(.5f, .5f, .2f, .2f), err);
    ecn_map_add_gt(s, 21, 4, B(.5f, .5f, .2f, .2f), err);
    ecn_map_add_det(s, 20, 5, .95f, B(.5f, .5f, .2f, .2f), err);
}

static void whole_set(void)
{
    ecn_map_set s = {0};
    ecn_err err = {{0}};
    class_three_truths(&s, &err);
    class_duplicate(&s, &err);
    class_voc_vs_coco(&s, &err);
    classes_simple(&s, &err);
    ecn_map_result r;
    ecn_map_opts o = {.iou = .5f, .conf = .25f};
    int rc = ecn_map_evaluate(&s, 6, &o, &r, &err);
    CHECK(rc == 0, "evaluate: %s", err.msg);
    if (rc) return;
    const ecn_map_class *c = r.per_class;
    double coco0 = 320.5 / 1010, coco1 = (84 + 1 / 3.) / 101, coco2 = (5 + 5 * 51 / 101.) / 10;
    CHECK(near(c[0].ap50, .5) && near(c[0].ap, coco0), "3 truths, 4 detections: AP50 %.6f (0.5), AP %.6f (%.6f)",
          c[0].ap50, c[0].ap, coco0);
    CHECK(near(c[0].ap_at[0], .5) && near(c[0].ap_at[5], 34 / 101.) && c[0].ap_at[9] == 0, "per IoU: %.6f %.6f %.6f",
          c[0].ap_at[0], c[0].ap_at[5], c[0].ap_at[9]);
    CHECK(c[0].gt == 3 && c[0].det == 4 && c[0].tp == 2 && c[0].fp == 2, "class 0: 2 TP, 2 FP (the duplicate)");
    CHECK(near(c[0].precision, .5) && near(c[0].recall, 2 / 3.), "class 0: P 1/2, R 2/3");
    CHECK(near(c[1].ap50, (1 + 2 / 3.) / 2) && near(c[1].ap, coco1), "duplicate: AP50 %.6f, AP %.6f", c[1].ap50, c[1].ap);
    CHECK(c[1].tp == 2 && c[1].fp == 1, "the duplicate is a false positive");
    CHECK(near(c[2].ap50, .5) && near(c[2].ap_at[0], 1) && near(c[2].ap, coco2),
          "VOC rejects the duplicate (AP50 %.6f), COCO gives it the free truth (AP@.5 %.6f, AP %.6f)", c[2].ap50,
          c[2].ap_at[0], c[2].ap);
    CHECK(c[3].ap50 == 1 && near(c[3].ap, 1), "perfect detections: 1 and 1");
    CHECK(c[4].ap50 == 0 && c[4].ap == 0 && c[4].recall == 0, "never detected: 0");
    CHECK(c[5].ap50 == -1 && c[5].ap == -1 && c[5].fp == 1, "no truth: no AP, one FP");
    /* means over classes 0..4 */
    double map50 = (.5 + (1 + 2 / 3.) / 2 + .5 + 1 + 0) / 5, map = (coco0 + coco1 + coco2 + 1 + 0) / 5;
    CHECK(r.with_gt == 5 && near(r.map50, map50) && near(r.map, map), "map50 %.6f (%.6f), map %.6f (%.6f)", r.map50,
          map50, r.map, map);
    /* all classes at score >= .25: TP 2+2+1+5+0+0, FP 2+1+1+0+0+1, truths 3+2+2+5+2 */
    CHECK(r.tp == 10 && r.fp == 5 && r.gt == 14, "totals TP %d FP %d GT %d", r.tp, r.fp, r.gt);
    ecn_map_result_free(&r);

    /* A higher score threshold for P/R: at .65 class 0 keeps d1 d2 d3: 1 TP, 2 FP. */
    o.conf = .65f;
    rc = ecn_map_evaluate(&s, 6, &o, &r, &err);
    CHECK(rc == 0 && r.per_class[0].tp == 1 && r.per_class[0].fp == 2, "at .65: 1 TP, 2 FP");
    CHECK(rc == 0 && near(r.per_class[0].ap50, .5), "the AP does not depend on conf");
    ecn_map_result_free(&r);
    ecn_map_set_free(&s);
}

static void edges(void)
{
    ecn_map_set s = {0};
    ecn_err err = {{0}};
    ecn_map_result r;
    ecn_map_opts o = {.iou = .5f, .conf = .25f};
    CHECK(ecn_map_evaluate(&s, 3, &o, &r, &err) == 0 && r.with_gt == 0 && r.map50 == -1 && r.map == -1,
          "an empty set: no classes with truth, mAP -1");
    ecn_map_result_free(&r);
    ecn_map_add_gt(&s, 0, 3, B(.5f, .5f, .1f, .1f), &err);
    CHECK(ecn_map_evaluate(&s, 3, &o, &r, &err) == -1 && strstr(err.msg, "class 3"), "class out of range: %s", err.msg);
    ecn_map_set_free(&s);

    /* detections from the network's form: one per nonzero class, boxes clipped */
    float prob[3] = {.7f, 0, .3f};
    ecn_detection d = {B(.95f, .5f, .2f, .2f), .9f, 3, prob};
    CHECK(ecn_map_add_detections(&s, 4, &d, 1, &err) == 0 && s.n_det == 2, "two classes, two detections");
    CHECK(s.n_det == 2 && s.det[0].cls == 0 && s.det[1].cls == 2 && s.det[1].score == .3f && s.det[0].image == 4,
          "classes, scores and image kept");
    CHECK(s.n_det == 2 && near(s.det[0].box.x, .925) && near(s.det[0].box.w, .15) && near(s.det[0].box.h, .2),
          "clipped at the right edge: x %.4f w %.4f", s.det[0].box.x, s.det[0].box.w);
    ecn_map_set_free(&s);
}

/* Size ranges, on one 128 x 128 image: truth S (side 10 px) and L (side 50
 * px), detections by score: fL .95 (50 px, on nothing), dL .9 (on L),
 * dS .85 (on S), fS .8 (10 px, on nothing).
 *   all sizes: FP TP TP FP, 2 truths: precision 1/2, 2/3 at the TPs, envelope
 *     2/3 for both: VOC (2/3 + 2/3)/2 = 2/3; COCO also 2/3 (perfect boxes).
 *   small [0, 16): fL is outside and takes nothing, dL takes the ignored L:
 *     both ignored; dS TP, fS FP: AP 1 (VOC and COCO), 1 truth, 1 TP 1 FP.
 *   large [32, inf): fL FP, dL TP, dS takes the ignored S, fS is outside:
 *     AP 1/2.  */
static void size_ranges(void)
{
    ecn_map_set s = {0};
    ecn_err err = {{0}};
    s.image_w = s.image_h = 128;
    float a = 10 / 128.f, b = 50 / 128.f;
    ecn_map_add_gt(&s, 0, 0, B(.2f, .2f, a, a), &err);
    ecn_map_add_gt(&s, 0, 0, B(.6f, .6f, b, b), &err);
    ecn_map_add_det(&s, 0, 0, .95f, B(.25f, .75f, b, b), &err);
    ecn_map_add_det(&s, 0, 0, .9f, B(.6f, .6f, b, b), &err);
    ecn_map_add_det(&s, 0, 0, .85f, B(.2f, .2f, a, a), &err);
    ecn_map_add_det(&s, 0, 0, .8f, B(.9f, .1f, a, a), &err);
    CHECK(near(s.gt[0].side, 10) && near(s.det[0].side, 50), "sides in pixels: %.4f, %.4f", s.gt[0].side,
          s.det[0].side);
    ecn_map_opts all = {.iou = .5f, .conf = .25f}, small = all, large = all;
    small.side_max = 16;
    large.side_min = 32, large.side_max = 1e30f;
    ecn_map_result r;
    CHECK(ecn_map_evaluate(&s, 1, &all, &r, &err) == 0 && near(r.map50, 2 / 3.) && near(r.map, 2 / 3.) &&
              r.gt == 2 && r.tp == 2 && r.fp == 2,
          "all sizes: AP50 %.6f AP %.6f (2/3)", r.map50, r.map);
    ecn_map_result_free(&r);
    CHECK(ecn_map_evaluate(&s, 1, &small, &r, &err) == 0 && near(r.map50, 1) && near(r.map, 1) && r.gt == 1 &&
              r.tp == 1 && r.fp == 1 && r.per_class[0].det == 2,
          "small: AP50 %.6f AP %.6f (1), gt %d tp %d fp %d", r.map50, r.map, r.gt, r.tp, r.fp);
    ecn_map_result_free(&r);
    CHECK(ecn_map_evaluate(&s, 1, &large, &r, &err) == 0 && near(r.map50, .5) && near(r.map, .5) && r.gt == 1 &&
              r.tp == 1 && r.fp == 1,
          "large: AP50 %.6f AP %.6f (1/2), gt %d tp %d fp %d", r.map50, r.map, r.gt, r.tp, r.fp);
    ecn_map_result_free(&r);
    small.side_min = 100, small.side_max = 200;
    CHECK(ecn_map_evaluate(&s, 1, &small, &r, &err) == 0 && r.with_gt == 0 && r.map50 == -1 && r.fp == 0,
          "a range with no truth: no AP, nothing counted");
    ecn_map_result_free(&r);
    ecn_map_set_free(&s);
}

/* ---- the tool ------------------------------------------------------------ */

static const char tiny_cfg[] = "[net]\nwidth=128\nheight=128\nchannels=3\n\n"
                               "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n\n"
                               "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=4\npad=1\nactivation=leaky\n\n"
                               "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=45\nactivation=linear\n\n"
                               "[yolo]\nmask=0,1,2\nanchors=8,12, 17,19, 38,22\nclasses=10\nnum=3\n";

static int fashion_here(void)
{
    const char *dir = getenv("ECNET_FASHION_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir ? dir : "/usr/share/datasets/fashion-mnist");
    return access(path, R_OK) == 0;
}

static void tool(void)
{
    if (!fashion_here()) {
        test_skip("Fashion-MNIST not installed: ecnet map not run");
        return;
    }
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "a temporary directory");
    if (!dir) return;
    const char *e = test_ecnet();
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny.cfg", dir);
    CHECK(test_write_file(path, tiny_cfg, strlen(tiny_cfg)) == 0, "write the cfg");
    int rc = test_system("%s dataset compose --out %s/set --train 5 --test 5 >/dev/null", e, dir);
    CHECK(rc == 0, "compose 5 + 5 frames: exit %d", rc);
    rc = test_system("%s map %s/tiny.cfg --data %s/set/det.data --threads 1 --json > %s/map.json 2>/dev/null", e, dir,
                     dir, dir);
    CHECK(rc == 0, "ecnet map --json (random parameters) exit %d", rc);
    snprintf(path, sizeof path, "%s/map.json", dir);
    size_t n;
    char *js = (char *)test_read_file(path, &n);
    CHECK(js && n > 0 && js[0] == '{' && strstr(js, "\"map50\":") && strstr(js, "\"map\":") && strstr(js, "\"per_class\":"),
          "JSON with map50, map, per_class");
    free(js);
    if (test_system("command -v jq >/dev/null 2>&1") == 0)
        CHECK(test_system("jq -e '.images == 5 and (.per_class | length) == 10 and .map50 >= 0 and .map >= 0' "
                          "%s/map.json >/dev/null",
                          dir) == 0,
              "the JSON parses: 5 images, 10 classes, map50 and map numbers");
    else
        test_skip("jq not installed: JSON not parsed");
    rc = test_system("%s map %s/tiny.cfg --data %s/set/det.data --threads 1 --limit 2 > %s/map.txt 2>/dev/null", e, dir,
                     dir, dir);
    CHECK(rc == 0, "the table with --limit 2: exit %d", rc);
    CHECK(test_system("grep -q '2 images' %s/map.txt", dir) == 0, "the table says 2 images");
    rc = test_system("%s map %s/tiny.cfg --data %s/set/det.data --threads 1 --by-size --json > %s/size.json 2>/dev/null",
                     e, dir, dir, dir);
    CHECK(rc == 0, "--by-size --json: exit %d", rc);
    if (test_system("command -v jq >/dev/null 2>&1") == 0)
        CHECK(test_system("jq -e '(.by_size | length) == 3 and .by_size[0].size == \"small\" and "
                          "([.by_size[].gt] | add) == .gt' %s/size.json >/dev/null",
                          dir) == 0,
              "by_size: small, medium, large, their truths adding up to all");
    CHECK(test_system("%s map %s/tiny.cfg 2>/dev/null", e, dir) == 2, "no --data: exit 2");
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    ranked_lists();
    whole_set();
    edges();
    size_ranges();
    tool();
    return test_finish("test_map");
}
