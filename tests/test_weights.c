/* test_weights.c - Darknet .weights files (src/core/weights.c and each
 * layer's load/save).
 *
 *   - save + load + save is byte-identical, for random-initialised nets and
 *     for a hand-made file where every float differs;
 *   - header variants: 0.1 (32-bit seen) and the old transposed-connected
 *     format (major or minor > 1000), both built by hand here;
 *   - truncated, oversized and missing files give messages naming the
 *     layer, the byte count or the path; a folded net refuses to save;
 *     no PATH.tmp is left behind;
 *   - a file ecnet saved runs in Darknet (build/darknet_ref) with the same
 *     outputs, layer by layer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"

/* Every parametric layer kind, with and without batch norm.  Floats in the
 * file, in order (see each layer's .weights comment):
 *   0 conv bn   4 filters 3x3x3:   biases 4, scales 4, mean 4, var 4, W 108   [0, 124)
 *   1 batchnorm 4 channels:        scales 4, mean 4, var 4                   [124, 136)
 *   2 maxpool                                                               -
 *   3 conv      6 filters 3x3x4:   biases 6, W 216                          [136, 358)
 *   4 connected bn 54 -> 7:        biases 7, W 7x54, scales 7, mean 7, var 7 [358, 764)
 *   5 connected 7 -> 5:            biases 5, W 5x7                          [764, 804)
 *   6 softmax                                                               - */
static const char *small_cfg =
    "[net]\nwidth=10\nheight=10\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[batchnorm]\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=0\nactivation=linear\n"
    "[connected]\noutput=7\nbatch_normalize=1\nactivation=leaky\n"
    "[connected]\noutput=5\nactivation=linear\n"
    "[softmax]\n";
#define SMALL_FLOATS 804
#define SMALL_INPUT (10 * 10 * 3)
#define CONN4_W 365 /* first weight of layer 4, 7 x 54 */
#define CONN5_W 769 /* first weight of layer 5, 5 x 7 */

static ecn_net *small_net(void)
{
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg_text(small_cfg, strlen(small_cfg), "small.cfg", &lo, &net, &err)) {
        CHECK(0, "small.cfg: %s", err.msg);
        return NULL;
    }
    return net;
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Header + payload, written by hand. */
static int write_weights(const char *path, int32_t major, int32_t minor, uint64_t seen,
                         const float *payload, size_t n)
{
    int32_t v[3] = {major, minor, 0};
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(v, sizeof v, 1, f);
    if (major * 10 + minor >= 2 && major < 1000 && minor < 1000) fwrite(&seen, 8, 1, f);
    else {
        int32_t s = (int32_t)seen;
        fwrite(&s, 4, 1, f);
    }
    fwrite(payload, sizeof(float), n, f);
    return fclose(f);
}

/* A payload where every float is different: batch-norm variances positive. */
static void random_payload(float *p, size_t n, unsigned long long seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = 0.25f + (float)((seed >> 40) * (1.0 / 16777216.0)); /* [0.25, 1.25) */
        if (i % 3 == 1) p[i] = -p[i] * 0.5f;
    }
    /* variances: conv 0 [12,16), batchnorm [132,136), connected 4 [757,764) */
    for (int i = 12; i < 16; i++) p[i] = fabsf(p[i]) + 0.1f;
    for (int i = 132; i < 136; i++) p[i] = fabsf(p[i]) + 0.1f;
    for (int i = 757; i < 764; i++) p[i] = fabsf(p[i]) + 0.1f;
}

static float *forward_copy(ecn_net *net, const float *x, size_t *n)
{
    const float *y = ecn_net_forward(net, x, NULL, NULL);
    ecn_layer_info li;
    ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &li);
    *n = ecn_shape_size(li.out);
    float *c = malloc(*n * sizeof *c);
    memcpy(c, y, *n * sizeof *c);
    return c;
}

/* Load `path` into a fresh small net and run it on x; NULL on error. */
static float *run_file(const char *path, const float *x, ecn_err *err)
{
    ecn_net *net = small_net();
    if (!net) return NULL;
    float *y = NULL;
    size_t n;
    if (ecn_net_load_weights(net, path, err) == 0) y = forward_copy(net, x, &n);
    ecn_net_free(net);
    return y;
}

/* ---- round trips ---------------------------------------------------- */

static void test_round_trip(const char *dir, const float *x)
{
    char a[512], b[512], h[512], c[512], tmp[600];
    snprintf(a, sizeof a, "%s/a.weights", dir);
    snprintf(b, sizeof b, "%s/b.weights", dir);
    snprintf(h, sizeof h, "%s/hand.weights", dir);
    snprintf(c, sizeof c, "%s/c.weights", dir);
    ecn_err err;

    /* randomize -> save -> load -> save */
    ecn_net *n1 = small_net(), *n2 = small_net();
    if (!n1 || !n2) goto out;
    ecn_net_randomize(n1, 7);
    CHECK(ecn_net_save_weights(n1, a, &err) == 0, "save: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", a);
    CHECK(!exists(tmp), "%s is left behind after a save", tmp);
    size_t size = 0;
    free(test_read_file(a, &size));
    CHECK(size == 20 + 4 * SMALL_FLOATS, "saved file has %zu bytes, expected %d", size,
          20 + 4 * SMALL_FLOATS);
    CHECK(ecn_net_load_weights(n2, a, &err) == 0, "load: %s", err.msg);
    CHECK(ecn_net_save_weights(n2, b, &err) == 0, "save again: %s", err.msg);
    CHECK(same_file(a, b), "save + load + save is not byte-identical");
    size_t k1, k2;
    float *y1 = forward_copy(n1, x, &k1), *y2 = forward_copy(n2, x, &k2);
    CHECK(k1 == 5 && k2 == 5 && memcmp(y1, y2, k1 * sizeof *y1) == 0, "loaded net runs differently");
    free(y1);
    free(y2);

    /* A hand-made file where every value differs survives load + save. */
    float pay[SMALL_FLOATS];
    random_payload(pay, SMALL_FLOATS, 99);
    CHECK(write_weights(h, 0, 2, 123456789012ULL, pay, SMALL_FLOATS) == 0, "write %s", h);
    CHECK(ecn_net_load_weights(n2, h, &err) == 0, "load hand-made: %s", err.msg);
    CHECK(n2->seen == 123456789012ULL, "64-bit seen read as %llu", n2->seen);
    CHECK(ecn_net_save_weights(n2, c, &err) == 0, "save: %s", err.msg);
    CHECK(same_file(h, c), "hand-made file changes in load + save");
    /* The file changes what the net computes (the check above can fail). */
    float *yr = forward_copy(n1, x, &k1), *yh = forward_copy(n2, x, &k2);
    CHECK(memcmp(yr, yh, k1 * sizeof *yr) != 0, "different weights, same output?");
    free(yr);
    free(yh);

    /* Folded nets refuse to save and leave nothing behind. */
    char f[512];
    snprintf(f, sizeof f, "%s/folded.weights", dir);
    ecn_net_fold_batchnorm(n2);
    memset(err.msg, 0, sizeof err.msg);
    CHECK(ecn_net_save_weights(n2, f, &err) == -1 && strstr(err.msg, "fold") != NULL,
          "saving a folded net must fail: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", f);
    CHECK(!exists(f) && !exists(tmp), "a refused save leaves a file");
    /* Loading weights again makes it savable. */
    CHECK(ecn_net_load_weights(n2, h, &err) == 0 && ecn_net_save_weights(n2, f, &err) == 0,
          "save after reloading a folded net: %s", err.msg);
    CHECK(same_file(h, f), "reloaded folded net saves the file it loaded");

    /* An unwritable destination: error naming the path, no .tmp. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.weights", dir);
    CHECK(ecn_net_save_weights(n2, bad, &err) == -1 && strstr(err.msg, "no/such/dir/x.weights"),
          "save into a missing directory: %s", err.msg);
    /* Saving over an existing file replaces it whole. */
    CHECK(ecn_net_save_weights(n1, c, &err) == 0 && same_file(a, c), "overwrite: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", c);
    CHECK(!exists(tmp), "%s is left behind after overwriting", tmp);
out:
    ecn_net_free(n1);
    ecn_net_free(n2);
}

/* ---- header variants ------------------------------------------------ */

static void transpose(float *dst, const float *src, int outputs, int inputs)
{
    for (int o = 0; o < outputs; o++)
        for (int j = 0; j < inputs; j++) dst[(size_t)j * outputs + o] = src[(size_t)o * inputs + j];
}

static void test_headers(const char *dir, const float *x)
{
    char h[512], v1[512], t1[512], t2[512], wrong[512], out[512];
    snprintf(h, sizeof h, "%s/h.weights", dir);
    snprintf(v1, sizeof v1, "%s/v01.weights", dir);
    snprintf(t1, sizeof t1, "%s/t1.weights", dir);
    snprintf(t2, sizeof t2, "%s/t2.weights", dir);
    snprintf(wrong, sizeof wrong, "%s/wrong.weights", dir);
    snprintf(out, sizeof out, "%s/out.weights", dir);
    float pay[SMALL_FLOATS], tr[SMALL_FLOATS];
    random_payload(pay, SMALL_FLOATS, 5);
    memcpy(tr, pay, sizeof pay);
    transpose(tr + CONN4_W, pay + CONN4_W, 7, 54);
    transpose(tr + CONN5_W, pay + CONN5_W, 5, 7);
    CHECK(memcmp(tr, pay, sizeof pay) != 0, "transposing changed the payload");
    write_weights(h, 0, 2, 77, pay, SMALL_FLOATS);
    write_weights(v1, 0, 1, 77, pay, SMALL_FLOATS); /* 16-byte header */
    write_weights(t1, 0, 1001, 77, tr, SMALL_FLOATS);
    write_weights(t2, 1001, 0, 77, tr, SMALL_FLOATS);
    write_weights(wrong, 0, 2, 77, tr, SMALL_FLOATS); /* transposed data, new header */
    size_t sz = 0;
    free(test_read_file(v1, &sz));
    CHECK(sz == 16 + 4 * SMALL_FLOATS, "v0.1 file size %zu", sz);

    ecn_err err;
    float *ref = run_file(h, x, &err);
    CHECK(ref != NULL, "0.2: %s", err.msg);
    if (!ref) return;
    const char *files[] = {v1, t1, t2};
    const char *labels[] = {"0.1 (int32 seen)", "0.1001 (transposed)", "1001.0 (transposed)"};
    for (int i = 0; i < 3; i++) {
        ecn_net *net = small_net();
        if (!net) break;
        CHECK(ecn_net_load_weights(net, files[i], &err) == 0, "%s: %s", labels[i], err.msg);
        CHECK(net->seen == 77, "%s: seen %llu", labels[i], net->seen);
        size_t n;
        float *y = forward_copy(net, x, &n);
        CHECK(memcmp(y, ref, n * sizeof *y) == 0, "%s: output differs from the 0.2 file's", labels[i]);
        free(y);
        /* Saving writes 0.2 with connected weights in today's order. */
        CHECK(ecn_net_save_weights(net, out, &err) == 0 && same_file(out, h),
              "%s: saved as 0.2 differs from the 0.2 file", labels[i]);
        ecn_net_free(net);
    }
    /* Transposed data under a 0.2 header is read untransposed: another output. */
    float *w = run_file(wrong, x, &err);
    CHECK(w && memcmp(w, ref, 5 * sizeof *w) != 0, "transposed data read as 0.2 gives the same output");
    free(w);
    free(ref);
}

/* ---- broken files --------------------------------------------------- */

static void expect_load_error(const char *path, const char *what1, const char *what2, const char *label)
{
    ecn_net *net = small_net();
    if (!net) return;
    ecn_err err;
    memset(err.msg, 0, sizeof err.msg);
    int rc = ecn_net_load_weights(net, path, &err);
    CHECK(rc == -1, "%s: load should fail", label);
    CHECK(strstr(err.msg, path) != NULL, "%s: message should name the file: %s", label, err.msg);
    CHECK(strstr(err.msg, what1) != NULL && (!what2 || strstr(err.msg, what2) != NULL),
          "%s: message should say '%s'%s%s: %s", label, what1, what2 ? " and " : "", what2 ? what2 : "",
          err.msg);
    ecn_net_free(net);
}

static void test_broken(const char *dir)
{
    char h[512], p[512];
    snprintf(h, sizeof h, "%s/whole.weights", dir);
    snprintf(p, sizeof p, "%s/cut.weights", dir);
    float pay[SMALL_FLOATS];
    random_payload(pay, SMALL_FLOATS, 11);
    write_weights(h, 0, 2, 1, pay, SMALL_FLOATS);
    size_t size;
    unsigned char *whole = test_read_file(h, &size);
    if (!whole) {
        CHECK(0, "cannot read %s", h);
        return;
    }
    static const struct {
        size_t cut;       /* bytes kept */
        const char *what; /* in the message */
        const char *what2;
    } cuts[] = {
        {0, "too short", NULL},
        {5, "too short", NULL},
        {12, "header ends inside", NULL},
        {16, "header ends inside", NULL},
        {19, "header ends inside", NULL},
        {20, "layer 0 (convolutional", "biases"},
        {20 + 4 * 5, "layer 0 (convolutional", "scales"},
        {20 + 4 * 100, "layer 0 (convolutional", "weights"},
        {20 + 4 * 123 + 2, "layer 0 (convolutional", NULL},
        {20 + 4 * 124, "layer 1 (batchnorm", NULL},
        {20 + 4 * 135, "layer 1 (batchnorm", "variance"},
        {20 + 4 * 200, "layer 3 (convolutional", NULL},
        {20 + 4 * 400, "layer 4 (connected", "weights"},
        {20 + 4 * 760, "layer 4 (connected", "variance"},
        {20 + 4 * 803, "layer 5 (connected", NULL},
        {20 + 4 * 803 + 3, "layer 5 (connected", NULL},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        test_write_file(p, whole, cuts[i].cut);
        char label[64];
        snprintf(label, sizeof label, "cut at %zu bytes", cuts[i].cut);
        expect_load_error(p, cuts[i].what, cuts[i].what2, label);
    }
    /* The line of the layer's section in the cfg is named too. */
    test_write_file(p, whole, 20 + 4 * 400);
    expect_load_error(p, "cfg line 22", NULL, "cut in layer 4 names cfg line 22");

    /* Oversized: bytes left. */
    unsigned char *big = malloc(size + 9);
    memcpy(big, whole, size);
    memset(big + size, 0, 9);
    test_write_file(p, big, size + 1);
    expect_load_error(p, "1 bytes left", NULL, "one extra byte");
    test_write_file(p, big, size + 8);
    expect_load_error(p, "8 bytes left", NULL, "two extra floats");
    free(big);
    /* The whole file loads (the checks above test what they claim). */
    ecn_net *net = small_net();
    ecn_err err;
    if (net) {
        CHECK(ecn_net_load_weights(net, h, &err) == 0, "whole file: %s", err.msg);
        ecn_net_free(net);
    }
    /* Missing file. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.weights", dir);
    expect_load_error(missing, "cannot open", NULL, "missing file");
    /* A directory is not a weights file. */
    expect_load_error(dir, dir, NULL, "a directory");
    free(whole);
}

/* ---- Darknet reads what ecnet writes -------------------------------- */

static const char *ref_cfg =
    "[net]\nwidth=32\nheight=32\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[avgpool]\n"
    "[connected]\noutput=10\nactivation=linear\n"
    "[softmax]\n";

typedef struct dumps {
    float *data;
    size_t n, cap;
} dumps;

static void collect(void *user, int layer, const float *out, size_t n)
{
    (void)layer;
    dumps *d = user;
    if (d->n + n > d->cap) {
        d->cap = 2 * (d->n + n);
        d->data = realloc(d->data, d->cap * sizeof *d->data);
    }
    memcpy(d->data + d->n, out, n * sizeof *out);
    d->n += n;
}

static float urand(unsigned long long *s, float lo, float hi)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*s >> 40) * (1.0 / 16777216.0));
}

static void test_darknet(const char *dir)
{
    char oracle[512];
    snprintf(oracle, sizeof oracle, "%s/darknet_ref", test_build_dir());
    if (access(oracle, X_OK) != 0) {
        test_skip("%s absent: Darknet does not read an ecnet-saved file here", oracle);
        return;
    }
    char cfg[512], hand[512], saved[512], in[512], out[512], log[512];
    snprintf(cfg, sizeof cfg, "%s/ref.cfg", dir);
    snprintf(hand, sizeof hand, "%s/ref-hand.weights", dir);
    snprintf(saved, sizeof saved, "%s/ref-ecnet.weights", dir);
    snprintf(in, sizeof in, "%s/in.f32", dir);
    snprintf(out, sizeof out, "%s/darknet.f32", dir);
    snprintf(log, sizeof log, "%s/darknet.log", dir);
    test_write_file(cfg, ref_cfg, strlen(ref_cfg));

    /* Parameters of a plausible scale: conv 0 with batch norm, conv 1, connected. */
    unsigned long long s = 2024;
    enum { C0 = 8 * 27, C1 = 16 * 72, FC = 10 * 16 };
    float pay[4 * 8 + C0 + 16 + C1 + 10 + FC], *p = pay;
    for (int i = 0; i < 8; i++) *p++ = urand(&s, -0.2f, 0.2f);  /* biases */
    for (int i = 0; i < 8; i++) *p++ = urand(&s, 0.5f, 1.5f);   /* scales */
    for (int i = 0; i < 8; i++) *p++ = urand(&s, -0.3f, 0.3f);  /* rolling mean */
    for (int i = 0; i < 8; i++) *p++ = urand(&s, 0.2f, 1.0f);   /* rolling variance */
    for (int i = 0; i < C0; i++) *p++ = urand(&s, -0.33f, 0.33f);
    for (int i = 0; i < 16; i++) *p++ = urand(&s, -0.1f, 0.1f);
    for (int i = 0; i < C1; i++) *p++ = urand(&s, -0.2f, 0.2f);
    for (int i = 0; i < 10; i++) *p++ = urand(&s, -0.1f, 0.1f);
    for (int i = 0; i < FC; i++) *p++ = urand(&s, -1.5f, 1.5f);
    write_weights(hand, 0, 2, 0, pay, (size_t)(p - pay));
    float x[32 * 32 * 3];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = urand(&s, 0, 1);
    test_write_file(in, x, sizeof x);

    ecn_load_opts lo = {.batch = 1, .threads = 1};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg(cfg, &lo, &net, &err)) {
        CHECK(0, "ref.cfg: %s", err.msg);
        return;
    }
    /* ecnet writes the file Darknet will read. */
    CHECK(ecn_net_load_weights(net, hand, &err) == 0, "load: %s", err.msg);
    CHECK(ecn_net_save_weights(net, saved, &err) == 0, "save: %s", err.msg);
    ecn_net_free(net);
    if (ecn_net_from_cfg(cfg, &lo, &net, &err)) return;
    CHECK(ecn_net_load_weights(net, saved, &err) == 0, "load the saved file: %s", err.msg);
    dumps ours = {0};
    ecn_net_forward(net, x, collect, &ours);

    int rc = test_system("'%s' forward '%s' '%s' '%s' '%s' >'%s' 2>&1", oracle, cfg, saved, in, out, log);
    CHECK(rc == 0, "darknet_ref forward failed (exit %d); see %s", rc, log);
    size_t bytes = 0;
    float *ref = rc == 0 ? (float *)test_read_file(out, &bytes) : NULL;
    if (ref) {
        size_t n_ref = bytes / sizeof(float);
        CHECK(n_ref == ours.n, "Darknet dumps %zu floats, ecnet %zu", n_ref, ours.n);
        size_t off = 0;
        double worst = 0;
        for (int i = 0; i < ecn_net_layer_count(net) && n_ref == ours.n; i++) {
            ecn_layer_info li;
            ecn_net_layer_info(net, i, &li);
            size_t n = ecn_shape_size(li.out);
            double d = test_rel_diff(ours.data + off, ref + off, n);
            CHECK(d <= 1e-4, "layer %d (%s): ecnet and Darknet differ by %.3g relative", i, li.type, d);
            if (!(d <= worst)) worst = d;
            off += n;
        }
        printf("darknet reads the ecnet-saved file: largest layer difference %.2g relative\n", worst);
        /* The softmax output is a real distribution, not a one-hot. */
        const float *last = ref + n_ref - 10;
        float hi = 0;
        for (int k = 0; k < 10; k++) hi = last[k] > hi ? last[k] : hi;
        CHECK(hi < 0.99f && hi > 0.1f, "Darknet's softmax peak %.4f: the comparison is too easy", hi);
        free(ref);
    }
    free(ours.data);
    ecn_net_free(net);
}

int main(void)
{
    char *dir = test_tmpdir();
    if (!dir) {
        CHECK(0, "cannot create a temporary directory");
        return test_finish("test_weights");
    }
    float x[SMALL_INPUT];
    unsigned long long s = 3;
    for (int i = 0; i < SMALL_INPUT; i++) x[i] = urand(&s, 0, 1);
    test_round_trip(dir, x);
    test_headers(dir, x);
    test_broken(dir);
    test_darknet(dir);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_weights");
}
