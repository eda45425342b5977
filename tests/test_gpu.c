/* test_gpu.c - the CUDA backend (`make GPU=1`) against the CPU path.
 *
 * Built in every build.  In a CPU-only build it checks that the library and
 * the command line say clearly that there is no GPU support, then SKIPs.  In
 * a GPU build on a machine without a device it checks the error messages,
 * then SKIPs; with ECN_REQUIRE_GPU=1 (make test-gpu) the missing device is a
 * failure instead.  With a device (device 0):
 *
 *   kernels   every launcher of cuda/gpu.h against its CPU function on random
 *             inputs: relative difference (testlib's test_rel_diff: the largest
 *             |gpu - cpu| over the largest |cpu|) at most 1e-4; copies
 *             (im2col) equal; the split's quantizer (ranges, symbols,
 *             dequantized values) and the bit packing equal byte for byte;
 *   layers    small networks holding every layer type and option variant,
 *             random parameters with non-trivial batch norm, batch 2: each
 *             layer's output on the GPU against the CPU's, 1e-4, for every
 *             backend the build has (kernels, cuBLAS, cuDNN);
 *   networks  darknet19, darknet53 and yolov3 (/usr/share/darknet/cfg),
 *             random weights with batch norm folded: the outputs (softmax,
 *             or the three [yolo] heads) within 1e-3, every backend; the
 *             largest per-layer difference is printed;
 *   split     a network with exits and a [split]: lossless (32-bit) round
 *             trip on the GPU, and the edge / cloud halves as separate
 *             ranges, against the CPU;
 *   API       parameter changes reach the device, bad devices and training
 *             are refused with clear messages, and `ecnet ... --gpu 0` runs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecnet.h"
#include "testlib.h"

/* ---- the command line --------------------------------------------------- */

/* The sub-commands that run networks, each with arguments that reach the
 * point where --gpu is acted on. */
static const char *const gpu_commands[] = {
    "bench cfg/fashion.cfg --iters 1",
    "forward cfg/fashion.cfg weights/fashion.weights --input /dev/null --output /dev/null",
    "classify cfg/fashion.cfg weights/fashion.weights no-such-image.png",
    "detect cfg/fashion.cfg weights/fashion.weights no-such-image.png --out ''",
    "eval cfg/fashion.cfg weights/fashion.weights --data fashion-mnist",
};

/* Run `ecnet ARGS --gpu 0`; its exit status, and its stderr in msg. */
static int run_with_gpu(const char *args, char *msg, size_t n)
{
    char *dir = test_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/stderr", dir ? dir : "/tmp");
    int rc = test_system("%s %s --gpu 0 >/dev/null 2>'%s'", test_ecnet(), args, path);
    unsigned char *text = test_read_file(path, NULL);
    snprintf(msg, n, "%s", text ? (const char *)text : "");
    free(text);
    test_rmdir(dir);
    free(dir);
    return rc;
}

/* Every command refuses --gpu 0 with exit status `want` and a message
 * holding `text`. */
static void check_cli_refuses(int want, const char *text)
{
    if (!getenv("ECNET")) {
        test_skip("ECNET is not set: the --gpu command-line checks need this build's ecnet (make test sets it)");
        return;
    }
    for (size_t i = 0; i < sizeof gpu_commands / sizeof gpu_commands[0]; i++) {
        char msg[2048];
        int rc = run_with_gpu(gpu_commands[i], msg, sizeof msg);
        CHECK(rc == want, "ecnet %s --gpu 0: exit %d, expected %d (%s)", gpu_commands[i], rc, want, msg);
        CHECK(strstr(msg, text) != NULL, "ecnet %s --gpu 0: \"%s\" does not say \"%s\"", gpu_commands[i], msg,
              text);
    }
}

static ecn_net *fashion_net(int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg("cfg/fashion.cfg", &lo, &net, &err)) {
        CHECK(0, "cfg/fashion.cfg: %s", err.msg);
        return NULL;
    }
    ecn_net_randomize(net, 3);
    return net;
}

/* Without a GPU (no support, or no device) the library refuses clearly and
 * the network keeps working on the CPU. */
static void check_refusal(const char *text)
{
    ecn_net *net = fashion_net(1);
    if (!net) return;
    ecn_err err = {{0}};
    CHECK(ecn_net_to_gpu(net, 0, &err) == -1, "ecn_net_to_gpu succeeded without a GPU");
    CHECK(strstr(err.msg, text) != NULL, "ecn_net_to_gpu: \"%s\" does not say \"%s\"", err.msg, text);
    CHECK(ecn_net_gpu_device(net) == -1, "a refused network reports a device");
    float x[28 * 28] = {0};
    CHECK(ecn_net_forward(net, x, NULL, NULL) != NULL, "the CPU forward pass fails after a refused ecn_net_to_gpu");
    ecn_net_free(net);
}

#ifndef ECN_GPU

int main(void)
{
    ecn_err err;
    CHECK(!ecn_gpu_built(), "a CPU-only build says it has GPU support");
    CHECK(ecn_gpu_count(&err) == 0, "a CPU-only build counts GPUs");
    check_refusal("no GPU support");
    check_cli_refuses(2, "this build has no GPU support (make GPU=1)");
    test_skip("this build has no GPU support: the GPU tests run in `make GPU=1 test` or `make test-gpu`");
    return test_finish("test_gpu");
}

#else /* ECN_GPU */

#include "core/error.h"
#include "cpu/activations.h"
#include "cpu/blas.h"
#include "cpu/gemm.h"
#include "cpu/im2col.h"
#include "cuda/gpu.h"
#include "split/quant.h"
#include "train/eval.h"

#define KERNEL_TOL 1e-4
#define LAYER_TOL 1e-4
#define NETWORK_TOL 1e-3

/* ---- helpers ---------------------------------------------------------------- */

static float uniform(unsigned long long *s, float lo, float hi)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*s >> 40) * (1.0 / 16777216.0));
}

static float *random_floats(size_t n, float lo, float hi, unsigned long long seed)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; x && i < n; i++) x[i] = uniform(&seed, lo, hi);
    return x;
}

static float *copy_floats(const float *x, size_t n)
{
    float *y = malloc((n ? n : 1) * sizeof *y);
    if (y && n) memcpy(y, x, n * sizeof *y);
    return y;
}

/* Device copy of h (bytes long; h NULL: uninitialised). */
static void *to_device(const void *h, size_t bytes)
{
    ecn_err err;
    void *d = ecn_gpu_alloc(bytes, &err);
    CHECK(d != NULL, "%s", err.msg);
    if (d && h && ecn_gpu_upload(d, h, bytes, &err)) {
        CHECK(0, "%s", err.msg);
        ecn_gpu_free(d);
        return NULL;
    }
    return d;
}

/* Wait for the kernels, then copy d to the host; 0 on success. */
static int to_host(void *h, const void *d, size_t bytes)
{
    ecn_err err;
    int ok = ecn_gpu_sync(&err) == 0 && ecn_gpu_download(h, d, bytes, &err) == 0;
    CHECK(ok, "%s", err.msg);
    return ok ? 0 : -1;
}

/* ---- kernels: gemm ------------------------------------------------------------ */

typedef int (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int,
                       ecn_err *);

typedef struct gemm_case {
    int M, N, K;
    float alpha, beta;
} gemm_case;

static void check_gemm(gemm_fn fn, const char *name, int ta, int tb, gemm_case g)
{
    int lda = (ta ? g.M : g.K) + 3, ldb = (tb ? g.K : g.N) + 1, ldc = g.N + 2;
    size_t na = (size_t)(ta ? g.K : g.M) * lda, nb = (size_t)(tb ? g.N : g.K) * ldb, nc = (size_t)g.M * ldc;
    float *a = random_floats(na, -1, 1, 1), *b = random_floats(nb, -1, 1, 2), *c = random_floats(nc, -1, 1, 3);
    if (g.beta == 0)
        for (size_t i = 0; i < nc; i++) c[i] = NAN; /* beta = 0: C must not be read */
    float *got = malloc(nc * sizeof *got);
    float *da = to_device(a, na * 4), *db = to_device(b, nb * 4), *dc = to_device(c, nc * 4);
    ecn_err err;
    if (da && db && dc) {
        CHECK(fn(ta, tb, g.M, g.N, g.K, g.alpha, da, lda, db, ldb, g.beta, dc, ldc, &err) == 0, "%s: %s", name,
              err.msg);
        ecn_gemm(ta, tb, g.M, g.N, g.K, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
        if (to_host(got, dc, nc * 4) == 0) {
            double d = 0;
            for (int r = 0; r < g.M; r++) {
                double dr = test_rel_diff(got + (size_t)r * ldc, c + (size_t)r * ldc, (size_t)g.N);
                if (!(dr <= d)) d = dr;
            }
            CHECK(d <= KERNEL_TOL, "%s ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g: relative difference %.3g", name,
                  ta, tb, g.M, g.N, g.K, g.alpha, g.beta, d);
        }
    }
    ecn_gpu_free(da), ecn_gpu_free(db), ecn_gpu_free(dc);
    free(a), free(b), free(c), free(got);
}

static void test_gemm(void)
{
    static const gemm_case cases[] = {{1, 1, 1, 1, 0},      {5, 7, 3, 1, 0},       {64, 64, 16, 1, 0},
                                      {65, 129, 17, 1, 0},  {33, 200, 300, 1, 0},  {128, 1000, 64, 1, 0},
                                      {70, 90, 1153, 1, 0}, {20, 30, 40, .5f, 2},  {64, 64, 64, -1, 1}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                check_gemm(ecn_gpu_gemm, "gemm (kernel)", ta, tb, cases[i]);
                if (ecn_gpu_has_cublas()) check_gemm(ecn_gpu_gemm_cublas, "gemm (cuBLAS)", ta, tb, cases[i]);
            }
}

/* ---- kernels: im2col, activations, bias + batch norm ------------------------- */

static void check_im2col(int C, int H, int W, int k, int s, int p)
{
    int oh = (H + 2 * p - k) / s + 1, ow = (W + 2 * p - k) / s + 1;
    size_t nim = (size_t)C * H * W, ncol = (size_t)C * k * k * oh * ow;
    float *im = random_floats(nim, -1, 1, 11), *want = malloc(ncol * 4), *got = malloc(ncol * 4);
    ecn_im2col_rows(im, H, W, k, s, p, ow, 0, C, 0, oh, want, oh * ow);
    float *dim = to_device(im, nim * 4), *dcol = to_device(NULL, ncol * 4);
    ecn_err err;
    if (dim && dcol) {
        CHECK(ecn_gpu_im2col(dim, C, H, W, k, s, p, oh, ow, dcol, &err) == 0, "im2col: %s", err.msg);
        if (to_host(got, dcol, ncol * 4) == 0)
            CHECK(memcmp(got, want, ncol * 4) == 0, "im2col C=%d H=%d W=%d k=%d s=%d p=%d differs from the CPU's", C,
                  H, W, k, s, p);
    }
    ecn_gpu_free(dim), ecn_gpu_free(dcol);
    free(im), free(want), free(got);
}

static void test_im2col(void)
{
    check_im2col(3, 10, 9, 3, 1, 1);
    check_im2col(4, 13, 11, 3, 2, 1);
    check_im2col(2, 8, 8, 1, 1, 0);
    check_im2col(5, 17, 15, 5, 2, 2);
    check_im2col(3, 12, 12, 2, 2, 0);
    check_im2col(1, 7, 6, 7, 1, 3);
}

static void test_activations(void)
{
    size_t n = 4099;
    float *x = random_floats(n, -6, 6, 7), *got = malloc(n * 4);
    const float special[] = {0, -0.f, 1, -1, 4, -4, 2.5f, -2.5f, 3, .5f, 1e-7f, -1e-7f};
    memcpy(x, special, sizeof special);
    for (int a = ECN_LINEAR; a <= ECN_LHTAN; a++) {
        float *want = copy_floats(x, n), *dx = to_device(x, n * 4);
        ecn_activate(want, n, (ecn_activation)a);
        ecn_err err;
        if (dx) {
            CHECK(ecn_gpu_activate(dx, n, a, &err) == 0, "%s", err.msg);
            if (to_host(got, dx, n * 4) == 0) {
                double d = test_rel_diff(got, want, n);
                CHECK(d <= KERNEL_TOL, "activation %s: relative difference %.3g", ecn_activation_name(a), d);
            }
        }
        ecn_gpu_free(dx);
        free(want);
    }
    free(x), free(got);
}

static void check_bias_activate(int bn, ecn_activation act)
{
    enum { B = 2, C = 5, S = 37 };
    size_t n = (size_t)B * C * S;
    float *x = random_floats(n, -3, 3, 21), *bias = random_floats(C, -1, 1, 22), *scale = random_floats(C, .5f, 2, 23);
    float *mean = random_floats(C, -1, 1, 24), *var = random_floats(C, .1f, 2, 25), *got = malloc(n * 4);
    float *want = copy_floats(x, n);
    if (bn) ecn_normalize(want, mean, var, B, C, S), ecn_scale_bias(want, scale, B, C, S);
    ecn_add_bias(want, bias, B, C, S);
    ecn_activate(want, n, act);
    float *dx = to_device(x, n * 4), *dy = to_device(NULL, n * 4), *db = to_device(bias, C * 4);
    float *ds = to_device(scale, C * 4), *dm = to_device(mean, C * 4), *dv = to_device(var, C * 4);
    ecn_err err;
    if (dx && dy && db && ds && dm && dv) {
        CHECK(ecn_gpu_bias_activate(dx, dy, db, bn ? ds : NULL, dm, dv, B, C, S, act, &err) == 0, "%s", err.msg);
        if (to_host(got, dy, n * 4) == 0) {
            double d = test_rel_diff(got, want, n);
            CHECK(d <= KERNEL_TOL, "bias%s + %s: relative difference %.3g", bn ? " + batch norm" : "",
                  ecn_activation_name(act), d);
        }
    }
    ecn_gpu_free(dx), ecn_gpu_free(dy), ecn_gpu_free(db), ecn_gpu_free(ds), ecn_gpu_free(dm), ecn_gpu_free(dv);
    free(x), free(bias), free(scale), free(mean), free(var), free(got), free(want);
}

static void test_bias_activate(void)
{
    const ecn_activation acts[] = {ECN_LINEAR, ECN_LEAKY, ECN_LOGISTIC, ECN_RELU, ECN_TANH};
    for (int bn = 0; bn < 2; bn++)
        for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) check_bias_activate(bn, acts[i]);
}

/* ---- kernels: softmax, entropy ---------------------------------------------- */

static void check_softmax(ecn_gpu_runs r, float temp)
{
    size_t total = (size_t)r.outer * r.outer_stride;
    float *x = random_floats(total, -5, 5, 31), *want = copy_floats(x, total), *got = malloc(total * 4);
    for (int o = 0; o < r.outer; o++)
        for (int i = 0; i < r.inner; i++) {
            size_t base = (size_t)o * r.outer_stride + (size_t)i;
            ecn_softmax(x + base, r.n, temp, r.stride, want + base);
        }
    float *dx = to_device(x, total * 4), *dy = to_device(x, total * 4); /* untouched places keep x */
    ecn_err err;
    if (dx && dy) {
        CHECK(ecn_gpu_softmax(dx, dy, r, temp, &err) == 0, "%s", err.msg);
        if (to_host(got, dy, total * 4) == 0) {
            double d = test_rel_diff(got, want, total);
            CHECK(d <= KERNEL_TOL, "softmax of %d values, stride %d, %d x %d runs, T=%g: relative difference %.3g",
                  r.n, r.stride, r.outer, r.inner, temp, d);
        }
    }
    ecn_gpu_free(dx), ecn_gpu_free(dy);
    free(x), free(want), free(got);
}

static void check_entropy(void)
{
    enum { RUNS = 7, N = 10 };
    float p[RUNS * N], h[RUNS], want[RUNS];
    float *x = random_floats(RUNS * N, -4, 4, 41);
    for (int r = 0; r < RUNS; r++) ecn_softmax(x + r * N, N, 1, 1, p + r * N);
    p[3] = 0, p[N] = 1, p[N + 1] = 0; /* zeros count as 0 log 0 = 0 */
    for (int r = 0; r < RUNS; r++) want[r] = (float)ecn_entropy(p + r * N, N);
    float *dp = to_device(p, sizeof p), *dh = to_device(NULL, sizeof h);
    ecn_err err;
    if (dp && dh) {
        CHECK(ecn_gpu_entropy(dp, N, RUNS, dh, &err) == 0, "%s", err.msg);
        if (to_host(h, dh, sizeof h) == 0) {
            double d = test_rel_diff(h, want, RUNS);
            CHECK(d <= KERNEL_TOL, "entropy: relative difference %.3g", d);
        }
    }
    ecn_gpu_free(dp), ecn_gpu_free(dh);
    free(x);
}

static void test_softmax(void)
{
    check_softmax((ecn_gpu_runs){1000, 1, 2, 1000, 1}, 1);
    check_softmax((ecn_gpu_runs){10, 1, 6, 10, 1}, 2);
    check_softmax((ecn_gpu_runs){3, 1, 5, 3, 1}, .5f);
    check_softmax((ecn_gpu_runs){20, 169, 10, 169 * 25, 169}, 1); /* [region]'s per-cell runs */
    check_entropy();
}

/* ---- kernels: the split's quantizer and packing --------------------------- */

/* Device copies of the CPU's ranges compared, then used (as the CPU's). */
static int check_ranges(const float *dx, size_t n, int groups, const ecn_quant *q, float *dlo, float *dhi)
{
    ecn_err err;
    float *lo = malloc((size_t)groups * 4), *hi = malloc((size_t)groups * 4);
    int rc = -1;
    if (ecn_gpu_quant_minmax(dx, n, groups, dlo, dhi, &err)) CHECK(0, "%s", err.msg);
    else if (to_host(lo, dlo, (size_t)groups * 4) == 0 && to_host(hi, dhi, (size_t)groups * 4) == 0) {
        rc = 0;
        CHECK(memcmp(lo, q->lo, (size_t)groups * 4) == 0 && memcmp(hi, q->hi, (size_t)groups * 4) == 0,
              "%d-bit ranges (%d groups) differ from the CPU's", q->bits, groups);
    }
    free(lo), free(hi);
    return rc;
}

/* Bytes of n_bytes at device d equal `want`. */
static void check_bytes(const void *d, const void *want, size_t n_bytes, const char *what, int bits)
{
    unsigned char *got = malloc(n_bytes ? n_bytes : 1);
    if (to_host(got, d, n_bytes) == 0)
        CHECK(memcmp(got, want, n_bytes) == 0, "%d bits: the GPU's %s differ from the CPU's", bits, what);
    free(got);
}

static void check_packing(const uint8_t *dsym, const uint8_t *sym, size_t n, int bits)
{
    size_t bytes = ecn_pack_size(n, bits);
    uint8_t *packed = malloc(bytes + 1), *dpacked = to_device(NULL, bytes + 1), *dback = to_device(NULL, n);
    ecn_pack(sym, n, bits, packed);
    ecn_err err;
    if (dpacked && dback) {
        CHECK(ecn_gpu_pack(dsym, n, bits, dpacked, &err) == 0, "%s", err.msg);
        check_bytes(dpacked, packed, bytes, "packed bytes", bits);
        CHECK(ecn_gpu_unpack(dpacked, n, bits, dback, &err) == 0, "%s", err.msg);
        check_bytes(dback, sym, n, "unpacked symbols", bits);
    }
    ecn_gpu_free(dpacked), ecn_gpu_free(dback);
    free(packed);
}

/* The CPU quantizes x (ranges fitted to it); the GPU must agree on every byte. */
static void check_quant(const float *x, ecn_shape s, int bits, ecn_quant_mode mode)
{
    size_t n = ecn_shape_size(s);
    ecn_quant q;
    ecn_err err;
    if (ecn_quant_init(&q, bits, mode, ECN_RANGE_MINMAX, 100, &err) || ecn_quant_fit(&q, x, s, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    int groups = bits <= 8 && mode == ECN_QUANT_CHANNEL ? s.c : 1;
    size_t nsym = ecn_quant_symbol_bytes(&q, s);
    uint8_t *sym = malloc(nsym);
    float *back = malloc(n * 4);
    CHECK(ecn_quant_encode(&q, x, s, sym, &err) == 0 && ecn_dequantize(sym, s, &q, back, &err) == 0, "%s", err.msg);
    float *dx = to_device(x, n * 4), *dlo = to_device(NULL, (size_t)groups * 4), *dhi = to_device(NULL, (size_t)groups * 4);
    uint8_t *dsym = to_device(NULL, nsym);
    float *dback = to_device(NULL, n * 4);
    if (dx && dlo && dhi && dsym && dback && (bits > 8 || check_ranges(dx, n, groups, &q, dlo, dhi) == 0)) {
        CHECK(ecn_gpu_quantize(dx, n, groups, dlo, dhi, bits, dsym, &err) == 0, "%s", err.msg);
        check_bytes(dsym, sym, nsym, "symbols", bits);
        CHECK(ecn_gpu_dequantize(dsym, n, groups, dlo, dhi, bits, dback, &err) == 0, "%s", err.msg);
        check_bytes(dback, back, n * 4, "dequantized values", bits);
        if (bits <= 8) check_packing(dsym, sym, n, bits);
    }
    ecn_gpu_free(dx), ecn_gpu_free(dlo), ecn_gpu_free(dhi), ecn_gpu_free(dsym), ecn_gpu_free(dback);
    free(sym), free(back);
    ecn_quant_free(&q);
}

/* Random values with the awkward ones: NaN, infinities, beyond the half
 * range, half subnormals (channel 2), a channel with no finite value (0), a
 * constant one (1), and extremes tied between -0 and +0 (3 and 4: the first
 * in memory is the CPU's range, sign included). */
static float *quant_input(ecn_shape s, unsigned long long seed)
{
    size_t n = ecn_shape_size(s), p = (size_t)s.h * s.w;
    float *x = random_floats(n, -3, 5, seed);
    const float special[] = {NAN, INFINITY, -INFINITY, 7e4f, -7e4f, 6e-6f, -3e-7f, 1e-30f, 0, -0.f, 65504, 65520};
    for (size_t k = 0; k < sizeof special / sizeof special[0] && p * 2 + k < n; k++) x[p * 2 + k] = special[k];
    if (s.c < 6 || p < 6) return x;
    for (size_t i = 0; i < p; i++) {
        x[i] = i % 2 ? NAN : INFINITY;
        x[p + i] = 2.5f;
        x[3 * p + i] = fabsf(x[3 * p + i]);
        x[4 * p + i] = -fabsf(x[4 * p + i]);
    }
    x[3 * p + 1] = -0.f, x[3 * p + p - 1] = 0.f;
    x[4 * p + 2] = -0.f, x[4 * p + 5] = 0.f;
    return x;
}

static void test_quant(void)
{
    const ecn_shape shapes[] = {{6, 5, 7}, {64, 13, 13}, {1, 1, 3}};
    const int bits[] = {1, 2, 3, 4, 5, 6, 7, 8, 16, 32};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        float *x = quant_input(shapes[k], 50 + k);
        for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++)
            for (int mode = 0; mode < 2; mode++) check_quant(x, shapes[k], bits[b], (ecn_quant_mode)mode);
        free(x);
    }
}

/* ---- networks: building, perturbing, comparing ------------------------------ */

/* Batch norm worth testing: ecn_net_randomize leaves biases and rolling means
 * at 0 and scales and variances at 1; through a weights file, every 0 becomes
 * a value in [-0.5, 0.5) and every 1 one in [0.5, 1.5) (variances stay
 * positive), the random weights staying as they are. */
static int perturb_params(ecn_net *net, unsigned long long seed)
{
    char *dir = test_tmpdir(), path[1024];
    snprintf(path, sizeof path, "%s/p.weights", dir ? dir : "/tmp");
    ecn_err err;
    size_t size = 0;
    unsigned char *buf = NULL;
    int rc = ecn_net_save_weights(net, path, &err);
    if (rc == 0 && !(buf = test_read_file(path, &size))) rc = ecn_fail(&err, "cannot read %s", path);
    for (size_t off = 20; rc == 0 && off + 4 <= size; off += 4) {
        float f;
        memcpy(&f, buf + off, 4);
        if (f == 0) f = uniform(&seed, -.5f, .5f);
        else if (f == 1) f = uniform(&seed, .5f, 1.5f);
        memcpy(buf + off, &f, 4);
    }
    if (rc == 0 && test_write_file(path, buf, size)) rc = ecn_fail(&err, "cannot write %s", path);
    if (rc == 0) rc = ecn_net_load_weights(net, path, &err);
    CHECK(rc == 0, "perturbing the parameters: %s", err.msg);
    free(buf);
    test_rmdir(dir);
    free(dir);
    return rc;
}

/* Every layer's output of one forward pass, copied by the hook. */
typedef struct capture {
    int layers;
    float **out;
    size_t *n;
} capture;

static void capture_hook(void *user, int layer, const float *out, size_t n)
{
    capture *c = user;
    if (layer < 0 || layer >= c->layers) return;
    free(c->out[layer]);
    c->out[layer] = copy_floats(out, n);
    c->n[layer] = n;
}

static capture capture_new(const ecn_net *net)
{
    capture c = {ecn_net_layer_count(net), NULL, NULL};
    c.out = calloc((size_t)c.layers, sizeof *c.out);
    c.n = calloc((size_t)c.layers, sizeof *c.n);
    return c;
}

static void capture_free(capture *c)
{
    for (int i = 0; c->out && i < c->layers; i++) free(c->out[i]);
    free(c->out);
    free(c->n);
}

/* The GPU's capture against the CPU's: every layer within layer_tol (0: only
 * reported), the last layer and the kept outputs within out_tol. */
static void compare_captures(const ecn_net *net, const char *name, const capture *cpu, const capture *gpu,
                             double layer_tol, double out_tol)
{
    double worst = 0;
    int worst_at = -1;
    for (int i = 0; i < cpu->layers; i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        if (!gpu->out[i] || gpu->n[i] != cpu->n[i]) {
            CHECK(0, "%s: layer %d (%s): no GPU output", name, i, li.type);
            continue;
        }
        double d = test_rel_diff(gpu->out[i], cpu->out[i], cpu->n[i]);
        if (!(d <= worst)) worst = d, worst_at = i;
        if (layer_tol > 0)
            CHECK(d <= layer_tol, "%s: layer %d (%s, cfg line %d): relative difference %.3g", name, i, li.type, li.line,
                  d);
        int kept = i == cpu->layers - 1 || ecn_net_layer_output(net, i);
        if (kept) CHECK(d <= out_tol, "%s: output of layer %d (%s): relative difference %.3g", name, i, li.type, d);
    }
    printf("  %s: largest relative difference %.2g (layer %d)\n", name, worst, worst_at);
}

/* A forward pass without a hook copies back only what the host reads: the
 * last output and the kept ones must equal the CPU's as well. */
static void compare_kept(ecn_net *net, const char *name, const float *x, const capture *cpu, double tol)
{
    const float *last = ecn_net_forward(net, x, NULL, NULL);
    CHECK(last != NULL, "%s: %s", name, ecn_net_gpu_error(net));
    int n = ecn_net_layer_count(net);
    for (int i = 0; last && i < n; i++) {
        const float *out = i == n - 1 ? last : ecn_net_layer_output(net, i);
        if (!out || !cpu->out[i]) continue;
        double d = test_rel_diff(out, cpu->out[i], cpu->n[i]);
        CHECK(d <= tol, "%s (no hook): output of layer %d: relative difference %.3g", name, i, d);
    }
}

static const char *backend_name(ecn_gpu_backend b)
{
    return b == ECN_GPU_CUDNN ? "cuDNN" : b == ECN_GPU_CUBLAS ? "cuBLAS" : "kernels";
}

/* The network on the CPU, then on the GPU with every backend the build has. */
static void compare_on_gpu(ecn_net *net, const char *name, double layer_tol, double out_tol)
{
    size_t n_in = ecn_shape_size(ecn_net_input_shape(net)) * (size_t)ecn_net_batch(net);
    float *x = random_floats(n_in, 0, 1, 99);
    capture cpu = capture_new(net);
    CHECK(ecn_net_forward(net, x, capture_hook, &cpu) != NULL, "%s: the CPU forward pass failed", name);
    for (int b = ECN_GPU_KERNELS; b <= ECN_GPU_CUDNN; b++) {
        if ((b == ECN_GPU_CUBLAS && !ecn_gpu_has_cublas()) || (b == ECN_GPU_CUDNN && !ecn_gpu_has_cudnn())) continue;
        char label[256];
        snprintf(label, sizeof label, "%s [%s]", name, backend_name((ecn_gpu_backend)b));
        ecn_err err;
        if (ecn_net_to_gpu(net, 0, &err) || ecn_net_gpu_set_backend(net, (ecn_gpu_backend)b, &err)) {
            CHECK(0, "%s: %s", label, err.msg);
            continue;
        }
        capture gpu = capture_new(net);
        if (ecn_net_forward(net, x, capture_hook, &gpu)) compare_captures(net, label, &cpu, &gpu, layer_tol, out_tol);
        else CHECK(0, "%s: %s", label, ecn_net_gpu_error(net));
        compare_kept(net, label, x, &cpu, out_tol);
        capture_free(&gpu);
        ecn_net_to_cpu(net);
    }
    capture_free(&cpu);
    free(x);
}

/* ---- layers ------------------------------------------------------------------- */

static ecn_net *net_from_text(const char *name, const char *cfg, int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg_text(cfg, strlen(cfg), name, &lo, &net, &err)) {
        CHECK(0, "%s: %s", name, err.msg);
        return NULL;
    }
    return net;
}

/* Batch 2, non-trivial parameters, batch norm unfolded and then folded. */
static void check_layers(const char *name, const char *cfg)
{
    ecn_net *net = net_from_text(name, cfg, 2);
    if (!net) return;
    ecn_net_randomize(net, 17);
    if (perturb_params(net, 18) == 0) {
        char label[128];
        snprintf(label, sizeof label, "%s, batch norm unfolded", name);
        compare_on_gpu(net, label, LAYER_TOL, LAYER_TOL);
        ecn_net_fold_batchnorm(net);
        snprintf(label, sizeof label, "%s, batch norm folded", name);
        compare_on_gpu(net, label, LAYER_TOL, LAYER_TOL);
    }
    ecn_net_free(net);
}

static const char conv_cfg[] = "[net]\nwidth=11\nheight=13\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=1\nactivation=logistic\n"
    "[convolutional]\nbatch_normalize=1\nfilters=9\nsize=1\nstride=1\nactivation=relu\n"
    "[convolutional]\nfilters=6\ngroups=3\nsize=3\nstride=1\npad=1\nactivation=linear\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=5\nstride=2\npad=1\nactivation=tanh\n"
    "[convolutional]\nfilters=70\nsize=2\nstride=1\nactivation=elu\n";

/* One 1x1 convolution per activation, alternately with batch norm. */
static char *activation_cfg(void)
{
    static const char *const acts[] = {"linear", "logistic", "loggy", "relu", "elu", "selu", "relie",
                                       "ramp", "leaky", "tanh", "plse", "stair", "hardtan", "lhtan"};
    size_t cap = 8192, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "[net]\nwidth=6\nheight=5\nchannels=4\n");
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        len += (size_t)snprintf(s + len, cap - len, "[convolutional]\nbatch_normalize=%d\nfilters=4\nsize=1\n"
                                "activation=%s\n", (int)(i % 2), acts[i]);
    return s;
}

static const char connected_cfg[] = "[net]\nwidth=4\nheight=5\nchannels=3\n"
    "[connected]\noutput=17\nbatch_normalize=1\nactivation=leaky\n"
    "[connected]\noutput=9\nactivation=logistic\n"
    "[connected]\noutput=130\nactivation=linear\n"
    "[connected]\noutput=12\nbatch_normalize=1\nactivation=relu\n";

static const char pool_cfg[] = "[net]\nwidth=11\nheight=13\nchannels=3\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[maxpool]\nsize=2\nstride=1\n"
    "[maxpool]\nsize=3\nstride=2\n"
    "[maxpool]\nsize=5\nstride=1\n"
    "[route]\nlayers=0\n"
    "[maxpool]\nsize=3\nstride=3\npadding=0\n"
    "[avgpool]\n";

static const char pool2_cfg[] = "[net]\nwidth=16\nheight=16\nchannels=5\n" /* the CPU's 2x2 fast path */
    "[maxpool]\nsize=2\nstride=2\n"
    "[maxpool]\nsize=3\nstride=1\npadding=2\n"
    "[avgpool]\n";

static const char resample_cfg[] = "[net]\nwidth=8\nheight=8\nchannels=4\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0: 8x8x8 */
    "[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 1: 4x4x8 */
    "[upsample]\nstride=2\n"                                                   /* 2: 8x8x8 */
    "[shortcut]\nfrom=0\nactivation=linear\n"                                  /* 3: same shapes */
    "[route]\nlayers=-1,-4\n"                                                  /* 4: 8x8x16 */
    "[convolutional]\nfilters=6\nsize=1\nstride=1\nactivation=linear\n"        /* 5: 8x8x6 */
    "[shortcut]\nfrom=1\nalpha=0.5\nbeta=2\nactivation=leaky\n"                /* 6: from smaller */
    "[shortcut]\nfrom=4\nactivation=logistic\n"                                /* 7: more channels */
    "[upsample]\nstride=3\nscale=0.5\n"                                        /* 8: 24x24x6 */
    "[route]\nlayers=-2\n"                                                     /* 9: copy of 7 */
    "[maxpool]\nsize=2\nstride=2\n"                                            /* 10: 4x4x6 */
    "[shortcut]\nfrom=7\nactivation=relu\n";                                   /* 11: from larger */

static const char misc_cfg[] = "[net]\nwidth=6\nheight=4\nchannels=8\n"
    "[reorg]\nstride=2\n"
    "[reorg]\nstride=2\nreverse=1\n"
    "[batchnorm]\n"
    "[dropout]\nprobability=0.3\n"
    "[softmax]\ngroups=2\ntemperature=2\n"
    "[softmax]\n"
    "[cost]\n";

static const char heads_cfg[] = "[net]\nwidth=13\nheight=13\nchannels=3\n"
    "[convolutional]\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=27\nsize=1\nstride=1\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=10,13, 16,30, 33,23, 30,61\nclasses=4\nnum=4\n"
    "[route]\nlayers=0\n"
    "[convolutional]\nfilters=40\nsize=1\nstride=1\nactivation=linear\n"
    "[region]\nanchors=1,1, 2,2, 3,3, 4,4, 5,5\nclasses=3\nnum=5\nsoftmax=1\n"
    "[route]\nlayers=0\n"
    "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
    "[region]\nanchors=1,2, 3,4\nclasses=3\nnum=2\nsoftmax=0\n"
    "[route]\nlayers=0\n"
    "[convolutional]\nfilters=18\nsize=1\nstride=1\nactivation=linear\n"
    "[region]\nanchors=1,2, 3,4\nclasses=4\nnum=2\nsoftmax=1\nbackground=1\n";

static void test_layers(void)
{
    check_layers("convolutions", conv_cfg);
    char *acts = activation_cfg();
    check_layers("activations", acts);
    free(acts);
    check_layers("connected", connected_cfg);
    check_layers("pooling", pool_cfg);
    check_layers("pooling, even sizes", pool2_cfg);
    check_layers("upsample, shortcut, route", resample_cfg);
    check_layers("reorg, batchnorm, dropout, softmax, cost", misc_cfg);
    check_layers("yolo and region heads", heads_cfg);
}

/* ---- whole networks ------------------------------------------------------------ */

static void check_network(const char *cfg, int size)
{
    if (access(cfg, R_OK) != 0) {
        test_skip("%s not found (the darknet package): that network was not compared", cfg);
        return;
    }
    ecn_load_opts lo = {.batch = 1, .width = size, .height = size};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg(cfg, &lo, &net, &err)) {
        CHECK(0, "%s: %s", cfg, err.msg);
        return;
    }
    ecn_net_randomize(net, 5);
    ecn_net_fold_batchnorm(net);
    char label[256];
    snprintf(label, sizeof label, "%s at %dx%d", cfg, size, size);
    compare_on_gpu(net, label, 0, NETWORK_TOL);
    ecn_net_free(net);
}

static void test_networks(void)
{
    check_network("/usr/share/darknet/cfg/darknet19.cfg", 224);
    check_network("/usr/share/darknet/cfg/darknet53.cfg", 256);
    check_network("/usr/share/darknet/cfg/yolov3.cfg", 416);
}

/* ---- the split and the exits ---------------------------------------------------- */

static ecn_net *branchy_net(int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg("cfg/fashion-branchy.cfg", &lo, &net, &err)) {
        CHECK(0, "cfg/fashion-branchy.cfg: %s", err.msg);
        return NULL;
    }
    if (access("weights/fashion-branchy.weights", R_OK) != 0 ||
        ecn_net_load_weights(net, "weights/fashion-branchy.weights", &err))
        ecn_net_randomize(net, 8);
    ecn_net_fold_batchnorm(net);
    if (ecn_net_split_configure(net, 32, "raw", &err)) CHECK(0, "%s", err.msg); /* lossless: comparable */
    return net;
}

/* The whole network, split round trip inline: final and exit outputs. */
static void compare_split_run(ecn_net *net, const float *x, const float *want, float *const *want_exit)
{
    const float *got = ecn_net_forward(net, x, NULL, NULL);
    CHECK(got != NULL, "split network on the GPU: %s", ecn_net_gpu_error(net));
    CHECK(ecn_net_split_error(net) == NULL, "split round trip on the GPU: %s", ecn_net_split_error(net));
    if (!got) return;
    int classes = 0, batch = ecn_net_batch(net);
    for (int k = 0; k < ecn_net_exit_count(net); k++) {
        const float *p = ecn_net_exit_output(net, k, &classes);
        double d = test_rel_diff(p, want_exit[k], (size_t)classes * batch);
        CHECK(d <= NETWORK_TOL, "exit %d on the GPU: relative difference %.3g", k, d);
    }
    double d = test_rel_diff(got, want, (size_t)classes * batch);
    CHECK(d <= NETWORK_TOL, "split network on the GPU: relative difference %.3g", d);
}

/* Edge and cloud as two ranges with frames between them, on the GPU. */
static void compare_split_ranges(ecn_net *net, const float *x, const float *want)
{
    int split = ecn_net_split_layer(net), n = ecn_net_layer_count(net), batch = ecn_net_batch(net), classes = 0;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    ecn_err err;
    CHECK(ecn_net_forward_range(net, x, 0, split + 1, NULL, NULL) != NULL, "edge range: %s", ecn_net_gpu_error(net));
    for (int b = 0; b < batch; b++)
        if (ecn_net_split_encode(net, b, (unsigned long long)b, &buf, &cap, &len, &err) ||
            ecn_net_split_decode(net, b, buf, len, NULL, &err))
            CHECK(0, "frame of image %d: %s", b, err.msg);
    const float *got = ecn_net_forward_range(net, NULL, split + 1, n, NULL, NULL);
    CHECK(got != NULL, "cloud range: %s", ecn_net_gpu_error(net));
    ecn_net_exit_output(net, 0, &classes);
    if (got) {
        double d = test_rel_diff(got, want, (size_t)classes * batch);
        CHECK(d <= NETWORK_TOL, "edge and cloud ranges on the GPU: relative difference %.3g", d);
    }
    free(buf);
}

static void test_split(void)
{
    ecn_net *net = branchy_net(4);
    if (!net) return;
    int batch = ecn_net_batch(net), classes = 0, exits = ecn_net_exit_count(net);
    size_t n_in = ecn_shape_size(ecn_net_input_shape(net)) * (size_t)batch;
    float *x = random_floats(n_in, 0, 1, 61), *want_exit[16] = {0};
    const float *out = ecn_net_forward(net, x, NULL, NULL);
    ecn_net_exit_output(net, 0, &classes);
    float *want = copy_floats(out, (size_t)classes * batch);
    for (int k = 0; k < exits && k < 16; k++)
        want_exit[k] = copy_floats(ecn_net_exit_output(net, k, NULL), (size_t)classes * batch);
    ecn_err err;
    if (ecn_net_to_gpu(net, 0, &err) == 0) {
        compare_split_run(net, x, want, want_exit);
        compare_split_ranges(net, x, want);
        CHECK(ecn_net_split_configure(net, 4, "zlib", &err) == 0, "%s", err.msg);
        CHECK(ecn_net_forward(net, x, NULL, NULL) != NULL && !ecn_net_split_error(net), "4-bit split on the GPU: %s",
              ecn_net_gpu_error(net) ? ecn_net_gpu_error(net) : ecn_net_split_error(net));
    } else {
        CHECK(0, "%s", err.msg);
    }
    for (int k = 0; k < exits && k < 16; k++) free(want_exit[k]);
    free(x), free(want);
    ecn_net_free(net);
}

/* ---- the API ---------------------------------------------------------------------- */

/* Parameters changed after ecn_net_to_gpu reach the device. */
static void check_param_changes(void)
{
    ecn_net *net = fashion_net(2);
    if (!net) return;
    size_t n_in = ecn_shape_size(ecn_net_input_shape(net)) * 2, n_out = 10 * 2;
    float *x = random_floats(n_in, 0, 1, 71);
    ecn_err err;
    ecn_net_randomize(net, 72);
    ecn_net_fold_batchnorm(net);
    float *want = copy_floats(ecn_net_forward(net, x, NULL, NULL), n_out);
    ecn_net_randomize(net, 3);
    if (ecn_net_to_gpu(net, 0, &err) == 0) {
        ecn_net_forward(net, x, NULL, NULL);
        ecn_net_randomize(net, 72); /* on the GPU now: the next pass must use these */
        ecn_net_fold_batchnorm(net);
        const float *got = ecn_net_forward(net, x, NULL, NULL);
        CHECK(got && test_rel_diff(got, want, n_out) <= NETWORK_TOL, "new parameters did not reach the GPU");
    } else {
        CHECK(0, "%s", err.msg);
    }
    free(x), free(want);
    ecn_net_free(net);
}

static void check_refusals(void)
{
    ecn_net *net = fashion_net(2);
    if (!net) return;
    ecn_err err = {{0}};
    CHECK(ecn_net_to_gpu(net, 9999, &err) == -1 && strstr(err.msg, "no CUDA device 9999"),
          "device 9999: \"%s\"", err.msg);
    CHECK(ecn_net_gpu_device(net) == -1, "a refused device is in use");
    if (ecn_net_to_gpu(net, 0, &err) == 0) {
        CHECK(ecn_net_gpu_device(net) == 0, "ecn_net_gpu_device: %d", ecn_net_gpu_device(net));
        CHECK(ecn_net_train_begin(net, &err) == -1 && strstr(err.msg, "GPU"), "training on the GPU: \"%s\"", err.msg);
        if (!ecn_gpu_has_cudnn())
            CHECK(ecn_net_gpu_set_backend(net, ECN_GPU_CUDNN, &err) == -1 && strstr(err.msg, "cuDNN"),
                  "cuDNN backend without cuDNN: \"%s\"", err.msg);
        ecn_net_to_cpu(net);
    }
    CHECK(ecn_net_gpu_device(net) == -1, "after ecn_net_to_cpu: device %d", ecn_net_gpu_device(net));
    CHECK(ecn_net_train_begin(net, &err) == 0, "%s", err.msg);
    CHECK(ecn_net_to_gpu(net, 0, &err) == -1 && strstr(err.msg, "train"), "a network in training: \"%s\"", err.msg);
    ecn_net_free(net);
}

/* `ecnet bench --gpu 0` runs, and `ecnet forward --gpu 0` writes what the CPU writes. */
static void check_cli_runs(void)
{
    if (!getenv("ECNET")) {
        test_skip("ECNET is not set: the --gpu command-line checks need this build's ecnet (make test sets it)");
        return;
    }
    char msg[2048];
    CHECK(run_with_gpu("bench cfg/fashion.cfg --iters 2", msg, sizeof msg) == 0, "ecnet bench --gpu 0: %s", msg);
    char *dir = test_tmpdir();
    if (!dir) return;
    float *x = random_floats(28 * 28, 0, 1, 81);
    char in[1024], cpu[1024], gpu[1024], args[4096];
    snprintf(in, sizeof in, "%s/x.f32", dir), snprintf(cpu, sizeof cpu, "%s/cpu.f32", dir);
    snprintf(gpu, sizeof gpu, "%s/gpu.f32", dir);
    test_write_file(in, x, sizeof(float) * 28 * 28);
    const char *base = "forward cfg/fashion.cfg weights/fashion.weights --input";
    CHECK(test_system("%s %s %s --output %s", test_ecnet(), base, in, cpu) == 0, "ecnet forward on the CPU");
    snprintf(args, sizeof args, "%s %s --output %s", base, in, gpu);
    CHECK(run_with_gpu(args, msg, sizeof msg) == 0, "ecnet forward --gpu 0: %s", msg);
    size_t nc = 0, ng = 0;
    unsigned char *a = test_read_file(cpu, &nc), *b = test_read_file(gpu, &ng);
    CHECK(a && b && nc == ng && nc == 40 && test_rel_diff((float *)b, (float *)a, 10) <= NETWORK_TOL,
          "ecnet forward: the GPU's output differs from the CPU's");
    free(a), free(b), free(x);
    test_rmdir(dir);
    free(dir);
}

/* ---- main ------------------------------------------------------------------------- */

static int no_device(const ecn_err *why)
{
    check_refusal("CUDA");
    check_cli_refuses(1, "CUDA");
    if (getenv("ECN_REQUIRE_GPU") && atoi(getenv("ECN_REQUIRE_GPU")))
        CHECK(0, "ECN_REQUIRE_GPU is set, but there is no CUDA device: %s", why->msg);
    else
        test_skip("%s: the GPU tests did not run", why->msg);
    return test_finish("test_gpu");
}

int main(void)
{
    ecn_err err;
    CHECK(ecn_gpu_built(), "a GPU build says it has no GPU support");
    if (ecn_gpu_count(&err) == 0) return no_device(&err);
    char name[256] = "?";
    if (ecn_gpu_use(0, &err) || ecn_gpu_describe(0, name, sizeof name, &err)) CHECK(0, "device 0: %s", err.msg);
    printf("  device 0: %s; cuBLAS %s, cuDNN %s\n", name, ecn_gpu_has_cublas() ? "yes" : "no",
           ecn_gpu_has_cudnn() ? "yes" : "no");
    test_gemm();
    test_im2col();
    test_activations();
    test_bias_activate();
    test_softmax();
    test_quant();
    test_layers();
    test_networks();
    test_split();
    check_param_changes();
    check_refusals();
    check_cli_runs();
    return test_finish("test_gpu");
}

#endif /* ECN_GPU */
