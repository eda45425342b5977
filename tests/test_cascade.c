/* test_cascade.c - the small-big cascade (src/detect/cascade.c), its
 * difficult-case discriminator (discriminator.c), the Brenner measure
 * (blur.c), the results cache, and `ecnet cascade` / `ecnet discriminator`.
 *
 * Four hand-made frames, two classes, every detection exactly on its truth
 * (IoU 1) or far from everything (IoU 0):
 *
 *   frame  truths               small model                 big model
 *   f0     A c0 (.3 .3 .2 .2)   A .70, F c1 (.8 .8 .1) .75  A .90
 *   f1     C c0 (.3 .3 .3 .3),  C .80, B .20                C .85, B .60
 *          B c1 (.7 .7 .05 .05)
 *   f2     D c0 (.5 .5 .1 .1)   D .055                      D .70
 *   f3     -                    -                           G c0 (.5 .5 .2) .30
 *
 * At conf .25: small finds 1 1 0 0 (2), big 1 2 1 0 (4); the small model
 * shows 2 1 0 0 detections, so f2 is the one frame where it shows nothing
 * and the big model finds an object.
 * mAP@.5, big alone: class 0 ranks A .9, C .85, D .7 (TP) then G .3 (FP): 1;
 *   class 1 B .6: 1; map50 = 1.
 * small alone: class 0 C .8, A .7, D .055, all TP: 1; class 1 F .75 FP then
 *   B .2 TP: precision 0, 1/2, AP 1/2; map50 = 3/4.
 * Rankings (the higher, the sooner uploaded):
 *   top1 = -(highest small score): f0 -.75, f1 -.80, f2 -.055, f3 0
 *     -> f3 f2 f0 f1;
 *   confidence = -(mean over the 2 classes of each class's top score):
 *     f0 -(.70 + .75)/2 = -.725, f1 -(.80 + .20)/2 = -.5, f2 -.0275, f3 0
 *     -> f3 f2 f1 f0;
 *   blur with focus 3 1 2 4 -> f1 f2 f0 f3.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/blur.h"
#include "detect/cascade.h"
#include "detect/discriminator.h"
#include "ecnet.h"
#include "testlib.h"

static int near(double a, double b) { return fabs(a - b) < 1e-6; }

enum { FRAMES = 4 };

typedef struct fixture {
    ecn_box_label truth[FRAMES][2];
    ecn_box_label *rows[FRAMES];
    int n_truth[FRAMES];
    ecn_cascade_dets dets[2];
    ecn_cascade c;
} fixture;

static void add(ecn_map_set *s, int image, int cls, float score, ecn_box b)
{
    ecn_err err;
    ecn_map_add_det(s, image, cls, score, b, &err);
}

static const ecn_box A_ = {.3f, .3f, .2f, .2f}, C_ = {.3f, .3f, .3f, .3f}, B_ = {.7f, .7f, .05f, .05f},
                     D_ = {.5f, .5f, .1f, .1f}, F_ = {.8f, .8f, .1f, .1f}, G_ = {.5f, .5f, .2f, .2f};

static ecn_box_label L(int cls, ecn_box b) { return (ecn_box_label){cls, b.x, b.y, b.w, b.h}; }

static int fixture_make(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->truth[0][0] = L(0, A_);
    f->truth[1][0] = L(0, C_), f->truth[1][1] = L(1, B_);
    f->truth[2][0] = L(0, D_);
    int counts[FRAMES] = {1, 2, 1, 0};
    for (int i = 0; i < FRAMES; i++) f->rows[i] = f->truth[i], f->n_truth[i] = counts[i];
    ecn_map_set small = {0}, big = {0};
    add(&small, 0, 0, .70f, A_), add(&small, 0, 1, .75f, F_);
    add(&small, 1, 0, .80f, C_), add(&small, 1, 1, .20f, B_);
    add(&small, 2, 0, .055f, D_);
    add(&big, 0, 0, .90f, A_);
    add(&big, 1, 1, .60f, B_), add(&big, 1, 0, .85f, C_);
    add(&big, 2, 0, .70f, D_);
    add(&big, 3, 0, .30f, G_);
    ecn_err err;
    int rc = ecn_cascade_dets_from_map(&small, FRAMES, &f->dets[0], &err) ||
             ecn_cascade_dets_from_map(&big, FRAMES, &f->dets[1], &err);
    ecn_map_set_free(&small);
    ecn_map_set_free(&big);
    if (rc) return -1;
    f->c = (ecn_cascade){.images = FRAMES, .classes = 2, .truth = f->rows, .n_truth = f->n_truth,
                         .model = {&f->dets[0], &f->dets[1]}, .conf = .25f, .iou = .5f};
    return ecn_cascade_prepare(&f->c, &err);
}

static void fixture_free(fixture *f)
{
    ecn_cascade_free(&f->c);
    ecn_cascade_dets_free(&f->dets[0]);
    ecn_cascade_dets_free(&f->dets[1]);
}

static void mask(unsigned char *up, int a, int b, int c, int d) { up[0] = a, up[1] = b, up[2] = c, up[3] = d; }

static void per_frame(const fixture *f)
{
    const ecn_cascade_dets *b = &f->dets[1];
    CHECK(b->first[1] == 1 && b->first[2] == 3 && b->det[1].score == .85f && b->det[2].score == .60f,
          "detections grouped by image and sorted by score");
    int found[2][FRAMES] = {{1, 1, 0, 0}, {1, 2, 1, 0}}, shown0[FRAMES] = {2, 1, 0, 0}, same = 1;
    for (int i = 0; i < FRAMES; i++)
        same &= f->c.frame[i].found[0] == found[0][i] && f->c.frame[i].found[1] == found[1][i] &&
                f->c.frame[i].shown[0] == shown0[i] && f->c.frame[i].truths == f->n_truth[i];
    CHECK(same, "finds per frame: small 1 1 0 0, big 1 2 1 0; small shows 2 1 0 0");
    CHECK(near(f->c.map50[0], .75) && near(f->c.map50[1], 1), "map50 small %.6f (3/4), big %.6f (1)", f->c.map50[0],
          f->c.map50[1]);
    /* A duplicate finds nothing more; a wrong class finds nothing. */
    ecn_map_item d[3] = {{0, 0, .9f, A_, 0}, {0, 0, .8f, A_, 0}, {0, 1, .7f, A_, 0}};
    unsigned char taken[1];
    CHECK(ecn_cascade_found(d, 3, f->truth[0], 1, .25f, .5f, taken) == 1, "a duplicate and a wrong class: 1 find");
    CHECK(ecn_cascade_found(d, 3, f->truth[0], 1, .95f, .5f, taken) == 0, "below conf: no find");
}

static void evaluate(const fixture *f)
{
    unsigned char up[FRAMES];
    ecn_cascade_result r;
    ecn_err err;
    mask(up, 0, 1, 1, 0);
    CHECK(ecn_cascade_evaluate(&f->c, up, &r, &err) == 0 && r.uploaded == 2 && near(r.upload_ratio, .5) &&
              r.objects == 4 && r.objects_big == 4 && r.objects_small == 2 && near(r.objects_ratio, 1) &&
              r.missed_frames == 1 && r.missed_uploaded == 1 && near(r.missed_escalated, 1),
          "upload f1 f2: 4 of 4 objects, the missed frame uploaded");
    /* f0 small (A .7, F .75 FP), f1 f2 big: class 0 all TP (1); class 1 F .75 FP, B .6 TP (1/2). */
    CHECK(near(r.map50, .75) && near(r.map50_ratio, .75), "its map50 %.6f (3/4)", r.map50);
    mask(up, 0, 0, 0, 0);
    CHECK(ecn_cascade_evaluate(&f->c, up, &r, &err) == 0 && r.objects == 2 && near(r.objects_ratio, .5) &&
              r.missed_uploaded == 0 && near(r.missed_escalated, 0) && near(r.map50, .75),
          "nothing uploaded: the small model alone");
    mask(up, 1, 1, 1, 1);
    CHECK(ecn_cascade_evaluate(&f->c, up, &r, &err) == 0 && r.objects == 4 && near(r.map50, 1) &&
              near(r.map50_ratio, 1),
          "everything uploaded: the big model alone");
}

/* Uploads of a ranking policy at a ratio, as a 4-bit pattern f0 f1 f2 f3. */
static int pattern(const fixture *f, ecn_cascade_policy p, const double *focus, unsigned long long seed, double ratio,
                   int *objects)
{
    double score[FRAMES];
    unsigned char up[FRAMES];
    ecn_cascade_result r;
    ecn_err err;
    if (ecn_cascade_rank(&f->c, p, focus, seed, score, &err) || ecn_cascade_upload_top(score, FRAMES, ratio, up, &err) ||
        ecn_cascade_evaluate(&f->c, up, &r, &err))
        return -1;
    *objects = r.objects;
    return up[0] << 3 | up[1] << 2 | up[2] << 1 | up[3];
}

static void rankings(const fixture *f)
{
    double focus[FRAMES] = {3, 1, 2, 4};
    int obj;
    CHECK(pattern(f, ECN_POLICY_TOP1, NULL, 0, .5, &obj) == 0x3 && obj == 3, "top1 at 1/2: f2 f3, 3 objects");
    CHECK(pattern(f, ECN_POLICY_TOP1, NULL, 0, .75, &obj) == 0xb && obj == 3, "top1 at 3/4: f0 f2 f3, 3 objects");
    CHECK(pattern(f, ECN_POLICY_CONFIDENCE, NULL, 0, .75, &obj) == 0x7 && obj == 4,
          "confidence at 3/4: f1 f2 f3, 4 objects");
    CHECK(pattern(f, ECN_POLICY_BLUR, focus, 0, .25, &obj) == 0x4 && obj == 3, "blur at 1/4: f1 (the blurriest)");
    CHECK(pattern(f, ECN_POLICY_BLUR, NULL, 0, .25, &obj) == -1, "blur without focus measures: an error");
    CHECK(pattern(f, ECN_POLICY_TOP1, NULL, 0, 0, &obj) == 0 && pattern(f, ECN_POLICY_TOP1, NULL, 0, 1, &obj) == 0xf,
          "ratios 0 and 1: none and all");
    int a = pattern(f, ECN_POLICY_RANDOM, NULL, 7, .5, &obj), b = pattern(f, ECN_POLICY_RANDOM, NULL, 7, .5, &obj);
    int bits = 0;
    for (int k = 0; k < 4; k++) bits += (a >> k) & 1;
    CHECK(a == b && bits == 2, "random: the same seed, the same two frames");
    int differ = 0;
    for (unsigned long long s = 1; s < 20; s++) differ |= pattern(f, ECN_POLICY_RANDOM, NULL, s, .5, &obj) != a;
    CHECK(differ, "random: other seeds, other frames");
    /* round(ratio n), ties by frame number */
    double flat[5] = {1, 1, 1, 1, 1};
    unsigned char up[5];
    ecn_err err;
    CHECK(ecn_cascade_upload_top(flat, 5, .3, up, &err) == 0 && up[0] && up[1] && !up[2],
          "round(0.3 x 5) = 2 frames, the first two on a tie");
    CHECK(ecn_cascade_upload_top(flat, 5, 1.5, up, &err) == -1, "a ratio above 1: an error");
    ecn_cascade_policy p;
    CHECK(ecn_cascade_policy_parse("blur", &p) == 0 && p == ECN_POLICY_BLUR && ecn_cascade_policy_parse("x", &p) == -1,
          "policy names");
}

static void rules(const fixture *f)
{
    ecn_disc_features ft;
    const ecn_cascade_dets *s = &f->dets[0];
    ecn_disc_features_of(s->det + s->first[1], 2, .25f, .1f, &ft);
    CHECK(ft.predicted == 1 && ft.estimated == 2 && near(ft.min_area, .05f * .05f), "f1 at .1: 1 predicted, 2 estimated");
    ecn_disc_features_of(s->det + s->first[0], 2, .25f, .1f, &ft);
    CHECK(ft.predicted == 2 && ft.estimated == 2, "f0: as many estimated as predicted");
    ecn_disc_features_of(s->det + s->first[2], 1, .25f, .1f, &ft);
    CHECK(ft.predicted == 0 && ft.estimated == 0 && ft.min_area == 1, "f2 at .1: nothing, min area 1");
    /* Two classes of one box are one object. */
    ecn_map_item two[2] = {{0, 0, .6f, D_, 0}, {0, 1, .2f, D_, 0}};
    ecn_disc_features_of(two, 2, .25f, .1f, &ft);
    CHECK(ft.predicted == 1 && ft.estimated == 1, "one box in two classes: one object");
    ecn_disc_thresholds t = {.1f, 1, 0, .25f, 0};
    ecn_disc_features u = {1, 2, .0025f};
    CHECK(ecn_disc_difficult(&u, &t), "rule 2: 2 estimated > 1");
    t.count = 5;
    CHECK(!ecn_disc_difficult(&u, &t), "rule 3 with area 0: easy");
    t.area = .01f;
    CHECK(ecn_disc_difficult(&u, &t), "rule 3: .0025 < .01");
    u.estimated = u.predicted = 9;
    CHECK(!ecn_disc_difficult(&u, &t), "rule 1: nothing uncertain, easy even when crowded");
    u = (ecn_disc_features){0, 1, .5f};
    t = (ecn_disc_thresholds){.1f, 5, 0, .25f, 0};
    CHECK(!ecn_disc_difficult(&u, &t), "nothing answered, one large uncertain object: easy by rules 1-3");
    t.empty = 1;
    CHECK(ecn_disc_difficult(&u, &t), "rule 1b: nothing answered but something seen, difficult");
    u.estimated = 0;
    CHECK(!ecn_disc_difficult(&u, &t), "rule 1b: nothing seen at all, easy");
    unsigned char up[FRAMES];
    t = (ecn_disc_thresholds){.04f, 0, 0, .25f, 0};
    ecn_disc_decide(&f->c, &t, up);
    CHECK(!up[0] && up[1] && up[2] && !up[3], "decide at conf .04, count 0: f1 and f2");
    ecn_disc_quality q;
    mask(up, 0, 1, 0, 0);
    ecn_disc_quality_of(&f->c, up, &q);
    CHECK(q.difficult == 2 && q.flagged == 1 && q.hits == 1 && near(q.accuracy, .75) && near(q.precision, 1) &&
              near(q.recall, .5),
          "quality of f1 alone: accuracy 3/4, precision 1, recall 1/2");
}

/* Gains (big finds minus small finds): f1 1, f2 1.  Grid conf .01 k. */
static void fit(const fixture *f)
{
    ecn_disc_thresholds t = {0, 0, 0, 0, 0};
    ecn_err err;
    unsigned char up[FRAMES];
    ecn_disc_fit_opts o = {ECN_DISC_BUDGET, .5, 0, 0};
    CHECK(ecn_disc_fit(&f->c, &o, &t, &err) == 0 && t.count == 0 && t.conf < .055f, "budget 1/2: conf %g count %d",
          t.conf, t.count);
    ecn_disc_decide(&f->c, &t, up);
    CHECK(!up[0] && up[1] && up[2] && !up[3], "budget 1/2: f1 and f2 uploaded");
    o.target_upload = .25;
    CHECK(ecn_disc_fit(&f->c, &o, &t, &err) == 0, "budget 1/4 fits");
    ecn_disc_decide(&f->c, &t, up);
    CHECK(up[0] + up[1] + up[2] + up[3] == 1 && (up[1] || up[2]), "budget 1/4: one frame with a gain");
    o.target_upload = 0;
    ecn_disc_fit(&f->c, &o, &t, &err);
    ecn_disc_decide(&f->c, &t, up);
    CHECK(up[0] + up[1] + up[2] + up[3] == 0, "budget 0: nothing");
    /* Budget 1/4 and f2 (the small model shows nothing, the big one finds D) must go up: no rule 1-3 isolates
     * it (f1 has the smaller area and at least as many objects); rule 1b does. */
    o = (ecn_disc_fit_opts){ECN_DISC_BUDGET, .25, 0, 1};
    CHECK(ecn_disc_fit(&f->c, &o, &t, &err) == -1, "min escalated 1 without rule 1b: no fit (%s)", err.msg);
    o.empty_rule = 1;
    CHECK(ecn_disc_fit(&f->c, &o, &t, &err) == 0 && t.empty == 1, "min escalated 1 with rule 1b: it is on");
    ecn_disc_decide(&f->c, &t, up);
    CHECK(!up[0] && !up[1] && up[2] && !up[3], "... and f2 alone is uploaded");
    /* Paper: estimated objects 5 for conf <= .055, 4 above (= the truths): conf .06; true counts 1 2 1 0, true
     * minimum areas .04 .0025 .01 1, difficult f1 f2: count 1 (f1) and area between .01 and .04 label all right. */
    o = (ecn_disc_fit_opts){ECN_DISC_PAPER, 0, 0, 0};
    CHECK(ecn_disc_fit(&f->c, &o, &t, &err) == 0 && near(t.conf, .25f * 6 / 25) && t.count == 1 && near(t.area, .025f),
          "paper: conf %g (.06), count %d (1), area %g (.025)", t.conf, t.count, t.area);
}

static void files(const fixture *f)
{
    char *dir = test_tmpdir();
    if (!dir) return;
    char path[1024];
    ecn_err err;
    ecn_disc_thresholds t = {.12f, 3, .0123f, .25f, 1}, back;
    snprintf(path, sizeof path, "%s/disc.txt", dir);
    CHECK(ecn_disc_save(path, &t, "a test", &err) == 0 && ecn_disc_load(path, &back, &err) == 0 && back.conf == t.conf &&
              back.count == 3 && back.area == t.area && back.work == t.work && back.empty == 1,
          "thresholds written and read back");
    const char *bad[] = {"conf = 0.1\ncount = 2\n", "conf = 0.1\ncount = 2\narea = 0.1\nfoo = 1\n",
                         "conf = 0.1\ncount = 2.5\narea = 0.1\n", "conf = -1\ncount = 2\narea = 0.1\n",
                         "conf = 0.1\ncount = 2\narea = 0.1\nempty = 2\n"};
    for (int k = 0; k < 5; k++) {
        test_write_file(path, bad[k], strlen(bad[k]));
        CHECK(ecn_disc_load(path, &back, &err) == -1, "bad thresholds file %d refused: %s", k, err.msg);
    }
    snprintf(path, sizeof path, "%s/small.dets", dir);
    ecn_cascade_dets d;
    CHECK(ecn_cascade_cache_save(path, 42, &f->dets[0], &err) == 0 && ecn_cascade_cache_load(path, 42, &d, &err) == 0,
          "cache written and read");
    int same = d.images == FRAMES;
    for (int i = 0; same && i <= FRAMES; i++) same &= d.first[i] == f->dets[0].first[i];
    for (int k = 0; same && k < d.first[FRAMES]; k++)
        same &= d.det[k].image == f->dets[0].det[k].image && d.det[k].cls == f->dets[0].det[k].cls &&
                d.det[k].score == f->dets[0].det[k].score && !memcmp(&d.det[k].box, &f->dets[0].det[k].box, sizeof(ecn_box));
    CHECK(same, "the cache gives back the same detections");
    ecn_cascade_dets_free(&d);
    CHECK(ecn_cascade_cache_load(path, 43, &d, &err) == 1, "another key: a miss");
    CHECK(truncate(path, 40) == 0 && ecn_cascade_cache_load(path, 42, &d, &err) == -1, "a truncated file: an error");
    snprintf(path, sizeof path, "%s/none.dets", dir);
    CHECK(ecn_cascade_cache_load(path, 42, &d, &err) == 1, "no file: a miss");
    test_rmdir(dir);
    free(dir);
}

static void brenner(void)
{
    float row[5] = {0, 0, 1, 1, 0}, rgb[15] = {0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0}, flat[6] = {.5f, .5f, .5f,
                                                                                                        .5f, .5f, .5f};
    ecn_image g = {5, 1, 1, row}, c = {5, 1, 3, rgb}, f = {3, 2, 1, flat}, tiny = {2, 1, 1, row};
    /* pairs two apart: (1-0)^2 + (1-0)^2 + (0-1)^2 over 3 */
    CHECK(near(ecn_brenner(&g), 1), "grey row: %g (1)", ecn_brenner(&g));
    CHECK(fabs(ecn_brenner(&c) - 1) < 1e-6, "RGB with equal channels: %g (1)", ecn_brenner(&c));
    CHECK(ecn_brenner(&f) == 0 && ecn_brenner(&tiny) == 0, "flat or too narrow: 0");
}

/* ---- the tools -------------------------------------------------------------- */

static const char tiny_cfg[] = "[net]\nwidth=64\nheight=64\nchannels=3\n\n"
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

static int has_jq(void) { return test_system("command -v jq >/dev/null 2>&1") == 0; }

static void tool_cascade(const char *e, const char *dir)
{
    const char *args = "%s cascade %s/t.cfg random:1 %s/t.cfg random:2 --data %s/set/det.data --threads 1 "
                       "--cache %s/cache";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, args, e, dir, dir, dir, dir);
    int rc = test_system("%s --policy random --upload-ratio 0.3 --json > %s/r.json 2>/dev/null", cmd, dir);
    CHECK(rc == 0, "cascade --policy random --json: exit %d", rc);
    CHECK(test_system("ls %s/cache/t-*.dets >/dev/null 2>&1", dir) == 0, "the cache is filled");
    if (has_jq())
        CHECK(test_system("jq -e '.images == 7 and .uploaded == 2 and (.upload_ratio - 0.3 | fabs) <= 1/7 and "
                          ".policy == \"random\" and has(\"objects_ratio\") and has(\"map50\") and "
                          "has(\"map50_ratio\") and has(\"missed_escalated\")' %s/r.json >/dev/null",
                          dir) == 0,
              "JSON parses: 7 images, round(0.3 x 7) = 2 uploaded");
    rc = test_system("%s --train-limit 6 --json > %s/d.json 2>/dev/null", cmd, dir);
    CHECK(rc == 0, "cascade --policy discriminator (fitted on train): exit %d", rc);
    if (has_jq())
        CHECK(test_system("jq -e '.policy == \"discriminator\" and (.baselines | length) == 4 and "
                          "([.baselines[].upload_ratio] | all(. == $r)) and .thresholds.conf > 0' "
                          "--argjson r \"$(jq .upload_ratio %s/d.json)\" %s/d.json >/dev/null",
                          dir, dir) == 0,
              "discriminator JSON: thresholds, 4 baselines at its upload ratio");
    rc = test_system("%s --sweep --step 0.5 --train-limit 6 --json --svg %s/sw > %s/s.json 2>/dev/null", cmd, dir, dir);
    CHECK(rc == 0, "cascade --sweep --svg: exit %d", rc);
    CHECK(test_system("test -s %s/sw-objects.svg && test -s %s/sw-map.svg", dir, dir) == 0, "two charts written");
    if (has_jq())
        CHECK(test_system("jq -e '(.sweep | length) == 5 and (.sweep[1].points | length) == 3 and "
                          ".sweep[1].points[2].upload_ratio == 1' %s/s.json >/dev/null",
                          dir) == 0,
              "sweep JSON: 5 policies, ratios 0, .5, 1");
    CHECK(test_system("%s --policy nope 2>/dev/null", cmd) == 2, "an unknown policy: exit 2");
    CHECK(test_system("%s --upload-ratio 2 2>/dev/null", cmd) == 2, "a ratio above 1: exit 2");
}

static void tool_fit(const char *e, const char *dir)
{
    int rc = test_system("%s discriminator fit %s/t.cfg random:1 %s/t.cfg random:2 --data %s/set/det.data --threads 1 "
                         "--cache %s/cache --out %s/th.txt --target-upload 0.4 --test --json > %s/f.json 2>/dev/null",
                         e, dir, dir, dir, dir, dir, dir);
    CHECK(rc == 0, "discriminator fit --json: exit %d", rc);
    if (has_jq())
        CHECK(test_system("jq -e '.train.images == 8 and .train.upload_ratio <= 0.4 and .test.images == 7' "
                          "%s/f.json >/dev/null",
                          dir) == 0,
              "fit JSON: within the budget on train, applied to test");
    rc = test_system("%s cascade %s/t.cfg random:1 %s/t.cfg random:2 --data %s/set/det.data --threads 1 --cache %s/cache "
                     "--thresholds %s/th.txt > %s/c.txt 2>/dev/null",
                     e, dir, dir, dir, dir, dir, dir);
    CHECK(rc == 0 && test_system("grep -q 'policy discriminator' %s/c.txt", dir) == 0,
          "cascade --thresholds FILE: a table, exit %d", rc);
    CHECK(test_system("%s discriminator 2>/dev/null", e) == 2, "discriminator without fit: exit 2");
}

static void tools(void)
{
    if (!fashion_here()) {
        test_skip("Fashion-MNIST not installed: the cascade tools not run");
        return;
    }
    char *dir = test_tmpdir();
    if (!dir) return;
    const char *e = test_ecnet();
    char path[1024];
    snprintf(path, sizeof path, "%s/t.cfg", dir);
    CHECK(test_write_file(path, tiny_cfg, strlen(tiny_cfg)) == 0, "write the cfg");
    int rc = test_system("%s dataset compose --out %s/set --train 8 --test 7 --size 64 >/dev/null", e, dir);
    CHECK(rc == 0, "compose 8 + 7 frames: exit %d", rc);
    if (!has_jq()) test_skip("jq not installed: JSON not parsed");
    tool_cascade(e, dir);
    tool_fit(e, dir);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    fixture f;
    CHECK(fixture_make(&f) == 0, "the hand-made cascade prepares");
    per_frame(&f);
    evaluate(&f);
    rankings(&f);
    rules(&f);
    fit(&f);
    files(&f);
    fixture_free(&f);
    brenner();
    tools();
    return test_finish("test_cascade");
}
