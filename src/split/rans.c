/* rans.c - static range asymmetric numeral systems (rANS), renormalised a
 * bit at a time, with four interleaved states and table-driven steps.
 *
 * Model: every symbol s has a frequency f >= 1, the frequencies sum to
 * M = 2^12, and start is the sum of the frequencies below s.  They come from
 * the prior table's counts (ecn_rans_build), so s costs about log2(M / f)
 * bits.
 *
 * State: an integer x in [L, 2L), L = 2M = 2^13.
 *   encode s:  x = floor(x / f) M + start + (x mod f)                  (C)
 *   decode:    slot = x mod M; s is the symbol with start <= slot < start + f;
 *              x = f floor(x / M) + slot - start                      (D)
 * D undoes C, so a decoder meets the symbols in the reverse order of the
 * encoder: the encoder runs from the last symbol to the first.
 *
 * Renormalisation: C maps [2f, 4f) onto [L, 2L) (floor(x / f) is 2 or 3) and
 * D maps [L, 2L) back onto [2f, 4f).  So before encoding s the encoder shifts
 * out the k low bits of x that bring it into [2f, 4f), and after decoding s
 * the decoder shifts k bits back in, k being the number of shifts that bring
 * D's result up into [L, 2L): the same k, because L is a power of two.  A
 * symbol moves k <= 12 bits.  The decoder reads the bits in the order it
 * needs them, so the encoder, running backwards, writes from the end.
 *
 * Speed: [L, 2L) holds only 8192 states, so both directions are tables,
 * built once per prior table (ecn_rans_build), never per frame.  dec[x - L]
 * holds s, k and (D(x) << k) - L: a decoding step is a load, k bits taken
 * from a 64-bit buffer, and an add.  The encoder finds k as
 * (x + delta[s]) >> 16 and C in enc[].  No division, multiplication or
 * branch per symbol.  Four states ("lanes") take the symbols in turn
 * (symbol i goes to lane i mod 4), so that the CPU overlaps their dependency
 * chains; they share one bit stream.  Nothing is allocated.
 *
 * Overheads and checks: each lane's final state (13 bits) is written, and
 * each lane starts not at L but at L + s + 256 c, s its last symbol and c 5
 * bits of the sum of all the symbols.  That costs about half a bit, spares
 * coding s (the decoder finds it in the lane's state after the lane's last
 * coded symbol) and lets the decoder check the symbols.  0 to 7 zero bits and
 * a 1 start the payload so that it is whole bytes.  Under 64 symbols, a
 * single lane (a lane costs about 6 bits).  A decoder checks the start
 * marker, the bit count (exactly the payload's) and the final states.
 * docs/wire.md has the payload bit by bit.
 */
#include <math.h>
#include <string.h>

#include "../core/error.h"
#include "codec.h"

#define M ECN_RANS_SCALE
#define L ECN_RANS_LOW
#define LBITS ECN_RANS_STATE_BITS
#define LANES ECN_RANS_LANES /* a power of two: lane = i & (lanes - 1) */

_Static_assert(L == 2 * M && L <= 1u << 15, "L = 2M, and x + delta must not reach 2^17");
_Static_assert(ECN_RANS_MAX_SHIFT == ECN_RANS_SCALE_BITS, "D(x) >= 2f >= 2, so k <= log2(L) - 1");
_Static_assert(LANES == 4 && LANES * ECN_RANS_MAX_SHIFT + 7 <= 56, "one refill covers a round of the lanes");

/* Cost in bits of coding `count` symbols with frequency f instead of g. */
static double delta_cost(uint64_t count, unsigned f, unsigned g) { return (double)count * log2((double)f / g); }

int ecn_rans_build(ecn_rans *r, const uint64_t *counts, int nsym, ecn_err *err)
{
    if (nsym < 2 || nsym > 256) return ecn_fail(err, "rans: %d symbols", nsym);
    memset(r, 0, sizeof *r);
    r->nsym = nsym;
    double total = 0;
    for (int s = 0; s < nsym; s++) total += (double)counts[s];

    /* Scale to M, round, and keep every frequency >= 1. */
    unsigned f[256], sum = 0;
    for (int s = 0; s < nsym; s++) {
        double v = total > 0 ? (double)counts[s] / total * M : (double)M / nsym;
        unsigned q = v < 1.0 ? 1u : (unsigned)(v + 0.5);
        if (q > M) q = M;
        f[s] = q;
        sum += q;
    }
    /* Then fix the sum one step at a time, each step the one that costs the
     * fewest bits on the prior's counts (greedy is optimal here: the cost is
     * a sum of convex functions of each f). */
    while (sum > M) {
        int best = -1;
        double best_cost = 0;
        for (int s = 0; s < nsym; s++) {
            if (f[s] <= 1) continue;
            double c = delta_cost(counts[s], f[s], f[s] - 1);
            if (best < 0 || c < best_cost) best = s, best_cost = c;
        }
        f[best]--, sum--;
    }
    while (sum < M) {
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
        /* The encoder: k shifts bring x in [L, 2L) below 4f.  With j the top
         * bit of 4f, k = LBITS - j (= kmin), or kmin + 1 from x >= 4f << kmin on. */
        unsigned j = 0;
        while ((4 * f[s]) >> (j + 1)) j++;
        uint32_t kmin = LBITS - j, thr = (4 * f[s]) << kmin; /* thr in [L, 2L): below 2^16 */
        ecn_rans_sym *e = &r->sym[s];
        r->freq[s] = (uint16_t)f[s];
        e->delta = ((kmin + 1) << 16) - thr;
        e->base = 2 * start - 2 * f[s];
        for (uint32_t x = 2 * f[s]; x < 4 * f[s]; x++) r->enc[e->base + x] = (uint16_t)(x / f[s] * M + start + x % f[s]);
        /* The decoder: the states x = qM + slot, q = 2 or 3, of s's slots. */
        for (unsigned q = 2; q <= 3; q++)
            for (unsigned slot = start; slot < start + f[s]; slot++) {
                uint32_t v = f[s] * q + slot - start, k = 0; /* D(x), in [2f, 4f) */
                while ((v << k) < L) k++;
                r->dec[q * M + slot - L] = (uint32_t)s | k << 8 | ((v << k) - L) << 16;
            }
        start += f[s];
    }
    for (int s = nsym; s < 256; s++) r->sym[s].base = 0u - L; /* out of range: garbage out, no stray read */
    return 0;
}

int ecn_rans_lanes(size_t n) { return n >= ECN_RANS_LANES_MIN ? LANES : 1; }

size_t ecn_rans_bound(size_t n)
{
    /* At most 12 bits a symbol, plus the marker byte and the final states. */
    size_t half = n / 2;
    if (n > SIZE_MAX - half - 16) return SIZE_MAX;
    return n + half + 16;
}

/* Little-endian 64-bit loads and stores: one instruction where the machine
 * is little-endian, bytes otherwise. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_LE 1
#else
#define NATIVE_LE 0
#endif

static inline uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
#if NATIVE_LE
    memcpy(&v, p, 8);
#else
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
#endif
    return v;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
#if NATIVE_LE
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* The sum of the symbols: 5 bits of it go into each lane's initial state, so
 * that a decoder notices nearly any damage that changes symbols (without it,
 * a damaged bit after a rare symbol often changes that symbol alone). */
static uint32_t check_sum(const uint8_t *sym, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += sym[i];
    return sum;
}

#define CHECK_BITS (LBITS - 8) /* per lane, above its last symbol */

static uint32_t check_part(uint32_t sum, int lane)
{
    return (sum >> (CHECK_BITS * lane)) & ((1u << CHECK_BITS) - 1);
}

/* ---- encoder ----------------------------------------------------------------- */

/* Bits are put in front of those already put (the encoder runs backwards);
 * whole bytes are stored backwards from the end of the output. */
typedef struct {
    uint64_t acc;          /* bits not yet stored: cnt of them, the last put lowest */
    unsigned cnt;          /* at most 7 + 4 x 12 between flushes */
    uint8_t *p, *start;    /* p: the first byte stored so far */
} bitout;

static inline void put_bits(bitout *o, uint32_t v, unsigned k)
{
    o->acc = (o->acc << k) | v; /* k <= 13, and callers flush often enough for cnt < 64 */
    o->cnt += k;
}

/* Store acc's whole bytes, keeping the 0-7 bits below them. */
static inline int flush(bitout *o)
{
    if (o->p - o->start >= 8) { /* one store; the bytes below the new p are rewritten later or dropped */
        put_le64(o->p - 8, o->acc << (63 - o->cnt) << 1);
        o->p -= o->cnt >> 3;
        o->cnt &= 7;
        return 0;
    }
    for (; o->cnt >= 8; o->cnt -= 8) {
        if (o->p == o->start) return -1;
        *--o->p = (uint8_t)(o->acc >> (o->cnt - 8));
    }
    return 0;
}

/* Rounds of four symbols, lane 3 first, while there is room for flush's
 * 8-byte store; returns where it stopped (0: done). */
static size_t enc_rounds(const ecn_rans *r, const uint8_t *sym, size_t i, uint32_t *x, bitout *o)
{
    const ecn_rans_sym *tab = r->sym;
    const uint16_t *enc = r->enc;
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    uint64_t acc = o->acc;
    unsigned cnt = o->cnt;
    uint8_t *p = o->p;
#define ENC_STEP(x, s)                                                                                              \
    do {                                                                                                            \
        const ecn_rans_sym *e_ = &tab[s];                                                                           \
        uint32_t k_ = (x + e_->delta) >> 16;                                                                        \
        acc = (acc << k_) | (x & ((1u << k_) - 1));                                                                 \
        cnt += k_;                                                                                                  \
        x = enc[e_->base + (x >> k_)];                                                                              \
    } while (0)
    for (; i > 0 && p - o->start >= 8; i -= LANES) {
        const uint8_t *s = sym + i - LANES;
        ENC_STEP(x3, s[3]);
        ENC_STEP(x2, s[2]);
        ENC_STEP(x1, s[1]);
        ENC_STEP(x0, s[0]);
        put_le64(p - 8, acc << (63 - cnt) << 1); /* as flush() */
        p -= cnt >> 3;
        cnt &= 7;
    }
#undef ENC_STEP
    x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
    o->acc = acc, o->cnt = cnt, o->p = p;
    return i;
}

int ecn_rans_encode(const ecn_rans *r, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                    ecn_err *err)
{
    const int lanes = ecn_rans_lanes(n);
    const size_t mask = (size_t)lanes - 1, coded = n >= (size_t)lanes ? n - (size_t)lanes : 0;
    uint32_t x[LANES], k, bits, sum = check_sum(sym, n);
    for (int j = 0; j < lanes; j++) x[j] = L + (check_part(sum, j) << 8);
    for (size_t i = coded; i < n; i++) x[i & mask] += sym[i]; /* each lane's last symbol */
    bitout o = {0, 0, out + cap, out};

    /* From the last coded symbol to the first, flushing at least every four
     * symbols (4 x 12 bits and 7 left over fit in acc): one at a time where
     * they do not fill a round of the lanes, then in rounds of four, and one
     * at a time again if the output buffer is about to run out. */
    size_t i = coded, rounds_end = lanes == LANES ? coded & ~mask : 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned t = 1; i > rounds_end; t++) {
            i--;
            x[i & mask] = ecn_rans_step(r, sym[i], x[i & mask], &k, &bits);
            put_bits(&o, bits, k);
            if (t % 4 == 0 && flush(&o)) goto full;
        }
        if (flush(&o)) goto full;
        if (lanes == LANES && pass == 0) i = enc_rounds(r, sym, i, x, &o), rounds_end = 0;
    }

    /* The final states, lane 0 first in the payload; the start marker. */
    for (int j = lanes - 1; j >= 0; j--) {
        put_bits(&o, x[j] - L, LBITS);
        if (flush(&o)) goto full;
    }
    put_bits(&o, 1, 1);
    put_bits(&o, 0, (8 - o.cnt % 8) % 8);
    if (flush(&o)) goto full;
    *out_len = (size_t)(out + cap - o.p);
    memmove(out, o.p, *out_len);
    return 0;
full:
    return ecn_fail(err, "rans: output buffer of %zu bytes is too small", cap);
}

/* ---- decoder ----------------------------------------------------------------- */

/* Bits are taken from the low end of a 64-bit buffer, refilled by 8-byte
 * loads without a branch (after a refill 56 to 63 of its bits are counted
 * valid; the bits above are the stream's next ones or 0, so that the next
 * load can OR the same bits over them).  Loads stay inside the payload: its
 * last bytes are read from a zero-padded copy, so that no payload, however
 * hostile, makes the decoder read outside it. */
typedef struct {
    uint64_t c;               /* the next bits, the next one lowest: cnt of them */
    unsigned cnt;
    const uint8_t *p, *limit; /* the next byte to load; loads may start up to limit */
    const uint8_t *in;        /* what p points into: the payload, then buf */
    size_t at;                /* payload offset of in[0] */
    int padded;               /* in is buf */
    uint8_t buf[24];
} bitin;

/* Go on from a zero-padded copy of the payload's last bytes (fewer than 8
 * from p on).  Fails when already there: the stream runs past its end. */
static int to_padded(bitin *b, const uint8_t *payload, size_t len)
{
    if (b->padded) return -1;
    size_t at = b->at + (size_t)(b->p - b->in), rest = len - at;
    memset(b->buf, 0, sizeof b->buf);
    if (len >= 8) /* the last 8 bytes, shifted down to the rest: a load, not a copy loop */
        put_le64(b->buf, rest ? get_le64(payload + len - 8) >> (8 * (8 - rest)) : 0);
    else
        memcpy(b->buf, payload + at, rest);
    b->in = b->p = b->buf;
    b->limit = b->buf + 16; /* a stream within the payload loads from at most buf + 14 */
    b->at = at;
    b->padded = 1;
    return 0;
}

static int bitin_init(bitin *b, const uint8_t *payload, size_t len)
{
    b->c = 0, b->cnt = 0, b->at = 0, b->padded = 0;
    b->in = b->p = payload;
    if (len < 8) return to_padded(b, payload, len);
    b->limit = payload + len - 8;
    return 0;
}

static inline int refill(bitin *b, const uint8_t *payload, size_t len)
{
    if (b->p > b->limit && to_padded(b, payload, len)) return -1;
    b->c |= get_le64(b->p) << b->cnt;
    b->p += (63 - b->cnt) >> 3;
    b->cnt |= 56;
    return 0;
}

/* One decoding step of state s; the symbol goes to *at.  s stays below L
 * whatever the bits: (D(x) << k) has k low zero bits and is below 2L. */
#define DEC_STEP(s, at, store)                                                                                      \
    do {                                                                                                            \
        uint32_t e_ = dec[s], k_ = (e_ >> 8) & 0xff;                                                                \
        store(at, e_);                                                                                              \
        s = (e_ >> 16) + ((uint32_t)c & ((1u << k_) - 1));                                                          \
        c >>= k_;                                                                                                   \
        cnt -= k_;                                                                                                  \
    } while (0)
#define STORE_BYTE(at, e) (*(at) = (uint8_t)(e))
/* Four bytes, the symbol first: one store where a byte store would let a
 * compiler pack the four lanes' symbols into a vector, slowly.  The three
 * others land on symbols that later stores overwrite. */
#if NATIVE_LE
#define STORE_WORD(at, e) memcpy(at, &(e), 4)
#else
#define STORE_WORD STORE_BYTE
#endif

int ecn_rans_decode(const ecn_rans *r, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    const int lanes = ecn_rans_lanes(n);
    const size_t mask = (size_t)lanes - 1, coded = n >= (size_t)lanes ? n - (size_t)lanes : 0;
    const uint32_t *dec = r->dec;
    size_t i = 0;
    if (len == 0 || in[0] == 0) return ecn_fail(err, "rans: the payload does not start with its marker");
    if (len > SIZE_MAX / 16) return ecn_fail(err, "rans: payload of %zu bytes is too long", len);
    bitin b;
    if (bitin_init(&b, in, len) || refill(&b, in, len)) goto truncated;
    unsigned skip = 1; /* the marker: the lowest 1 bit of the first byte */
    while (!((in[0] >> (skip - 1)) & 1u)) skip++;
    b.c >>= skip, b.cnt -= skip;
    uint32_t x[LANES] = {0}; /* states as x - L */
    for (int j = 0; j < lanes; j++) {
        if (b.cnt < LBITS && refill(&b, in, len)) goto truncated;
        x[j] = (uint32_t)b.c & (L - 1), b.c >>= LBITS, b.cnt -= LBITS;
    }

    if (lanes == LANES) { /* rounds of four, one refill each */
        uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        uint64_t c = b.c;
        unsigned cnt = b.cnt;
        const uint8_t *p = b.p, *limit = b.limit;
        uint8_t *o = sym, *end = sym + (coded & ~mask);
        for (; o < end; o += LANES) { /* word stores: the last ends at sym + coded + 2 < sym + n */
            if (p > limit) {
                b.p = p, i = (size_t)(o - sym);
                if (to_padded(&b, in, len)) goto truncated;
                p = b.p, limit = b.limit;
            }
            c |= get_le64(p) << cnt;
            p += (63 - cnt) >> 3;
            cnt |= 56;
            DEC_STEP(x0, o, STORE_WORD);
            DEC_STEP(x1, o + 1, STORE_WORD);
            DEC_STEP(x2, o + 2, STORE_WORD);
            DEC_STEP(x3, o + 3, STORE_WORD);
        }
        i = (size_t)(o - sym);
        x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
        b.c = c, b.cnt = cnt, b.p = p;
    }
    for (; i < coded; i++) { /* one lane, or the last round that does not fill the lanes */
        if (b.cnt < ECN_RANS_MAX_SHIFT && refill(&b, in, len)) goto truncated;
        uint64_t c = b.c;
        unsigned cnt = b.cnt;
        DEC_STEP(x[i & mask], sym + i, STORE_BYTE);
        b.c = c, b.cnt = cnt;
    }
    for (size_t q = coded; q < n; q++) { /* each lane's last symbol: the low 8 bits of its state now */
        uint32_t v = x[q & mask] & 255u;
        if (v >= (uint32_t)r->nsym)
            return ecn_fail(err, "rans: corrupted payload (lane %zu ends on symbol %u)", q & mask, v);
        sym[q] = (uint8_t)v;
    }
    uint32_t sum = check_sum(sym, n);
    for (int j = 0; j < lanes; j++)
        if (x[j] >> 8 != check_part(sum, j) || (n == 0 && x[j] != 0))
            return ecn_fail(err, "rans: corrupted payload (lane %d does not end as the encoder began it)", j);
    size_t used = 8 * (b.at + (size_t)(b.p - b.in)) - b.cnt;
    if (used > 8 * len) goto truncated;
    if (used < 8 * len) return ecn_fail(err, "rans: %zu bits after the last symbol", 8 * len - used);
    return 0;
truncated:
    return ecn_fail(err, "rans: payload truncated or corrupted (its bits run out before symbol %zu of %zu)", i, n);
}
