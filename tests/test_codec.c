/* test_codec.c - lossless codecs of the split point (src/split/codec.c,
 * huffman.c, rans.c, dpcm.c).
 *
 * Round trips of raw, zlib, Huffman and rANS, with and without each DPCM
 * predictor, at 8, 6, 4, 3, 2 and 1 bits, on random, constant, empty, skewed,
 * all-symbol, absent-from-the-prior and long-run inputs, for sizes that
 * cover both rANS layouts (one state under 64 symbols, four from 64) and
 * rounds the states do not fill; hostile payloads (every truncation,
 * extension, bit flips, random garbage, wrong symbol counts) in exact-size
 * heap buffers so that the sanitizer build sees any stray read or write;
 * hundreds of small rANS frames coded into buffers of exactly their size,
 * then damaged; output buffers that are too small; compression against the
 * order-0 entropy (rANS within 3%, Huffman within 1 bit); prior tables as
 * bytes; canonical, length-limited Huffman codes; the rANS encoding step
 * against its formula and its decoding table, for every state.
 *
 * What a corrupted payload does (codec.h): raw never notices flipped bits;
 * Huffman notices only length and padding damage; zlib and rANS notice
 * nearly everything.  The test requires no crash from any of them, and
 * measured detection rates for zlib and rANS.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "split/codec.h"
#include "testlib.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

static double uniform(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }

/* Geometric symbols: P(s) ~ (1 - q) q^s, clamped to the top symbol. */
static uint8_t geometric(double q, int bits)
{
    unsigned top = (1u << bits) - 1, s = (unsigned)floor(log(1 - uniform()) / log(q));
    return (uint8_t)(s > top ? top : s);
}

/* A quantised ReLU feature map: 60% zeros, the rest exponential. */
static uint8_t relu_symbol(int bits)
{
    unsigned top = (1u << bits) - 1;
    if (uniform() < 0.6) return 0;
    double v = 1 + -log(1 - uniform()) * (double)(top + 1) / 14.0;
    return (uint8_t)(v > top ? top : (unsigned)v);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* A copy in a heap block of exactly n bytes: the sanitizer sees over-reads. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

static const ecn_codec_id all_codecs[] = {ECN_CODEC_RAW, ECN_CODEC_ZLIB, ECN_CODEC_HUFFMAN, ECN_CODEC_RANS};

static ecn_codec *make_codec(ecn_codec_id id, int bits, ecn_dpcm_mode dpcm, ecn_shape shape, const ecn_prior *prior)
{
    ecn_codec *c = xmalloc(sizeof *c);
    ecn_codec_opts o = {id, bits, 0, dpcm, shape};
    ecn_err err = {{0}};
    if (ecn_codec_init(c, &o, prior, &err)) {
        CHECK(0, "codec %s init: %s", ecn_codec_name(id), err.msg);
        free(c);
        return NULL;
    }
    return c;
}

/* Encode into an exact-size buffer of the bound, decode from an exact-size
 * copy; returns the payload size or (size_t)-1. */
static size_t round_trip(const ecn_codec *c, const uint8_t *sym, size_t n, const char *what)
{
    ecn_err err = {{0}};
    size_t cap = ecn_encode_bound(c, n), len = 0;
    uint8_t *out = xmalloc(cap);
    if (ecn_encode(c, sym, n, out, cap, &len, &err)) {
        CHECK(0, "%s: encode: %s", what, err.msg);
        free(out);
        return (size_t)-1;
    }
    CHECK(len <= cap, "%s: payload %zu within the bound %zu", what, len, cap);
    uint8_t *in = dup_exact(out, len), *back = xmalloc(n);
    int rc = ecn_decode(c, in, len, back, n, &err);
    CHECK(rc == 0, "%s: decode: %s", what, err.msg);
    CHECK(rc != 0 || n == 0 || memcmp(sym, back, n) == 0, "%s: symbols differ", what);
    free(out), free(in), free(back);
    return rc ? (size_t)-1 : len;
}

/* ---- names, entropy, priors ------------------------------------------------------ */

static void test_names(void)
{
    ecn_err err = {{0}};
    for (int i = 0; i < 4; i++) {
        ecn_codec_id id;
        CHECK(ecn_codec_from_name(ecn_codec_name(all_codecs[i]), &id, &err) == 0 && id == all_codecs[i], "codec name");
        ecn_dpcm_mode m;
        CHECK(ecn_dpcm_from_name(ecn_dpcm_name((ecn_dpcm_mode)i), &m, &err) == 0 && m == (ecn_dpcm_mode)i,
              "dpcm name");
    }
    ecn_codec_id id;
    ecn_dpcm_mode m;
    CHECK(strcmp(ecn_codec_name(ECN_CODEC_RANS), "rans") == 0 && strcmp(ecn_codec_name(ECN_CODEC_ZLIB), "zlib") == 0,
          "names");
    CHECK(ecn_codec_from_name("lzma", &id, &err) == -1 && strstr(err.msg, "lzma"), "unknown codec");
    CHECK(ecn_codec_from_name(NULL, &id, &err) == -1 && ecn_dpcm_from_name("diag", &m, &err) == -1, "unknown names");
    CHECK(ecn_codec_name((ecn_codec_id)9) == NULL && ecn_dpcm_name((ecn_dpcm_mode)-1) == NULL, "unknown ids");
}

static void test_entropy(void)
{
    uint64_t c[256];
    for (int i = 0; i < 256; i++) c[i] = 7;
    CHECK(fabs(ecn_entropy_bits(c, 256) - 8.0) < 1e-12, "uniform 256: 8 bits");
    uint64_t two[2] = {5, 5}, one[3] = {0, 9, 0}, none[4] = {0};
    CHECK(fabs(ecn_entropy_bits(two, 2) - 1.0) < 1e-12, "fair coin: 1 bit");
    CHECK(ecn_entropy_bits(one, 3) == 0 && ecn_entropy_bits(none, 4) == 0, "certain and empty: 0 bits");
    uint64_t q[4] = {2, 1, 1, 0};
    CHECK(fabs(ecn_entropy_bits(q, 4) - 1.5) < 1e-12, "1/2 1/4 1/4: 1.5 bits");
}

static void test_prior(void)
{
    ecn_err err = {{0}};
    ecn_prior p, r;
    CHECK(ecn_prior_init(&p, 0, &err) == -1 && ecn_prior_init(&p, 9, &err) == -1, "prior bits");
    CHECK(ecn_prior_init(&p, 4, &err) == 0, "prior init");
    uint8_t sym[1000];
    for (int i = 0; i < 1000; i++) sym[i] = geometric(0.6, 4);
    CHECK(ecn_prior_add(&p, sym, 1000, &err) == 0, "prior add");
    uint64_t total = 0;
    for (int s = 0; s < 256; s++) total += p.counts[s];
    CHECK(total == 1000, "prior counts all symbols");
    sym[10] = 16;
    CHECK(ecn_prior_add(&p, sym, 1000, &err) == -1 && strstr(err.msg, "16"), "symbol 16 in a 4-bit prior");
    CHECK(ecn_prior_size(4) == 8 + 16 * 8 + 4 && ecn_prior_size(8) == 2060 && ecn_prior_size(0) == 0, "prior sizes");
    uint8_t buf[2100];
    size_t len = 0;
    CHECK(ecn_prior_save(&p, buf, 10, &len, &err) == -1, "prior save: small buffer");
    CHECK(ecn_prior_save(&p, buf, sizeof buf, &len, &err) == 0 && len == ecn_prior_size(4), "prior save");
    CHECK(ecn_prior_load(&r, buf, len, &err) == 0 && r.bits == 4 && memcmp(r.counts, p.counts, sizeof p.counts) == 0,
          "prior round trip");
    for (size_t l = 0; l < len; l++) CHECK(ecn_prior_load(&r, buf, l, &err) == -1, "truncated prior %zu", l);
    CHECK(ecn_prior_load(&r, buf, len + 1, &err) == -1, "long prior");
    for (size_t at = 0; at < len; at += 3) { /* every damaged byte is caught (CRC or a field check) */
        uint8_t bad[2100];
        memcpy(bad, buf, len);
        bad[at] ^= 0x10;
        CHECK(ecn_prior_load(&r, bad, len, &err) == -1, "prior with byte %zu damaged", at);
    }
    /* Counts whose total passes 2^56, with a valid CRC. */
    ecn_prior big;
    ecn_prior_init(&big, 1, &err);
    big.counts[0] = big.counts[1] = ECN_PRIOR_MAX_TOTAL / 2 + 1;
    CHECK(ecn_prior_save(&big, buf, sizeof buf, &len, &err) == 0, "save big prior");
    CHECK(ecn_prior_load(&r, buf, len, &err) == -1, "prior total over 2^56");
}

/* ---- DPCM -------------------------------------------------------------------------- */

static void test_dpcm(void)
{
    ecn_err err = {{0}};
    ecn_shape s = {2, 2, 3};
    const uint8_t in[12] = {5, 7, 6, 9, 9, 0, /* channel 1: */ 6, 7, 3, 1, 9, 15};
    uint8_t out[12], back[12];
    const uint8_t chan[12] = {5, 7, 6, 9, 9, 0, 1, 0, 13, 8, 0, 15};  /* (c1 - c0) mod 16 */
    const uint8_t row[12] = {5, 2, 15, 4, 0, 7, 6, 1, 12, 11, 8, 6};  /* left, first column from above */
    const uint8_t col[12] = {5, 2, 15, 4, 2, 10, 6, 1, 12, 11, 2, 12}; /* above, first row from the left */
    const uint8_t *want[4] = {in, chan, row, col};
    for (int m = 0; m < 4; m++) {
        CHECK(ecn_dpcm_forward((ecn_dpcm_mode)m, s, 4, in, out, 12, &err) == 0, "dpcm %d forward", m);
        CHECK(memcmp(out, want[m], 12) == 0, "dpcm %s residuals", ecn_dpcm_name((ecn_dpcm_mode)m));
        memcpy(back, in, 12);
        ecn_dpcm_forward((ecn_dpcm_mode)m, s, 4, back, back, 12, &err);
        CHECK(memcmp(back, out, 12) == 0, "dpcm %d in place", m);
        CHECK(ecn_dpcm_inverse((ecn_dpcm_mode)m, s, 4, back, 12, &err) == 0 && memcmp(back, in, 12) == 0,
              "dpcm %d inverse", m);
    }
    CHECK(ecn_dpcm_forward(ECN_DPCM_ROW, s, 4, in, out, 11, &err) == -1, "dpcm: n does not match the shape");
    CHECK(ecn_dpcm_inverse((ecn_dpcm_mode)9, s, 4, out, 12, &err) == -1, "dpcm: unknown mode");
    CHECK(ecn_dpcm_forward(ECN_DPCM_ROW, s, 0, in, out, 12, &err) == -1, "dpcm: bits 0");

    /* A ramp along rows: row DPCM leaves a constant, entropy drops to ~0. */
    ecn_shape r = {3, 16, 16};
    uint8_t ramp[768], res[768];
    uint64_t before[256] = {0}, after[256] = {0};
    for (int i = 0; i < 768; i++) ramp[i] = (uint8_t)(3 * (i % 16) + 40 * (i / 256)), before[ramp[i]]++;
    ecn_dpcm_forward(ECN_DPCM_ROW, r, 8, ramp, res, 768, &err);
    for (int i = 0; i < 768; i++) after[res[i]]++;
    CHECK(ecn_entropy_bits(after, 256) < 0.5 * ecn_entropy_bits(before, 256), "row DPCM flattens a ramp");
}

/* ---- round trips ------------------------------------------------------------------- */

enum { SRC_RANDOM, SRC_ZERO, SRC_TOP, SRC_SKEWED, SRC_ALL, SRC_ABSENT, SRC_RUNS, SRC_COUNT };
static const char *const src_names[] = {"random", "zeros", "top", "skewed", "all", "absent", "runs"};

static void fill(int src, int bits, uint8_t *sym, size_t n)
{
    unsigned top = (1u << bits) - 1;
    for (size_t i = 0; i < n;) {
        switch (src) {
        case SRC_RANDOM: sym[i++] = (uint8_t)(rnd() & top); break;
        case SRC_ZERO: sym[i++] = 0; break;
        case SRC_TOP: sym[i++] = (uint8_t)top; break;
        case SRC_SKEWED: sym[i++] = relu_symbol(bits); break;
        case SRC_ALL: sym[i] = (uint8_t)(i & top), i++; break;
        case SRC_ABSENT: sym[i++] = (uint8_t)(top - (rnd() % (top < 3 ? 1 : 3))); break; /* the prior never saw these */
        case SRC_RUNS: {
            size_t run = 1 + (size_t)(rnd() % 5000);
            uint8_t v = (uint8_t)(rnd() & top);
            while (run-- && i < n) sym[i++] = v;
            break;
        }
        }
    }
}

static void test_round_trips(void)
{
    /* 63, 64, 65, 67: one rANS state below 64 symbols, four from there; 392:
     * the fashion-branchy split. */
    const ecn_shape shapes[] = {{0, 0, 0},    {1, 1, 1},     {1, 1, 3},     {3, 1, 11},    {4, 10, 25},
                                {2, 2, 16383}, {1, 1, 65536}, {3, 7, 3121}, {16, 100, 125}, {7, 3, 3},
                                {1, 1, 64},   {1, 5, 13},    {1, 1, 67},    {8, 7, 7}};
    const int widths[] = {8, 6, 4, 3, 2, 1};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int bits = widths[w];
        /* The prior: a skewed training sample that never holds the top
         * symbols (so SRC_ABSENT tests zero counts). */
        ecn_prior prior;
        ecn_err err = {{0}};
        ecn_prior_init(&prior, bits, &err);
        uint8_t train[20000];
        for (int i = 0; i < 20000; i++) {
            train[i] = relu_symbol(bits);
            if (bits > 2 && train[i] > (1u << bits) - 4) train[i] = 1;
        }
        ecn_prior_add(&prior, train, 20000, &err);
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            ecn_shape s = shapes[sh];
            size_t n = ecn_shape_size(s);
            if (n > 100000 && bits != 8 && bits != 2) continue; /* the big one at two widths is enough */
            uint8_t *sym = xmalloc(n);
            for (int src = 0; src < SRC_COUNT; src++) {
                if (n > 100000 && src != SRC_SKEWED && src != SRC_RANDOM && src != SRC_ABSENT) continue;
                fill(src, bits, sym, n);
                for (int ci = 0; ci < 4; ci++)
                    for (int m = 0; m < 4; m++) {
                        if (m && ci != ECN_CODEC_RANS && (sh % 3 != 0 && sh < 7)) continue; /* DPCM: a sample of the rest */
                        ecn_codec *c = make_codec(all_codecs[ci], bits, (ecn_dpcm_mode)m, s, &prior);
                        if (!c) continue;
                        char what[160];
                        snprintf(what, sizeof what, "%s, %d bits, dpcm %s, %s, %dx%dx%d",
                                 ecn_codec_name(all_codecs[ci]), bits, ecn_dpcm_name((ecn_dpcm_mode)m),
                                 src_names[src], s.c, s.h, s.w);
                        round_trip(c, sym, n, what);
                        free(c);
                    }
            }
            free(sym);
        }
    }
}

/* ---- encoder limits ------------------------------------------------------------------ */

static void test_encode_errors(void)
{
    ecn_err err = {{0}};
    ecn_prior prior;
    ecn_prior_init(&prior, 4, &err);
    uint8_t sym[3000];
    for (int i = 0; i < 3000; i++) sym[i] = geometric(0.7, 4);
    ecn_prior_add(&prior, sym, 3000, &err);
    for (int ci = 0; ci < 4; ci++) {
        ecn_codec *c = make_codec(all_codecs[ci], 4, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &prior);
        const char *name = ecn_codec_name(all_codecs[ci]);
        size_t cap = ecn_encode_bound(c, 3000), len = 0;
        uint8_t *out = xmalloc(cap);
        CHECK(ecn_encode(c, sym, 3000, out, cap, &len, &err) == 0, "%s encode", name);
        size_t caps[] = {0, 1, len / 2, len - 1};
        for (int t = 0; t < 4; t++) {
            uint8_t *small = xmalloc(caps[t]);
            size_t l2 = 0;
            CHECK(ecn_encode(c, sym, 3000, caps[t] ? small : NULL, caps[t], &l2, &err) == -1, "%s: cap %zu < %zu",
                  name, caps[t], len);
            free(small);
        }
        if (all_codecs[ci] != ECN_CODEC_ZLIB) { /* zlib may want slack beyond its final size */
            uint8_t *exact = xmalloc(len);
            size_t l2 = 0;
            CHECK(ecn_encode(c, sym, 3000, exact, len, &l2, &err) == 0 && l2 == len, "%s: exact capacity", name);
            free(exact);
        }
        uint8_t bad[5] = {1, 2, 16, 3, 4};
        CHECK(ecn_encode(c, bad, 5, out, cap, &len, &err) == -1 && strstr(err.msg, "4 bits"), "%s: symbol 16", name);
        CHECK(ecn_encode(c, NULL, 5, out, cap, &len, &err) == -1, "%s: NULL symbols", name);
        free(out), free(c);
    }
    /* Codec options. */
    ecn_codec *c = xmalloc(sizeof *c);
    ecn_codec_opts o = {ECN_CODEC_ZLIB, 8, 6, ECN_DPCM_NONE, {0, 0, 0}};
    ecn_prior p8;
    ecn_prior_init(&p8, 8, &err);
    CHECK(ecn_codec_init(c, &o, NULL, &err) == 0, "zlib needs no prior");
    o.level = 10;
    CHECK(ecn_codec_init(c, &o, NULL, &err) == -1, "zlib level 10");
    o.level = 0, o.bits = 9;
    CHECK(ecn_codec_init(c, &o, NULL, &err) == -1, "9-bit symbols");
    o.bits = 8, o.id = ECN_CODEC_HUFFMAN;
    CHECK(ecn_codec_init(c, &o, NULL, &err) == -1 && strstr(err.msg, "prior"), "huffman without a prior");
    o.id = ECN_CODEC_RANS;
    CHECK(ecn_codec_init(c, &o, &prior, &err) == -1, "4-bit prior for an 8-bit codec");
    CHECK(ecn_codec_init(c, &o, &p8, &err) == 0, "rans with an empty prior (uniform)");
    o.id = (ecn_codec_id)7;
    CHECK(ecn_codec_init(c, &o, &p8, &err) == -1, "unknown codec id");
    o.id = ECN_CODEC_RAW, o.dpcm = ECN_DPCM_ROW, o.shape = (ecn_shape){-1, 2, 2};
    CHECK(ecn_codec_init(c, &o, NULL, &err) == -1, "DPCM with a negative shape");
    o.shape = (ecn_shape){2, 2, 2};
    CHECK(ecn_codec_init(c, &o, NULL, &err) == 0, "DPCM codec");
    size_t len;
    uint8_t out[64];
    CHECK(ecn_encode(c, sym, 7, out, sizeof out, &len, &err) == -1, "DPCM with n != C*H*W");
    CHECK(ecn_decode(c, out, 8, sym, 7, &err) == -1, "DPCM decode with n != C*H*W");
    ecn_codec blank;
    memset(&blank, 0, sizeof blank);
    CHECK(ecn_encode(&blank, sym, 7, out, sizeof out, &len, &err) == -1 && ecn_encode_bound(&blank, 7) == 0,
          "uninitialised codec");
    free(c);
}

/* ---- hostile payloads ------------------------------------------------------------------ */

static void test_hostile(void)
{
    ecn_err err = {{0}};
    ecn_prior prior;
    ecn_prior_init(&prior, 8, &err);
    uint8_t *train = xmalloc(50000);
    for (int i = 0; i < 50000; i++) train[i] = relu_symbol(8);
    ecn_prior_add(&prior, train, 50000, &err);
    const size_t sizes[] = {700, 70000}; /* many rounds of the rANS lanes; many refills */
    for (int si = 0; si < 2; si++) {
        size_t n = sizes[si];
        uint8_t *sym = xmalloc(n), *back = xmalloc(n);
        for (size_t i = 0; i < n; i++) sym[i] = relu_symbol(8);
        for (int ci = 0; ci < 4; ci++) {
            ecn_codec *c = make_codec(all_codecs[ci], 8, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &prior);
            const char *name = ecn_codec_name(all_codecs[ci]);
            size_t cap = ecn_encode_bound(c, n), len = 0;
            uint8_t *out = xmalloc(cap + 1);
            ecn_encode(c, sym, n, out, cap, &len, &err);

            /* Every truncation (a sample of them for the big payload) fails. */
            int all_fail = 1;
            size_t step = len > 2000 ? len / 500 : 1;
            for (size_t l = 0; l < len; l += step) {
                uint8_t *t = dup_exact(out, l);
                if (ecn_decode(c, t, l, back, n, &err) == 0) all_fail = 0;
                free(t);
            }
            size_t last = len ? len - 1 : 0;
            uint8_t *t = dup_exact(out, last);
            all_fail &= ecn_decode(c, t, last, back, n, &err) == -1;
            free(t);
            CHECK(all_fail, "%s n=%zu: every truncated payload fails", name, n);

            /* Extra bytes fail. */
            for (int v = 0; v < 2; v++) {
                out[len] = v ? 0xff : 0x00;
                uint8_t *x = dup_exact(out, len + 1);
                CHECK(ecn_decode(c, x, len + 1, back, n, &err) == -1, "%s n=%zu: an extra 0x%02x byte fails", name,
                      n, out[len]);
                free(x);
            }

            /* Wrong symbol counts: zlib and rANS always notice. */
            if (all_codecs[ci] == ECN_CODEC_ZLIB || all_codecs[ci] == ECN_CODEC_RANS) {
                uint8_t *x = dup_exact(out, len), *big = xmalloc(n + 1);
                CHECK(ecn_decode(c, x, len, big, n + 1, &err) == -1, "%s n=%zu: decoding n + 1 fails", name, n);
                CHECK(ecn_decode(c, x, len, big, n - 1, &err) == -1, "%s n=%zu: decoding n - 1 fails", name, n);
                free(x), free(big);
            }

            /* Bit flips: never a crash; count what is caught. */
            size_t flips = 0, caught = 0;
            for (size_t b = 0; b < len * 8; b += len > 2000 ? 97 : 1) {
                uint8_t *x = dup_exact(out, len);
                x[b / 8] ^= (uint8_t)(1u << (b % 8));
                int rc = ecn_decode(c, x, len, back, n, &err);
                flips++;
                caught += rc != 0;
                free(x);
            }
            double rate = (double)caught / (double)flips;
            printf("  %-7s n=%-6zu payload %6zu bytes: %5.1f%% of %zu bit flips detected\n", name, n, len, 100 * rate,
                   flips);
            if (all_codecs[ci] == ECN_CODEC_ZLIB) CHECK(rate > 0.99, "zlib detects bit flips (%.3f)", rate);
            if (all_codecs[ci] == ECN_CODEC_RANS) CHECK(rate > 0.99, "rans detects bit flips (%.3f)", rate);

            /* Random garbage of random lengths and random symbol counts. */
            for (int k = 0; k < 300; k++) {
                size_t gl = (size_t)(rnd() % (k < 150 ? 200 : 3000)), gn = (size_t)(rnd() % (k & 1 ? 5000 : 80000));
                uint8_t *g = xmalloc(gl), *gs = xmalloc(gn);
                for (size_t i = 0; i < gl; i++) g[i] = (uint8_t)rnd();
                if (gl >= 1 && k % 3 == 0) g[0] |= 0x80; /* a rANS start marker, so that decoding gets going */
                ecn_decode(c, g, gl, gs, gn, &err); /* any result; no crash */
                free(g), free(gs);
            }
            CHECK(1, "%s: garbage decoded without a crash", name);
            free(out), free(c);
        }
        free(sym), free(back);
    }
    free(train);
}

/* Many small rANS frames (both layouts): coded into buffers of exactly their
 * size, then damaged or decoded with a wrong symbol count: never a crash, and
 * the decoder must say so nearly every time. */
static void test_rans_damage(void)
{
    ecn_err err = {{0}};
    ecn_prior prior;
    ecn_prior_init(&prior, 8, &err);
    uint8_t train[20000];
    for (int i = 0; i < 20000; i++) train[i] = relu_symbol(8);
    ecn_prior_add(&prior, train, sizeof train, &err);
    ecn_codec *c = make_codec(ECN_CODEC_RANS, 8, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &prior);
    if (!c) return;
    int frames = 0, wrong_n = 0, wrong_n_ok = 0, flips = 0, flips_ok = 0;
    for (int t = 0; t < 400; t++) {
        size_t n = t % 4 == 0 ? 20 + (size_t)(rnd() % 44) : 64 + (size_t)(rnd() % 700);
        uint8_t *sym = xmalloc(n + 8), *back = xmalloc(n + 8);
        for (size_t i = 0; i < n; i++) sym[i] = t % 2 ? relu_symbol(8) : (uint8_t)rnd();
        size_t cap = ecn_encode_bound(c, n), len = 0;
        uint8_t *out = xmalloc(cap);
        if (ecn_encode(c, sym, n, out, cap, &len, &err)) {
            CHECK(0, "rans frame %d: encode: %s", t, err.msg);
            free(sym), free(back), free(out);
            continue;
        }
        frames++;
        uint8_t *exact = xmalloc(len), *less = xmalloc(len);
        size_t l2 = 0;
        CHECK(ecn_encode(c, sym, n, exact, len, &l2, &err) == 0 && l2 == len && memcmp(exact, out, len) == 0,
              "rans frame %d: an output buffer of exactly %zu bytes is enough", t, len);
        CHECK(ecn_encode(c, sym, n, less, len - 1, &l2, &err) == -1, "rans frame %d: %zu bytes are not", t, len - 1);
        free(exact), free(less);
        uint8_t *in = dup_exact(out, len);
        const size_t deltas[] = {1, 2, 4, 5};
        for (int d = 0; d < 4; d++) { /* n - delta and n + delta, into exact-size buffers */
            for (int sign = 0; sign < 2; sign++) {
                size_t m = sign ? n + deltas[d] : n - deltas[d];
                uint8_t *dst = xmalloc(m);
                wrong_n++;
                wrong_n_ok += ecn_decode(c, in, len, dst, m, &err) == 0;
                free(dst);
            }
        }
        for (int f = 0; f < 8; f++) {
            size_t bit = (size_t)(rnd() % (8 * len));
            in[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            flips++;
            flips_ok += ecn_decode(c, in, len, back, n, &err) == 0;
            in[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        CHECK(ecn_decode(c, in, len, back, n, &err) == 0 && memcmp(back, sym, n) == 0, "rans frame %d round trip", t);
        free(sym), free(back), free(out), free(in);
    }
    printf("  rans, %d frames of 20-763 symbols: %d of %d wrong symbol counts and %d of %d bit flips went unnoticed\n",
           frames, wrong_n_ok, wrong_n, flips_ok, flips);
    CHECK(wrong_n_ok * 100 <= wrong_n, "rans: wrong symbol counts are noticed (%d of %d missed)", wrong_n_ok, wrong_n);
    CHECK(flips_ok * 10 <= flips, "rans: bit flips are noticed (%d of %d missed)", flips_ok, flips);
    free(c);
}

/* ---- compression -------------------------------------------------------------------------- */

static void test_compression(void)
{
    const int widths[] = {8, 6, 4, 2};
    for (int w = 0; w < 4; w++) {
        int bits = widths[w];
        for (int kind = 0; kind < 2; kind++) {
            ecn_err err = {{0}};
            size_t n = (size_t)1 << 20;
            uint8_t *train = xmalloc(n), *sym = xmalloc(n);
            for (size_t i = 0; i < n; i++) {
                train[i] = kind ? relu_symbol(bits) : geometric(0.75, bits);
                sym[i] = kind ? relu_symbol(bits) : geometric(0.75, bits);
            }
            ecn_prior prior;
            ecn_prior_init(&prior, bits, &err);
            ecn_prior_add(&prior, train, n, &err);
            uint64_t counts[256] = {0};
            for (size_t i = 0; i < n; i++) counts[sym[i]]++;
            double h = ecn_entropy_bits(counts, 1 << bits);
            size_t sizes[4];
            for (int ci = 0; ci < 4; ci++) {
                ecn_codec *c = make_codec(all_codecs[ci], bits, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &prior);
                char what[64];
                snprintf(what, sizeof what, "%s %d bits", ecn_codec_name(all_codecs[ci]), bits);
                sizes[ci] = round_trip(c, sym, n, what);
                free(c);
            }
            double rans_bits = 8.0 * (double)sizes[ECN_CODEC_RANS] / (double)n;
            double huff_bits = 8.0 * (double)sizes[ECN_CODEC_HUFFMAN] / (double)n;
            printf("  %s %d-bit: entropy %.4f bits/symbol; rans %.4f (%.2f%%), huffman %.4f, zlib %.4f, raw %.4f\n",
                   kind ? "relu" : "geometric", bits, h, rans_bits, 100 * rans_bits / h, huff_bits,
                   8.0 * (double)sizes[ECN_CODEC_ZLIB] / (double)n, 8.0 * (double)sizes[ECN_CODEC_RAW] / (double)n);
            CHECK(rans_bits <= 1.03 * h, "%d bits: rans %.4f within 3%% of the entropy %.4f", bits, rans_bits, h);
            CHECK(huff_bits <= h + 1, "%d bits: huffman %.4f within 1 bit of the entropy %.4f", bits, huff_bits, h);
            CHECK(sizes[ECN_CODEC_RAW] == (n * (size_t)bits + 7) / 8, "raw is packed");
            free(train), free(sym);
        }
    }
    /* A long run: every codec shrinks it far below raw. */
    ecn_err err = {{0}};
    ecn_prior prior;
    ecn_prior_init(&prior, 8, &err);
    uint8_t z[4096] = {0};
    ecn_prior_add(&prior, z, sizeof z, &err);
    size_t n = 1000000;
    uint8_t *sym = calloc(n, 1);
    for (int ci = 1; ci < 4; ci++) {
        ecn_codec *c = make_codec(all_codecs[ci], 8, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &prior);
        size_t len = round_trip(c, sym, n, "zeros");
        /* Huffman cannot go below one bit per symbol */
        size_t limit = all_codecs[ci] == ECN_CODEC_HUFFMAN ? n / 8 + 8 : n / 20;
        CHECK(len <= limit, "%s: a million zeros in %zu bytes", ecn_codec_name(all_codecs[ci]), len);
        free(c);
    }
    free(sym);
}

/* ---- table construction ------------------------------------------------------------------- */

static void test_tables(void)
{
    ecn_err err = {{0}};
    /* Fibonacci counts give a Huffman tree as deep as there are symbols:
     * the lengths must be limited to 15, and the code stay complete. */
    uint64_t fib[256];
    fib[0] = 1, fib[1] = 1;
    for (int s = 2; s < 256; s++) fib[s] = s < 80 ? fib[s - 1] + fib[s - 2] : fib[79];
    ecn_huff *h = xmalloc(sizeof *h);
    CHECK(ecn_huff_build(h, fib, 256, &err) == 0, "huffman build");
    double kraft = 0;
    int longest = 0;
    for (int s = 0; s < 256; s++) {
        kraft += ldexp(1.0, -h->len[s]);
        if (h->len[s] > longest) longest = h->len[s];
    }
    CHECK(longest <= ECN_HUFF_MAX_LEN && longest == h->max_len, "lengths limited to 15 (got %d)", longest);
    CHECK(fabs(kraft - 1.0) < 1e-12, "complete code: Kraft sum %.15f", kraft);
    int prefix_free = 1;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            if (a == b || h->len[a] > h->len[b]) continue;
            unsigned mask = (1u << h->len[a]) - 1; /* codes are stored LSB first: a prefix is the low bits */
            if ((h->code[b] & mask) == h->code[a]) prefix_free = 0;
        }
    CHECK(prefix_free, "prefix-free codes");
    /* The symbols of the long codes round-trip through the slow path. */
    ecn_prior p;
    ecn_prior_init(&p, 8, &err);
    memcpy(p.counts, fib, sizeof fib);
    ecn_codec *c = make_codec(ECN_CODEC_HUFFMAN, 8, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &p);
    uint8_t sym[5000];
    for (int i = 0; i < 5000; i++) sym[i] = (uint8_t)(i % 7 == 0 ? rnd() % 256 : 255 - rnd() % 4);
    round_trip(c, sym, 5000, "huffman, long codes");
    free(c), free(h);

    /* rANS frequencies: each >= 1, summing to M, whatever the counts; then
     * for every symbol and every state, the encoding step (bits shifted out,
     * new state) against its definition and against the decoding table. */
    ecn_rans *r = xmalloc(sizeof *r);
    enum { NCASES = 6 };
    uint64_t cases[NCASES][256];
    const int case_nsym[NCASES] = {256, 256, 256, 256, 2, 16};
    memset(cases, 0, sizeof cases);
    for (int s = 0; s < 256; s++) cases[1][s] = 1000, cases[2][s] = (uint64_t)1 << 50, cases[3][s] = s < 1 ? 1u << 30 : 0;
    cases[2][17] = ECN_PRIOR_MAX_TOTAL / 4;
    cases[4][0] = 1000000, cases[4][1] = 1;        /* f = M - 1 and 1: no bits, and the most */
    for (int s = 0; s < 16; s++) cases[5][s] = (uint64_t)1 << (2 * s); /* every shift count */
    const uint32_t M = ECN_RANS_SCALE, L = ECN_RANS_LOW;
    for (int t = 0; t < NCASES; t++) {
        int nsym = case_nsym[t];
        CHECK(ecn_rans_build(r, cases[t], nsym, &err) == 0, "rans build %d", t);
        unsigned sum = 0, min = 9999, start = 0;
        for (int s = 0; s < nsym; s++) sum += r->freq[s], min = r->freq[s] < min ? r->freq[s] : min;
        CHECK(sum == M && min >= 1, "frequencies of case %d: sum %u, min %u", t, sum, min);
        int ok = 1, kmax = 0;
        for (int s = 0; s < nsym; s++) {
            uint32_t f = r->freq[s];
            for (uint32_t x = L; x < 2 * L; x++) {
                uint32_t k, bits, y = ecn_rans_step(r, (unsigned)s, x, &k, &bits), xr = x >> k;
                uint32_t want = xr / f * M + start + xr % f, e = r->dec[(y - L) & (L - 1)];
                ok &= xr < 4 * f && (k == 0 || (x >> (k - 1)) >= 4 * f); /* the fewest shifts into [2f, 4f) */
                ok &= bits == (x & ((1u << k) - 1));
                ok &= y == want && y >= L && y < 2 * L;
                ok &= (e & 0xff) == (uint32_t)s && ((e >> 8) & 0xff) == k && (e >> 16) + bits == x - L;
                kmax = (int)k > kmax ? (int)k : kmax;
            }
            start += f;
        }
        CHECK(ok, "case %d: every encoding step is the rANS formula and the decoding table undoes it", t);
        CHECK(kmax <= ECN_RANS_MAX_SHIFT, "case %d: at most %d bits a symbol (%d)", t, ECN_RANS_MAX_SHIFT, kmax);
    }
    free(r);

    /* The example in docs/wire.md, byte for byte. */
    ecn_prior p1;
    ecn_prior_init(&p1, 1, &err);
    p1.counts[0] = 3, p1.counts[1] = 1;
    ecn_codec *c1 = make_codec(ECN_CODEC_RANS, 1, ECN_DPCM_NONE, (ecn_shape){0, 0, 0}, &p1);
    const uint8_t ex_sym[3] = {0, 1, 1}, ex_payload[2] = {0x01, 0x71};
    uint8_t got[16], back[3];
    size_t got_len = 0;
    CHECK(c1 && c1->rans.freq[0] == 3072 && c1->rans.freq[1] == 1024, "wire.md example: frequencies 3072, 1024");
    CHECK(c1 && ecn_encode(c1, ex_sym, 3, got, sizeof got, &got_len, &err) == 0 && got_len == 2 &&
              memcmp(got, ex_payload, 2) == 0,
          "wire.md example: 0, 1, 1 code to 01 71");
    CHECK(c1 && ecn_decode(c1, ex_payload, 2, back, 3, &err) == 0 && memcmp(back, ex_sym, 3) == 0,
          "wire.md example: 01 71 decodes to 0, 1, 1");
    free(c1);
}

int main(void)
{
    test_names();
    test_entropy();
    test_prior();
    test_dpcm();
    test_round_trips();
    test_encode_errors();
    test_hostile();
    test_rans_damage();
    test_compression();
    test_tables();
    return test_finish("test_codec");
}
