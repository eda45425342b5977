/* test_quant.c - feature-map quantization, bit packing and IEEE half
 * (src/split/quant.c).
 *
 * Affine codes at 8, 6, 4, 2 (and 1, 3) bits, per tensor and per channel,
 * min-max and percentile ranges (against a sorted reference): round trips
 * within half a step, clipping, constant tensors, NaN and infinities, huge
 * ranges; half and float passthrough; parameters as bytes and their
 * validation; LSB-first packing of every width and odd counts; every one of
 * the 65536 halves through float and back; float -> half rounding against a
 * double-precision reference on random values and exact ties.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "split/quant.h"
#include "testlib.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

static double uniform(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Largest error over a group, in units of the group's step. */
static double max_error_steps(const float *x, const float *y, size_t n, float lo, float hi, int bits)
{
    double step = ((double)hi - lo) / ((1u << bits) - 1), worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)x[i] - y[i]);
        /* allow for the final rounding of x' to float */
        e -= 2 * fabs((double)y[i]) * 1.2e-7;
        if (e < 0) e = 0;
        double s = step > 0 ? e / step : (e > 0 ? INFINITY : 0);
        if (s > worst) worst = s;
    }
    return worst;
}

/* ---- set-up and validation ------------------------------------------------- */

static void test_init(void)
{
    ecn_quant q;
    ecn_err err = {{0}};
    int good[] = {1, 2, 3, 4, 6, 8, 16, 32}, bad[] = {0, -1, 9, 12, 15, 24, 64};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(ecn_quant_init(&q, good[i], ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err) == 0, "bits %d: %s", good[i],
              err.msg);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(ecn_quant_init(&q, bad[i], ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err) == -1 && strstr(err.msg, "bits"),
              "bits %d must fail", bad[i]);
    float pgood[] = {50.001f, 99.99f, 100.0f}, pbad[] = {50.0f, 0.0f, -3.0f, 100.01f, NAN, INFINITY};
    for (size_t i = 0; i < 3; i++)
        CHECK(ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, ECN_RANGE_PERCENTILE, pgood[i], &err) == 0, "percentile %g",
              (double)pgood[i]);
    for (size_t i = 0; i < 6; i++)
        CHECK(ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, ECN_RANGE_PERCENTILE, pbad[i], &err) == -1,
              "percentile %g must fail", (double)pbad[i]);
    CHECK(ecn_quant_init(&q, 8, (ecn_quant_mode)7, ECN_RANGE_MINMAX, 0, &err) == -1, "bad mode");
    CHECK(ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, (ecn_range_mode)7, 0, &err) == -1, "bad range mode");
    ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
    ecn_shape neg = {-1, 2, 2};
    float x[4] = {0};
    uint8_t s[4];
    CHECK(ecn_quantize(x, neg, &q, s, &err) == -1, "negative shape must fail");
    ecn_shape huge = {1 << 30, 1 << 30, 1 << 30};
    CHECK(ecn_quant_fit(&q, x, huge, &err) == -1, "overflowing shape must fail");
    CHECK(ecn_quant_symbol_bytes(&q, huge) == SIZE_MAX, "symbol bytes of an overflowing shape");
    ecn_quant_free(&q);
    ecn_quant_free(NULL);
}

/* ---- affine codes ------------------------------------------------------------ */

static void test_round_trip(int bits, ecn_quant_mode mode)
{
    ecn_shape s = {5, 7, 9};
    size_t n = ecn_shape_size(s), plane = 63;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    uint8_t *sym = malloc(n);
    /* channel c spans [-(c+1)^3, 3 (c+1)^3]: very different ranges */
    for (size_t i = 0; i < n; i++) {
        double sc = pow((double)(i / plane + 1), 3);
        x[i] = (float)((uniform() * 4 - 1) * sc);
    }
    ecn_quant q;
    ecn_err err = {{0}};
    CHECK(ecn_quant_init(&q, bits, mode, ECN_RANGE_MINMAX, 0, &err) == 0, "init");
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0, "quantize %d bits: %s", bits, err.msg);
    CHECK(q.channels == (mode == ECN_QUANT_CHANNEL ? 5 : 1), "channels %d", q.channels);
    CHECK(ecn_quant_symbol_bytes(&q, s) == n && ecn_quant_symbol_bits(&q) == bits, "symbol sizes");
    unsigned top = (1u << bits) - 1;
    int in_range = 1;
    for (size_t i = 0; i < n; i++) in_range &= sym[i] <= top;
    CHECK(in_range, "%d-bit symbols in range", bits);
    CHECK(ecn_dequantize(sym, s, &q, y, &err) == 0, "dequantize: %s", err.msg);
    for (int g = 0; g < q.channels; g++) {
        size_t len = mode == ECN_QUANT_CHANNEL ? plane : n;
        const float *xs = x + (size_t)g * len;
        float mn = INFINITY, mx = -INFINITY;
        int saw_lo = 0, saw_hi = 0;
        for (size_t i = 0; i < len; i++) {
            if (xs[i] < mn) mn = xs[i];
            if (xs[i] > mx) mx = xs[i];
        }
        for (size_t i = 0; i < len; i++) {
            saw_lo |= xs[i] == mn && sym[(size_t)g * len + i] == 0;
            saw_hi |= xs[i] == mx && sym[(size_t)g * len + i] == top;
        }
        CHECK(q.lo[g] == mn && q.hi[g] == mx, "range %d is min-max", g);
        CHECK(saw_lo && saw_hi, "min codes as 0, max as %u", top);
        double e = max_error_steps(xs, y + (size_t)g * len, len, q.lo[g], q.hi[g], bits);
        CHECK(e <= 0.5 + 1e-6, "%d bits, mode %d, range %d: error %.6f steps > 1/2", bits, (int)mode, g, e);
    }
    ecn_quant_free(&q);
    free(x), free(y), free(sym);
}

static void test_percentile(void)
{
    ecn_err err = {{0}};
    ecn_shape s = {1, 100, 101};
    size_t n = ecn_shape_size(s);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *sorted = malloc(n * sizeof *x);
    uint8_t *sym = malloc(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)uniform();
    for (int k = 0; k < 5; k++) x[rnd() % n] = 1000.0f, x[rnd() % n] = -1000.0f; /* outliers */
    memcpy(sorted, x, n * sizeof *x);
    qsort(sorted, n, sizeof *sorted, cmp_float);
    float pcts[] = {99.99f, 99.9f, 99.0f, 90.0f, 75.5f, 100.0f};
    for (size_t t = 0; t < sizeof pcts / sizeof *pcts; t++) {
        ecn_quant q;
        ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, ECN_RANGE_PERCENTILE, pcts[t], &err);
        CHECK(ecn_quantize(x, s, &q, sym, &err) == 0, "percentile quantize");
        size_t k = (size_t)ceil((double)pcts[t] / 100.0 * (double)n);
        CHECK(q.hi[0] == sorted[k - 1] && q.lo[0] == sorted[n - k], "p %g: [%g, %g], expected [%g, %g]",
              (double)pcts[t], (double)q.lo[0], (double)q.hi[0], (double)sorted[n - k], (double)sorted[k - 1]);
        ecn_dequantize(sym, s, &q, y, &err);
        int clipped = 1, inside = 1;
        double step = ((double)q.hi[0] - q.lo[0]) / 255;
        for (size_t i = 0; i < n; i++) {
            if (x[i] > q.hi[0]) clipped &= sym[i] == 255 && fabs((double)y[i] - q.hi[0]) <= 1e-6;
            else if (x[i] < q.lo[0]) clipped &= sym[i] == 0 && y[i] == q.lo[0];
            else inside &= fabs((double)x[i] - y[i]) <= step / 2 + 1e-6;
        }
        CHECK(clipped, "p %g: values outside the range clip to its ends", (double)pcts[t]);
        CHECK(inside, "p %g: values inside within half a step", (double)pcts[t]);
        ecn_quant_free(&q);
    }
    /* A ReLU map: 70% zeros.  lo stays 0, and per channel too. */
    ecn_shape r = {4, 50, 50};
    size_t m = ecn_shape_size(r);
    float *relu = malloc(m * sizeof *relu);
    uint8_t *rs = malloc(m);
    for (size_t i = 0; i < m; i++) relu[i] = uniform() < 0.7 ? 0.0f : (float)(-log(1 - uniform()) * (1 + i / 2500));
    ecn_quant q;
    ecn_quant_init(&q, 8, ECN_QUANT_CHANNEL, ECN_RANGE_PERCENTILE, 99.99f, &err);
    CHECK(ecn_quantize(relu, r, &q, rs, &err) == 0 && q.channels == 4, "per-channel percentile");
    int zeros = 1;
    for (int c = 0; c < 4; c++) zeros &= q.lo[c] == 0.0f && q.hi[c] > 0.0f;
    for (size_t i = 0; i < m; i++)
        if (relu[i] == 0.0f) zeros &= rs[i] == 0;
    CHECK(zeros, "ReLU map: lo = 0 and zeros code as 0");
    /* All equal: the selection must not degrade and gives lo = hi. */
    for (size_t i = 0; i < m; i++) relu[i] = 2.5f;
    CHECK(ecn_quantize(relu, r, &q, rs, &err) == 0 && q.lo[0] == 2.5f && q.hi[3] == 2.5f, "constant, percentile");
    ecn_quant_free(&q);
    free(relu), free(rs);
    free(x), free(y), free(sorted), free(sym);
}

static void test_constant_and_special(void)
{
    ecn_err err = {{0}};
    ecn_shape s = {2, 3, 4};
    float x[24], y[24];
    uint8_t sym[24 * 4];
    ecn_quant q;
    for (int i = 0; i < 24; i++) x[i] = -3.25f;
    ecn_quant_init(&q, 4, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0, "constant quantize");
    int ok = q.lo[0] == -3.25f && q.hi[0] == -3.25f;
    CHECK(ecn_dequantize(sym, s, &q, y, &err) == 0, "constant dequantize");
    for (int i = 0; i < 24; i++) ok &= sym[i] == 0 && y[i] == -3.25f;
    CHECK(ok, "constant tensor: codes 0, exact values back");
    ecn_quant_free(&q);

    /* NaN and infinities: ranges ignore them; NaN codes as 0.0, +Inf as the
     * top code, -Inf as 0. */
    for (int i = 0; i < 24; i++) x[i] = -1.0f + 3.0f * (float)i / 23.0f; /* -1 .. 2 */
    x[3] = NAN, x[7] = INFINITY, x[11] = -INFINITY, x[0] = -1.0f, x[23] = 2.0f;
    for (int bits = 2; bits <= 8; bits += 2) {
        ecn_quant_init(&q, bits, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
        CHECK(ecn_quantize(x, s, &q, sym, &err) == 0, "quantize with NaN/Inf");
        unsigned top = (1u << bits) - 1, zero_code = (unsigned)floor(1.0 / 3.0 * top + 0.5);
        CHECK(q.lo[0] == -1.0f && q.hi[0] == 2.0f, "ranges ignore NaN/Inf: [%g, %g]", (double)q.lo[0],
              (double)q.hi[0]);
        CHECK(sym[3] == zero_code && sym[7] == top && sym[11] == 0, "NaN -> %u (got %u), +Inf -> %u, -Inf -> 0",
              zero_code, sym[3], top);
        CHECK(ecn_dequantize(sym, s, &q, y, &err) == 0 && isfinite(y[3]) && y[7] == 2.0f && y[11] == -1.0f,
              "dequantized specials are finite");
        ecn_quant_free(&q);
    }
    for (int i = 0; i < 24; i++) x[i] = (i & 1) ? NAN : INFINITY;
    ecn_quant_init(&q, 8, ECN_QUANT_CHANNEL, ECN_RANGE_PERCENTILE, 99.0f, &err);
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0 && q.lo[0] == 0 && q.hi[1] == 0, "no finite value: range [0, 0]");
    ecn_quant_free(&q);

    /* A range near FLT_MAX must not overflow. */
    for (int i = 0; i < 24; i++) x[i] = (float)((uniform() * 2 - 1) * 3.0e38);
    x[0] = -3.0e38f, x[1] = 3.0e38f;
    ecn_quant_init(&q, 8, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0 && ecn_dequantize(sym, s, &q, y, &err) == 0, "huge range");
    CHECK(max_error_steps(x, y, 24, q.lo[0], q.hi[0], 8) <= 0.5 + 1e-6, "huge range: within half a step");
    ok = 1;
    for (int i = 0; i < 24; i++) ok &= isfinite(y[i]);
    CHECK(ok, "huge range: finite values back");

    /* Symbols that do not fit the width are refused. */
    memset(sym, 0, 24);
    sym[5] = 16;
    ecn_quant_free(&q);
    ecn_quant_init(&q, 4, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
    ecn_quant_set_channels(&q, 1, &err);
    q.lo[0] = 0, q.hi[0] = 1;
    CHECK(ecn_dequantize(sym, s, &q, y, &err) == -1, "symbol 16 at 4 bits must fail");
    ecn_quant_free(&q);
}

/* ---- half and float passthrough ------------------------------------------------- */

static void test_wide_modes(void)
{
    ecn_err err = {{0}};
    ecn_shape s = {1, 4, 4};
    float x[16] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 1e6f, -1e6f, 5.96e-8f, 1e-10f, 3.14159f, INFINITY, -INFINITY};
    x[12] = NAN, x[13] = bits_to_float(0x7fc12345u), x[14] = 1.0e-5f, x[15] = -7.0e4f;
    uint8_t sym[64];
    float y[16];
    ecn_quant q;
    ecn_quant_init(&q, 16, ECN_QUANT_CHANNEL, ECN_RANGE_MINMAX, 0, &err);
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0 && q.channels == 0, "half quantize");
    CHECK(ecn_quant_symbol_bytes(&q, s) == 32 && ecn_quant_symbol_bits(&q) == 8, "half: 2 bytes per value");
    int ok = 1;
    for (int i = 0; i < 16; i++) ok &= (sym[2 * i] | sym[2 * i + 1] << 8) == ecn_half_from_float(x[i]);
    CHECK(ok, "half symbols are little-endian halves");
    CHECK(ecn_dequantize(sym, s, &q, y, &err) == 0, "half dequantize");
    CHECK(y[0] == 0 && !signbit(y[0]) && y[1] == 0 && signbit(y[1]) && y[2] == 1.0f && y[3] == -2.5f &&
              y[4] == 65504.0f && y[5] == INFINITY && y[6] == -INFINITY && y[10] == INFINITY && y[11] == -INFINITY &&
              isnan(y[12]) && isnan(y[13]) && y[15] == -INFINITY,
          "half values");
    ecn_quant_free(&q);

    ecn_quant_init(&q, 32, ECN_QUANT_TENSOR, ECN_RANGE_MINMAX, 0, &err);
    CHECK(ecn_quantize(x, s, &q, sym, &err) == 0 && ecn_quant_symbol_bytes(&q, s) == 64, "float passthrough");
    CHECK(sym[0] == 0 && sym[8] == 0x00 && sym[9] == 0x00 && sym[10] == 0x80 && sym[11] == 0x3f, "little-endian 1.0f");
    CHECK(ecn_dequantize(sym, s, &q, y, &err) == 0, "float dequantize");
    ok = 1;
    for (int i = 0; i < 16; i++) ok &= float_to_bits(x[i]) == float_to_bits(y[i]);
    CHECK(ok, "float passthrough is bit-exact (NaN payload too)");
    ecn_quant_free(&q);
}

/* ---- parameters as bytes --------------------------------------------------------- */

static void test_params(void)
{
    ecn_err err = {{0}};
    ecn_shape s = {3, 2, 2};
    float x[12];
    uint8_t sym[12], buf[256];
    for (int i = 0; i < 12; i++) x[i] = (float)(i * i) - 20.0f;
    ecn_quant q, r;
    ecn_quant_init(&q, 6, ECN_QUANT_CHANNEL, ECN_RANGE_PERCENTILE, 99.5f, &err);
    ecn_quantize(x, s, &q, sym, &err);
    size_t len = 0;
    CHECK(ecn_quant_params_size(&q) == 12 + 3 * 8, "params size");
    CHECK(ecn_quant_params_write(&q, buf, 10, &len, &err) == -1, "small buffer must fail");
    CHECK(ecn_quant_params_write(&q, buf, sizeof buf, &len, &err) == 0 && len == 36, "params write");
    memset(&r, 0, sizeof r);
    CHECK(ecn_quant_params_read(&r, buf, len, &err) == 0, "params read: %s", err.msg);
    int same = r.bits == 6 && r.mode == ECN_QUANT_CHANNEL && r.range == ECN_RANGE_PERCENTILE &&
               r.percentile == 99.5f && r.channels == 3;
    for (int c = 0; same && c < 3; c++) same &= r.lo[c] == q.lo[c] && r.hi[c] == q.hi[c];
    CHECK(same, "params round trip");
    CHECK(ecn_quant_check(&r, s, &err) == 0, "received params fit the shape");
    ecn_shape other = {4, 2, 2};
    CHECK(ecn_quant_check(&r, other, &err) == -1, "3 ranges for 4 channels must fail");

    /* Hostile parameter bytes. */
    uint8_t bad[256];
    struct {
        int at;
        uint8_t val;
        const char *what;
    } cases[] = {{0, 7, "bits 7 ok"}, {0, 9, "bits 9"}, {0, 0, "bits 0"}, {1, 2, "mode"}, {2, 5, "range"},
                 {3, 1, "reserved"}, {7, 0xff, "percentile NaN"}, {8, 4, "channel count vs length"},
                 {15, 0x7f, "lo NaN"}, {19, 0xff, "hi NaN"}};
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        memcpy(bad, buf, len);
        bad[cases[t].at] = cases[t].val;
        int rc = ecn_quant_params_read(&r, bad, len, &err);
        CHECK(rc == (t == 0 ? 0 : -1), "params %s: rc %d", cases[t].what, rc);
    }
    memcpy(bad, buf, len);
    memcpy(bad + 12, buf + 16, 4), memcpy(bad + 16, buf + 12, 4); /* lo > hi */
    CHECK(q.lo[0] == q.hi[0] || ecn_quant_params_read(&r, bad, len, &err) == -1, "lo > hi must fail");
    for (size_t l = 0; l < len; l++) CHECK(ecn_quant_params_read(&r, buf, l, &err) == -1, "truncated params %zu", l);
    CHECK(ecn_quant_params_read(&r, buf, len + 1, &err) == -1, "long params");
    ecn_quant_free(&q);
    ecn_quant_free(&r);
}

/* ---- bit packing ------------------------------------------------------------------ */

static void test_pack(void)
{
    ecn_err err = {{0}};
    uint8_t sym[64], back[64], packed[80];
    const uint8_t two[] = {1, 2, 3, 0};
    CHECK(ecn_pack(two, 4, 2, packed) == 1 && packed[0] == 0x39, "2-bit LSB first: 1,2,3,0 -> 0x39");
    const uint8_t four[] = {1, 2, 3};
    CHECK(ecn_pack(four, 3, 4, packed) == 2 && packed[0] == 0x21 && packed[1] == 0x03, "4-bit: 1,2,3 -> 21 03");
    const uint8_t six[] = {0x3f, 0x01};
    CHECK(ecn_pack(six, 2, 6, packed) == 2 && packed[0] == 0x7f && packed[1] == 0x00, "6-bit: 3f,01 -> 7f 00");
    for (int bits = 1; bits <= 8; bits++)
        for (size_t n = 0; n <= 41; n++) {
            for (size_t i = 0; i < n; i++) sym[i] = (uint8_t)(rnd() & ((1u << bits) - 1));
            size_t len = ecn_pack(sym, n, bits, packed);
            CHECK(len == (n * (size_t)bits + 7) / 8 && len == ecn_pack_size(n, bits), "pack size %d bits x %zu", bits,
                  n);
            memset(back, 0xee, sizeof back);
            CHECK(ecn_unpack(packed, len, n, bits, back, &err) == 0 && memcmp(sym, back, n) == 0,
                  "unpack %d bits x %zu", bits, n);
            if (len) CHECK(ecn_unpack(packed, len - 1, n, bits, back, &err) == -1, "short input %d x %zu", bits, n);
            CHECK(ecn_unpack(packed, len + 1, n, bits, back, &err) == -1, "long input %d x %zu", bits, n);
            if ((n * (size_t)bits) % 8) {
                packed[len - 1] |= 0x80;
                CHECK(ecn_unpack(packed, len, n, bits, back, &err) == -1, "non-zero padding %d x %zu", bits, n);
            }
        }
    /* Odd counts of 2-bit symbols. */
    const uint8_t odd[] = {3, 1, 2, 3, 1};
    CHECK(ecn_pack(odd, 5, 2, packed) == 2 && packed[0] == 0xE7 && packed[1] == 0x01, "5 x 2 bits -> e7 01");
    CHECK(ecn_unpack(packed, 2, 5, 2, back, &err) == 0 && memcmp(back, odd, 5) == 0, "5 x 2 bits back");
    CHECK(ecn_unpack(packed, 2, 5, 9, back, &err) == -1 && ecn_pack(odd, 5, 0, packed) == 0, "bad widths");
}

/* ---- IEEE half --------------------------------------------------------------------- */

/* The value of half h, computed independently. */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Correctly rounded half value of x (ties to even), in double. */
static double ref_half(float xf)
{
    double x = xf, a = fabs(x);
    if (a >= 65520.0) return copysign(INFINITY, x);
    if (a == 0) return x;
    int ex;
    frexp(a, &ex); /* a = m 2^ex, m in [0.5, 1): floor(log2 a) = ex - 1 */
    int e = ex - 1 < -14 ? -14 : ex - 1;
    double quantum = ldexp(1.0, e - 10);
    double r = nearbyint(a / quantum) * quantum; /* exact division; ties to even */
    return copysign(r, x);
}

static void test_half(void)
{
    int identity = 1, values = 1, nans = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ecn_float_from_half((uint16_t)h);
        uint16_t back = ecn_half_from_float(f);
        int is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (is_nan) {
            nans &= isnan(f) && ((back >> 10) & 31) == 31 && (back & 1023) && (back & 0x8000) == (h & 0x8000);
        } else {
            identity &= back == h;
            double v = half_value((uint16_t)h);
            values &= (double)f == v && !signbit(f) == !signbit(v);
        }
    }
    CHECK(identity, "every non-NaN half -> float -> half is the identity");
    CHECK(values, "every half converts to its exact value");
    CHECK(nans, "NaN halves stay NaN with their sign");

    CHECK(ecn_half_from_float(1.0f) == 0x3c00 && ecn_half_from_float(-2.0f) == 0xc000, "1, -2");
    CHECK(ecn_half_from_float(65504.0f) == 0x7bff && ecn_half_from_float(65519.99f) == 0x7bff, "largest half");
    CHECK(ecn_half_from_float(65520.0f) == 0x7c00 && ecn_half_from_float(-1e9f) == 0xfc00, "overflow to Inf");
    CHECK(ecn_half_from_float(ldexpf(1, -24)) == 0x0001 && ecn_half_from_float(ldexpf(1, -25)) == 0x0000 &&
              ecn_half_from_float(ldexpf(1.5f, -25)) == 0x0001 && ecn_half_from_float(ldexpf(1, -26)) == 0,
          "smallest subnormal and its ties");
    CHECK(ecn_half_from_float(ldexpf(1023.5f, -24)) == 0x0400, "subnormal rounding up into the normals");
    CHECK(ecn_half_from_float(-0.0f) == 0x8000 && ecn_half_from_float(1e-30f) == 0, "signed zero, underflow");
    CHECK(ecn_half_from_float(NAN) != 0x7c00 && ((ecn_half_from_float(NAN) >> 10) & 31) == 31, "NaN -> NaN");

    /* Random floats (every exponent, and the half range densely) against
     * the reference. */
    int ok = 1;
    long bad = 0;
    for (int i = 0; i < 2000000; i++) {
        float f;
        if (i & 1) f = bits_to_float((uint32_t)rnd());
        else f = (float)ldexp(uniform() * 2 - 1, (int)(rnd() % 50) - 30);
        if (isnan(f)) continue;
        double want = ref_half(f), got = ecn_float_from_half(ecn_half_from_float(f));
        if (!(got == want && !signbit(got) == !signbit(want))) {
            if (bad++ < 5) fprintf(stderr, "  half(%a) = %a, expected %a\n", (double)f, got, want);
            ok = 0;
        }
    }
    /* Exact ties: the midpoint of two neighbouring halves goes to the even one. */
    for (uint32_t h = 0; h < 0x7bff; h += 1 + (uint32_t)(rnd() % 7)) {
        float mid = (float)((half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2);
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (ecn_half_from_float(mid) != want || ecn_half_from_float(-mid) != (want | 0x8000)) ok = 0, bad++;
    }
    CHECK(ok, "float -> half rounds to nearest even (%ld mismatches)", bad);
}

int main(void)
{
    test_init();
    int widths[] = {8, 6, 4, 2, 1, 3};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        test_round_trip(widths[i], ECN_QUANT_TENSOR);
        test_round_trip(widths[i], ECN_QUANT_CHANNEL);
    }
    test_percentile();
    test_constant_and_special();
    test_wide_modes();
    test_params();
    test_pack();
    test_half();
    return test_finish("test_quant");
}
