/*
 * darknet_ref.c - test oracle built on the reference Darknet library.
 *
 * This program links only against the Debian package's libdarknet
 * (pjreddie darknet, git 2018-09-14, built with OpenCV) and produces
 * reference data that ecnet's own implementation is compared against:
 *
 *   weights  CFG OUT.weights --input IN.f32 [--width W --height H] [--seed S]
 *            Give every parametric layer of CFG deterministic pseudo-random
 *            parameters and save them in Darknet's .weights format.
 *   forward  CFG WEIGHTS IN.f32 OUT.f32 [--width W --height H]
 *            Run Darknet's forward pass and dump every layer's output
 *            (l.outputs floats, layers 0..n-1, concatenated).
 *   image    IMG OUT.f32 --width W --height H [--letterbox]
 *            Darknet's image loading + resize/letterbox, as a CHW tensor.
 *   detect   CFG WEIGHTS IMG [--thresh T] [--hier H] [--nms N]
 *            Like `darknet detect`: one line "CLASS PROB X Y W H" per
 *            (detection, class) with prob > thresh.
 *
 * Tensors (.f32) are raw little-endian float32 in CHW order, batch 1.
 *
 * Why the weights are not simply random: with naive random weights the
 * activations of a deep network (darknet53, yolov3: 100+ layers) either
 * explode or collapse to a constant, and a comparison of two
 * implementations on a constant tensor proves nothing.  So the network is
 * initialised layer by layer on the actual input: every batch-normalised
 * layer is first run with an identity normalisation and a linear
 * activation, the per-channel mean/variance of its pre-activation output is
 * measured and stored as rolling_mean/rolling_variance, and only then are
 * random scales/biases and the real activation put back.  Layers without
 * batch norm get one global gain so their pre-activation output has unit
 * standard deviation.  Every layer's output therefore stays near unit
 * scale and keeps a healthy spread down to the last layer.
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 * Darknet prints its layer table on stderr while parsing; that is normal.
 */
#include <darknet.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define EXIT_USAGE 2
#define MIN_VARIANCE 1e-4f
#define MIN_SPATIAL_FOR_CHANNEL_STATS 4

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "darknet_ref: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    return 1;
}

static int usage(void)
{
    fputs("usage:\n"
          "  darknet_ref weights CFG OUT.weights --input IN.f32"
          " [--width W --height H] [--seed S]\n"
          "  darknet_ref forward CFG WEIGHTS IN.f32 OUT.f32"
          " [--width W --height H]\n"
          "  darknet_ref image IMG OUT.f32 --width W --height H"
          " [--letterbox]\n"
          "  darknet_ref detect CFG WEIGHTS IMG [--thresh 0.5]"
          " [--hier 0.5] [--nms 0.45]\n"
          "  darknet_ref speed CFG [--width W --height H] [--iters N]\n",
          stderr);
    return EXIT_USAGE;
}

static int file_readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (!f) return -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    fclose(f);
    return n;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Read exactly n floats; any other file size is an error. */
static float *read_f32(const char *path, size_t n)
{
    long size = file_size(path);
    if (size < 0) { fail("cannot open input", path); return NULL; }
    if ((size_t)size != n * sizeof(float)) {
        fprintf(stderr, "darknet_ref: %s holds %ld bytes, expected %zu"
                " (%zu float32)\n", path, size, n * sizeof(float), n);
        return NULL;
    }
    float *buf = malloc(n * sizeof(float));
    FILE *f = fopen(path, "rb");
    size_t got = (buf && f) ? fread(buf, sizeof(float), n, f) : 0;
    if (f) fclose(f);
    if (got != n) { free(buf); fail("cannot read input", path); return NULL; }
    return buf;
}

static int write_f32(FILE *f, const float *buf, size_t n)
{
    return fwrite(buf, sizeof(float), n, f) == n ? 0 : 1;
}

static int write_f32_file(const char *path, const float *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail("cannot create", path);
    int bad = write_f32(f, buf, n);
    if (fclose(f) != 0) bad = 1;
    return bad ? fail("write failed", path) : 0;
}

static void fill(float *x, int n, float v)
{
    for (int i = 0; i < n; ++i) x[i] = v;
}

/* ------------------------------------------------------------------ */
/* Deterministic PRNG (splitmix64)                                     */
/* ------------------------------------------------------------------ */

typedef struct { uint64_t s; } rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_uniform(rng_t *r, float lo, float hi)
{
    double u = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

static void fill_uniform(rng_t *r, float *x, int n, float lo, float hi)
{
    for (int i = 0; i < n; ++i) x[i] = rng_uniform(r, lo, hi);
}

/* ------------------------------------------------------------------ */
/* Command-line options                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *pos[4];
    int npos;
    int width, height;          /* 0 = keep the cfg's size */
    unsigned long long seed;
    const char *input;
    int letterbox;
    float thresh, hier, nms;
    int iters;
} opts_t;

static int parse_pos_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 100000) return 1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v)) return 1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (*s == '\0' || *s == '-') return 1;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0') return 1;
    *out = v;
    return 0;
}

/* Is flag (without the leading "--") in the space-separated list? */
static int flag_allowed(const char *flag, const char *allowed)
{
    size_t n = strlen(flag);
    for (const char *p = allowed; (p = strstr(p, flag)) != NULL; p += n) {
        int starts = (p == allowed || p[-1] == ' ');
        int ends = (p[n] == '\0' || p[n] == ' ');
        if (starts && ends) return 1;
    }
    return 0;
}

static int parse_flag_value(opts_t *o, const char *flag, const char *val)
{
    if (!strcmp(flag, "width")) return parse_pos_int(val, &o->width);
    if (!strcmp(flag, "height")) return parse_pos_int(val, &o->height);
    if (!strcmp(flag, "seed")) return parse_u64(val, &o->seed);
    if (!strcmp(flag, "thresh")) return parse_float(val, &o->thresh);
    if (!strcmp(flag, "hier")) return parse_float(val, &o->hier);
    if (!strcmp(flag, "nms")) return parse_float(val, &o->nms);
    if (!strcmp(flag, "input")) { o->input = val; return 0; }
    if (!strcmp(flag, "iters")) return parse_pos_int(val, &o->iters);
    return 1;
}

/* Returns 0 on success, nonzero on a usage error (message printed). */
static int parse_opts(int argc, char **argv, const char *allowed, opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->thresh = 0.5f;
    o->hier = 0.5f;
    o->nms = 0.45f;
    for (int i = 2; i < argc; ++i) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (o->npos == 4) return fail("too many arguments", a);
            o->pos[o->npos++] = a;
            continue;
        }
        const char *flag = a + 2;
        if (!flag_allowed(flag, allowed)) return fail("unknown option", a);
        if (!strcmp(flag, "letterbox")) { o->letterbox = 1; continue; }
        if (i + 1 >= argc) return fail("missing value for", a);
        if (parse_flag_value(o, flag, argv[++i]))
            return fail("bad value for", a);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Network loading                                                     */
/* ------------------------------------------------------------------ */

static const char *layer_name(LAYER_TYPE t)
{
    switch (t) {
    case CONVOLUTIONAL: return "convolutional";
    case DECONVOLUTIONAL: return "deconvolutional";
    case CONNECTED: return "connected";
    case LOCAL: return "local";
    case CROP: return "crop";
    case NORMALIZATION: return "normalization";
    case RNN: return "rnn";
    case GRU: return "gru";
    case LSTM: return "lstm";
    case CRNN: return "crnn";
    case ACTIVE: return "activation";
    case MAXPOOL: return "maxpool";
    case SOFTMAX: return "softmax";
    case DETECTION: return "detection";
    case DROPOUT: return "dropout";
    case ROUTE: return "route";
    case COST: return "cost";
    case AVGPOOL: return "avgpool";
    case SHORTCUT: return "shortcut";
    case BATCHNORM: return "batchnorm";
    case REGION: return "region";
    case YOLO: return "yolo";
    case REORG: return "reorg";
    case UPSAMPLE: return "upsample";
    default: return "other";
    }
}

/* The layer types darknet's resize_network() can handle; anything else
 * makes darknet abort, so refuse cleanly beforehand. */
static int check_resizable(const network *net)
{
    for (int i = 0; i < net->n; ++i) {
        LAYER_TYPE t = net->layers[i].type;
        if (t == AVGPOOL) return 0;     /* resize_network stops here */
        if (t != CONVOLUTIONAL && t != CROP && t != MAXPOOL && t != REGION &&
            t != YOLO && t != ROUTE && t != SHORTCUT && t != UPSAMPLE &&
            t != REORG && t != NORMALIZATION && t != COST) {
            fprintf(stderr, "darknet_ref: darknet cannot resize layer %d"
                    " (%s)\n", i, layer_name(t));
            return 1;
        }
    }
    return 0;
}

/* Every sequential layer must consume exactly what its predecessor makes. */
static int check_layer_sizes(const network *net)
{
    if (net->layers[0].inputs != net->w * net->h * net->c)
        return fail("layer 0 input size does not match the network", NULL);
    for (int i = 1; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        if (l->type == ROUTE) continue;
        if (l->inputs != net->layers[i - 1].outputs) {
            fprintf(stderr, "darknet_ref: layer %d (%s) takes %d inputs but"
                    " layer %d makes %d\n", i, layer_name(l->type),
                    l->inputs, i - 1, net->layers[i - 1].outputs);
            return 1;
        }
    }
    return 0;
}

static int resize_if_asked(network *net, int w, int h)
{
    if (w == 0 && h == 0) return 0;
    if (check_resizable(net)) return 1;
    resize_network(net, w ? w : net->w, h ? h : net->h);
    return 0;
}

/* Number of float32 parameters darknet's load_weights() reads, or -1 if
 * the network has parametric layers this oracle does not account for. */
static long expected_params(const network *net)
{
    long total = 0;
    for (int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        long bn = l->batch_normalize;
        if (l->dontload) continue;
        switch (l->type) {
        case CONVOLUTIONAL:
            total += (long)l->n * (1 + 3 * bn) + l->nweights;
            break;
        case CONNECTED:
            total += (long)l->outputs * (1 + 3 * bn)
                   + (long)l->inputs * l->outputs;
            break;
        case BATCHNORM: total += 3L * l->c; break;
        case DECONVOLUTIONAL: case LOCAL: case RNN: case GRU: case LSTM:
        case CRNN: return -1;
        default: break;
        }
    }
    return total;
}

/* darknet's load_weights() silently accepts short files; we do not. */
static int check_weights_size(const network *net, const char *path)
{
    FILE *f = fopen(path, "rb");
    int32_t ver[3] = {0, 0, 0};
    size_t got = f ? fread(ver, sizeof(int32_t), 3, f) : 0;
    if (f) fclose(f);
    if (got != 3) return fail("cannot read weights header", path);
    long seen = (ver[0] * 10 + ver[1] >= 2 && ver[0] < 1000 && ver[1] < 1000)
              ? 8 : 4;
    long params = expected_params(net);
    if (params < 0) return 0;
    long want = 12 + seen + params * 4, have = file_size(path);
    if (have < want) {
        fprintf(stderr, "darknet_ref: %s has %ld bytes, the network needs"
                " %ld\n", path, have, want);
        return 1;
    }
    if (have > want)
        fprintf(stderr, "darknet_ref: warning: %ld trailing bytes in %s\n",
                have - want, path);
    return 0;
}

/* Darknet's make_batchnorm_layer() never allocates l.x, yet the CPU
 * forward_batchnorm_layer() copies its output there: a standalone
 * [batchnorm] layer segfaults.  Give it the scratch buffer it expects
 * (l.x only feeds the backward pass; outputs are unaffected). */
static int fix_batchnorm_scratch(network *net)
{
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != BATCHNORM || l->x) continue;
        l->x = calloc((size_t)l->outputs * l->batch, sizeof(float));
        if (!l->x) return fail("out of memory", NULL);
    }
    return 0;
}

/* parse_network_cfg (+ load_weights), batch 1, optional resize.
 * Darknet exit()s on unreadable files, so those are checked first. */
static network *open_net(const char *cfg, const char *weights, int w, int h)
{
    if (!file_readable(cfg)) { fail("cannot open cfg", cfg); return NULL; }
    if (weights && !file_readable(weights)) {
        fail("cannot open weights", weights);
        return NULL;
    }
    network *net = parse_network_cfg((char *)cfg);
    if (!net || net->n < 1) { fail("cannot parse cfg", cfg); return NULL; }
    if (weights) {
        if (check_weights_size(net, weights)) return NULL;
        load_weights(net, (char *)weights);
    }
    set_batch_network(net, 1);
    if (resize_if_asked(net, w, h) || check_layer_sizes(net) ||
        fix_batchnorm_scratch(net))
        return NULL;
    return net;
}

/* ------------------------------------------------------------------ */
/* Layer-by-layer initialisation                                       */
/* ------------------------------------------------------------------ */

static void run_layer(network *net, int i, float *input)
{
    layer *l = &net->layers[i];
    net->input = input;
    net->index = i;
    l->forward(*l, *net);
}

/* Mean and (population) variance of x[0..n) with stride 1, in double. */
static void moments(const float *x, long n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (long i = 0; i < n; ++i) s += x[i];
    double m = s / (double)n;
    for (long i = 0; i < n; ++i) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = ss / (double)n;
}

/* Per-channel statistics of a [C][S] tensor.  With fewer than a handful
 * of positions per channel (connected layers, 1x1 maps) per-channel
 * statistics are degenerate, so the statistics of the whole tensor are
 * used for every channel instead. */
static void channel_stats(const float *x, int C, int S, float *mean,
                          float *var)
{
    double m, v;
    if (S < MIN_SPATIAL_FOR_CHANNEL_STATS) moments(x, (long)C * S, &m, &v);
    for (int c = 0; c < C; ++c) {
        if (S >= MIN_SPATIAL_FOR_CHANNEL_STATS)
            moments(x + (long)c * S, S, &m, &v);
        mean[c] = (float)m;
        var[c] = v < MIN_VARIANCE ? MIN_VARIANCE : (float)v;
    }
}

/* Batch-normalised layer (conv, connected or [batchnorm]): measure the
 * pre-activation statistics with an identity normalisation, store them as
 * rolling mean/variance, then apply random scales/biases for real. */
static void calibrate_batchnorm(network *net, int i, float *input, rng_t *r)
{
    layer *l = &net->layers[i];
    int C = l->out_c, S = l->out_h * l->out_w;
    ACTIVATION act = l->activation;

    l->activation = LINEAR;
    fill(l->rolling_mean, C, 0.0f);
    fill(l->rolling_variance, C, 1.0f);
    fill(l->scales, C, 1.0f);
    fill(l->biases, C, 0.0f);
    run_layer(net, i, input);
    channel_stats(l->output, C, S, l->rolling_mean, l->rolling_variance);

    fill_uniform(r, l->scales, C, 0.8f, 1.2f);
    fill_uniform(r, l->biases, C, -0.1f, 0.1f);
    l->activation = act;
    run_layer(net, i, input);
}

/* Layer without batch norm: one global gain on the weights so that the
 * pre-activation output has unit standard deviation. */
static void calibrate_gain(network *net, int i, float *input, int nweights,
                           rng_t *r)
{
    layer *l = &net->layers[i];
    int nbias = l->out_c;
    ACTIVATION act = l->activation;
    double mean, var;

    l->activation = LINEAR;
    fill(l->biases, nbias, 0.0f);
    run_layer(net, i, input);
    moments(l->output, l->outputs, &mean, &var);
    if (var > 1e-20) {
        float gain = (float)(1.0 / sqrt(var));
        for (int k = 0; k < nweights; ++k) l->weights[k] *= gain;
    }

    fill_uniform(r, l->biases, nbias, -0.1f, 0.1f);
    l->activation = act;
    run_layer(net, i, input);
}

static void init_weighted(network *net, int i, float *input, int nweights,
                          float limit, rng_t *r)
{
    layer *l = &net->layers[i];
    fill_uniform(r, l->weights, nweights, -limit, limit);
    if (l->batch_normalize) calibrate_batchnorm(net, i, input, r);
    else calibrate_gain(net, i, input, nweights, r);
}

static void init_conv(network *net, int i, float *input, rng_t *r)
{
    layer *l = &net->layers[i];
    int groups = l->groups > 0 ? l->groups : 1;
    int fan_in = l->c / groups * l->size * l->size;
    int nweights = fan_in * l->n;
    init_weighted(net, i, input, nweights, sqrtf(3.0f * 2.0f / fan_in), r);
}

static void init_connected(network *net, int i, float *input, rng_t *r)
{
    layer *l = &net->layers[i];
    init_weighted(net, i, input, l->inputs * l->outputs,
                  sqrtf(3.0f / l->inputs), r);
}

/* Initialise layer i (if it has parameters) and run its forward pass. */
static int init_layer(network *net, int i, float *input, rng_t *r)
{
    layer *l = &net->layers[i];
    switch (l->type) {
    case CONVOLUTIONAL: init_conv(net, i, input, r); return 0;
    case CONNECTED: init_connected(net, i, input, r); return 0;
    case BATCHNORM: calibrate_batchnorm(net, i, input, r); return 0;
    case DECONVOLUTIONAL: case LOCAL: case RNN: case GRU: case LSTM:
    case CRNN:
        fprintf(stderr, "darknet_ref: layer %d: %s layers are not supported"
                " by the weight generator\n", i, layer_name(l->type));
        return 1;
    default: run_layer(net, i, input); return 0;
    }
}

static int count_nonfinite(const float *x, int n)
{
    int bad = 0;
    for (int k = 0; k < n; ++k) bad += !isfinite(x[k]);
    return bad;
}

static int randomize_network(network *net, float *input, uint64_t seed)
{
    rng_t r = { seed };
    float *saved_input = net->input, *saved_truth = net->truth;
    int err = 0;

    net->train = 0;
    net->truth = NULL;      /* as in network_predict: no cost computation */
    for (int i = 0; i < net->n && !err; ++i) {
        float *in = i == 0 ? input : net->layers[i - 1].output;
        err = init_layer(net, i, in, &r);
        layer *l = &net->layers[i];
        if (!err && count_nonfinite(l->output, l->outputs)) {
            fprintf(stderr, "darknet_ref: layer %d (%s) produced non-finite"
                    " values\n", i, layer_name(l->type));
            err = 1;
        }
    }
    net->input = saved_input;
    net->truth = saved_truth;
    return err;
}

/* ------------------------------------------------------------------ */
/* Subcommands                                                         */
/* ------------------------------------------------------------------ */

static int cmd_weights(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, "input width height seed", &o)) return usage();
    if (o.npos != 2 || !o.input) return usage();

    network *net = open_net(o.pos[0], NULL, o.width, o.height);
    if (!net) return 1;
    float *input = read_f32(o.input, (size_t)net->inputs);
    if (!input) return 1;
    if (randomize_network(net, input, o.seed)) return 1;

    FILE *probe = fopen(o.pos[1], "wb");  /* darknet exit(0)s on failure */
    if (!probe) return fail("cannot create", o.pos[1]);
    fclose(probe);
    save_weights(net, (char *)o.pos[1]);
    free(input);
    free_network(net);
    return 0;
}

static int dump_layer_outputs(const network *net, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail("cannot create", path);
    int bad = 0;
    for (int i = 0; i < net->n && !bad; ++i)
        bad = write_f32(f, net->layers[i].output,
                        (size_t)net->layers[i].outputs);
    if (fclose(f) != 0) bad = 1;
    return bad ? fail("write failed", path) : 0;
}

static int cmd_forward(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, "width height", &o)) return usage();
    if (o.npos != 4) return usage();

    network *net = open_net(o.pos[0], o.pos[1], o.width, o.height);
    if (!net) return 1;
    float *input = read_f32(o.pos[2], (size_t)net->inputs);
    if (!input) return 1;
    network_predict(net, input);
    int err = dump_layer_outputs(net, o.pos[3]);
    free(input);
    free_network(net);
    return err;
}

/* OpenCV-backed load_image_color() never fails: on an undecodable file it
 * appends the name to ./bad.list (via system()) and returns a blank 10x10
 * image.  Only hand it files that look like images it can read. */
static int looks_like_image(const char *path)
{
    unsigned char m[12] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, sizeof(m), f) : 0;
    if (f) fclose(f);
    if (n < 4) return 0;
    if (!memcmp(m, "\x89PNG", 4)) return 1;
    if (m[0] == 0xFF && m[1] == 0xD8) return 1;                 /* JPEG */
    if (m[0] == 'B' && m[1] == 'M') return 1;                   /* BMP */
    if (m[0] == 'P' && m[1] >= '1' && m[1] <= '6') return 1;    /* PNM */
    if (!memcmp(m, "II*", 3) || !memcmp(m, "MM\0*", 4)) return 1; /* TIFF */
    if (n == 12 && !memcmp(m, "RIFF", 4) && !memcmp(m + 8, "WEBP", 4))
        return 1;
    return 0;
}

static int is_fallback_image(image im)
{
    if (im.w != 10 || im.h != 10) return 0;
    for (int k = 0; k < im.w * im.h * im.c; ++k)
        if (im.data[k] != 0.0f) return 0;
    return 1;
}

static int load_color(const char *path, image *out)
{
    if (!file_readable(path)) return fail("cannot open image", path);
    if (!looks_like_image(path)) return fail("not a known image format", path);
    *out = load_image_color((char *)path, 0, 0);
    if (!out->data || is_fallback_image(*out))
        return fail("darknet could not decode", path);
    return 0;
}

static int cmd_image(int argc, char **argv)
{
    opts_t o;
    image im, sized;
    if (parse_opts(argc, argv, "width height letterbox", &o)) return usage();
    if (o.npos != 2 || !o.width || !o.height) return usage();

    if (load_color(o.pos[0], &im)) return 1;
    sized = o.letterbox ? letterbox_image(im, o.width, o.height)
                        : resize_image(im, o.width, o.height);
    int err = write_f32_file(o.pos[1], sized.data,
                             (size_t)sized.w * sized.h * sized.c);
    free_image(sized);
    free_image(im);
    return err;
}

typedef struct {
    int cls;
    int det;
    float prob;
    box b;
} hit_t;

static int cmp_hit(const void *pa, const void *pb)
{
    const hit_t *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->prob != b->prob) return a->prob > b->prob ? -1 : 1;
    return (a->det > b->det) - (a->det < b->det);
}

static int print_detections(detection *dets, int n, int classes, float thresh)
{
    hit_t *hits = malloc(sizeof(hit_t) * ((size_t)n * classes + 1));
    int nh = 0;
    if (!hits) return fail("out of memory", NULL);
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < classes; ++c)
            if (dets[i].prob[c] > thresh)
                hits[nh++] = (hit_t){ c, i, dets[i].prob[c], dets[i].bbox };
    qsort(hits, (size_t)nh, sizeof(hit_t), cmp_hit);
    for (int k = 0; k < nh; ++k)
        printf("%d %.6f %.6f %.6f %.6f %.6f\n", hits[k].cls, hits[k].prob,
               hits[k].b.x, hits[k].b.y, hits[k].b.w, hits[k].b.h);
    free(hits);
    return 0;
}

static int cmd_detect(int argc, char **argv)
{
    opts_t o;
    image im;
    int nboxes = 0;
    if (parse_opts(argc, argv, "thresh hier nms", &o)) return usage();
    if (o.npos != 3) return usage();

    network *net = open_net(o.pos[0], o.pos[1], 0, 0);
    if (!net) return 1;
    if (load_color(o.pos[2], &im)) return 1;
    image sized = letterbox_image(im, net->w, net->h);
    network_predict(net, sized.data);

    layer last = net->layers[net->n - 1];
    detection *dets = get_network_boxes(net, im.w, im.h, o.thresh, o.hier,
                                        NULL, 1, &nboxes);
    if (o.nms > 0) do_nms_sort(dets, nboxes, last.classes, o.nms);
    int err = print_detections(dets, nboxes, last.classes, o.thresh);

    free_detections(dets, nboxes);
    free_image(sized);
    free_image(im);
    free_network(net);
    return err;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Darknet's own forward time and the peak memory of a process that runs it
 * (the peer figures for `make bench`).  Prints one JSON object. */
static int cmd_speed(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, "width height iters", &o)) return usage();
    if (o.npos != 1) return usage();
    int iters = o.iters > 0 ? o.iters : 1;
    network *net = open_net(o.pos[0], NULL, o.width, o.height);
    if (!net) return 1;
    float *input = calloc((size_t)net->inputs, sizeof(float));
    if (!input) return fail("out of memory", NULL);
    for (int i = 0; i < net->inputs; ++i) input[i] = (float)(i % 255) / 255.f;
    network_predict(net, input); /* warm-up */
    double best = 1e30;
    for (int it = 0; it < iters; ++it) {
        double t = now_seconds();
        network_predict(net, input);
        t = now_seconds() - t;
        if (t < best) best = t;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"ms_best\":%.3f,\"peak_rss_mb\":%.1f}\n", best * 1e3, ru.ru_maxrss / 1024.0);
    free(input);
    free_network(net);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (!host_is_little_endian())
        return fail("this oracle assumes a little-endian host", NULL);
    if (!strcmp(argv[1], "weights")) return cmd_weights(argc, argv);
    if (!strcmp(argv[1], "forward")) return cmd_forward(argc, argv);
    if (!strcmp(argv[1], "image")) return cmd_image(argc, argv);
    if (!strcmp(argv[1], "detect")) return cmd_detect(argc, argv);
    if (!strcmp(argv[1], "speed")) return cmd_speed(argc, argv);
    return usage();
}
