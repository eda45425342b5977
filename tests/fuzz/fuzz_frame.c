/* fuzz_frame.c - libFuzzer target: the bytes a cloud receives as a frame,
 * and the bytes an edge receives back as a reply.
 *
 * What is tested: arbitrary input never crashes and never trips ASan or
 * UBSan in
 *   - what a cloud worker runs on a received frame: ecn_net_split_decode
 *     (header, checksum, fingerprint, tensor records, quantisation
 *     parameters, payload decoding for raw, zlib, Huffman and rANS, inverse
 *     DPCM, dequantisation into the network's cut set) and, when the frame
 *     decodes, the layers after the [split];
 *   - ecn_frame_decode on larger cut sets (rANS's 4- and 32-lane layouts,
 *     the AVX2 decoder where built, several tensors per frame);
 *   - ecn_reply_decode, the edge's reader of the cloud's answers.
 * The input layout (a receiver byte and a flag byte before the message) is
 * in fuzz_models.h.  Besides "no crash", these properties must hold:
 *   - a refusal carries a message;
 *   - a decoded frame reports the frame id its header holds;
 *   - affine codes (1..8 bits) decode to finite values;
 *   - a decoded reply has 0..ECN_REPLY_MAX_CLASSES classes and a terminated
 *     error text.
 * `make fuzz` builds it, writes the seed corpus (make_corpus.c) and runs it.
 * With FUZZ_FRAME_VERBOSE=1 in the environment every input's receiver and
 * outcome are printed (to replay a corpus or a crash by hand).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_models.h"
#include "net/transport.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property is a finding like a crash: abort, libFuzzer saves the input. */
#define REQUIRE(cond, ...)                                                                                          \
    do {                                                                                                            \
        if (!(cond)) {                                                                                              \
            fprintf(stderr, "fuzz_frame: property broken: " __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                                                    \
            abort();                                                                                                \
        }                                                                                                           \
    } while (0)

static int verbose;

static void report(const char *receiver, size_t len, const ecn_err *err)
{
    if (verbose) fprintf(stderr, "%s, %zu bytes: %s\n", receiver, len, err ? err->msg : "decoded");
}

static uint64_t header_frame_id(const uint8_t *frame)
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) id |= (uint64_t)frame[16 + i] << (8 * i);
    return id;
}

/* A copy of the message in a buffer of exactly its size (so that ASan sees
 * any read past its end), with the trailing CRC-32 rewritten when asked. */
static uint8_t *copy_message(const uint8_t *data, size_t len, int fix_crc)
{
    uint8_t *m = malloc(len ? len : 1);
    if (!m) abort();
    if (len) memcpy(m, data, len);
    if (fix_crc && len >= 4) {
        uint32_t crc = (uint32_t)crc32(0L, m, (uInt)(len - 4));
        for (int i = 0; i < 4; i++) m[len - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    return m;
}

/* As a cloud worker answers: decode into the cut set, run the tail. */
static void on_net(fuzz_receiver *r, const uint8_t *m, size_t len)
{
    ecn_err err = {{0}};
    unsigned long long id = 0;
    if (ecn_net_split_decode(r->net, 0, m, len, &id, &err)) {
        report(r->name, len, &err);
        REQUIRE(err.msg[0], "%s: a frame was refused without a message", r->name);
        return;
    }
    report(r->name, len, NULL);
    REQUIRE(id == header_frame_id(m), "%s: frame id %llu, the header holds %llu", r->name, id,
            (unsigned long long)header_frame_id(m));
    int n = ecn_net_layer_count(r->net);
    const float *out = ecn_net_forward_range(r->net, NULL, ecn_net_split_layer(r->net) + 1, n, NULL, NULL);
    ecn_layer_info info;
    ecn_net_layer_info(r->net, n - 1, &info);
    volatile float sum = 0; /* read every score, as the reply encoder does */
    for (size_t i = 0; i < ecn_shape_size(info.out); i++) sum += out[i];
    (void)sum;
}

static void on_spec(fuzz_receiver *r, const uint8_t *m, size_t len)
{
    ecn_err err = {{0}};
    uint64_t id = 0;
    if (ecn_frame_decode(&r->spec, m, len, &id, r->x, &err)) {
        report(r->name, len, &err);
        REQUIRE(err.msg[0], "%s: a frame was refused without a message", r->name);
        return;
    }
    report(r->name, len, NULL);
    REQUIRE(id == header_frame_id(m), "%s: wrong frame id", r->name);
    for (int k = 0; k < r->spec.n; k++) {
        const ecn_frame_tensor *t = &r->spec.t[k];
        if (t->quant.bits > 8) continue; /* half and float carry any value, NaN included */
        for (size_t i = 0; i < ecn_shape_size(t->shape); i++)
            REQUIRE(isfinite(r->x[k][i]), "%s: tensor %d value %zu is %g after an affine code", r->name, k, i,
                    (double)r->x[k][i]);
    }
}

static void on_reply(const uint8_t *m, size_t len)
{
    static ecn_reply reply; /* 16 KiB of scores: not on the stack */
    ecn_err err = {{0}};
    if (ecn_reply_decode(m, len, &reply, &err)) {
        report("reply", len, &err);
        REQUIRE(err.msg[0], "reply: refused without a message");
        return;
    }
    report("reply", len, NULL);
    REQUIRE(reply.classes >= 0 && reply.classes <= ECN_REPLY_MAX_CLASSES, "reply: %d classes", reply.classes);
    REQUIRE(memchr(reply.msg, 0, sizeof reply.msg) != NULL, "reply: error text not terminated");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ecn_err err;
    const char *v = getenv("FUZZ_FRAME_VERBOSE");
    verbose = v && *v && strcmp(v, "0") != 0;
    if (fuzz_receivers_open(&err)) {
        fprintf(stderr, "fuzz_frame: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_PREFIX) return 0;
    fuzz_receiver *r = fuzz_receiver_get(data[0] % fuzz_receiver_count());
    size_t len = size - FUZZ_PREFIX;
    uint8_t *m = copy_message(data + FUZZ_PREFIX, len, r->kind != FUZZ_REPLY && (data[1] & FUZZ_FIX_CRC));
    switch (r->kind) {
    case FUZZ_NET: on_net(r, m, len); break;
    case FUZZ_SPEC: on_spec(r, m, len); break;
    case FUZZ_REPLY: on_reply(m, len); break;
    }
    free(m);
    return 0;
}
