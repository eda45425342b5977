/* split.c - [split]: where the edge half of the network ends.
 *
 * In the layer list a [split] is the identity, out = in.  Its work happens
 * when the network hands it the cut set: every output computed before it that
 * a later layer reads.  Run locally (the whole network in one process), each
 * image's cut set makes the full trip a deployment makes:
 *
 *   x --quantize(bits, ranges fitted to this image)--> symbols
 *     --[DPCM]--> --codec--> frame bytes (src/split/frame.h)
 *     --parse--> --decode--> --[inverse DPCM]--> --dequantize--> x'
 *
 * and the tail computes on x'.  So every accuracy figure of a local run is
 * the deployed accuracy, and the frame sizes are the bytes on the wire.
 * Training runs in float (the trip is skipped).
 *
 * Options: bits (32 float, 16 half, 8, 6, 4, 2; default 8), mode (tensor |
 * channel), range (minmax | percentile), percentile (99.99), codec (raw |
 * zlib | huffman | rans; default zlib), level (zlib, 6), dpcm (none | channel
 * | row | column), prior (the 2^bits symbol counts of training data, for
 * huffman and rans; without it they use a flat table).
 */
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "layers/split.h"
#include "split/frame.h"

typedef struct split_params {
    ecn_split_params sp;
    ecn_prior prior;
    int has_prior;
    uint64_t fingerprint;
    int cut[ECN_FRAME_MAX_TENSORS];
    ecn_shape shapes[ECN_FRAME_MAX_TENSORS];
    int n_cut;
    ecn_frame_spec spec;
    uint8_t *frame;
    size_t frame_cap;
    size_t *bytes;     /* per image of the batch: size of its last frame */
    int failed;        /* the last trip failed (message in error) */
    ecn_err error;
} split_params;

static int parse_enum(ecn_opts *o, const char *key, const char *def, const char *const *names, int n)
{
    const char *v = ecn_opt_str(o, key, def);
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < n) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    ecn_opt_fail(o, key, "expected one of: %s", list);
    return 0;
}

static int read_prior(split_params *p, ecn_opts *o)
{
    int n = ecn_opt_count(o, "prior");
    if (n == 0) return 0;
    int bits = p->sp.bits <= 8 ? p->sp.bits : 8, want = 1 << bits;
    if (n != want) return ecn_opt_fail(o, "prior", "expected %d counts (one per %d-bit symbol), got %d", want, bits, n);
    float counts[256];
    if (ecn_opt_floats(o, "prior", counts, 256) != n) return -1;
    if (ecn_prior_init(&p->prior, bits, o->err)) return ecn_opt_fail(o, "prior", "%s", o->err->msg);
    for (int i = 0; i < n; i++) {
        if (counts[i] < 0) return ecn_opt_fail(o, "prior", "counts must be >= 0");
        p->prior.counts[i] = (uint64_t)counts[i];
    }
    p->has_prior = 1;
    return 0;
}

static int split_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    static const char *const modes[] = {"tensor", "channel"}, *const ranges[] = {"minmax", "percentile"},
                             *const codecs[] = {"raw", "zlib", "huffman", "rans"},
                             *const dpcms[] = {"none", "channel", "row", "column"};
    split_params *p = calloc(1, sizeof *p);
    if (!p) return ecn_opt_fail(o, NULL, "out of memory");
    l->p = p;
    ecn_split_params *sp = &p->sp;
    sp->bits = ecn_opt_int(o, "bits", 8);
    sp->mode = (ecn_quant_mode)parse_enum(o, "mode", "tensor", modes, 2);
    sp->range = (ecn_range_mode)parse_enum(o, "range", "minmax", ranges, 2);
    sp->percentile = ecn_opt_float(o, "percentile", 99.99f);
    sp->codec = (ecn_codec_id)parse_enum(o, "codec", "zlib", codecs, 4);
    sp->level = ecn_opt_int_range(o, "level", 6, 1, 9);
    sp->dpcm = (ecn_dpcm_mode)parse_enum(o, "dpcm", "none", dpcms, 4);
    if (o->failed) return -1;
    if (sp->bits != 32 && sp->bits != 16 && (sp->bits < 1 || sp->bits > 8))
        return ecn_opt_fail(o, "bits", "expected 32 (float), 16 (half) or 1 to 8");
    if (read_prior(p, o)) return -1;
    sp->prior = p->has_prior ? &p->prior : NULL;
    l->out = l->in;
    l->in_place = 1;
    return 0;
}

/* A model fingerprint: FNV-1a over the layer types, shapes and sources and
 * every split setting (the prior table included), so that an edge and a
 * cloud built from different cfgs refuse each other's frames. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    for (size_t k = 0; k < n; k++) h = (h ^ ((const uint8_t *)data)[k]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fingerprint(const ecn_layer *layers, int n, const ecn_split_params *sp)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        h = fnv1a(h, layers[i].ops->name, strlen(layers[i].ops->name));
        int fields[4] = {layers[i].out.c, layers[i].out.h, layers[i].out.w, layers[i].n_sources};
        h = fnv1a(h, fields, sizeof fields);
        h = fnv1a(h, layers[i].sources, (size_t)layers[i].n_sources * sizeof *layers[i].sources);
    }
    int settings[5] = {sp->bits, sp->mode, sp->range, sp->codec, sp->dpcm};
    h = fnv1a(h, settings, sizeof settings);
    h = fnv1a(h, &sp->percentile, sizeof sp->percentile);
    if (sp->prior) h = fnv1a(h, sp->prior->counts, sizeof sp->prior->counts);
    return h;
}

static int build_spec(ecn_layer *l, ecn_err *err)
{
    split_params *p = l->p;
    ecn_frame_spec_free(&p->spec);
    if (ecn_frame_spec_init(&p->spec, &p->sp, p->fingerprint, p->cut, p->shapes, p->n_cut, err)) return -1;
    free(p->bytes);
    p->bytes = calloc((size_t)l->batch, sizeof *p->bytes);
    return p->bytes ? 0 : ecn_fail(err, "out of memory");
}

int ecn_split_finalize(ecn_layer *l, const ecn_layer *layers, int n_layers, const int *cut, int n_cut,
                       ecn_err *err)
{
    split_params *p = l->p;
    if (n_cut > ECN_FRAME_MAX_TENSORS)
        return ecn_fail(err, "%d tensors cross the split (at most %d)", n_cut, ECN_FRAME_MAX_TENSORS);
    p->n_cut = n_cut;
    for (int k = 0; k < n_cut; k++) {
        p->cut[k] = cut[k];
        p->shapes[k] = layers[cut[k]].out;
    }
    p->fingerprint = fingerprint(layers, n_layers, &p->sp);
    return build_spec(l, err);
}

int ecn_split_configure(ecn_layer *l, int bits, const char *codec, ecn_err *err)
{
    split_params *p = l->p;
    if (bits) {
        if (bits != 32 && bits != 16 && (bits < 1 || bits > 8))
            return ecn_fail(err, "bits must be 32, 16 or 1 to 8, not %d", bits);
        p->sp.bits = bits;
        /* The cfg's table serves only the symbol width it was measured at. */
        p->sp.prior = p->has_prior && p->prior.bits == (bits <= 8 ? bits : 8) ? &p->prior : NULL;
    }
    if (codec && ecn_codec_from_name(codec, &p->sp.codec, err)) return -1;
    return build_spec(l, err);
}

/* Image b's tensors within the cut buffers. */
static void image_tensors(const split_params *p, float *const *cut, int b, float **x)
{
    for (int k = 0; k < p->n_cut; k++) x[k] = cut[k] + (size_t)b * ecn_shape_size(p->shapes[k]);
}

int ecn_split_encode(ecn_layer *l, float *const *cut, int image, uint64_t frame_id, uint8_t **buf, size_t *cap,
                     size_t *len, ecn_err *err)
{
    split_params *p = l->p;
    if (image < 0 || image >= l->batch) return ecn_fail(err, "image %d is outside the batch of %d", image, l->batch);
    float *x[ECN_FRAME_MAX_TENSORS];
    image_tensors(p, cut, image, x);
    if (ecn_frame_encode(&p->spec, frame_id, (const float *const *)x, buf, cap, len, err)) return -1;
    p->bytes[image] = *len;
    return 0;
}

int ecn_split_decode(ecn_layer *l, float *const *cut, int image, const uint8_t *buf, size_t len,
                     uint64_t *frame_id, ecn_err *err)
{
    split_params *p = l->p;
    if (image < 0 || image >= l->batch) return ecn_fail(err, "image %d is outside the batch of %d", image, l->batch);
    float *x[ECN_FRAME_MAX_TENSORS];
    image_tensors(p, cut, image, x);
    return ecn_frame_decode(&p->spec, buf, len, frame_id, x, err);
}

void ecn_split_cross(ecn_layer *l, float *const *cut, const ecn_ctx *ctx)
{
    (void)ctx;
    split_params *p = l->p;
    p->failed = 0;
    for (int b = 0; b < l->batch && !p->failed; b++) {
        size_t len = 0;
        if (ecn_split_encode(l, cut, b, (uint64_t)b, &p->frame, &p->frame_cap, &len, &p->error) ||
            ecn_split_decode(l, cut, b, p->frame, len, NULL, &p->error))
            p->failed = 1;
    }
}

size_t ecn_split_frame_bytes(const ecn_layer *l, int image)
{
    const split_params *p = l->p;
    return image >= 0 && image < l->batch && p->bytes ? p->bytes[image] : 0;
}

const char *ecn_split_error(const ecn_layer *l)
{
    const split_params *p = l->p;
    return p->failed ? p->error.msg : NULL;
}

ecn_frame_spec *ecn_split_spec(ecn_layer *l) { return &((split_params *)l->p)->spec; }

static void split_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    if (l->output != in[0]) memcpy(l->output, in[0], ecn_layer_outputs(l) * (size_t)l->batch * sizeof(float));
}

static void split_backward(ecn_layer *l, const float *const *in, float *const *in_delta, const ecn_ctx *ctx)
{
    (void)in, (void)ctx;
    size_t n = ecn_layer_outputs(l) * (size_t)l->batch;
    if (in_delta[0])
        for (size_t i = 0; i < n; i++) in_delta[0][i] += l->delta[i];
}

static void split_describe(const ecn_layer *l, char *buf, size_t n)
{
    const split_params *p = l->p;
    snprintf(buf, n, "%d bit %s", p->sp.bits, ecn_codec_name(p->sp.codec));
}

static void split_destroy(ecn_layer *l)
{
    split_params *p = l->p;
    if (!p) return;
    ecn_frame_spec_free(&p->spec);
    free(p->frame);
    free(p->bytes);
    free(p);
    l->p = NULL;
}

const ecn_layer_ops ecn_split_ops = {
    .name = "split",
    .make = split_make,
    .forward = split_forward,
    .backward = split_backward,
    .describe = split_describe,
    .destroy = split_destroy,
    .forward_gpu = ECN_GPU_OP(ecn_gpu_forward_copy), /* the identity at inference */
};
