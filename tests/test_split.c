/* test_split.c - early exits, the split point and its frames.
 *
 * - cfg rules: branches end with [softmax], no nesting, one [split] on the
 *   main path, the cut set includes routes that reach back across the split;
 * - a 32-bit raw split changes nothing; an 8-bit one changes a little;
 * - frames: round trip, and corrupted, truncated, foreign-model frames refused;
 * - an exit's softmax carries its weight in the joint loss;
 * - the offload decision from hand-made records.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "ecnet.h"
#include "layers/split.h"
#include "split/frame.h"
#include "testlib.h"
#include "train/eval.h"

static ecn_net *build(const char *cfg, int batch, ecn_err *err)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_net *net = NULL;
    if (ecn_net_from_cfg_text(cfg, strlen(cfg), "test.cfg", &lo, &net, err)) return NULL;
    return net;
}

#define HEAD "[net]\nwidth=8\nheight=8\nchannels=2\n"
#define CONV(f, act) "[convolutional]\nfilters=" #f "\nsize=3\nstride=1\npad=1\nactivation=" #act "\n"
#define EXIT_HEAD "[exit]\nthreshold=0.5\nweight=0.25\n" CONV(3, linear) "[avgpool]\n[softmax]\n"

static void cfg_rules(void)
{
    ecn_err err;
    ecn_net *net = build(HEAD CONV(4, leaky) EXIT_HEAD CONV(4, leaky) "[split]\nbits=8\n" CONV(4, leaky)
                         "[route]\nlayers=0,-1\n" CONV(3, linear) "[avgpool]\n[softmax]\n", 1, &err);
    CHECK(net != NULL, "valid exit/split cfg: %s", err.msg);
    if (net) {
        CHECK(ecn_net_exit_count(net) == 1, "one exit, got %d", ecn_net_exit_count(net));
        CHECK(net->split == 6, "split at layer 6, got %d", net->split);
        /* the tail reads layer 5 (through the split) and layer 0 (the route) */
        CHECK(net->n_cut == 2 && net->cut[0] == 0 && net->cut[1] == 5, "cut set {0, 5}, got %d tensors: %d %d",
              net->n_cut, net->cut[0], net->cut[1]);
        CHECK(net->layers[5].sources[0] == 0, "the main path resumes from layer 0 after the branch");
        ecn_net_free(net);
    }
    struct {
        const char *cfg, *expect;
    } bad[] = {
        {HEAD CONV(4, leaky) "[exit]\n" CONV(3, linear), "never ends"},
        {HEAD CONV(4, leaky) "[exit]\n[exit]\n[softmax]\n", "inside the branch"},
        {HEAD CONV(4, leaky) "[exit]\n[split]\n[softmax]\n", "inside an exit branch"},
        {HEAD CONV(4, leaky) "[split]\n[split]\n", "second [split]"},
        {HEAD CONV(4, leaky) "[split]\nbits=7\ncodec=lzma\n", "expected one of"},
        {HEAD CONV(4, leaky) "[split]\nbits=12\n", "bits"},
        {HEAD CONV(4, leaky) "[split]\nbits=2\nprior=1,2,3\n", "expected 4 counts"},
        {HEAD CONV(4, leaky) "[exit]\nthreshold=-1\n[softmax]\n", "entropy >= 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        net = build(bad[i].cfg, 1, &err);
        CHECK(!net && strstr(err.msg, bad[i].expect), "bad cfg %zu: expected an error with '%s', got '%s'", i,
              bad[i].expect, net ? "(built)" : err.msg);
        ecn_net_free(net);
    }
}

static float *forward_copy(ecn_net *net, const float *x)
{
    const float *y = ecn_net_forward(net, x, NULL, NULL);
    size_t n = ecn_shape_size(net->layers[net->n - 1].out) * (size_t)net->batch;
    float *copy = malloc(n * sizeof *copy);
    memcpy(copy, y, n * sizeof *copy);
    return copy;
}

static void lossless_and_lossy(void)
{
    ecn_err err;
    const char *plain = HEAD CONV(6, leaky) CONV(6, leaky) CONV(5, linear) "[avgpool]\n[softmax]\n";
    const char *split32 = HEAD CONV(6, leaky) "[split]\nbits=32\ncodec=raw\n" CONV(6, leaky) CONV(5, linear)
        "[avgpool]\n[softmax]\n";
    ecn_net *a = build(plain, 3, &err), *b = build(split32, 3, &err);
    CHECK(a && b, "%s", err.msg);
    if (!a || !b) return;
    ecn_net_randomize(a, 5);
    ecn_net_randomize(b, 5);
    float x[3 * 128];
    unsigned long long rng = 3;
    for (int i = 0; i < 3 * 128; i++) x[i] = ecn_rng_uniform(&rng);
    float *ya = forward_copy(a, x), *yb = forward_copy(b, x);
    CHECK(memcmp(ya, yb, 15 * sizeof(float)) == 0, "a 32-bit raw split changed the output");
    CHECK(ecn_net_split_bytes(b, 2) == 24 + 24 + 12 + 4 + 6 * 64 * 4 + 4, "32-bit frame is %zu bytes",
          ecn_net_split_bytes(b, 2));
    static const char *codecs[] = {"raw", "zlib", "huffman", "rans"};
    for (int c = 0; c < 4; c++) {
        CHECK(ecn_net_split_configure(b, 8, codecs[c], &err) == 0, "%s", err.msg);
        float *yc = forward_copy(b, x);
        double d = test_rel_diff(yc, ya, 15);
        CHECK(d > 0 && d < 0.05, "8-bit %s split: relative change %.3g (expected small, nonzero)", codecs[c], d);
        CHECK(ecn_net_split_error(b) == NULL, "8-bit %s: %s", codecs[c], ecn_net_split_error(b));
        free(yc);
    }
    free(ya);
    free(yb);
    ecn_net_free(a);
    ecn_net_free(b);
}

static void frames(void)
{
    ecn_err err;
    ecn_frame_spec tx, rx, other;
    ecn_split_params sp = {8, ECN_QUANT_CHANNEL, ECN_RANGE_MINMAX, 99.99f, ECN_CODEC_RANS, 6, ECN_DPCM_ROW, NULL};
    int layers[2] = {3, 7};
    ecn_shape shapes[2] = {{4, 5, 6}, {2, 3, 3}};
    CHECK(ecn_frame_spec_init(&tx, &sp, 42, layers, shapes, 2, &err) == 0, "%s", err.msg);
    CHECK(ecn_frame_spec_init(&rx, &sp, 42, layers, shapes, 2, &err) == 0, "%s", err.msg);
    CHECK(ecn_frame_spec_init(&other, &sp, 43, layers, shapes, 2, &err) == 0, "%s", err.msg);
    float a[120], b[18], a2[120], b2[18];
    for (int i = 0; i < 120; i++) a[i] = sinf((float)i);
    for (int i = 0; i < 18; i++) b[i] = (float)i;
    const float *x[2] = {a, b};
    float *y[2] = {a2, b2};
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    uint64_t id = 0;
    CHECK(ecn_frame_encode(&tx, 77, x, &buf, &cap, &len, &err) == 0, "%s", err.msg);
    CHECK(ecn_frame_decode(&rx, buf, len, &id, y, &err) == 0 && id == 77, "decode: %s", err.msg);
    double worst = 0;
    for (int i = 0; i < 120; i++) worst = fmax(worst, fabs(a[i] - a2[i]));
    CHECK(worst <= 2.0 / 255 / 2 + 1e-6, "8-bit per-channel error %.4g beyond half a step", worst);
    CHECK(ecn_frame_decode(&other, buf, len, NULL, y, &err) != 0 && strstr(err.msg, "different model"),
          "a frame of another model: '%s'", err.msg);
    ecn_frame_spec per_tensor;
    ecn_split_params tensor_sp = sp;
    tensor_sp.mode = ECN_QUANT_TENSOR;
    CHECK(ecn_frame_spec_init(&per_tensor, &tensor_sp, 42, layers, shapes, 2, &err) == 0, "%s", err.msg);
    CHECK(ecn_frame_decode(&per_tensor, buf, len, NULL, y, &err) != 0 && strstr(err.msg, "other settings"),
          "a per-channel frame decoded by a per-tensor receiver of the same fingerprint: '%s'", err.msg);
    ecn_frame_spec_free(&per_tensor);
    for (size_t cut = 0; cut < len; cut += 7)
        CHECK(ecn_frame_decode(&rx, buf, cut, NULL, y, &err) != 0, "frame truncated to %zu bytes accepted", cut);
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x10;
        CHECK(ecn_frame_decode(&rx, buf, len, NULL, y, &err) != 0, "frame with byte %zu flipped accepted", i);
        buf[i] ^= 0x10;
    }
    free(buf);
    ecn_frame_spec_free(&tx);
    ecn_frame_spec_free(&rx);
    ecn_frame_spec_free(&other);
}

static void exit_loss_weight(void)
{
    ecn_err err;
    ecn_net *net = build(HEAD CONV(4, leaky) EXIT_HEAD CONV(3, linear) "[avgpool]\n[softmax]\n", 2, &err);
    CHECK(net && ecn_net_train_begin(net, &err) == 0, "%s", err.msg);
    if (!net) return;
    ecn_net_randomize(net, 2);
    float x[256], t[6] = {0, 1, 0, 1, 0, 0};
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 13) / 13;
    ecn_net_train_forward(net, x, t, 3);
    const ecn_layer *head = &net->layers[net->exit_head[0]], *last = &net->layers[net->n - 1];
    CHECK(fabsf(head->delta[1] - 0.25f * (1 - head->output[1])) < 1e-6f, "exit delta is not weight * (t - p)");
    CHECK(fabsf(last->delta[1] - (1 - last->output[1])) < 1e-6f, "final delta is not t - p");
    ecn_net_free(net);
}

static void offload_decision(void)
{
    ecn_exit_record rec[4] = {
        {{0.1f, 0.0f}, {1, 1}, 1, 1, 100}, /* exit 0 answers, right */
        {{0.9f, 0.1f}, {2, 0}, 1, 1, 200}, /* exit 1 answers, wrong */
        {{0.9f, 0.9f}, {0, 0}, 2, 2, 300}, /* offloaded, right */
        {{0.9f, 0.9f}, {0, 0}, 3, 1, 500}, /* offloaded, wrong */
    };
    ecn_exit_records r = {4, 2, 4, rec};
    float t[2] = {0.5f, 0.5f};
    ecn_exit_summary s;
    ecn_exit_summarize(&r, t, &s);
    CHECK(fabs(s.top1 - 0.5) < 1e-9 && fabs(s.offload_rate - 0.5) < 1e-9, "top1 %.3f offload %.3f", s.top1,
          s.offload_rate);
    CHECK(fabs(s.bytes_per_offload - 400) < 1e-9, "bytes per offload %.1f, expected 400", s.bytes_per_offload);
    CHECK(fabs(s.exit_rate[0] - .25) < 1e-9 && s.exit_accuracy[0] == 1 && s.exit_accuracy[1] == 0,
          "per-exit figures wrong");
    CHECK(fabs(s.cloud_top1 - 0.75) < 1e-9, "cloud-only top1 %.3f, expected 0.75", s.cloud_top1);
    t[0] = t[1] = 0;
    ecn_exit_summarize(&r, t, &s);
    CHECK(s.offload_rate == 1 && fabs(s.top1 - s.cloud_top1) < 1e-12, "threshold 0 must offload everything");
    float p[4] = {.25f, .25f, .25f, .25f};
    CHECK(fabs(ecn_entropy(p, 4) - log(4.0)) < 1e-6, "entropy of a uniform distribution");
}

/* The edge runs [0, split] and sends frames; the cloud, a separate copy of
 * the network, decodes them and runs the rest: the same answer as the local
 * run, bit for bit, including a route that reaches back across the split. */
static void edge_and_cloud(void)
{
    const char *cfg = HEAD CONV(4, leaky) EXIT_HEAD CONV(4, leaky) "[split]\nbits=6\ncodec=rans\n" CONV(4, leaky)
        "[route]\nlayers=0,-1\n" CONV(3, linear) "[avgpool]\n[softmax]\n";
    ecn_err err;
    ecn_net *local = build(cfg, 2, &err), *edge = build(cfg, 2, &err), *cloud = build(cfg, 2, &err);
    CHECK(local && edge && cloud, "%s", err.msg);
    if (!local || !edge || !cloud) return;
    ecn_net_randomize(local, 11);
    ecn_net_randomize(edge, 11);
    ecn_net_randomize(cloud, 11);
    float x[2 * 128];
    for (int i = 0; i < 2 * 128; i++) x[i] = (float)((i * 37) % 101) / 101;
    const float *want = ecn_net_forward(local, x, NULL, NULL);
    int split = ecn_net_split_layer(edge);
    ecn_net_forward_range(edge, x, 0, split + 1, NULL, NULL);
    unsigned char *frame = NULL;
    size_t cap = 0, len = 0;
    for (int b = 0; b < 2; b++) {
        unsigned long long id = 0;
        CHECK(ecn_net_split_encode(edge, b, 100 + b, &frame, &cap, &len, &err) == 0, "edge: %s", err.msg);
        CHECK(ecn_net_split_decode(cloud, b, frame, len, &id, &err) == 0 && id == 100ULL + b, "cloud: %s", err.msg);
        CHECK(len == ecn_net_split_bytes(local, b), "edge frame %zu bytes, local %zu", len, ecn_net_split_bytes(local, b));
    }
    const float *got = ecn_net_forward_range(cloud, NULL, split + 1, cloud->n, NULL, NULL);
    CHECK(memcmp(got, want, 2 * 3 * sizeof(float)) == 0, "edge + cloud differ from the local run");
    int classes;
    CHECK(memcmp(ecn_net_exit_output(edge, 0, &classes), ecn_net_exit_output(local, 0, NULL), 2 * 3 * sizeof(float)) == 0,
          "the edge's exit differs from the local run's");
    frame[len / 2] ^= 1;
    CHECK(ecn_net_split_decode(cloud, 0, frame, len, NULL, &err) != 0, "a corrupted frame was accepted");
    free(frame);
    ecn_net_free(local);
    ecn_net_free(edge);
    ecn_net_free(cloud);
}

/* Every cfg we ship builds, without warnings. */
/* Two cfgs that differ only in the prior table make different models: a
 * Huffman code from one would decode to other symbols in the other. */
static void prior_in_fingerprint(void)
{
    char a[4096], b[4096], counts_a[512] = "", counts_b[512] = "";
    for (int i = 0; i < 64; i++) {
        size_t na = strlen(counts_a), nb = strlen(counts_b);
        snprintf(counts_a + na, sizeof counts_a - na, "%s%d", i ? "," : "", 1 + i);
        snprintf(counts_b + nb, sizeof counts_b - nb, "%s%d", i ? "," : "", 64 - i);
    }
    snprintf(a, sizeof a, HEAD CONV(4, leaky) "[split]\nbits=6\ncodec=huffman\nprior=%s\n" CONV(3, linear), counts_a);
    snprintf(b, sizeof b, HEAD CONV(4, leaky) "[split]\nbits=6\ncodec=huffman\nprior=%s\n" CONV(3, linear), counts_b);
    ecn_err err;
    ecn_net *edge = build(a, 1, &err), *cloud = build(b, 1, &err), *same = build(a, 1, &err);
    CHECK(edge && cloud && same, "%s", err.msg);
    if (edge && cloud && same) {
        float x[128];
        for (int i = 0; i < 128; i++) x[i] = (float)((i * 29) % 97) / 97;
        ecn_net_randomize(edge, 3);
        ecn_net_forward_range(edge, x, 0, ecn_net_split_layer(edge) + 1, NULL, NULL);
        unsigned char *frame = NULL;
        size_t cap = 0, len = 0;
        CHECK(ecn_net_split_encode(edge, 0, 1, &frame, &cap, &len, &err) == 0, "%s", err.msg);
        CHECK(ecn_net_split_decode(same, 0, frame, len, NULL, &err) == 0, "the same cfg refused the frame: %s", err.msg);
        CHECK(ecn_net_split_decode(cloud, 0, frame, len, NULL, &err) != 0 && strstr(err.msg, "different model"),
              "a cloud with another prior table accepted the frame ('%s')", err.msg);
        free(frame);
    }
    ecn_net_free(edge);
    ecn_net_free(cloud);
    ecn_net_free(same);
}

static void shipped_cfgs(void)
{
    static const char *const cfgs[] = {"cfg/fashion.cfg", "cfg/fashion-branchy.cfg", "cfg/darknet53-exits.cfg",
                                       "cfg/ecnet-imagenet.cfg"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        ecn_load_opts lo = {.batch = 1, .threads = 1};
        ecn_net *net;
        ecn_err err;
        if (ecn_net_from_cfg(cfgs[i], &lo, &net, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        CHECK(ecn_net_warning_count(net) == 0, "%s: %s", cfgs[i], ecn_net_warning(net, 0));
        ecn_net_free(net);
    }
}

int main(void)
{
    prior_in_fingerprint();
    shipped_cfgs();
    cfg_rules();
    lossless_and_lossy();
    edge_and_cloud();
    frames();
    exit_loss_weight();
    offload_decision();
    return test_finish("test_split");
}
