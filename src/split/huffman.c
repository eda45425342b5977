/* huffman.c - canonical Huffman coding with a static prior table.
 *
 * Building (once per codec, from the prior's counts):
 *   1. weights w[s] = count[s] + 1, so that every symbol gets a code;
 *   2. Huffman's algorithm with two queues: the leaves sorted by (weight,
 *      symbol) and the merged nodes, which are created in increasing weight
 *      order; the two lightest fronts merge (a leaf wins ties).  The code
 *      length of a symbol is the depth of its leaf;
 *   3. if a length exceeds ECN_HUFF_MAX_LEN, halve the weights (w = w/2 + 1)
 *      and start again: flatter weights give a shallower tree;
 *   4. canonical codes: symbols sorted by (length, symbol) get consecutive
 *      code values, each length starting at first[l] = (first[l-1] +
 *      count[l-1]) << 1.  Only the lengths define the code, and both sides
 *      build them the same way from the same prior.
 * The tree is full, so the code is complete: every bit string decodes.
 *
 * Bitstream: codes are written most significant code bit first into an LSB-
 * first bit stream (so the stored code is bit-reversed, as in Deflate); the
 * last byte is padded with zero bits.
 *
 * Decoding peeks at the next ECN_HUFF_FAST_BITS bits and looks them up in a
 * table that holds (symbol, length) for every code no longer than that; the
 * rare longer codes are found by the canonical search (extend the code one
 * bit at a time until it falls in the range of its length).
 */
#include <string.h>

#include "../core/error.h"
#include "codec.h"

static unsigned reverse_bits(unsigned v, int n)
{
    unsigned r = 0;
    for (int i = 0; i < n; i++) r |= ((v >> i) & 1u) << (n - 1 - i);
    return r;
}

/* Code lengths of an optimal prefix code for weights w[0..n-1], n >= 2. */
static void huffman_lengths(const uint64_t *w, int n, uint8_t *len)
{
    int order[256];
    uint64_t weight[511];
    int parent[511];
    uint8_t depth[511];
    for (int i = 0; i < n; i++) { /* insertion sort by (weight, symbol): n <= 256 */
        int s = i, j = i;
        while (j > 0 && w[order[j - 1]] > w[s]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = s;
    }
    for (int i = 0; i < n; i++) weight[i] = w[order[i]];
    int leaf = 0, node = n, next = n;
    for (int k = 0; k < n - 1; k++) {
        int pick[2];
        for (int t = 0; t < 2; t++) {
            if (leaf < n && (node >= next || weight[leaf] <= weight[node])) pick[t] = leaf++;
            else pick[t] = node++;
        }
        weight[next] = weight[pick[0]] + weight[pick[1]];
        parent[pick[0]] = parent[pick[1]] = next;
        next++;
    }
    depth[2 * n - 2] = 0; /* the root; parents always have larger indices */
    for (int i = 2 * n - 3; i >= 0; i--) depth[i] = (uint8_t)(depth[parent[i]] + 1 > 255 ? 255 : depth[parent[i]] + 1);
    for (int i = 0; i < n; i++) len[order[i]] = depth[i];
}

int ecn_huff_build(ecn_huff *h, const uint64_t *counts, int nsym, ecn_err *err)
{
    if (nsym < 2 || nsym > 256 || (nsym & (nsym - 1))) return ecn_fail(err, "huffman: %d symbols", nsym);
    memset(h, 0, sizeof *h);
    h->nsym = nsym;

    /* Scale huge counts down so that the sum of all weights fits in 64 bits. */
    uint64_t mx = 0, w[256];
    for (int s = 0; s < nsym; s++)
        if (counts[s] > mx) mx = counts[s];
    int shift = 0;
    while ((mx >> shift) > ((uint64_t)1 << 54)) shift++;
    for (int s = 0; s < nsym; s++) w[s] = (counts[s] >> shift) + 1;

    for (;;) {
        huffman_lengths(w, nsym, h->len);
        int longest = 0;
        for (int s = 0; s < nsym; s++)
            if (h->len[s] > longest) longest = h->len[s];
        if (longest <= ECN_HUFF_MAX_LEN) {
            h->max_len = longest;
            break;
        }
        for (int s = 0; s < nsym; s++) w[s] = (w[s] >> 1) + 1;
    }

    /* Canonical codes. */
    for (int s = 0; s < nsym; s++) h->count[h->len[s]]++;
    unsigned code = 0, idx = 0;
    for (int l = 1; l <= ECN_HUFF_MAX_LEN; l++) {
        code = (code + h->count[l - 1]) << 1;
        h->first[l] = (uint16_t)code;
        h->index[l] = (uint16_t)idx;
        idx += h->count[l];
    }
    unsigned next[ECN_HUFF_MAX_LEN + 2], fill[ECN_HUFF_MAX_LEN + 2];
    for (int l = 0; l <= ECN_HUFF_MAX_LEN; l++) next[l] = h->first[l], fill[l] = h->index[l];
    for (int s = 0; s < nsym; s++) {
        int l = h->len[s];
        h->sorted[fill[l]++] = (uint8_t)s;
        h->code[s] = (uint16_t)reverse_bits(next[l]++, l);
    }

    /* Lookup table on the next FAST_BITS bits. */
    for (int s = 0; s < nsym; s++) {
        int l = h->len[s];
        if (l > ECN_HUFF_FAST_BITS) continue;
        for (unsigned k = 0; k < (1u << (ECN_HUFF_FAST_BITS - l)); k++)
            h->fast[h->code[s] | k << l] = (uint16_t)(s | l << 8);
    }
    return 0;
}

size_t ecn_huff_bound(const ecn_huff *h, size_t n)
{
    size_t bits = (size_t)(h->max_len ? h->max_len : ECN_HUFF_MAX_LEN);
    if (n > (SIZE_MAX - 64) / bits) return SIZE_MAX;
    return (n * bits + 7) / 8 + 8;
}

static void put_le32(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

int ecn_huff_encode(const ecn_huff *h, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                    ecn_err *err)
{
    uint64_t acc = 0; /* pending bits, the oldest in bit 0 */
    unsigned cnt = 0; /* how many: < 32 between symbols */
    size_t o = 0, i = 0;
    for (; i + 2 <= n; i += 2) { /* two codes (<= 30 bits) per flush check */
        unsigned a = sym[i], b = sym[i + 1];
        acc |= (uint64_t)h->code[a] << cnt;
        cnt += h->len[a];
        acc |= (uint64_t)h->code[b] << cnt;
        cnt += h->len[b];
        if (cnt >= 32) {
            if (cap - o < 4) return ecn_fail(err, "huffman: output buffer of %zu bytes is too small", cap);
            put_le32(out + o, acc);
            o += 4, acc >>= 32, cnt -= 32;
        }
    }
    for (; i < n; i++) {
        acc |= (uint64_t)h->code[sym[i]] << cnt;
        cnt += h->len[sym[i]];
    }
    while (cnt > 0) {
        if (o >= cap) return ecn_fail(err, "huffman: output buffer of %zu bytes is too small", cap);
        out[o++] = (uint8_t)acc;
        acc >>= 8;
        cnt = cnt > 8 ? cnt - 8 : 0;
    }
    *out_len = o;
    return 0;
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int ecn_huff_decode(const ecn_huff *h, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    const uint8_t *p = in, *end = in + len;
    uint64_t acc = 0; /* bits not yet used, the next one in bit 0 */
    unsigned cnt = 0; /* how many of them are valid */
    size_t extra = 0; /* zero bytes fed in past the end of the payload */
    const unsigned fast_mask = (1u << ECN_HUFF_FAST_BITS) - 1;
    for (size_t i = 0; i < n; i++) {
        if (cnt < ECN_HUFF_MAX_LEN) {
            if (end - p >= 8) { /* refill to >= 56 bits with one load */
                acc |= load_le64(p) << cnt;
                p += (63 - cnt) >> 3;
                cnt |= 56;
            } else {
                while (cnt <= 56) {
                    if (p < end) acc |= (uint64_t)*p++ << cnt;
                    else extra++;
                    cnt += 8;
                }
                /* A valid stream never uses fed-in bits, so more than one
                 * refill's worth of them means the payload is too short. */
                if (extra > 8) return ecn_fail(err, "huffman: payload truncated (%zu of %zu symbols)", i, n);
            }
        }
        unsigned e = h->fast[acc & fast_mask], l;
        if (e) {
            sym[i] = (uint8_t)e;
            l = e >> 8;
        } else { /* a code longer than FAST_BITS: canonical search */
            unsigned code = 0;
            for (l = 1;; l++) {
                code = code << 1 | (unsigned)((acc >> (l - 1)) & 1u);
                unsigned k = code - h->first[l];
                if (k < h->count[l]) {
                    sym[i] = h->sorted[h->index[l] + k];
                    break;
                }
                if (l >= (unsigned)h->max_len) return ecn_fail(err, "huffman: invalid code table");
            }
        }
        acc >>= l;
        cnt -= l;
    }
    /* Bits used: everything read (fed-in zeros too) minus what is left. */
    uint64_t used = 8 * ((uint64_t)(p - in) + extra) - cnt, have = 8 * (uint64_t)len;
    if (used > have) return ecn_fail(err, "huffman: payload truncated");
    if (have - used >= 8) return ecn_fail(err, "huffman: %llu bytes after the last code", (unsigned long long)((have - used) / 8));
    unsigned pad = (unsigned)(have - used);
    if (pad && (in[len - 1] >> (8 - pad)) != 0) return ecn_fail(err, "huffman: padding bits are not zero");
    return 0;
}
