/* codec.c - the codec interface: names, prior tables, entropy, dispatch, and
 * the two simplest codecs (raw bit-packing and zlib).  Huffman is in
 * huffman.c, rANS in rans.c, DPCM in dpcm.c; the formats are in codec.h. */
#include "codec.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../core/error.h"
#include "quant.h"

/* ---- names ---------------------------------------------------------------- */

static const char *const codec_names[] = {"raw", "zlib", "huffman", "rans"};
static const char *const dpcm_names[] = {"none", "channel", "row", "column"};

const char *ecn_codec_name(ecn_codec_id id)
{
    return (unsigned)id < 4 ? codec_names[id] : NULL;
}

int ecn_codec_from_name(const char *name, ecn_codec_id *id, ecn_err *err)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, codec_names[i]) == 0) {
            *id = (ecn_codec_id)i;
            return 0;
        }
    return ecn_fail(err, "unknown codec '%s' (raw, zlib, huffman, rans)", name ? name : "(null)");
}

const char *ecn_dpcm_name(ecn_dpcm_mode m)
{
    return (unsigned)m < 4 ? dpcm_names[m] : NULL;
}

int ecn_dpcm_from_name(const char *name, ecn_dpcm_mode *m, ecn_err *err)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, dpcm_names[i]) == 0) {
            *m = (ecn_dpcm_mode)i;
            return 0;
        }
    return ecn_fail(err, "unknown DPCM mode '%s' (none, channel, row, column)", name ? name : "(null)");
}

/* ---- prior tables ------------------------------------------------------------ */

int ecn_prior_init(ecn_prior *p, int bits, ecn_err *err)
{
    memset(p, 0, sizeof *p);
    if (bits < 1 || bits > 8) return ecn_fail(err, "prior: bits must be 1..8, not %d", bits);
    p->bits = bits;
    return 0;
}

static uint64_t prior_total(const ecn_prior *p)
{
    uint64_t t = 0;
    for (int s = 0; s < 256; s++) t += p->counts[s] < ECN_PRIOR_MAX_TOTAL ? p->counts[s] : ECN_PRIOR_MAX_TOTAL;
    return t; /* at most 256 * 2^56: no overflow */
}

int ecn_prior_add(ecn_prior *p, const uint8_t *sym, size_t n, ecn_err *err)
{
    if (p->bits < 1 || p->bits > 8) return ecn_fail(err, "prior: not initialised");
    if (n && !sym) return ecn_fail(err, "prior: no symbols");
    uint64_t total = prior_total(p);
    if ((uint64_t)n > ECN_PRIOR_MAX_TOTAL - (total < ECN_PRIOR_MAX_TOTAL ? total : ECN_PRIOR_MAX_TOTAL))
        return ecn_fail(err, "prior: more than 2^56 symbols counted");
    uint64_t local[256] = {0};
    for (size_t i = 0; i < n; i++) local[sym[i]]++;
    size_t nsym = (size_t)1 << p->bits;
    for (size_t s = nsym; s < 256; s++)
        if (local[s]) return ecn_fail(err, "prior: symbol %zu does not fit in %d bits", s, p->bits);
    for (size_t s = 0; s < nsym; s++) p->counts[s] += local[s];
    return 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t ecn_prior_size(int bits)
{
    if (bits < 1 || bits > 8) return 0;
    return 8 + 8 * ((size_t)1 << bits) + 4;
}

int ecn_prior_save(const ecn_prior *p, uint8_t *out, size_t cap, size_t *len, ecn_err *err)
{
    size_t need = ecn_prior_size(p->bits);
    if (!need) return ecn_fail(err, "prior: bits %d", p->bits);
    if (cap < need) return ecn_fail(err, "prior: needs %zu bytes, buffer has %zu", need, cap);
    memcpy(out, "ECNP", 4);
    out[4] = ECN_PRIOR_VERSION, out[5] = (uint8_t)p->bits, out[6] = out[7] = 0;
    for (size_t s = 0; s < ((size_t)1 << p->bits); s++) put_le(out + 8 + 8 * s, p->counts[s], 8);
    put_le(out + need - 4, crc32(0L, out, (uInt)(need - 4)), 4);
    *len = need;
    return 0;
}

int ecn_prior_load(ecn_prior *p, const uint8_t *in, size_t len, ecn_err *err)
{
    if (len < 12 || memcmp(in, "ECNP", 4) != 0) return ecn_fail(err, "prior: not a prior table (magic)");
    if (in[4] != ECN_PRIOR_VERSION)
        return ecn_fail(err, "prior: version %d, this build reads %d", in[4], ECN_PRIOR_VERSION);
    int bits = in[5];
    size_t need = ecn_prior_size(bits);
    if (!need) return ecn_fail(err, "prior: bits %d", bits);
    if (in[6] || in[7]) return ecn_fail(err, "prior: reserved bytes are not zero");
    if (len != need) return ecn_fail(err, "prior: %zu bytes, a %d-bit table has %zu", len, bits, need);
    if (get_le(in + need - 4, 4) != crc32(0L, in, (uInt)(need - 4))) return ecn_fail(err, "prior: CRC mismatch");
    ecn_prior t;
    memset(&t, 0, sizeof t);
    t.bits = bits;
    uint64_t total = 0;
    for (size_t s = 0; s < ((size_t)1 << bits); s++) {
        t.counts[s] = get_le(in + 8 + 8 * s, 8);
        if (t.counts[s] > ECN_PRIOR_MAX_TOTAL - total) return ecn_fail(err, "prior: counts add up to more than 2^56");
        total += t.counts[s];
    }
    *p = t;
    return 0;
}

double ecn_entropy_bits(const uint64_t *counts, int nsym)
{
    double total = 0, h = 0;
    for (int s = 0; s < nsym; s++) total += (double)counts[s];
    if (total <= 0) return 0.0;
    for (int s = 0; s < nsym; s++)
        if (counts[s]) {
            double p = (double)counts[s] / total;
            h -= p * log2(p);
        }
    return h;
}

/* ---- codec set-up ---------------------------------------------------------- */

int ecn_codec_init(ecn_codec *c, const ecn_codec_opts *opts, const ecn_prior *prior, ecn_err *err)
{
    memset(c, 0, sizeof *c);
    if (!opts) return ecn_fail(err, "codec: no options");
    const char *name = ecn_codec_name(opts->id);
    if (!name) return ecn_fail(err, "codec: unknown codec id %d", (int)opts->id);
    if (opts->bits < 1 || opts->bits > 8) return ecn_fail(err, "%s: symbol bits must be 1..8, not %d", name, opts->bits);
    if (opts->level < 0 || opts->level > 9) return ecn_fail(err, "%s: zlib level must be 1..9, not %d", name, opts->level);
    if (!ecn_dpcm_name(opts->dpcm)) return ecn_fail(err, "%s: unknown DPCM mode %d", name, (int)opts->dpcm);
    if (opts->dpcm != ECN_DPCM_NONE && (opts->shape.c < 0 || opts->shape.h < 0 || opts->shape.w < 0))
        return ecn_fail(err, "%s: DPCM needs a shape, not %d x %d x %d", name, opts->shape.c, opts->shape.h,
                        opts->shape.w);
    c->opts = *opts;
    if (c->opts.level == 0) c->opts.level = 6;
    int nsym = 1 << opts->bits;
    if (opts->id == ECN_CODEC_HUFFMAN || opts->id == ECN_CODEC_RANS) {
        if (!prior) return ecn_fail(err, "%s: needs a prior table", name);
        if (prior->bits != opts->bits)
            return ecn_fail(err, "%s: the prior table is for %d-bit symbols, the codec for %d", name, prior->bits,
                            opts->bits);
        int rc = opts->id == ECN_CODEC_HUFFMAN ? ecn_huff_build(&c->huff, prior->counts, nsym, err)
                                               : ecn_rans_build(&c->rans, prior->counts, nsym, err);
        if (rc) return ecn_fail_prefix(err, "%s", name);
    }
    c->ready = 1;
    return 0;
}

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

size_t ecn_encode_bound(const ecn_codec *c, size_t n)
{
    if (!c || !c->ready) return 0;
    switch (c->opts.id) {
    case ECN_CODEC_RAW: return n > SIZE_MAX / 8 ? SIZE_MAX : ecn_pack_size(n, c->opts.bits);
    case ECN_CODEC_ZLIB:
        /* compressBound's formula, computed in size_t (uLong may be 32 bits) */
        return sat_add(sat_add(n, n >> 12), sat_add(n >> 14, (n >> 25) + 13));
    case ECN_CODEC_HUFFMAN: return ecn_huff_bound(&c->huff, n);
    case ECN_CODEC_RANS: return ecn_rans_bound(n);
    }
    return 0;
}

/* ---- raw and zlib ------------------------------------------------------------- */

static int raw_encode(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                      ecn_err *err)
{
    size_t need = ecn_pack_size(n, c->opts.bits);
    if (cap < need) return ecn_fail(err, "raw: output needs %zu bytes, buffer has %zu", need, cap);
    *out_len = ecn_pack(sym, n, c->opts.bits, out);
    return 0;
}

static int zlib_encode(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                       ecn_err *err)
{
    if (n > ULONG_MAX) return ecn_fail(err, "zlib: %zu symbols is more than zlib takes at once", n);
    uLongf dlen = cap > ULONG_MAX ? ULONG_MAX : (uLongf)cap;
    static const uint8_t empty[1] = {0};
    int rc = compress2(out, &dlen, n ? sym : empty, (uLong)n, c->opts.level);
    if (rc == Z_BUF_ERROR) return ecn_fail(err, "zlib: output buffer of %zu bytes is too small", cap);
    if (rc != Z_OK) return ecn_fail(err, "zlib: compress2 failed (%d)", rc);
    *out_len = (size_t)dlen;
    return 0;
}

static int zlib_decode(const ecn_codec *c, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    if (n > ULONG_MAX || len > ULONG_MAX) return ecn_fail(err, "zlib: payload too large for zlib");
    /* For n = 0, give zlib one byte of room so that a stream holding
     * symbols is seen (with no room at all zlib uses a private byte). */
    uint8_t dummy[1];
    uLongf dlen = n ? (uLongf)n : 1;
    uLong slen = (uLong)len;
    int rc = uncompress2(n ? sym : dummy, &dlen, in, &slen);
    if (rc == Z_BUF_ERROR) return ecn_fail(err, "zlib: payload truncated or holds more than %zu symbols", n);
    if (rc == Z_DATA_ERROR) return ecn_fail(err, "zlib: corrupted payload");
    if (rc != Z_OK) return ecn_fail(err, "zlib: uncompress failed (%d)", rc);
    if (dlen != (uLongf)n) return ecn_fail(err, "zlib: payload holds %lu symbols, expected %zu", (unsigned long)dlen, n);
    if (slen != (uLong)len) return ecn_fail(err, "zlib: %zu bytes after the end of the stream", len - (size_t)slen);
    unsigned bad = 0, mask = ~((1u << c->opts.bits) - 1) & 0xffu;
    for (size_t i = 0; i < n; i++) bad |= sym[i] & mask;
    if (bad) return ecn_fail(err, "zlib: payload holds symbols that do not fit in %d bits", c->opts.bits);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* Checks shared by both entry points; returns the codec's name or NULL. */
static const char *encode_checks(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap,
                                 size_t *out_len, ecn_err *err)
{
    if (!c || !c->ready) return ecn_fail(err, "encode: codec not initialised"), NULL;
    const char *name = ecn_codec_name(c->opts.id);
    if ((n && !sym) || !out_len || (cap && !out)) return ecn_fail(err, "%s: missing buffer", name), NULL;
    *out_len = 0;
    unsigned bad = 0, mask = ~((1u << c->opts.bits) - 1) & 0xffu;
    for (size_t i = 0; i < n; i++) bad |= sym[i] & mask;
    if (bad) return ecn_fail(err, "%s: a symbol does not fit in %d bits", name, c->opts.bits), NULL;
    return name;
}

/* The entropy coders proper, on symbols already through DPCM. */
static int encode_symbols(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap,
                          size_t *out_len, ecn_err *err)
{
    uint8_t spare[1];
    if (!out) out = spare, cap = 0;
    switch (c->opts.id) {
    case ECN_CODEC_RAW: return raw_encode(c, sym, n, out, cap, out_len, err);
    case ECN_CODEC_ZLIB: return zlib_encode(c, sym, n, out, cap, out_len, err);
    case ECN_CODEC_HUFFMAN: return ecn_huff_encode(&c->huff, sym, n, out, cap, out_len, err);
    case ECN_CODEC_RANS: return ecn_rans_encode(&c->rans, sym, n, out, cap, out_len, err);
    }
    return ecn_fail(err, "encode: unknown codec");
}

int ecn_encode_in_place(const ecn_codec *c, uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
                        ecn_err *err)
{
    const char *name = encode_checks(c, sym, n, out, cap, out_len, err);
    if (!name) return -1;
    if (c->opts.dpcm != ECN_DPCM_NONE && ecn_dpcm_forward(c->opts.dpcm, c->opts.shape, c->opts.bits, sym, sym, n, err))
        return ecn_fail_prefix(err, "%s", name);
    return encode_symbols(c, sym, n, out, cap, out_len, err);
}

int ecn_encode(const ecn_codec *c, const uint8_t *sym, size_t n, uint8_t *out, size_t cap, size_t *out_len,
               ecn_err *err)
{
    const char *name = encode_checks(c, sym, n, out, cap, out_len, err);
    if (!name) return -1;
    if (c->opts.dpcm == ECN_DPCM_NONE) return encode_symbols(c, sym, n, out, cap, out_len, err);
    uint8_t *copy = ecn_calloc(n, 1, err); /* the caller's symbols stay as they are */
    if (!copy) return -1;
    memcpy(copy, sym, n);
    int rc = ecn_encode_in_place(c, copy, n, out, cap, out_len, err);
    free(copy);
    return rc;
}

int ecn_decode(const ecn_codec *c, const uint8_t *in, size_t len, uint8_t *sym, size_t n, ecn_err *err)
{
    if (!c || !c->ready) return ecn_fail(err, "decode: codec not initialised");
    const char *name = ecn_codec_name(c->opts.id);
    if ((len && !in) || (n && !sym)) return ecn_fail(err, "%s: missing buffer", name);
    static const uint8_t none[1] = {0};
    uint8_t spare[1];
    if (!in) in = none;
    uint8_t *dst = n ? sym : spare;
    int rc = -1;
    switch (c->opts.id) {
    case ECN_CODEC_RAW: rc = ecn_unpack(in, len, n, c->opts.bits, dst, err); break;
    case ECN_CODEC_ZLIB: rc = zlib_decode(c, in, len, dst, n, err); break;
    case ECN_CODEC_HUFFMAN: rc = ecn_huff_decode(&c->huff, in, len, dst, n, err); break;
    case ECN_CODEC_RANS: rc = ecn_rans_decode(&c->rans, in, len, dst, n, err); break;
    }
    if (rc) return c->opts.id == ECN_CODEC_RAW ? ecn_fail_prefix(err, "raw") : -1;
    if (c->opts.dpcm != ECN_DPCM_NONE && ecn_dpcm_inverse(c->opts.dpcm, c->opts.shape, c->opts.bits, dst, n, err))
        return ecn_fail_prefix(err, "%s", name);
    return 0;
}
