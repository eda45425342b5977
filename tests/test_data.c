/* test_data.c - data sets and batches (src/train/data.c).
 *
 * Fashion-MNIST from /usr/share/datasets (skipped when absent); hand-made
 * idx files (good, truncated, wrong magic, mismatched counts); hand-made
 * Darknet classification and detection .data sets of small PNGs; batch
 * determinism, flip and crop against predicted draws, one-hot truth, boxes
 * that follow the pixels under jitter, crop and flip; shuffle.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <zlib.h>

#include "core/layer.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/data.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(test_write_file(path, text, strlen(text)) == 0, "write %s", path);
}

/* ---- idx --------------------------------------------------------------- */

static void put_be32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* idx images: n images of rows x cols, pixel (i, y, x) = (37 i + 11 y + 5 x) & 255. */
static size_t make_idx_images(unsigned char *buf, unsigned magic, int n, int rows, int cols)
{
    put_be32(buf, magic);
    put_be32(buf + 4, (unsigned)n);
    put_be32(buf + 8, (unsigned)rows);
    put_be32(buf + 12, (unsigned)cols);
    size_t k = 16;
    for (int i = 0; i < n; i++)
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) buf[k++] = (unsigned char)((37 * i + 11 * y + 5 * x) & 255);
    return k;
}

static size_t make_idx_labels(unsigned char *buf, unsigned magic, int n, const int *labels)
{
    put_be32(buf, magic);
    put_be32(buf + 4, (unsigned)n);
    for (int i = 0; i < n; i++) buf[8 + i] = (unsigned char)labels[i];
    return 8 + (size_t)n;
}

static int write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    if (!f) return -1;
    int w = gzwrite(f, data, (unsigned)n);
    return (gzclose(f) == Z_OK && w == (int)n) ? 0 : -1;
}

static void test_idx(const char *dir)
{
    unsigned char img[4096], lab[64];
    int labels[5] = {3, 0, 6, 1, 6};
    char ip[600], lp[600], tp[600];
    snprintf(ip, sizeof ip, "%s/imgs.idx", dir);
    snprintf(lp, sizeof lp, "%s/labs.idx", dir);
    size_t ni = make_idx_images(img, 0x803, 5, 2, 3);
    size_t nl = make_idx_labels(lab, 0x801, 5, labels);
    test_write_file(ip, img, ni);
    test_write_file(lp, lab, nl);

    ecn_dataset ds;
    ecn_err err = {{0}};
    int rc = ecn_dataset_open_idx(ip, lp, 0, &ds, &err);
    CHECK(rc == 0, "idx open: %s", err.msg);
    if (rc == 0) {
        CHECK(ds.n == 5 && ds.classes == 7, "n %d classes %d: expected 5, 7 (largest label + 1)",
              ds.n, ds.classes);
        CHECK(ds.shape.c == 1 && ds.shape.h == 2 && ds.shape.w == 3, "shape %d %d %d",
              ds.shape.c, ds.shape.h, ds.shape.w);
        CHECK(ds.labels[0] == 3 && ds.labels[4] == 6, "labels");
        CHECK(ds.paths == NULL && ds.boxes == NULL, "in-memory classification set");
        CHECK(ds.pixels[6 * 2 + 3 * 1 + 2] == ((37 * 2 + 11 + 10) & 255), "pixel (2,1,2)");

        /* Batch at the native size: byte / 255; one-hot truth. */
        int idx[3] = {4, 0, 2};
        float x[3 * 6], t[3 * 8];
        rc = ecn_dataset_batch(&ds, idx, 3, (ecn_shape){1, 2, 3}, NULL, NULL, x, t, 8, &err);
        CHECK(rc == 0, "batch: %s", err.msg);
        int bad = 0;
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < 6; p++)
                if (x[k * 6 + p] != (float)(ds.pixels[idx[k] * 6 + p] / 255.)) bad++;
        CHECK(bad == 0, "%d pixels differ from byte/255", bad);
        bad = 0;
        for (int k = 0; k < 3; k++)
            for (int c = 0; c < 8; c++)
                if (t[k * 8 + c] != (c == labels[idx[k]] ? 1.f : 0.f)) bad++;
        CHECK(bad == 0, "one-hot truth: %d wrong entries (truth_floats 8 > 7 classes zero-padded)",
              bad);

        /* Three channels from one: repeated. */
        float x3[2 * 18];
        rc = ecn_dataset_batch(&ds, NULL, 2, (ecn_shape){3, 2, 3}, NULL, NULL, x3, NULL, 0, &err);
        CHECK(rc == 0, "batch 3 channels: %s", err.msg);
        bad = 0;
        for (int k = 0; k < 2; k++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 6; p++)
                    if (x3[k * 18 + c * 6 + p] != (float)(ds.pixels[k * 6 + p] / 255.)) bad++;
        CHECK(bad == 0, "repeated channels: %d differ", bad);

        /* Another size: Darknet's resize of the float image. */
        float x5[20];
        rc = ecn_dataset_batch(&ds, idx, 1, (ecn_shape){1, 4, 5}, NULL, NULL, x5, NULL, 0, &err);
        CHECK(rc == 0, "batch resized: %s", err.msg);
        ecn_image src = {3, 2, 1, malloc(6 * sizeof(float))}, sized;
        for (int p = 0; p < 6; p++) src.data[p] = (float)(ds.pixels[4 * 6 + p] / 255.);
        if (ecn_image_resize(&src, 5, 4, &sized, &err) == 0) {
            CHECK(memcmp(sized.data, x5, sizeof x5) == 0, "resized batch differs from ecn_image_resize");
            ecn_image_free(&sized);
        }
        ecn_image_free(&src);

        /* Errors: index out of range, too few truth floats, channels. */
        int badidx[1] = {5};
        CHECK(ecn_dataset_batch(&ds, badidx, 1, (ecn_shape){1, 2, 3}, NULL, NULL, x, NULL, 0,
                                &err) == -1 && contains(err.msg, "index 5"),
              "index out of range: %s", err.msg);
        CHECK(ecn_dataset_batch(&ds, idx, 1, (ecn_shape){1, 2, 3}, NULL, NULL, x, t, 6, &err) == -1 &&
                  contains(err.msg, "at least 7"),
              "short truth: %s", err.msg);
        ecn_augment a = {.flip = 1, .crop_pad = 0};
        CHECK(ecn_dataset_batch(&ds, idx, 1, (ecn_shape){1, 2, 3}, &a, NULL, x, NULL, 0, &err) == -1,
              "augmentation without rng accepted");
        ecn_dataset_free(&ds);
        CHECK(ds.n == 0 && ds.pixels == NULL, "free clears");
        ecn_dataset_free(&ds); /* twice is harmless */
    }

    /* Truncated image file. */
    snprintf(tp, sizeof tp, "%s/trunc.idx", dir);
    test_write_file(tp, img, ni - 4);
    rc = ecn_dataset_open_idx(tp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, tp) && contains(err.msg, "truncated") &&
              contains(err.msg, "expected 30 bytes"),
          "truncated images: %s", err.msg);
    CHECK(ds.n == 0 && ds.pixels == NULL, "failed open leaves the set empty");
    /* Truncated header. */
    test_write_file(tp, img, 10);
    rc = ecn_dataset_open_idx(tp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "header"), "truncated header: %s", err.msg);
    /* Longer than the header says. */
    img[ni] = 7;
    test_write_file(tp, img, ni + 1);
    rc = ecn_dataset_open_idx(tp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "longer"), "trailing bytes: %s", err.msg);
    /* Wrong magic (a label file given as images, and a made-up one). */
    rc = ecn_dataset_open_idx(lp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "magic 0x00000801") && contains(err.msg, "0x00000803"),
          "labels as images: %s", err.msg);
    unsigned char bad[4096];
    size_t nb = make_idx_images(bad, 0x0803ff00, 5, 2, 3);
    test_write_file(tp, bad, nb);
    rc = ecn_dataset_open_idx(tp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "magic") && contains(err.msg, tp), "wrong magic: %s", err.msg);
    /* Count mismatch between images and labels. */
    nl = make_idx_labels(lab, 0x801, 4, labels);
    snprintf(tp, sizeof tp, "%s/labs4.idx", dir);
    test_write_file(tp, lab, nl);
    rc = ecn_dataset_open_idx(ip, tp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "4 labels") && contains(err.msg, "5 images"),
          "count mismatch: %s", err.msg);
    /* Labels truncated, label out of range for a given class count. */
    nl = make_idx_labels(lab, 0x801, 5, labels);
    test_write_file(tp, lab, nl - 1);
    rc = ecn_dataset_open_idx(ip, tp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "truncated"), "truncated labels: %s", err.msg);
    rc = ecn_dataset_open_idx(ip, lp, 5, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "label 6"), "label beyond classes: %s", err.msg);
    /* Missing file. */
    snprintf(tp, sizeof tp, "%s/nothing.idx", dir);
    rc = ecn_dataset_open_idx(tp, lp, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "nothing.idx"), "missing file: %s", err.msg);

    /* The fashion-mnist name with ECNET_FASHION_DIR: gzipped files, and a
     * gzip stream cut short. */
    char fd[600];
    snprintf(fd, sizeof fd, "%s/fm", dir);
    mkdir(fd, 0700);
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/t10k-images-idx3-ubyte.gz", fd);
    snprintf(p2, sizeof p2, "%s/t10k-labels-idx1-ubyte.gz", fd);
    int lab10[5] = {9, 0, 1, 2, 3};
    ni = make_idx_images(img, 0x803, 5, 2, 3);
    nl = make_idx_labels(lab, 0x801, 5, lab10);
    CHECK(write_gz(p1, img, ni) == 0 && write_gz(p2, lab, nl) == 0, "write gz");
    setenv("ECNET_FASHION_DIR", fd, 1);
    rc = ecn_dataset_open("fashion-mnist", 1, &ds, &err);
    CHECK(rc == 0, "fashion-mnist from ECNET_FASHION_DIR: %s", err.msg);
    if (rc == 0) {
        CHECK(ds.n == 5 && ds.classes == 10 && ds.labels[0] == 9, "n %d classes %d", ds.n,
              ds.classes);
        CHECK(ds.names && strcmp(ds.names[0], "T-shirt/top") == 0 &&
                  strcmp(ds.names[9], "Ankle boot") == 0,
              "class names");
        CHECK(memcmp(ds.pixels, img + 16, 30) == 0, "gz pixels");
        ecn_dataset_free(&ds);
    }
    rc = ecn_dataset_open("fashion-mnist", 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "train-images-idx3-ubyte.gz") &&
              contains(err.msg, "ECNET_FASHION_DIR"),
          "missing train split: %s", err.msg);
    size_t gzn;
    unsigned char *gz = test_read_file(p1, &gzn);
    if (gz) {
        test_write_file(p1, gz, gzn - 12);
        rc = ecn_dataset_open("fashion-mnist", 1, &ds, &err);
        CHECK(rc == -1 && contains(err.msg, "t10k-images-idx3-ubyte.gz"), "cut gzip stream: %s",
              err.msg);
        free(gz);
    }
    unsetenv("ECNET_FASHION_DIR");
    rc = ecn_dataset_open("fashion-mnist", 2, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "split 2"), "bad split: %s", err.msg);
}

/* ---- Fashion-MNIST ------------------------------------------------------ */

static void test_fashion(void)
{
    if (!is_dir(FASHION_DIR)) {
        test_skip("%s is absent: Fashion-MNIST checks not run", FASHION_DIR);
        return;
    }
    ecn_dataset tr, te;
    ecn_err err = {{0}};
    int rc = ecn_dataset_open("fashion-mnist", 0, &tr, &err);
    CHECK(rc == 0, "fashion-mnist train: %s", err.msg);
    if (rc) return;
    rc = ecn_dataset_open("fashion-mnist", 1, &te, &err);
    CHECK(rc == 0, "fashion-mnist test: %s", err.msg);
    if (rc) {
        ecn_dataset_free(&tr);
        return;
    }
    CHECK(tr.n == 60000 && te.n == 10000, "counts %d %d", tr.n, te.n);
    CHECK(tr.classes == 10 && tr.shape.c == 1 && tr.shape.h == 28 && tr.shape.w == 28,
          "classes %d shape %d x %d x %d", tr.classes, tr.shape.c, tr.shape.h, tr.shape.w);
    CHECK(tr.labels[0] == 9 && te.labels[0] == 9, "first labels %d %d: expected 9 (Ankle boot)",
          tr.labels[0], te.labels[0]);
    CHECK(tr.labels[1] == 0 && te.labels[1] == 2, "second labels %d %d: expected 0, 2",
          tr.labels[1], te.labels[1]);
    int counts[10] = {0};
    for (int i = 0; i < tr.n; i++) counts[tr.labels[i]]++;
    int even = 1;
    for (int k = 0; k < 10; k++) even &= counts[k] == 6000;
    CHECK(even, "train classes are not 6000 each");
    long first = 0;
    for (int p = 0; p < 784; p++) first += tr.pixels[p];
    CHECK(first == 76247, "first train image's byte sum %ld: expected 76247", first);

    /* Mean pixel through batches (values in [0,1]). */
    const ecn_shape in = {1, 28, 28};
    enum { B = 250 };
    float *x = malloc((size_t)B * 784 * sizeof *x), *t = malloc((size_t)B * 10 * sizeof *t);
    double sum = 0;
    float lo = 1, hi = 0;
    int hot_bad = 0;
    for (int s = 0; s < tr.n && rc == 0; s += B) {
        int idx[B];
        for (int k = 0; k < B; k++) idx[k] = s + k;
        rc = ecn_dataset_batch(&tr, idx, B, in, NULL, NULL, x, t, 10, &err);
        for (size_t k = 0; k < (size_t)B * 784; k++) {
            sum += x[k];
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
        }
        for (int k = 0; k < B; k++) {
            float tot = 0;
            for (int c = 0; c < 10; c++) tot += t[k * 10 + c];
            if (tot != 1 || t[k * 10 + tr.labels[s + k]] != 1) hot_bad++;
        }
    }
    CHECK(rc == 0, "batches: %s", err.msg);
    double mean = sum / (60000.0 * 784);
    CHECK(fabs(mean - 0.2860) < 0.001, "train mean pixel %.5f: expected about 0.2860", mean);
    CHECK(lo == 0 && hi == 1, "pixel range %g..%g: expected 0..1", lo, hi);
    CHECK(hot_bad == 0, "%d one-hot rows wrong", hot_bad);
    sum = 0;
    for (size_t k = 0; k < (size_t)te.n * 784; k++) sum += te.pixels[k];
    mean = sum / 255. / (10000.0 * 784);
    CHECK(fabs(mean - 0.2868) < 0.001, "test mean pixel %.5f: expected about 0.2868", mean);

    /* An epoch of shuffled, augmented batches of 128, timed. */
    int *order = malloc((size_t)tr.n * sizeof *order);
    for (int i = 0; i < tr.n; i++) order[i] = i;
    unsigned long long rng = 42;
    ecn_shuffle(order, tr.n, &rng);
    ecn_augment aug = {.flip = 1, .crop_pad = 2};
    float *xb = malloc((size_t)128 * 784 * sizeof *xb), *tb = malloc(128 * 10 * sizeof *tb);
    double t0 = now();
    for (int s = 0; s + 128 <= tr.n && rc == 0; s += 128)
        rc = ecn_dataset_batch(&tr, order + s, 128, in, &aug, &rng, xb, tb, 10, &err);
    double dt = now() - t0;
    CHECK(rc == 0, "augmented epoch: %s", err.msg);
    printf("test_data: one Fashion-MNIST epoch of 128-batches with crop 2 + flip: %.1f ms "
           "(%.2f us per image)\n", dt * 1e3, dt * 1e6 / 60000);
    free(order);
    free(xb);
    free(tb);
    free(x);
    free(t);
    ecn_dataset_free(&tr);
    ecn_dataset_free(&te);
}

/* ---- augmentation on an in-memory set ----------------------------------- */

/* A seed whose first ecn_rng_next has the top bit `bit`. */
static unsigned long long seed_with_first_bit(int bit)
{
    for (unsigned long long s = 1;; s++) {
        unsigned long long c = s;
        if ((int)(ecn_rng_next(&c) >> 63) == bit) return s;
    }
}

static void test_augment(const char *dir)
{
    unsigned char img[8192], lab[64];
    int labels[6] = {0, 1, 2, 3, 4, 5};
    char ip[600], lp[600];
    snprintf(ip, sizeof ip, "%s/aug-imgs.idx", dir);
    snprintf(lp, sizeof lp, "%s/aug-labs.idx", dir);
    test_write_file(ip, img, make_idx_images(img, 0x803, 6, 7, 9));
    test_write_file(lp, lab, make_idx_labels(lab, 0x801, 6, labels));
    ecn_dataset ds;
    ecn_err err = {{0}};
    if (ecn_dataset_open_idx(ip, lp, 6, &ds, &err)) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    const ecn_shape in = {1, 7, 9};
    const int W = 9, H = 7, P = 63;
    float plain[6 * 63], a[6 * 63], b[6 * 63];
    ecn_dataset_batch(&ds, NULL, 6, in, NULL, NULL, plain, NULL, 0, &err);

    /* Flip only, seed chosen so the first draw flips and (checked) a second
     * that does not: example 0 mirrored, example 1 as is. */
    ecn_augment flip = {.flip = 1, .crop_pad = 0};
    unsigned long long s1 = seed_with_first_bit(1), r = s1, c = s1;
    ecn_rng_next(&c);
    int second = (int)(ecn_rng_next(&c) >> 63);
    int rc = ecn_dataset_batch(&ds, NULL, 2, in, &flip, &r, a, NULL, 0, &err);
    CHECK(rc == 0, "flip batch: %s", err.msg);
    int bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            if (a[y * W + x] != plain[y * W + (W - 1 - x)]) bad++;
            float want2 = second ? plain[P + y * W + (W - 1 - x)] : plain[P + y * W + x];
            if (a[P + y * W + x] != want2) bad++;
        }
    CHECK(bad == 0, "flip: %d pixels differ from the predicted mirror", bad);
    CHECK(r == c, "flip draws one number per image");
    unsigned long long s0 = seed_with_first_bit(0);
    r = s0;
    ecn_dataset_batch(&ds, NULL, 1, in, &flip, &r, a, NULL, 0, &err);
    CHECK(memcmp(a, plain, P * sizeof(float)) == 0, "seed with top bit 0 does not flip");

    /* Crop: predicted offsets, zeros outside. */
    ecn_augment crop = {.flip = 0, .crop_pad = 3};
    unsigned long long seed = 1234;
    r = seed;
    rc = ecn_dataset_batch(&ds, NULL, 6, in, &crop, &r, a, NULL, 0, &err);
    CHECK(rc == 0, "crop batch: %s", err.msg);
    c = seed;
    bad = 0;
    int moved = 0;
    for (int k = 0; k < 6; k++) {
        int x0 = (int)(ecn_rng_next(&c) % 7) - 3, y0 = (int)(ecn_rng_next(&c) % 7) - 3;
        moved += x0 != 0 || y0 != 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sy = y + y0, sx = x + x0;
                float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? plain[k * P + sy * W + sx] : 0;
                if (a[k * P + y * W + x] != want) bad++;
            }
    }
    CHECK(bad == 0, "crop: %d pixels differ from the predicted window", bad);
    CHECK(moved > 0, "no crop moved anything");
    CHECK(r == c, "crop draws two numbers per image");

    /* Determinism with both: same seed, same bytes; another seed differs. */
    ecn_augment both = {.flip = 1, .crop_pad = 2};
    unsigned long long r1 = 99, r2 = 99, r3 = 100;
    ecn_dataset_batch(&ds, NULL, 6, in, &both, &r1, a, NULL, 0, &err);
    ecn_dataset_batch(&ds, NULL, 6, in, &both, &r2, b, NULL, 0, &err);
    CHECK(memcmp(a, b, sizeof a) == 0 && r1 == r2, "same seed gave different batches");
    ecn_dataset_batch(&ds, NULL, 6, in, &both, &r3, b, NULL, 0, &err);
    CHECK(memcmp(a, b, sizeof a) != 0, "another seed gave the same batch");
    /* No augmentation touches no rng. */
    r1 = 5;
    ecn_dataset_batch(&ds, NULL, 6, in, NULL, &r1, a, NULL, 0, &err);
    CHECK(r1 == 5 && memcmp(a, plain, sizeof a) == 0, "no aug: rng untouched, plain images");
    ecn_augment badaug = {.flip = 0, .crop_pad = -1};
    CHECK(ecn_dataset_batch(&ds, NULL, 1, in, &badaug, &r1, a, NULL, 0, &err) == -1,
          "negative crop_pad accepted");
    ecn_dataset_free(&ds);
}

/* ---- shuffle ------------------------------------------------------------ */

static void test_shuffle(void)
{
    enum { N = 1000 };
    int a[N], b[N], seen[N] = {0};
    for (int i = 0; i < N; i++) a[i] = b[i] = i;
    unsigned long long r1 = 7, r2 = 7;
    ecn_shuffle(a, N, &r1);
    ecn_shuffle(b, N, &r2);
    int fixed = 0, ok = 1;
    for (int i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]]++) ok = 0;
        fixed += a[i] == i;
    }
    CHECK(ok, "shuffle is not a permutation");
    CHECK(fixed < 20, "%d of %d left in place", fixed, N);
    CHECK(memcmp(a, b, sizeof a) == 0, "shuffle not deterministic");
    /* The documented rule, step by step, on 5. */
    int c[5] = {0, 1, 2, 3, 4}, d[5] = {0, 1, 2, 3, 4};
    unsigned long long r = 3, q = 3;
    ecn_shuffle(c, 5, &r);
    for (int i = 4; i > 0; i--) {
        int j = (int)(ecn_rng_next(&q) % (unsigned long long)(i + 1)), t = d[i];
        d[i] = d[j], d[j] = t;
    }
    CHECK(memcmp(c, d, sizeof c) == 0, "shuffle differs from the documented Fisher-Yates");
    ecn_shuffle(c, 0, &r);
    ecn_shuffle(c, 1, &r);
}

/* ---- Darknet classification list --------------------------------------- */

static void save_png(const char *path, int w, int h, int c, int seed)
{
    ecn_image im = {w, h, c, malloc((size_t)w * h * c * sizeof(float))};
    for (int i = 0; i < w * h * c; i++) im.data[i] = (float)(((i * 29 + seed * 71) % 256) / 255.);
    ecn_err err = {{0}};
    CHECK(ecn_image_save_png(&im, path, &err) == 0, "save %s: %s", path, err.msg);
    ecn_image_free(&im);
}

static void test_classification(const char *dir)
{
    char p[1200], sub[700];
    snprintf(sub, sizeof sub, "%s/cls", dir);
    mkdir(sub, 0700);
    snprintf(p, sizeof p, "%s/imgs", sub);
    mkdir(p, 0700);
    const char *files[4] = {"imgs/cat_0.png", "imgs/dog_1.png", "imgs/hotdog_2.png", "imgs/1_cat.png"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, files[i]);
        save_png(p, 4, 3, 3, i);
    }
    write_text(sub, "labels.txt", "cat\ndog\r\nhotdog\n\n");
    write_text(sub, "train.list", "imgs/cat_0.png\nimgs/dog_1.png\n\nimgs/hotdog_2.png\nimgs/1_cat.png\n");
    write_text(sub, "valid.list", "imgs/dog_1.png\nimgs/cat_0.png\nimgs/bird.png\n");
    write_text(sub, "cls.data", "# a classification set\nclasses= 3\ntrain  = train.list\n"
                                "valid = valid.list\nlabels = labels.txt\nbackup = backup/\ntop=2\n");
    char data[800];
    snprintf(data, sizeof data, "%s/cls.data", sub);

    ecn_dataset ds;
    ecn_err err = {{0}};
    int rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == 0, "classification open: %s", err.msg);
    if (rc == 0) {
        CHECK(ds.n == 4 && ds.classes == 3 && !ds.pixels && ds.paths && !ds.boxes,
              "n %d classes %d", ds.n, ds.classes);
        CHECK(ds.labels[0] == 0 && ds.labels[1] == 1 && ds.labels[2] == 2 && ds.labels[3] == 0,
              "labels %d %d %d %d: expected 0 1 2 0 (hotdog is the longest match)", ds.labels[0],
              ds.labels[1], ds.labels[2], ds.labels[3]);
        CHECK(ds.names && strcmp(ds.names[1], "dog") == 0, "names (\\r stripped)");
        snprintf(p, sizeof p, "%s/%s", sub, files[2]);
        CHECK(strcmp(ds.paths[2], p) == 0, "path resolved from the .data directory: %s",
              ds.paths[2]);

        /* Native size: the loaded image; another size: its resize; one-hot. */
        float x[2 * 36], t[2 * 3];
        int idx[2] = {2, 0};
        rc = ecn_dataset_batch(&ds, idx, 2, (ecn_shape){3, 3, 4}, NULL, NULL, x, t, 3, &err);
        CHECK(rc == 0, "batch: %s", err.msg);
        ecn_image im, sized;
        if (ecn_image_load(ds.paths[2], 3, &im, &err) == 0) {
            CHECK(memcmp(im.data, x, 36 * sizeof(float)) == 0, "batch differs from the loaded image");
            float x2[5 * 6 * 3];
            rc = ecn_dataset_batch(&ds, idx, 1, (ecn_shape){3, 5, 6}, NULL, NULL, x2, NULL, 0, &err);
            CHECK(rc == 0, "resized batch: %s", err.msg);
            if (ecn_image_resize(&im, 6, 5, &sized, &err) == 0) {
                CHECK(memcmp(sized.data, x2, sizeof x2) == 0, "batch differs from ecn_image_resize");
                ecn_image_free(&sized);
            }
            ecn_image_free(&im);
        }
        CHECK(t[0] == 0 && t[1] == 0 && t[2] == 1 && t[3] == 1 && t[4] == 0 && t[5] == 0,
              "one-hot truth");
        /* Grey input from RGB files (stb's conversion), and a flip. */
        float g[12], gf[12];
        unsigned long long r = seed_with_first_bit(1);
        ecn_augment flip = {.flip = 1, .crop_pad = 0};
        rc = ecn_dataset_batch(&ds, idx, 1, (ecn_shape){1, 3, 4}, NULL, NULL, g, NULL, 0, &err);
        rc |= ecn_dataset_batch(&ds, idx, 1, (ecn_shape){1, 3, 4}, &flip, &r, gf, NULL, 0, &err);
        CHECK(rc == 0, "grey batches: %s", err.msg);
        int bad = 0;
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 4; xx++) bad += gf[y * 4 + xx] != g[y * 4 + 3 - xx];
        CHECK(bad == 0, "flipped file image is not the mirror");
        ecn_dataset_free(&ds);
    }

    /* valid: a path with no class name is an error naming the line. */
    rc = ecn_dataset_open(data, 1, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "valid.list:3") && contains(err.msg, "bird"),
          "unlabelled path: %s", err.msg);

    /* A missing image surfaces at batch time (lazy loading). */
    write_text(sub, "lazy.list", "imgs/cat_0.png\nimgs/cat_missing.png\n");
    write_text(sub, "lazy.data", "train = lazy.list\nnames = labels.txt\n");
    snprintf(data, sizeof data, "%s/lazy.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == 0, "lazy open (names= only, no label files: classification): %s", err.msg);
    if (rc == 0) {
        CHECK(ds.classes == 3 && !ds.boxes && ds.labels[1] == 0, "lazy set");
        float x[2 * 36];
        rc = ecn_dataset_batch(&ds, NULL, 2, (ecn_shape){3, 3, 4}, NULL, NULL, x, NULL, 0, &err);
        CHECK(rc == -1 && contains(err.msg, "example 1") && contains(err.msg, "cat_missing.png"),
              "missing image at batch time: %s", err.msg);
        ecn_dataset_free(&ds);
    }

    /* .data errors. */
    write_text(sub, "e1.data", "classes=4\ntrain=train.list\nlabels=labels.txt\n");
    snprintf(data, sizeof data, "%s/e1.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "3 class names") && contains(err.msg, "classes = 4"),
          "classes mismatch: %s", err.msg);
    write_text(sub, "e2.data", "classes=3\ntrain=nowhere.list\nlabels=labels.txt\n");
    snprintf(data, sizeof data, "%s/e2.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "e2.data:2") && contains(err.msg, "nowhere.list"),
          "missing list: %s", err.msg);
    write_text(sub, "e3.data", "classes=3\ntrain=train.list\nlabels=labels.txt\njunk line\n");
    snprintf(data, sizeof data, "%s/e3.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "e3.data:4") && contains(err.msg, "key=value"),
          "junk line: %s", err.msg);
    rc = ecn_dataset_open(data, 1, &ds, &err);
    CHECK(rc == -1, "no valid key accepted");
    write_text(sub, "e4.data", "classes=three\ntrain=train.list\nlabels=labels.txt\n");
    snprintf(data, sizeof data, "%s/e4.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "e4.data:1"), "bad classes: %s", err.msg);
    snprintf(data, sizeof data, "%s/none.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "none.data") && contains(err.msg, "fashion-mnist"),
          "missing .data: %s", err.msg);
}

/* ---- Darknet detection list -------------------------------------------- */

static void test_detection(const char *dir)
{
    char p[1200], sub[700];
    snprintf(sub, sizeof sub, "%s/det", dir);
    mkdir(sub, 0700);
    const char *dirs[] = {"images", "labels", "VOC", "VOC/JPEGImages", "VOC/labels"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, dirs[i]);
        mkdir(p, 0700);
    }
    snprintf(p, sizeof p, "%s/images/a.png", sub);
    save_png(p, 8, 6, 3, 1);
    snprintf(p, sizeof p, "%s/images/b.jpeg.png", sub);
    save_png(p, 8, 6, 3, 2);
    snprintf(p, sizeof p, "%s/VOC/JPEGImages/c.PNG", sub);
    save_png(p, 8, 6, 3, 3);
    write_text(sub, "labels/a.txt", "0 0.5 0.5 0.25 0.5\n\n2 0.2 0.3 0.1 0.2\n1 0.9 0.9 0.1 0.1\n");
    write_text(sub, "VOC/labels/c.txt", "1 0.25 0.75 0.5 0.5\r\n");
    write_text(sub, "names.txt", "person\ncar\ndog\n");
    write_text(sub, "train.txt", "images/a.png\nimages/b.jpeg.png\nVOC/JPEGImages/c.PNG\n");
    write_text(sub, "det.data", "classes = 3\ntrain = train.txt\nvalid = bad.txt\nnames = names.txt\n");
    char data[800];
    snprintf(data, sizeof data, "%s/det.data", sub);
    ecn_dataset ds;
    ecn_err err = {{0}};
    int rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == 0, "detection open: %s", err.msg);
    if (rc == 0) {
        CHECK(ecn_dataset_is_detection(&ds) && ds.n == 3 && ds.classes == 3, "detection set");
        CHECK(ds.n_boxes[0] == 3 && ds.n_boxes[1] == 0 && ds.n_boxes[2] == 1,
              "boxes %d %d %d: expected 3, 0 (no label file), 1 (JPEGImages -> labels)",
              ds.n_boxes[0], ds.n_boxes[1], ds.n_boxes[2]);
        CHECK(ds.boxes[0][1].cls == 2 && ds.boxes[0][1].x == 0.2f && ds.boxes[0][1].h == 0.2f,
              "second box of a");
        CHECK(ds.labels[0] == -1, "detection labels are -1");

        /* Truth: (x, y, w, h, class), zero-padded; at most truth_floats/5 boxes. */
        float x[3 * 3 * 6 * 8], t[3 * 10];
        rc = ecn_dataset_batch(&ds, NULL, 3, (ecn_shape){3, 6, 8}, NULL, NULL, x, t, 10, &err);
        CHECK(rc == 0, "detection batch: %s", err.msg);
        const float want[30] = {0.5f, 0.5f, 0.25f, 0.5f, 0, 0.2f, 0.3f, 0.1f, 0.2f, 2,
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0.25f, 0.75f, 0.5f, 0.5f, 1, 0, 0, 0, 0, 0};
        CHECK(test_rel_diff(t, want, 30) < 1e-6, "detection truth layout");
        CHECK(ecn_dataset_batch(&ds, NULL, 1, (ecn_shape){3, 6, 8}, NULL, NULL, x, t, 7, &err) == -1,
              "truth_floats not a multiple of 5 accepted");

        /* Flip: x -> 1 - x (box order shuffled by the draws after the flip). */
        ecn_augment flip = {.flip = 1, .crop_pad = 0};
        unsigned long long r = seed_with_first_bit(1);
        float tf[15];
        rc = ecn_dataset_batch(&ds, (int[]){2}, 1, (ecn_shape){3, 6, 8}, &flip, &r, x, tf, 15, &err);
        CHECK(rc == 0 && fabsf(tf[0] - 0.75f) < 1e-6f && fabsf(tf[1] - 0.75f) < 1e-6f &&
                  tf[4] == 1 && tf[5] == 0,
              "flipped box %g %g %g %g %g", tf[0], tf[1], tf[2], tf[3], tf[4]);
        ecn_dataset_free(&ds);
    }

    /* Bad label lines name file:line. */
    write_text(sub, "labels/a.txt", "0 0.5 0.5 0.25 0.5\n1 0.5 0.5 oops 0.5\n");
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "labels/a.txt:2") && contains(err.msg, "class x y w h"),
          "bad label line: %s", err.msg);
    write_text(sub, "labels/a.txt", "0 0.5 0.5 0.25 0.5\n\n3 0.5 0.5 0.2 0.5\n");
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "labels/a.txt:3") && contains(err.msg, "class 3"),
          "class out of range: %s", err.msg);
    write_text(sub, "labels/a.txt", "0 0.5 0.5 0.25 0.5 7\n");
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == -1 && contains(err.msg, "labels/a.txt:1"), "extra field: %s", err.msg);
    write_text(sub, "labels/a.txt", "0 0.5 0.5 0.25 0.5\n");

    /* type = detection with no label file at all: every frame empty. */
    write_text(sub, "empty.txt", "images/b.jpeg.png\n");
    write_text(sub, "empty.data", "train = empty.txt\nnames = names.txt\ntype = detection\n");
    snprintf(data, sizeof data, "%s/empty.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == 0 && ds.boxes && ds.n_boxes[0] == 0, "type = detection: %s", err.msg);
    if (rc == 0) ecn_dataset_free(&ds);

    /* Boxes follow the pixels through jitter, crop and flip: a white
     * rectangle on black, its box in the label file. */
    snprintf(p, sizeof p, "%s/images/rect.png", sub);
    {
        const int W = 64, H = 48, L = 20, T = 12, R = 44, B = 30; /* [L,R) x [T,B) */
        ecn_image im = {W, H, 1, calloc((size_t)W * H, sizeof(float))};
        for (int y = T; y < B; y++)
            for (int xx = L; xx < R; xx++) im.data[y * W + xx] = 1;
        ecn_image_save_png(&im, p, &err);
        ecn_image_free(&im);
        char line[200];
        snprintf(line, sizeof line, "1 %.6f %.6f %.6f %.6f\n", (L + R) / 2.0 / W, (T + B) / 2.0 / H,
                 (double)(R - L) / W, (double)(B - T) / H);
        write_text(sub, "labels/rect.txt", line);
    }
    write_text(sub, "rect.txt", "images/rect.png\n");
    write_text(sub, "rect.data", "classes = 3\ntrain = rect.txt\nnames = names.txt\n");
    snprintf(data, sizeof data, "%s/rect.data", sub);
    rc = ecn_dataset_open(data, 0, &ds, &err);
    CHECK(rc == 0, "rect open: %s", err.msg);
    if (rc == 0) {
        const int w = 64, h = 48;
        float *x = malloc((size_t)w * h * sizeof *x), t[5];
        ecn_augment aug = {.flip = 1, .crop_pad = 4, .jitter = 0.3f};
        unsigned long long r = 2024;
        float worst = 0;
        int boxes = 0, flips = 0, failed = 0;
        for (int it = 0; it < 40 && !failed; it++) {
            unsigned long long probe = r;
            failed = ecn_dataset_batch(&ds, NULL, 1, (ecn_shape){1, h, w}, &aug, &r, x, t, 5, &err);
            /* the flip bit is the 7th draw: 4 jitter, 2 crop */
            for (int d = 0; d < 6; d++) ecn_rng_next(&probe);
            flips += (int)(ecn_rng_next(&probe) >> 63);
            if (t[2] == 0) continue; /* box left the frame */
            boxes++;
            int x0 = w, y0 = h, x1 = -1, y1 = -1;
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                    if (x[y * w + xx] > 0.5f) {
                        x0 = xx < x0 ? xx : x0, x1 = xx > x1 ? xx : x1;
                        y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                    }
            float px = (x0 + x1 + 1) / 2.f / w, py = (y0 + y1 + 1) / 2.f / h;
            float pw = (float)(x1 + 1 - x0) / w, ph = (float)(y1 + 1 - y0) / h;
            float d = fmaxf(fmaxf(fabsf(px - t[0]) * w, fabsf(py - t[1]) * h),
                            fmaxf(fabsf(pw - t[2]) * w, fabsf(ph - t[3]) * h));
            worst = fmaxf(worst, d);
            CHECK(t[4] == 1, "class kept");
        }
        CHECK(!failed, "jitter batch: %s", err.msg);
        CHECK(boxes > 30 && flips > 5 && flips < 35, "boxes %d flips %d of 40", boxes, flips);
        CHECK(worst <= 2.5f, "box strays %.2f pixels from the white rectangle", worst);
        free(x);
        ecn_dataset_free(&ds);
    }
}

int main(void)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "temporary directory");
    if (!dir) return test_finish("test_data");
    test_idx(dir);
    test_fashion();
    test_augment(dir);
    test_shuffle();
    test_classification(dir);
    test_detection(dir);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_data");
}
