/* rans.h - the rANS coder's tables and entry points (rans.c explains the
 * method, docs/wire.md the payload).  Internal to src/split: shared by
 * codec.c, rans.c and the tests, not API. */
#ifndef ECN_SPLIT_RANS_H
#define ECN_SPLIT_RANS_H

#include <stddef.h>
#include <stdint.h>

#include "../ecnet.h"

#define ECN_RANS_SCALE_BITS 12
#define ECN_RANS_SCALE (1u << ECN_RANS_SCALE_BITS) /* M: the frequencies sum to this */
#define ECN_RANS_STATE_BITS 13
#define ECN_RANS_LOW (1u << ECN_RANS_STATE_BITS) /* L = 2M: states live in [L, 2L) */
#define ECN_RANS_MAX_SHIFT 12                    /* bits moved per symbol, at most */
#define ECN_RANS_LANES 4                         /* interleaved states ... */
#define ECN_RANS_LANES_MIN 64                    /* ... from this many symbols; fewer: one */

/* Encoding s from x in [L, 2L): shift out k = (x + delta) >> 16 low bits
 * (kmin or kmin + 1: delta = (kmin + 1) 2^16 - the x from which it takes
 * kmin + 1), which leaves x in [2f, 4f); C of that is enc[base + x]. */
typedef struct ecn_rans_sym {
    uint32_t delta;
    uint32_t base; /* 2 start - 2f, modulo 2^32 */
} ecn_rans_sym;

typedef struct ecn_rans {
    int nsym;
    uint16_t freq[256];          /* quantised frequencies, each >= 1, summing to M */
    ecn_rans_sym sym[256];
    uint16_t enc[ECN_RANS_LOW];  /* 2 start + x - 2f -> C(s, x), for x in [2f, 4f) */
    uint32_t dec[ECN_RANS_LOW];  /* x - L -> symbol | k << 8 | ((D(x) << k) - L) << 16 */
} ecn_rans;

/* Quantise the prior's counts to M (zero counts get frequency 1) and build
 * both tables: once per codec, never per frame. */
int ecn_rans_build(ecn_rans *r, const uint64_t *counts, int nsym, ecn_err *err);
/* Interleaved states for n symbols: ECN_RANS_LANES, or 1 for small n. */
int ecn_rans_lanes(size_t n);
size_t ecn_rans_bound(size_t n);
/* Symbols must be < nsym (ecn_encode checks). */
int ecn_rans_encode(const ecn_rans *r, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                    ecn_err *err);
int ecn_rans_decode(const ecn_rans *r, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err);

/* One encoding step of symbol s from x in [L, 2L): the new state, and in
 * *k and *bits the bits shifted out (the decoder reads them back after
 * decoding s). */
static inline uint32_t ecn_rans_step(const ecn_rans *r, unsigned s, uint32_t x, uint32_t *k, uint32_t *bits)
{
    const ecn_rans_sym *e = &r->sym[s];
    uint32_t n = (x + e->delta) >> 16;
    *k = n;
    *bits = x & ((1u << n) - 1);
    return r->enc[e->base + (x >> n)];
}

#endif
