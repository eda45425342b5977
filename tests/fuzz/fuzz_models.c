/* fuzz_models.c - the receivers of fuzz_models.h. */
#include "fuzz_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* [split] settings for copies of FUZZ_CFG: every codec, DPCM mode, range
 * mode and symbol width the wire format knows.  NULL keeps the cfg's own
 * (8 bits, Huffman with a prior table). */
static const struct {
    const char *name, *split;
} net_defs[] = {
    {"net-cfg", NULL},
    {"net-raw8", "bits=8\ncodec=raw\n"},
    {"net-zlib4-channel", "bits=4\ncodec=zlib\nmode=channel\n"},
    {"net-rans6-row", "bits=6\ncodec=rans\ndpcm=row\n"},
    {"net-huffman2-dpcm-channel", "bits=2\ncodec=huffman\ndpcm=channel\nrange=percentile\n"},
    {"net-rans1-column", "bits=1\ncodec=rans\ndpcm=column\nmode=channel\n"},
    {"net-raw3-column", "bits=3\ncodec=raw\ndpcm=column\n"},
    {"net-zlib-half", "bits=16\ncodec=zlib\n"},
    {"net-raw-float", "bits=32\ncodec=raw\n"},
};

/* Frame specs of their own: several tensors, one of 65536 values (rANS: 4
 * groups of 8 lanes) and one of 4096 (1 group of 4 lanes).  "skewed" gives
 * the entropy coders a prior where symbol 0 dominates, so that frames of
 * mostly-zero tensors stay small. */
typedef struct spec_def {
    const char *name;
    int bits;
    ecn_quant_mode mode;
    ecn_codec_id codec;
    ecn_dpcm_mode dpcm;
    int skewed;
    int n;
    ecn_shape shapes[3];
} spec_def;

static const spec_def spec_defs[] = {
    {"spec-rans8", 8, ECN_QUANT_TENSOR, ECN_CODEC_RANS, ECN_DPCM_NONE, 1, 3, {{16, 64, 64}, {4, 32, 32}, {3, 5, 7}}},
    {"spec-rans5-row", 5, ECN_QUANT_CHANNEL, ECN_CODEC_RANS, ECN_DPCM_ROW, 1, 3, {{16, 64, 64}, {4, 32, 32}, {3, 5, 7}}},
    {"spec-zlib4-channel", 4, ECN_QUANT_CHANNEL, ECN_CODEC_ZLIB, ECN_DPCM_CHANNEL, 0, 2, {{16, 64, 64}, {1, 1, 1}}},
    {"spec-huffman8-column", 8, ECN_QUANT_TENSOR, ECN_CODEC_HUFFMAN, ECN_DPCM_COLUMN, 1, 3,
     {{4, 32, 32}, {2, 3, 3}, {1, 1, 1}}},
    {"spec-rans-half", 16, ECN_QUANT_TENSOR, ECN_CODEC_RANS, ECN_DPCM_NONE, 1, 1, {{8, 16, 16}}},
};

#define NET_COUNT (int)(sizeof net_defs / sizeof net_defs[0])
#define SPEC_COUNT (int)(sizeof spec_defs / sizeof spec_defs[0])
#define RECEIVERS (NET_COUNT + SPEC_COUNT + 1)

static fuzz_receiver *receivers; /* RECEIVERS of them once open */

static char *read_text(const char *path, ecn_err *err)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) == (size_t)size) {
        text[size] = 0;
    } else {
        free(text);
        text = NULL;
        ecn_fail(err, "cannot read %s (run from the repository root)", path);
    }
    if (f) fclose(f);
    return text;
}

/* cfg text with the body of its [split] section replaced by `split`. */
static char *with_split(const char *cfg, const char *split, ecn_err *err)
{
    const char *head = strstr(cfg, "\n[split]\n");
    const char *tail = head ? strstr(head + 1, "\n[") : NULL;
    if (!tail) return ecn_fail(err, "%s has no [split] followed by another section", FUZZ_CFG), NULL;
    size_t keep = (size_t)(head - cfg) + strlen("\n[split]\n");
    char *out = malloc(keep + strlen(split) + strlen(tail) + 1);
    if (!out) return ecn_fail(err, "out of memory"), NULL;
    memcpy(out, cfg, keep);
    strcpy(out + keep, split);
    strcat(out + keep, tail);
    return out;
}

static int open_net(fuzz_receiver *r, const char *cfg, int def, ecn_err *err)
{
    ecn_load_opts lo = {.batch = 1, .threads = 1};
    char *text = net_defs[def].split ? with_split(cfg, net_defs[def].split, err) : NULL;
    if (net_defs[def].split && !text) return -1;
    const char *use = text ? text : cfg;
    r->name = net_defs[def].name, r->kind = FUZZ_NET;
    int rc = ecn_net_from_cfg_text(use, strlen(use), net_defs[def].name, &lo, &r->net, err);
    free(text);
    return rc;
}

static int open_spec(fuzz_receiver *r, const spec_def *d, ecn_err *err)
{
    int layers[3] = {3, 9, 12};
    ecn_prior prior;
    int codec_bits = d->bits <= 8 ? d->bits : 8;
    if (ecn_prior_init(&prior, codec_bits, err)) return -1;
    for (int s = 0; s < 1 << codec_bits; s++) prior.counts[s] = d->skewed && s ? 1 : 1u << 20;
    ecn_split_params sp = {d->bits, d->mode, ECN_RANGE_MINMAX, 100.0f, d->codec, 6, d->dpcm, &prior};
    r->name = d->name, r->kind = FUZZ_SPEC;
    if (ecn_frame_spec_init(&r->spec, &sp, 0x5eedf00dcafe0001ull, layers, d->shapes, d->n, err)) return -1;
    for (int k = 0; k < d->n; k++) {
        r->x[k] = calloc(ecn_shape_size(d->shapes[k]), sizeof(float));
        if (!r->x[k]) return ecn_fail(err, "out of memory");
    }
    return 0;
}

int fuzz_receivers_open(ecn_err *err)
{
    if (receivers) return 0;
    char *cfg = read_text(FUZZ_CFG, err);
    receivers = calloc(RECEIVERS, sizeof *receivers);
    int rc = cfg && receivers ? 0 : -1;
    if (!receivers) ecn_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < NET_COUNT; i++) rc = open_net(&receivers[i], cfg, i, err);
    for (int i = 0; rc == 0 && i < SPEC_COUNT; i++) rc = open_spec(&receivers[NET_COUNT + i], &spec_defs[i], err);
    if (rc == 0) receivers[RECEIVERS - 1].name = "reply", receivers[RECEIVERS - 1].kind = FUZZ_REPLY;
    free(cfg);
    if (rc) fuzz_receivers_close();
    return rc;
}

void fuzz_receivers_close(void)
{
    for (int i = 0; receivers && i < RECEIVERS; i++) {
        ecn_net_free(receivers[i].net);
        ecn_frame_spec_free(&receivers[i].spec);
        for (int k = 0; k < ECN_FRAME_MAX_TENSORS; k++) free(receivers[i].x[k]);
    }
    free(receivers);
    receivers = NULL;
}

int fuzz_receiver_count(void) { return RECEIVERS; }

fuzz_receiver *fuzz_receiver_get(int i) { return receivers && i >= 0 && i < RECEIVERS ? &receivers[i] : NULL; }
