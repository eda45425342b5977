/* frame.c - see frame.h for the layout. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"

/* ---- little-endian fields ------------------------------------------- */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int grow(uint8_t **buf, size_t *cap, size_t need, ecn_err *err)
{
    if (need <= *cap) return 0;
    uint8_t *p = realloc(*buf, need);
    if (!p) return ecn_fail(err, "out of memory for a %zu-byte frame", need);
    *buf = p;
    *cap = need;
    return 0;
}

/* Symbol width the codec sees: B for affine codes, bytes for half/float. */
static int codec_bits(int bits) { return bits <= 8 ? bits : 8; }

int ecn_frame_spec_init(ecn_frame_spec *spec, const ecn_split_params *sp, uint64_t fingerprint,
                        const int *layers, const ecn_shape *shapes, int n, ecn_err *err)
{
    memset(spec, 0, sizeof *spec);
    if (n < 0 || n > ECN_FRAME_MAX_TENSORS) return ecn_fail(err, "%d tensors cross the split (at most %d)", n, ECN_FRAME_MAX_TENSORS);
    spec->fingerprint = fingerprint;
    for (int k = 0; k < n; k++) {
        ecn_frame_tensor *t = &spec->t[k];
        t->layer = layers[k];
        t->shape = shapes[k];
        spec->n = k + 1;
        if (ecn_quant_init(&t->quant, sp->bits, sp->mode, sp->range, sp->percentile, err)) return -1;
        ecn_codec_opts co = {sp->codec, codec_bits(sp->bits), sp->level,
                             sp->bits <= 8 ? sp->dpcm : ECN_DPCM_NONE, shapes[k]};
        /* Huffman and rANS need a table: the model's, or else a flat one. */
        ecn_prior flat;
        const ecn_prior *prior = sp->prior && sp->prior->bits == co.bits ? sp->prior : NULL;
        if (!prior) {
            if (ecn_prior_init(&flat, co.bits, err)) return -1;
            for (int i = 0; i < 1 << co.bits; i++) flat.counts[i] = 1;
            prior = &flat;
        }
        if (ecn_codec_init(&t->codec, &co, prior, err)) return -1;
    }
    return 0;
}

void ecn_frame_spec_free(ecn_frame_spec *spec)
{
    for (int k = 0; k < spec->n; k++) ecn_quant_free(&spec->t[k].quant);
    free(spec->sym);
    free(spec->payload);
    memset(spec, 0, sizeof *spec);
}

/* Append one tensor: its header, quantisation parameters and payload. */
static int encode_tensor(ecn_frame_spec *spec, ecn_frame_tensor *t, const float *x, uint8_t **buf,
                         size_t *cap, size_t *len, ecn_err *err)
{
    size_t nsym = ecn_quant_symbol_bytes(&t->quant, t->shape);
    if (nsym == (size_t)-1 || grow(&spec->sym, &spec->sym_cap, nsym + 1, err)) return -1;
    if (ecn_quantize(x, t->shape, &t->quant, spec->sym, err)) return -1;
    size_t bound = ecn_encode_bound(&t->codec, nsym), plen = ecn_quant_params_size(&t->quant);
    size_t need = *len + 28 + plen + bound + 4;
    if (bound == (size_t)-1 || grow(buf, cap, need, err)) return -1;
    uint8_t *p = *buf + *len;
    put32(p, (uint32_t)t->layer);
    put32(p + 4, (uint32_t)t->shape.c), put32(p + 8, (uint32_t)t->shape.h), put32(p + 12, (uint32_t)t->shape.w);
    p[16] = (uint8_t)t->codec.opts.id, p[17] = (uint8_t)t->codec.opts.dpcm;
    p[18] = (uint8_t)t->codec.opts.bits, p[19] = 0;
    size_t written;
    if (ecn_quant_params_write(&t->quant, p + 24, plen, &written, err)) return -1;
    put32(p + 20, (uint32_t)written);
    uint8_t *q = p + 24 + written;
    size_t payload;
    if (ecn_encode_in_place(&t->codec, spec->sym, nsym, q + 4, bound, &payload, err)) return -1;
    put32(q, (uint32_t)payload);
    *len += 24 + written + 4 + payload;
    return 0;
}

int ecn_frame_encode(ecn_frame_spec *spec, uint64_t frame_id, const float *const *x, uint8_t **buf,
                     size_t *cap, size_t *len, ecn_err *err)
{
    if (grow(buf, cap, ECN_FRAME_HEADER + 4, err)) return -1;
    memcpy(*buf, ECN_FRAME_MAGIC, 4);
    put16(*buf + 4, ECN_FRAME_VERSION);
    put16(*buf + 6, (uint32_t)spec->n);
    put64(*buf + 8, spec->fingerprint);
    put64(*buf + 16, frame_id);
    *len = ECN_FRAME_HEADER;
    for (int k = 0; k < spec->n; k++)
        if (encode_tensor(spec, &spec->t[k], x[k], buf, cap, len, err))
            return ecn_fail_prefix(err, "encoding the output of layer %d", spec->t[k].layer);
    if (grow(buf, cap, *len + 4, err)) return -1;
    put32(*buf + *len, (uint32_t)crc32(0L, *buf, (uInt)*len));
    *len += 4;
    return 0;
}

/* ---- decoding ------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (n > r->left) return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static int decode_tensor(ecn_frame_spec *spec, int k, reader *r, float *x, ecn_err *err)
{
    ecn_frame_tensor *t = &spec->t[k];
    const uint8_t *h = take(r, 24);
    if (!h) return ecn_fail(err, "frame ends inside the header of tensor %d", k);
    ecn_shape s = {(int)get32(h + 4), (int)get32(h + 8), (int)get32(h + 12)};
    if ((int)get32(h) != t->layer || s.c != t->shape.c || s.h != t->shape.h || s.w != t->shape.w)
        return ecn_fail(err, "tensor %d is layer %u, %ux%ux%u; this model expects layer %d, %dx%dx%d", k,
                        get32(h), get32(h + 4), get32(h + 8), get32(h + 12), t->layer, t->shape.c,
                        t->shape.h, t->shape.w);
    if (h[16] != t->codec.opts.id || h[17] != t->codec.opts.dpcm || h[18] != t->codec.opts.bits || h[19])
        return ecn_fail(err, "tensor %d: codec %u / dpcm %u / %u bits; this model uses %s / %s / %d bits", k,
                        h[16], h[17], h[18], ecn_codec_name(t->codec.opts.id),
                        ecn_dpcm_name(t->codec.opts.dpcm), t->codec.opts.bits);
    size_t plen = get32(h + 20);
    const uint8_t *params = take(r, plen);
    if (!params) return ecn_fail(err, "tensor %d: quantisation parameters run past the frame", k);
    if (plen < 8 || params[0] != t->quant.bits || params[1] != (uint8_t)t->quant.mode ||
        params[2] != (uint8_t)t->quant.range || get32(params + 4) != float_bits(t->quant.percentile))
        return ecn_fail(err, "tensor %d: quantised with other settings than this model's (%d bits, %s ranges)", k,
                        t->quant.bits, t->quant.mode == ECN_QUANT_CHANNEL ? "per-channel" : "per-tensor");
    if (ecn_quant_params_read(&t->quant, params, plen, err) || ecn_quant_check(&t->quant, t->shape, err))
        return ecn_fail_prefix(err, "tensor %d", k);
    const uint8_t *lenp = take(r, 4);
    size_t payload = lenp ? get32(lenp) : 0;
    const uint8_t *data = lenp ? take(r, payload) : NULL;
    if (!data) return ecn_fail(err, "tensor %d: payload runs past the frame", k);
    size_t nsym = ecn_quant_symbol_bytes(&t->quant, t->shape);
    if (nsym == (size_t)-1 || grow(&spec->sym, &spec->sym_cap, nsym + 1, err)) return -1;
    if (ecn_decode(&t->codec, data, payload, spec->sym, nsym, err) ||
        ecn_dequantize(spec->sym, t->shape, &t->quant, x, err))
        return ecn_fail_prefix(err, "tensor %d", k);
    return 0;
}

void ecn_frame_restamp(uint8_t *buf, size_t len, uint64_t frame_id)
{
    if (len < ECN_FRAME_HEADER + 4) return;
    put64(buf + 16, frame_id);
    put32(buf + len - 4, (uint32_t)crc32(0L, buf, (uInt)(len - 4)));
}

int ecn_frame_decode(ecn_frame_spec *spec, const uint8_t *buf, size_t len, uint64_t *frame_id,
                     float *const *x, ecn_err *err)
{
    if (len < ECN_FRAME_HEADER + 4) return ecn_fail(err, "frame of %zu bytes is shorter than a header", len);
    if (memcmp(buf, ECN_FRAME_MAGIC, 4) != 0) return ecn_fail(err, "not an ecnet frame (bad magic)");
    if (get16(buf + 4) != ECN_FRAME_VERSION)
        return ecn_fail(err, "frame version %u; this build reads version %d", get16(buf + 4), ECN_FRAME_VERSION);
    if (get32(buf + len - 4) != (uint32_t)crc32(0L, buf, (uInt)(len - 4)))
        return ecn_fail(err, "frame checksum mismatch: corrupted in transit");
    if (get64(buf + 8) != spec->fingerprint)
        return ecn_fail(err, "frame from a different model (fingerprint %016llx, this model %016llx)",
                        (unsigned long long)get64(buf + 8), (unsigned long long)spec->fingerprint);
    if ((int)get16(buf + 6) != spec->n)
        return ecn_fail(err, "frame carries %u tensors; this model's split needs %d", get16(buf + 6), spec->n);
    if (frame_id) *frame_id = get64(buf + 16);
    reader r = {buf + ECN_FRAME_HEADER, len - ECN_FRAME_HEADER - 4};
    for (int k = 0; k < spec->n; k++)
        if (decode_tensor(spec, k, &r, x[k], err)) return -1;
    if (r.left) return ecn_fail(err, "%zu unexpected bytes after the last tensor", r.left);
    return 0;
}
