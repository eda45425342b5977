/* make_corpus.c - the frame fuzzer's seed corpus: valid messages for every
 * receiver of fuzz_models.h, written by the encoders an edge and a cloud run.
 *
 *   make_corpus DIR
 *
 * Per frame receiver: frames of two inputs, once with FUZZ_FIX_CRC set and
 * once without (its own CRC stays valid either way), so that the fuzzer
 * starts from frames that decode.  Networks get random parameters (the
 * receiver needs none, only the same shapes) and a random image; the larger
 * specs get mostly-zero tensors, as after a ReLU.  For the reply decoder: an
 * answer with scores and an error reply.  Deterministic (fixed seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_models.h"
#include "net/transport.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static float uniform(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) / (float)(1u << 24);
}

static int write_seed(const char *dir, const char *name, int index, int receiver, int flags, const uint8_t *msg,
                      size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%d", dir, name, index);
    FILE *f = fopen(path, "wb");
    uint8_t prefix[FUZZ_PREFIX] = {(uint8_t)receiver, (uint8_t)flags};
    int ok = f && fwrite(prefix, 1, sizeof prefix, f) == sizeof prefix && fwrite(msg, 1, len, f) == len;
    if (f && fclose(f)) ok = 0;
    if (!ok) fprintf(stderr, "make_corpus: cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* Run the edge half on a random image and encode its frame. */
static int net_frame(ecn_net *net, unsigned long long id, uint8_t **buf, size_t *cap, size_t *len, ecn_err *err)
{
    size_t n = ecn_shape_size(ecn_net_input_shape(net));
    float *x = malloc(n * sizeof *x);
    if (!x) return -1;
    for (size_t i = 0; i < n; i++) x[i] = uniform();
    ecn_net_forward_range(net, x, 0, ecn_net_split_layer(net) + 1, NULL, NULL);
    free(x);
    return ecn_net_split_encode(net, 0, id, buf, cap, len, err);
}

/* Mostly zeros, one value in a hundred in [0, 1). */
static int spec_frame(fuzz_receiver *r, unsigned long long id, uint8_t **buf, size_t *cap, size_t *len,
                      ecn_err *err)
{
    for (int k = 0; k < r->spec.n; k++)
        for (size_t i = 0; i < ecn_shape_size(r->spec.t[k].shape); i++)
            r->x[k][i] = uniform() < 0.01f ? uniform() : 0.0f;
    return ecn_frame_encode(&r->spec, id, (const float *const *)r->x, buf, cap, len, err);
}

static int frame_seeds(const char *dir, int receiver, fuzz_receiver *r)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    ecn_err err;
    int rc = 0;
    if (r->kind == FUZZ_NET) ecn_net_randomize(r->net, 7);
    for (int i = 0; rc == 0 && i < 2; i++) {
        unsigned long long id = 1000 + (unsigned long long)i;
        rc = r->kind == FUZZ_NET ? net_frame(r->net, id, &buf, &cap, &len, &err)
                                 : spec_frame(r, id, &buf, &cap, &len, &err);
        if (rc) fprintf(stderr, "make_corpus: %s: %s\n", r->name, err.msg);
        else rc = write_seed(dir, r->name, i, receiver, i == 0 ? FUZZ_FIX_CRC : 0, buf, len);
    }
    free(buf);
    return rc;
}

static int reply_seeds(const char *dir, int receiver)
{
    static ecn_reply r;
    static uint8_t buf[28 + 4 * ECN_REPLY_MAX_CLASSES + sizeof r.msg];
    r = (ecn_reply){.status = ECN_REPLY_OK, .frame_id = 42, .classes = 10, .cloud_us = 1234};
    for (int i = 0; i < r.classes; i++) r.scores[i] = (float)i / 45.0f;
    int rc = write_seed(dir, "reply", 0, receiver, 0, buf, ecn_reply_encode(&r, buf));
    r = (ecn_reply){.status = ECN_REPLY_BAD_FRAME, .frame_id = 43, .cloud_us = 56};
    snprintf(r.msg, sizeof r.msg, "frame checksum mismatch: corrupted in transit");
    return rc || write_seed(dir, "reply", 1, receiver, 0, buf, ecn_reply_encode(&r, buf)) ? -1 : 0;
}

int main(int argc, char **argv)
{
    ecn_err err;
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    if (fuzz_receivers_open(&err)) {
        fprintf(stderr, "make_corpus: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < fuzz_receiver_count(); i++) {
        fuzz_receiver *r = fuzz_receiver_get(i);
        rc = r->kind == FUZZ_REPLY ? reply_seeds(argv[1], i) : frame_seeds(argv[1], i, r);
    }
    fuzz_receivers_close();
    return rc ? 1 : 0;
}
