/* rans.c - static range asymmetric numeral systems (rANS).
 *
 * Model: every symbol s has a frequency f[s] >= 1, the f[s] sum to
 * M = 2^12, and start[s] is the sum of the frequencies below s.  The
 * frequencies come from the prior table's counts (ecn_rans_build), so the
 * coder spends about log2(M / f[s]) bits on s.
 *
 * State: a 32-bit integer x kept in [L, 256 L) with L = 2^23.
 *   encode s:  x = (x / f) * M + (x mod f) + start
 *   decode:    slot = x mod M; s is the symbol with start <= slot < start + f;
 *              x = f * (x / M) + slot - start
 * Decoding undoes encoding exactly, so the decoder meets the symbols in the
 * reverse order of the encoder: the encoder runs from the last symbol to the
 * first and writes its bytes from the end of the buffer backwards.
 *
 * Renormalisation, a byte at a time: before encoding s the encoder emits the
 * low byte of x while x >= x_max = f << 19 (so that the new x stays below
 * 2^31); after decoding, the decoder reads bytes while x < L.  The two are
 * mirror images, so they move the same bytes at the same points.
 *
 * Speed:
 *   - ECN_RANS_LANES (8) independent states take the symbols in turn (symbol
 *     i belongs to lane i mod 8), so a CPU overlaps eight dependency chains;
 *   - the encoder divides by f with a reciprocal: for x < 2^31,
 *     x / f = (x * rcp) >> shift with shift = 31 + ceil(log2 f) and
 *     rcp = ceil(2^shift / f) (Granlund and Montgomery, 1994), and uses
 *     (x / f) * M + x mod f + start = x + start + (x / f) * (M - f);
 *   - the decoder finds (symbol, f, slot - start) in one 4096-entry table;
 *   - both renormalise without branches when at least two bytes per lane of
 *     room (encoder) or input (decoder) remain, and byte by byte with a
 *     bounds check near the ends.
 *
 * Payload: the 8 final encoder states (u32 little-endian, lane 0 first), then
 * the renormalisation bytes in decoding order.  The decoder checks that the
 * states start in [L, 256 L), that it never reads past the end, that it ends
 * exactly at the end, and that every lane ends in state L (where the encoder
 * began).
 */
#include <math.h>
#include <string.h>

#include "../core/error.h"
#include "codec.h"

#define SCALE ECN_RANS_SCALE
#define SBITS ECN_RANS_SCALE_BITS
#define LOW ECN_RANS_LOW

void ecn_rans_reciprocal(uint32_t freq, uint32_t *rcp, uint32_t *shift)
{
    uint32_t l = 0;
    while ((1u << l) < freq) l++;
    *shift = 31 + l;
    *rcp = (uint32_t)((((uint64_t)1 << *shift) + freq - 1) / freq);
}

/* Cost in bits of coding `count` symbols with frequency f instead of g. */
static double delta_cost(uint64_t count, unsigned f, unsigned g) { return (double)count * log2((double)f / g); }

int ecn_rans_build(ecn_rans *r, const uint64_t *counts, int nsym, ecn_err *err)
{
    if (nsym < 2 || nsym > 256 || (unsigned)nsym > SCALE) return ecn_fail(err, "rans: %d symbols", nsym);
    memset(r, 0, sizeof *r);
    r->nsym = nsym;
    double total = 0;
    for (int s = 0; s < nsym; s++) total += (double)counts[s];

    /* Scale to M, round, and keep every frequency >= 1. */
    unsigned f[256], sum = 0;
    for (int s = 0; s < nsym; s++) {
        double v = total > 0 ? (double)counts[s] / total * SCALE : (double)SCALE / nsym;
        unsigned q = v < 1.0 ? 1u : (unsigned)(v + 0.5);
        if (q > SCALE) q = SCALE;
        f[s] = q;
        sum += q;
    }
    /* Then fix the sum one step at a time, each step the one that costs the
     * fewest bits on the prior's counts (greedy is optimal here: the cost is
     * a sum of convex functions of each f). */
    while (sum > SCALE) {
        int best = -1;
        double best_cost = 0;
        for (int s = 0; s < nsym; s++) {
            if (f[s] <= 1) continue;
            double c = delta_cost(counts[s], f[s], f[s] - 1);
            if (best < 0 || c < best_cost) best = s, best_cost = c;
        }
        f[best]--, sum--;
    }
    while (sum < SCALE) {
        int best = 0;
        double best_gain = -1;
        for (int s = 0; s < nsym; s++) {
            double g = delta_cost(counts[s], f[s] + 1, f[s]);
            if (g > best_gain) best = s, best_gain = g;
        }
        f[best]++, sum++;
    }

    unsigned start = 0;
    for (int s = 0; s < nsym; s++) {
        ecn_rans_sym *e = &r->enc[s];
        r->freq[s] = (uint16_t)f[s];
        e->x_max = f[s] << (23 - SBITS + 8);
        ecn_rans_reciprocal(f[s], &e->rcp, &e->shift);
        e->start = (uint16_t)start;
        e->cmpl = (uint16_t)(SCALE - f[s]);
        for (unsigned k = 0; k < f[s]; k++) r->dec[start + k] = f[s] | k << 12 | (uint32_t)s << 24;
        start += f[s];
    }
    return 0;
}

int ecn_rans_lanes(size_t n) { return n >= ECN_RANS_WIDE_MIN ? ECN_RANS_LANES_WIDE : ECN_RANS_LANES_NARROW; }

size_t ecn_rans_bound(size_t n)
{
    /* At most log2(M / 1) = 12 bits, plus a little renormalisation slack, per
     * symbol; plus the final states. */
    size_t b = n / 2, extra = n / 256 + 4 * (size_t)ecn_rans_lanes(n) + 64;
    if (n > SIZE_MAX - b || n + b > SIZE_MAX - extra) return SIZE_MAX;
    return n + b + extra;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- encoder ---------------------------------------------------------------- */

/* One encoding step with room for two bytes below p (no check). */
static inline uint32_t enc_fast(uint32_t x, const ecn_rans_sym *e, uint8_t **pp)
{
    uint8_t *p = *pp;
    unsigned k = (x >= e->x_max) + ((uint64_t)x >= (uint64_t)e->x_max << 8); /* bytes to emit: 0..2 */
    p[-1] = (uint8_t)x;
    p[-2] = (uint8_t)(x >> 8);
    *pp = p - k;
    x >>= 8 * k;
    uint32_t q = (uint32_t)(((uint64_t)x * e->rcp) >> e->shift); /* x / freq */
    return x + e->start + q * e->cmpl;
}

/* The same, checking for room before each byte. */
static inline int enc_safe(uint32_t *xp, const ecn_rans_sym *e, uint8_t **pp, uint8_t *lim)
{
    uint32_t x = *xp;
    while (x >= e->x_max) {
        if (*pp <= lim) return -1;
        *--*pp = (uint8_t)x;
        x >>= 8;
    }
    uint32_t q = (uint32_t)(((uint64_t)x * e->rcp) >> e->shift);
    *xp = x + e->start + q * e->cmpl;
    return 0;
}

int ecn_rans_encode(const ecn_rans *r, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                    ecn_err *err)
{
    const int lanes = ecn_rans_lanes(n);
    uint32_t x[ECN_RANS_LANES_WIDE];
    for (int j = 0; j < lanes; j++) x[j] = LOW;
    uint8_t *p = out + cap; /* bytes go backwards from the end */
    const ecn_rans_sym *tab = r->enc;
    size_t blocks = n / (size_t)lanes;
    for (size_t i = n; i-- > blocks * (size_t)lanes;) /* the tail that does not fill a block */
        if (enc_safe(&x[i % (size_t)lanes], &tab[sym[i]], &p, out)) goto full;
    for (size_t b = blocks; b-- > 0;) {
        const uint8_t *s = sym + b * (size_t)lanes;
        if ((size_t)(p - out) >= 2 * (size_t)lanes) {
            for (int j = lanes - 1; j >= 0; j--) x[j] = enc_fast(x[j], &tab[s[j]], &p);
        } else {
            for (int j = lanes - 1; j >= 0; j--)
                if (enc_safe(&x[j], &tab[s[j]], &p, out)) goto full;
        }
    }
    if ((size_t)(p - out) < 4 * (size_t)lanes) goto full;
    p -= 4 * lanes;
    for (int j = 0; j < lanes; j++) put_le32(p + 4 * j, x[j]);
    *out_len = (size_t)(out + cap - p);
    memmove(out, p, *out_len);
    return 0;
full:
    return ecn_fail(err, "rans: output buffer of %zu bytes is too small", cap);
}

/* ---- decoder ------------------------------------------------------------------ */

/* Portable fast path: whole blocks while every lane can take two bytes
 * unchecked (after a step x >= f * 2^11 >= 2^11, so two always suffice).
 * Lanes go four at a time through plain variables: kept in an array, some
 * compilers pack them into vector registers and shuttle them back and forth.
 * Returns the next symbol index. */
static size_t dec_blocks(const uint32_t *dec, uint32_t *x, int lanes, const uint8_t **pp, const uint8_t *end,
                         uint8_t *sym, size_t i, size_t n)
{
    const uint8_t *p = *pp;
#define DEC_STEP(v, o)                                                                                              \
    do {                                                                                                            \
        uint32_t e_ = dec[v & (SCALE - 1)];                                                                         \
        sym[o] = (uint8_t)(e_ >> 24);                                                                               \
        v = (e_ & 0xfffu) * (v >> SBITS) + ((e_ >> 12) & 0xfffu);                                                   \
        unsigned k_ = (v < LOW) + (v < (LOW >> 8));                /* bytes to read: 0..2 */                       \
        uint32_t two_ = (uint32_t)p[0] << 8 | p[1];                                                                 \
        v = (v << (8 * k_)) | (two_ >> (16 - 8 * k_));                                                              \
        p += k_;                                                                                                    \
    } while (0)
    for (; i + (size_t)lanes <= n && (size_t)(end - p) >= 2 * (size_t)lanes; i += (size_t)lanes) {
        for (int j = 0; j < lanes; j += 4) {
            uint32_t a = x[j], b = x[j + 1], c = x[j + 2], d = x[j + 3];
            DEC_STEP(a, i + (size_t)j);
            DEC_STEP(b, i + (size_t)j + 1);
            DEC_STEP(c, i + (size_t)j + 2);
            DEC_STEP(d, i + (size_t)j + 3);
            x[j] = a, x[j + 1] = b, x[j + 2] = c, x[j + 3] = d;
        }
    }
#undef DEC_STEP
    *pp = p;
    return i;
}

#if defined(__AVX2__) && !defined(ECN_NO_SIMD)
#include <immintrin.h>
#define HAVE_SIMD 1

/* AVX2 fast path for 32 lanes: four vectors of eight states.  Per vector:
 * gather the table entries, compute the new states, then renormalise all
 * eight at once.  Lane j reads k_j in {0, 1, 2} bytes starting at offset
 * o_j = k_0 + ... + k_{j-1} (a prefix sum across the vector, at most 14), so
 * one 16-byte window at p holds them all; a byte shuffle pulls out
 * p[o_j] << 8 | p[o_j + 1] for every lane, and variable shifts merge the
 * bytes that are really needed.  Same format, same order as dec_blocks. */
static size_t dec_blocks_avx2(const uint32_t *dec, uint32_t *x, const uint8_t **pp, const uint8_t *end, uint8_t *sym,
                              size_t i, size_t n)
{
    const uint8_t *p = *pp;
    const __m256i slot_mask = _mm256_set1_epi32(SCALE - 1), fff = _mm256_set1_epi32(0xfff);
    const __m256i low = _mm256_set1_epi32(LOW), low8 = _mm256_set1_epi32(LOW >> 8);
    const __m256i sixteen = _mm256_set1_epi32(16), zero = _mm256_setzero_si256();
    const __m256i ctrl_add = _mm256_set1_epi32((int)0x80800001u); /* bytes o+1, o, zero, zero */
    const __m256i sym_shuf = _mm256_setr_epi8(3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 3, 7,
                                              11, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(x + 0)), v1 = _mm256_loadu_si256((const __m256i *)(x + 8));
    __m256i v2 = _mm256_loadu_si256((const __m256i *)(x + 16)), v3 = _mm256_loadu_si256((const __m256i *)(x + 24));
#define DEC_VEC(v, o)                                                                                               \
    do {                                                                                                            \
        __m256i e_ = _mm256_i32gather_epi32((const int *)dec, _mm256_and_si256(v, slot_mask), 4);                   \
        __m256i s_ = _mm256_shuffle_epi8(e_, sym_shuf);                                                             \
        uint32_t lo_ = (uint32_t)_mm256_cvtsi256_si32(s_), hi_ = (uint32_t)_mm256_extract_epi32(s_, 4);             \
        memcpy(sym + (o), &lo_, 4);                                                                                 \
        memcpy(sym + (o) + 4, &hi_, 4);                                                                             \
        __m256i f_ = _mm256_and_si256(e_, fff), b_ = _mm256_and_si256(_mm256_srli_epi32(e_, 12), fff);              \
        v = _mm256_add_epi32(_mm256_mullo_epi32(f_, _mm256_srli_epi32(v, SBITS)), b_);                              \
        __m256i k_ = _mm256_sub_epi32(zero, _mm256_add_epi32(_mm256_cmpgt_epi32(low, v), _mm256_cmpgt_epi32(low8, v))); \
        __m256i c_ = _mm256_add_epi32(k_, _mm256_slli_si256(k_, 4));                                                \
        c_ = _mm256_add_epi32(c_, _mm256_slli_si256(c_, 8));                                                        \
        c_ = _mm256_add_epi32(c_, _mm256_shuffle_epi32(_mm256_permute2x128_si256(c_, c_, 0x08), 0xff));             \
        __m256i o_ = _mm256_sub_epi32(c_, k_);                                                                      \
        __m256i ctl_ = _mm256_add_epi32(_mm256_or_si256(o_, _mm256_slli_epi32(o_, 8)), ctrl_add);                   \
        __m256i w_ = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));                             \
        __m256i two_ = _mm256_shuffle_epi8(w_, ctl_);                                                               \
        __m256i k8_ = _mm256_slli_epi32(k_, 3);                                                                     \
        v = _mm256_or_si256(_mm256_sllv_epi32(v, k8_), _mm256_srlv_epi32(two_, _mm256_sub_epi32(sixteen, k8_)));    \
        p += _mm256_extract_epi32(c_, 7);                                                                           \
    } while (0)
    for (; i + 32 <= n && end - p >= 64; i += 32) {
        DEC_VEC(v0, i);
        DEC_VEC(v1, i + 8);
        DEC_VEC(v2, i + 16);
        DEC_VEC(v3, i + 24);
    }
#undef DEC_VEC
    _mm256_storeu_si256((__m256i *)(x + 0), v0), _mm256_storeu_si256((__m256i *)(x + 8), v1);
    _mm256_storeu_si256((__m256i *)(x + 16), v2), _mm256_storeu_si256((__m256i *)(x + 24), v3);
    *pp = p;
    return i;
}
#else
#define HAVE_SIMD 0
#endif

int ecn_rans_has_simd(void) { return HAVE_SIMD; }

int ecn_rans_decode_with(const ecn_rans *r, const uint8_t *in, size_t len, uint8_t *sym, size_t n, int simd,
                         ecn_err *err)
{
    const int lanes = ecn_rans_lanes(n);
    if (len < 4 * (size_t)lanes)
        return ecn_fail(err, "rans: payload of %zu bytes is shorter than its %d states", len, lanes);
    uint32_t x[ECN_RANS_LANES_WIDE];
    for (int j = 0; j < lanes; j++) {
        x[j] = get_le32(in + 4 * j);
        if (x[j] < LOW || x[j] >= LOW << 8) return ecn_fail(err, "rans: state %d out of range", j);
    }
    const uint8_t *p = in + 4 * lanes, *end = in + len;
    size_t i = 0;
#if HAVE_SIMD
    if (simd && lanes == 32) i = dec_blocks_avx2(r->dec, x, &p, end, sym, i, n);
#else
    (void)simd;
#endif
    i = dec_blocks(r->dec, x, lanes, &p, end, sym, i, n);
    for (; i < n; i++) { /* near the end: byte by byte, checked */
        uint32_t v = x[i % (size_t)lanes], e = r->dec[v & (SCALE - 1)];
        sym[i] = (uint8_t)(e >> 24);
        v = (e & 0xfffu) * (v >> SBITS) + ((e >> 12) & 0xfffu);
        while (v < LOW) {
            if (p >= end) return ecn_fail(err, "rans: payload truncated (%zu of %zu symbols)", i, n);
            v = v << 8 | *p++;
        }
        x[i % (size_t)lanes] = v;
    }
    if (p != end) return ecn_fail(err, "rans: %zu bytes after the last symbol", (size_t)(end - p));
    for (int j = 0; j < lanes; j++)
        if (x[j] != LOW) return ecn_fail(err, "rans: corrupted payload (lane %d ends in the wrong state)", j);
    return 0;
}

int ecn_rans_decode(const ecn_rans *r, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    return ecn_rans_decode_with(r, in, len, sym, n, 1, err);
}
