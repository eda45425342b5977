/* test_train_det.c - training a detector end to end on a few composed frames.
 *
 * - batches of a detection set: without augmentation the truth is the label
 *   files' boxes (x, y, w, h, class, zero-padded); with jitter and flips
 *   every box stays inside the frame and keeps its class; the exposure
 *   change scales each pixel as predicted from its three draws, and the
 *   colour change keeps values in [0, 1];
 * - ecn_train sizes the truth for the set's most crowded frame and the loss
 *   of a tiny [yolo] detector falls by more than half when it overfits 8
 *   frames (deterministic: the loss curve is the same twice);
 * - `ecnet train` on a detection set with the same seed writes the same
 *   bytes twice, and reports the test mAP@0.5 per epoch in its JSON.
 * Composes its frames from Fashion-MNIST (skipped when it is absent).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/layer.h"
#include "core/net.h"
#include "detect/compose.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/data.h"
#include "train/train.h"

#define FASHION "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

/* A detector in miniature: 64 x 64 input (frames are resized), a 4 x 4 grid,
 * anchors of the composed set's shapes at that scale. */
static const char *tiny_cfg =
    "[net]\nbatch=8\nsubdivisions=1\nwidth=64\nheight=64\nchannels=3\n"
    "momentum=0.9\ndecay=0.0005\nlearning_rate=0.002\nadam=1\nburn_in=10\npolicy=constant\nmax_batches=%d\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=45\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=5,6, 9,10, 20,22\nclasses=10\nnum=3\nignore_thresh=.7\n";

static void write_cfg(const char *path, int max_batches)
{
    char text[2048];
    snprintf(text, sizeof text, tiny_cfg, max_batches);
    test_write_file(path, text, strlen(text));
}

/* The label file's boxes come back as truth, in order, then zeros. */
static void plain_batch(const ecn_dataset *ds)
{
    int most = 0, frame = -1;
    for (int i = 0; i < ds->n; i++)
        if (ds->n_boxes[i] > most) most = ds->n_boxes[i], frame = i;
    CHECK(most > 1, "a frame with several objects (found %d)", most);
    if (frame < 0) return;
    int tf = 5 * (most + 2);
    float *x = malloc(128 * 128 * 3 * sizeof *x), *t = malloc((size_t)tf * sizeof *t);
    ecn_err err;
    CHECK(ecn_dataset_batch(ds, &frame, 1, (ecn_shape){3, 128, 128}, NULL, NULL, x, t, tf, &err) == 0, "%s", err.msg);
    int same = 1;
    for (int k = 0; k < most; k++) {
        const ecn_box_label *b = &ds->boxes[frame][k];
        const float *o = t + 5 * k;
        same &= fabsf(o[0] - b->x) < 1e-6f && fabsf(o[1] - b->y) < 1e-6f && fabsf(o[2] - b->w) < 1e-6f &&
                fabsf(o[3] - b->h) < 1e-6f && o[4] == (float)b->cls; /* recomputed from the edges */
    }
    for (int k = 5 * most; k < tf; k++) same &= t[k] == 0;
    CHECK(same, "frame %d: the truth is its %d boxes, then zeros", frame, most);
    free(x);
    free(t);
}

/* With jitter and flips: boxes inside the frame, classes kept, none lost
 * in most frames (a box is dropped only when jitter cuts it away). */
static void augmented_batch(const ecn_dataset *ds)
{
    int tf = 5 * 12, n = ds->n;
    float *x = malloc((size_t)n * 64 * 64 * 3 * sizeof *x), *t = malloc((size_t)n * tf * sizeof *t);
    ecn_augment aug = {.flip = 1, .jitter = .2f};
    unsigned long long rng = 5;
    ecn_err err;
    CHECK(ecn_dataset_batch(ds, NULL, n, (ecn_shape){3, 64, 64}, &aug, &rng, x, t, tf, &err) == 0, "%s", err.msg);
    int inside = 1, classes_ok = 1, kept = 0, total = 0;
    for (int i = 0; i < n; i++) {
        total += ds->n_boxes[i];
        for (int k = 0; k < tf / 5 && t[i * tf + 5 * k + 2] > 0; k++) {
            const float *o = t + i * tf + 5 * k;
            kept++;
            inside &= o[0] - o[2] / 2 >= -1e-6f && o[0] + o[2] / 2 <= 1 + 1e-6f && o[1] - o[3] / 2 >= -1e-6f &&
                      o[1] + o[3] / 2 <= 1 + 1e-6f;
            int c = (int)o[4], found = 0;
            for (int j = 0; j < ds->n_boxes[i]; j++) found |= ds->boxes[i][j].cls == c;
            classes_ok &= found;
        }
    }
    CHECK(inside, "jittered and flipped boxes stay inside the frame");
    CHECK(classes_ok, "every augmented box has a class of its frame");
    CHECK(kept <= total && kept >= total * 3 / 4, "%d of %d boxes kept after jitter", kept, total);
    free(x);
    free(t);
}

/* Colour: exposure alone scales every RGB pixel by f (its value clamped to
 * 1), f = e^(2 u3 - 1) from the third of three draws; hue and saturation
 * keep every value in [0, 1]. */
static void colour_batch(const ecn_dataset *ds)
{
    const size_t per = 64 * 64 * 3;
    float *plain = malloc(per * sizeof *plain), *x = malloc(per * sizeof *x);
    int frame = 0, tf = 5 * 12;
    float t[60];
    ecn_err err;
    ecn_augment exposure = {.exposure = 2};
    unsigned long long rng = 11, copy = rng;
    int rc = ecn_dataset_batch(ds, &frame, 1, (ecn_shape){3, 64, 64}, NULL, NULL, plain, t, tf, &err);
    rc = rc ? rc : ecn_dataset_batch(ds, &frame, 1, (ecn_shape){3, 64, 64}, &exposure, &rng, x, t, tf, &err);
    CHECK(rc == 0, "%s", err.msg);
    ecn_rng_uniform(&copy), ecn_rng_uniform(&copy);
    float f = powf(2, 2 * ecn_rng_uniform(&copy) - 1);
    double worst = 0;
    const size_t plane = 64 * 64;
    for (size_t k = 0; k < plane; k++) {
        float v = fmaxf(plain[k], fmaxf(plain[plane + k], plain[2 * plane + k]));
        float g = v > 0 ? fminf(f, 1 / v) : 1;
        for (int c = 0; c < 3; c++) worst = fmax(worst, fabsf(x[c * plane + k] - plain[c * plane + k] * g));
    }
    CHECK(worst < 1e-5, "exposure x%.3f: pixels off the prediction by up to %.2g", f, worst);
    ecn_augment all = {.hue = .5f, .saturation = 3, .exposure = 3};
    int inside = 1;
    for (int round = 0; round < 4 && rc == 0; round++) {
        rc = ecn_dataset_batch(ds, &frame, 1, (ecn_shape){3, 64, 64}, &all, &rng, x, t, tf, &err);
        for (size_t k = 0; k < per; k++) inside &= x[k] >= 0 && x[k] <= 1;
    }
    CHECK(rc == 0 && inside, "hue, saturation and exposure keep values in [0, 1]");
    ecn_augment bad = {.saturation = .5f};
    CHECK(ecn_dataset_batch(ds, &frame, 1, (ecn_shape){3, 64, 64}, &bad, &rng, x, t, tf, &err) == -1,
          "saturation 0.5 is refused: %s", err.msg);
    free(plain);
    free(x);
}

typedef struct losses {
    float first, last;
    int n;
} losses;

static void on_iteration(void *user, const ecn_train_status *st)
{
    losses *l = user;
    if (l->n++ == 0) l->first = st->loss;
    l->last = st->loss;
}

/* The tiny detector overfits the 8 frames through ecn_train; returns the
 * final loss (the same seed must give the same number). */
static float overfit(const ecn_dataset *ds, const char *cfg, const char *out)
{
    ecn_net *net;
    ecn_err err;
    if (ecn_train_open(cfg, 2, &net, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    ecn_net_randomize(net, 3);
    losses l = {0};
    ecn_train_opts o = {.out_dir = out, .name = "tiny", .seed = 4, .on_iteration = on_iteration, .user = &l};
    CHECK(ecn_train(net, ds, &o, &err) == 0, "%s", err.msg);
    CHECK(l.n == 150 && l.last < l.first * .5f, "loss of a tiny detector on 8 frames: %.3f -> %.3f", l.first, l.last);
    printf("  overfitting 8 frames: loss per image %.3f -> %.3f in %d updates\n", l.first, l.last, l.n);
    ecn_net_free(net);
    return l.last;
}

static void tool_same_bytes(const char *dir, const char *cfg)
{
    const char *e = test_ecnet();
    int rc = test_system("%s train %s --data %s/set/det.data --out %s/a --seed 9 --threads 2 --json > %s/a.json "
                         "2>/dev/null && %s train %s --data %s/set/det.data --out %s/b --seed 9 --threads 2 --json "
                         ">/dev/null 2>&1",
                         e, cfg, dir, dir, dir, e, cfg, dir, dir);
    CHECK(rc == 0, "ecnet train on a detection set: exit %d", rc);
    CHECK(test_system("cmp -s %s/a/tiny_final.weights %s/b/tiny_final.weights", dir, dir) == 0,
          "two detection runs with the same seed wrote different weights");
    CHECK(test_system("grep -q '\"map50\":' %s/a.json", dir) == 0, "the JSON curve has the test mAP@0.5");
}

int main(void)
{
    if (access(FASHION, R_OK) != 0) {
        test_skip("dataset-fashion-mnist not installed");
        return test_finish("test_train_det");
    }
    char *dir = test_tmpdir(), set[1024], data[1100], cfg[1100];
    snprintf(set, sizeof set, "%s/set", dir);
    ecn_compose_opts co;
    ecn_compose_defaults(&co);
    co.out_dir = set, co.train = 8, co.test = 4, co.seed = 3, co.empty_share = 0;
    ecn_compose_stats stats;
    ecn_err err;
    CHECK(ecn_compose(&co, &stats, &err) == 0, "compose: %s", err.msg);
    snprintf(data, sizeof data, "%s/det.data", set);
    ecn_dataset ds = {0};
    CHECK(ecn_dataset_open(data, 0, &ds, &err) == 0 && ecn_dataset_is_detection(&ds), "open: %s", err.msg);
    if (ds.n == 8) {
        plain_batch(&ds);
        augmented_batch(&ds);
        colour_batch(&ds);
        snprintf(cfg, sizeof cfg, "%s/tiny.cfg", dir);
        write_cfg(cfg, 150);
        float a = overfit(&ds, cfg, dir), b = overfit(&ds, cfg, dir);
        CHECK(a == b, "the same seed, the same loss: %.6f and %.6f", a, b);
        write_cfg(cfg, 10);
        tool_same_bytes(dir, cfg);
    }
    ecn_dataset_free(&ds);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_train_det");
}
