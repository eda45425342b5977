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

#define LANES ECN_RANS_LANES
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

size_t ecn_rans_bound(size_t n)
{
    /* At most log2(M / 1) = 12 bits, plus a little renormalisation slack, per
     * symbol; plus the final states. */
    size_t b = n / 2, extra = n / 256 + 4 * LANES + 64;
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

/* One encoding step with room for two bytes below p (no check). */
static inline uint32_t enc_fast(uint32_t x, const ecn_rans_sym *e, uint8_t **pp)
{
    uint8_t *p = *pp;
    unsigned k = (x >= e->x_max) + ((uint64_t)x >= (uint64_t)e->x_max << 8);
    p[-1] = (uint8_t)x;
    p[-2] = (uint8_t)(x >> 8);
    *pp = p - k;
    x >>= 8 * k;
    uint32_t q = (uint32_t)(((uint64_t)x * e->rcp) >> e->shift);
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
    uint32_t x[LANES];
    for (int j = 0; j < LANES; j++) x[j] = LOW;
    uint8_t *p = out + cap; /* bytes go backwards from the end */
    const ecn_rans_sym *tab = r->enc;
    size_t blocks = n / LANES;
    for (size_t i = n; i-- > blocks * LANES;) /* the tail that does not fill a block */
        if (enc_safe(&x[i % LANES], &tab[sym[i]], &p, out)) goto full;
    for (size_t b = blocks; b-- > 0;) {
        const uint8_t *s = sym + b * LANES;
        if ((size_t)(p - out) >= 2 * LANES) {
            for (int j = LANES - 1; j >= 0; j--) x[j] = enc_fast(x[j], &tab[s[j]], &p);
        } else {
            for (int j = LANES - 1; j >= 0; j--)
                if (enc_safe(&x[j], &tab[s[j]], &p, out)) goto full;
        }
    }
    if ((size_t)(p - out) < 4 * LANES) goto full;
    p -= 4 * LANES;
    for (int j = 0; j < LANES; j++) put_le32(p + 4 * j, x[j]);
    *out_len = (size_t)(out + cap - p);
    memmove(out, p, *out_len);
    return 0;
full:
    return ecn_fail(err, "rans: output buffer of %zu bytes is too small", cap);
}

int ecn_rans_decode(const ecn_rans *r, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    if (len < 4 * LANES) return ecn_fail(err, "rans: payload of %zu bytes is shorter than its states", len);
    uint32_t x[LANES];
    for (int j = 0; j < LANES; j++) {
        x[j] = get_le32(in + 4 * j);
        if (x[j] < LOW || x[j] >= LOW << 8) return ecn_fail(err, "rans: state %d out of range", j);
    }
    const uint8_t *p = in + 4 * LANES, *end = in + len;
    const uint32_t *dec = r->dec;
    size_t i = 0;
    /* Fast: whole blocks while every lane can take its two bytes unchecked.
     * After a step x >= f * 2^11 >= 2^11, so two bytes always suffice.  The
     * lanes are plain variables (x0..x7): kept in an array, compilers pack
     * them into vector registers and shuttle them back and forth. */
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
#define DEC_STEP(v, j)                                                                                              \
    do {                                                                                                            \
        uint32_t e_ = dec[v & (SCALE - 1)];                                                                         \
        out[j] = (uint8_t)(e_ >> 24);                                                                               \
        v = (e_ & 0xfffu) * (v >> SBITS) + ((e_ >> 12) & 0xfffu);                                                   \
        unsigned k_ = (v < LOW) + (v < (LOW >> 8));                                                                 \
        uint32_t two_ = (uint32_t)p[0] << 8 | p[1];                                                                 \
        v = (v << (8 * k_)) | (two_ >> (16 - 8 * k_));                                                              \
        p += k_;                                                                                                    \
    } while (0)
    for (; i + LANES <= n && (size_t)(end - p) >= 2 * LANES; i += LANES) {
        uint8_t out[LANES];
        DEC_STEP(x0, 0);
        DEC_STEP(x1, 1);
        DEC_STEP(x2, 2);
        DEC_STEP(x3, 3);
        DEC_STEP(x4, 4);
        DEC_STEP(x5, 5);
        DEC_STEP(x6, 6);
        DEC_STEP(x7, 7);
        memcpy(sym + i, out, LANES);
    }
#undef DEC_STEP
    x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3, x[4] = x4, x[5] = x5, x[6] = x6, x[7] = x7;
    for (; i < n; i++) { /* near the end: byte by byte, checked */
        uint32_t v = x[i % LANES], e = dec[v & (SCALE - 1)];
        sym[i] = (uint8_t)(e >> 24);
        v = (e & 0xfffu) * (v >> SBITS) + ((e >> 12) & 0xfffu);
        while (v < LOW) {
            if (p >= end) return ecn_fail(err, "rans: payload truncated (%zu of %zu symbols)", i, n);
            v = v << 8 | *p++;
        }
        x[i % LANES] = v;
    }
    if (p != end) return ecn_fail(err, "rans: %zu bytes after the last symbol", (size_t)(end - p));
    for (int j = 0; j < LANES; j++)
        if (x[j] != LOW) return ecn_fail(err, "rans: corrupted payload (lane %d ends in the wrong state)", j);
    return 0;
}
