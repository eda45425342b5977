/* delay.c - `ecnet delay CFG WEIGHTS --data DATA`: capture-to-output delay
 * of local computing, pure offloading and split computing (with and without
 * early exits) against the data rate (Matsubara and Levorato, Fig. 5 and 6;
 * the model is src/net/delay.h).
 *
 * What it measures on this machine, batch 1, over N test images (split 1),
 * repeating passes over the images until at least MIN_TIME_S has passed and
 * taking the mean per image (a monotonic clock around each step):
 *   T_full    the plain network: layers [0, split] then (split, end), with no
 *             round trip between them (a whole-range forward would also run
 *             the split's inline quantize/code/decode; this does not);
 *   T_head    layers [0, split], exit branches included;
 *   T_encode  ecn_net_split_encode of the image's cut set (quantize, code, frame);
 *   T_decode  ecn_net_split_decode of that frame into the cut set;
 *   T_tail    layers (split, end) on the decoded tensors;
 *   T_image   compressing the 8-bit input image (PNG or zlib-9, the smaller).
 * Sizes: the mean frame bytes (header included), and the mean PNG and zlib-9
 * bytes of the input quantised to 8 bits; pure offloading sends the format
 * whose mean is smaller.  The exit rate is the share of images whose first
 * exit with entropy below its cfg threshold answers (after the head forward).
 *
 * The edge device is --edge-slowdown times slower than this machine; the
 * cloud runs at its speed.  The table gives each option's delay at each rate,
 * and the rates where the best option changes are solved exactly. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <stb/stb_image_write.h>

#include "cli.h"
#include "net/delay.h"
#include "plot.h"
#include "train/data.h"
#include "train/eval.h"

#define MIN_TIME_S 0.5
#define MAX_PASSES 1000
#define MAX_RATES 64
#define SVG_POINTS 61

typedef struct measured {
    ecn_delay_params p;
    double png_bytes, zlib_bytes, t_png, t_zlib, raw_image_bytes;
    int png; /* pure offloading sends PNG (1) or zlib (0) */
    int images, passes, n_exits, threads;
    double exit_share[ECN_MAX_EXITS];
} measured;

static int oom(void)
{
    fprintf(stderr, "ecnet: out of memory\n");
    return EXIT_FAIL;
}

static void count_bytes(void *ctx, void *data, int size)
{
    (void)data;
    *(double *)ctx += size;
}

/* PNG and zlib-9 of each image quantised to 8 bits: mean bytes and seconds. */
static int image_costs(const float *x, int images, ecn_shape in, measured *m)
{
    size_t n = ecn_shape_size(in);
    uLong cap = compressBound((uLong)n);
    uint8_t *chw = malloc(n), *hwc = malloc(n), *z = malloc(cap);
    if (!chw || !hwc || !z) {
        free(chw), free(hwc), free(z);
        return oom();
    }
    double png = 0, zl = 0, t_png = 0, t_zlib = 0;
    int passes = 0, rc = EXIT_OK;
    double start = cli_now();
    do {
        for (int i = 0; i < images && rc == EXIT_OK; i++) {
            const float *xi = x + (size_t)i * n;
            for (size_t j = 0; j < n; j++) {
                float v = xi[j] > 0 ? (xi[j] < 1 ? xi[j] : 1) : 0;
                chw[j] = (uint8_t)lrintf(v * 255.f);
            }
            for (int c = 0; c < in.c; c++) /* PNG wants pixels interleaved */
                for (int k = 0; k < in.h * in.w; k++) hwc[(size_t)k * in.c + c] = chw[(size_t)c * in.h * in.w + k];
            double bytes = 0, t0 = cli_now();
            int ok = stbi_write_png_to_func(count_bytes, &bytes, in.w, in.h, in.c, hwc, in.w * in.c);
            double t1 = cli_now();
            uLongf zlen = cap;
            int zrc = compress2(z, &zlen, chw, (uLong)n, 9);
            double t2 = cli_now();
            if (!ok || zrc != Z_OK) {
                fprintf(stderr, "ecnet: %s of image %d failed\n", ok ? "zlib" : "PNG encoding", i);
                rc = EXIT_FAIL;
            }
            t_png += t1 - t0, t_zlib += t2 - t1;
            if (passes == 0) png += bytes, zl += (double)zlen;
        }
        passes++;
    } while (rc == EXIT_OK && cli_now() - start < MIN_TIME_S && passes < MAX_PASSES);
    free(chw), free(hwc), free(z);
    m->png_bytes = png / images, m->zlib_bytes = zl / images;
    m->t_png = t_png / ((double)passes * images), m->t_zlib = t_zlib / ((double)passes * images);
    m->raw_image_bytes = (double)n;
    m->png = m->png_bytes <= m->zlib_bytes;
    m->p.image_bytes = m->png ? m->png_bytes : m->zlib_bytes;
    m->p.t_image = m->png ? m->t_png : m->t_zlib;
    return rc;
}

/* Head, exits, encode, decode, tail, and the plain network, per image. */
static int run_times(ecn_net *net, const float *x, int images, measured *m)
{
    ecn_err err;
    ecn_shape in = ecn_net_input_shape(net);
    size_t n_in = ecn_shape_size(in);
    int split = ecn_net_split_layer(net), layers = ecn_net_layer_count(net);
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    double t_full = 0, t_head = 0, t_enc = 0, t_dec = 0, t_tail = 0, frame = 0;
    int exited[ECN_MAX_EXITS] = {0}, edge = 0, passes = 0;
    m->n_exits = ecn_net_exit_count(net);
    double start = cli_now();
    /* pass 0 warms up and counts (untimed); then timed passes */
    for (int pass = 0;; pass++) {
        for (int i = 0; i < images; i++) {
            const float *xi = x + (size_t)i * n_in;
            double t0 = cli_now();
            ecn_net_forward_range(net, xi, 0, split + 1, NULL, NULL);
            ecn_net_forward_range(net, xi, split + 1, layers, NULL, NULL);
            double t1 = cli_now();
            ecn_net_forward_range(net, xi, 0, split + 1, NULL, NULL);
            double t2 = cli_now();
            if (pass == 0)
                for (int k = 0; k < m->n_exits; k++) {
                    int classes;
                    const float *p = ecn_net_exit_output(net, k, &classes);
                    if (p && ecn_entropy(p, classes) < ecn_net_exit_threshold(net, k)) {
                        exited[k]++, edge++;
                        break;
                    }
                }
            double t3 = cli_now();
            if (ecn_net_split_encode(net, 0, (unsigned long long)i, &buf, &cap, &len, &err)) goto fail;
            double t4 = cli_now();
            unsigned long long id;
            if (ecn_net_split_decode(net, 0, buf, len, &id, &err)) goto fail;
            double t5 = cli_now();
            ecn_net_forward_range(net, xi, split + 1, layers, NULL, NULL);
            double t6 = cli_now();
            if (pass == 0) {
                frame += (double)len;
                continue;
            }
            t_full += t1 - t0, t_head += t2 - t1, t_enc += t4 - t3, t_dec += t5 - t4, t_tail += t6 - t5;
        }
        if (pass == 0) start = cli_now();
        else passes++;
        if (pass > 0 && (cli_now() - start >= MIN_TIME_S || passes >= MAX_PASSES)) break;
    }
    free(buf);
    double n = (double)passes * images;
    m->p.t_full = t_full / n, m->p.t_head = t_head / n, m->p.t_encode = t_enc / n, m->p.t_decode = t_dec / n;
    m->p.t_tail = t_tail / n;
    m->p.frame_bytes = frame / images;
    m->p.has_exits = m->n_exits > 0;
    m->p.exit_rate = (double)edge / images;
    for (int k = 0; k < m->n_exits; k++) m->exit_share[k] = (double)exited[k] / images;
    m->passes = passes;
    return EXIT_OK;
fail:
    free(buf);
    return cli_fail(&err);
}

static int parse_rates(const char *s, double *mbps, int *n)
{
    *n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || v <= 0 || *n == MAX_RATES || (*end && *end != ',')) return -1;
        mbps[(*n)++] = v;
        s = *end ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

static int write_svg(const char *path, const ecn_delay_params *p)
{
    double lx[SVG_POINTS], y[ECN_DELAY_OPTIONS][SVG_POINTS];
    plot_series s[ECN_DELAY_OPTIONS];
    int ns = 0;
    for (int i = 0; i < SVG_POINTS; i++) lx[i] = -1 + 3.0 * i / (SVG_POINTS - 1);
    for (int o = 0; o < ECN_DELAY_OPTIONS; o++) {
        if (!ecn_delay_available(p, (ecn_delay_option)o)) continue;
        for (int i = 0; i < SVG_POINTS; i++) y[o][i] = 1e3 * ecn_delay_of(p, (ecn_delay_option)o, 1e6 * pow(10, lx[i]));
        s[ns++] = (plot_series){ecn_delay_name((ecn_delay_option)o), lx, y[o], SVG_POINTS};
    }
    plot_opts po = {.log_y = 1};
    ecn_err err;
    if (plot_lines_svg_ex(path, "Capture-to-output delay vs data rate", "data rate, log10 Mbit/s", "delay, ms", s,
                          ns, &po, &err))
        return cli_fail(&err);
    return EXIT_OK;
}

static void print_json(const char *cfg, const measured *m, const double *mbps, int n_rates,
                       const ecn_delay_crossover *cx, int n_cx)
{
    const ecn_delay_params *p = &m->p;
    printf("{\"cfg\":");
    json_string(stdout, cfg);
    printf(",\"images\":%d,\"passes\":%d,\"threads\":%d,\"edge_slowdown\":%g,\"latency_ms\":%g,"
           "\"t_full_s\":%.9g,\"t_head_s\":%.9g,\"t_encode_s\":%.9g,\"t_decode_s\":%.9g,\"t_tail_s\":%.9g,"
           "\"t_image_s\":%.9g,\"frame_bytes\":%.3f,\"png_bytes\":%.3f,\"zlib_bytes\":%.3f,\"raw_image_bytes\":%.0f,"
           "\"image_format\":\"%s\",\"image_bytes\":%.3f,\"exits\":%d,\"exit_rate\":",
           m->images, m->passes, m->threads, p->edge_slowdown, p->latency_s * 1e3, p->t_full, p->t_head,
           p->t_encode, p->t_decode, p->t_tail, p->t_image, p->frame_bytes, m->png_bytes, m->zlib_bytes,
           m->raw_image_bytes, m->png ? "png" : "zlib", p->image_bytes, m->n_exits);
    if (p->has_exits) printf("%.6f", p->exit_rate);
    else printf("null");
    printf(",\"options\":[");
    for (int o = 0, first = 1; o < ECN_DELAY_OPTIONS; o++)
        if (ecn_delay_available(p, (ecn_delay_option)o))
            printf("%s\"%s\"", first ? "" : ",", ecn_delay_name((ecn_delay_option)o)), first = 0;
    printf("],\"rows\":[");
    for (int r = 0; r < n_rates; r++) {
        printf("%s{\"mbps\":%g", r ? "," : "", mbps[r]);
        for (int o = 0; o < ECN_DELAY_OPTIONS; o++)
            if (ecn_delay_available(p, (ecn_delay_option)o))
                printf(",\"%s_ms\":%.6f", o == ECN_DELAY_SPLIT_EXITS ? "split_exits" : ecn_delay_name((ecn_delay_option)o),
                       1e3 * ecn_delay_of(p, (ecn_delay_option)o, mbps[r] * 1e6));
        printf(",\"best\":\"%s\"}", ecn_delay_name(ecn_delay_best(p, mbps[r] * 1e6, NULL)));
    }
    printf("],\"crossovers\":[");
    for (int i = 0; i < n_cx; i++)
        printf("%s{\"mbps\":%.6g,\"below\":\"%s\",\"above\":\"%s\"}", i ? "," : "", cx[i].rate_bps / 1e6,
               ecn_delay_name(cx[i].below), ecn_delay_name(cx[i].above));
    printf("]}\n");
}

static void print_table(const measured *m, const double *mbps, int n_rates, const ecn_delay_crossover *cx, int n_cx)
{
    const ecn_delay_params *p = &m->p;
    printf("measured on this machine, batch 1, %d threads, %d images x %d passes (mean per image):\n", m->threads,
           m->images, m->passes);
    printf("  T_full %.4f ms (plain network)   T_head %.4f ms   T_encode %.4f ms   T_decode %.4f ms   T_tail %.4f ms\n",
           p->t_full * 1e3, p->t_head * 1e3, p->t_encode * 1e3, p->t_decode * 1e3, p->t_tail * 1e3);
    printf("  frame %.1f B;  input image %.0f B raw, PNG %.1f B (%.4f ms), zlib-9 %.1f B (%.4f ms): offloading sends %s\n",
           p->frame_bytes, m->raw_image_bytes, m->png_bytes, m->t_png * 1e3, m->zlib_bytes, m->t_zlib * 1e3,
           m->png ? "PNG" : "zlib");
    if (p->has_exits) {
        printf("  exit rate %.1f%% (", 100 * p->exit_rate);
        for (int k = 0; k < m->n_exits; k++) printf("%sexit %d %.1f%%", k ? ", " : "", k, 100 * m->exit_share[k]);
        printf(")\n");
    } else {
        printf("  no [exit] branches: the split+exits option is left out\n");
    }
    printf("  edge slowdown %g (edge times = %g x this machine's), one-way latency %g ms\n\n", p->edge_slowdown,
           p->edge_slowdown, p->latency_s * 1e3);
    printf("%10s", "Mbit/s");
    for (int o = 0; o < ECN_DELAY_OPTIONS; o++)
        if (ecn_delay_available(p, (ecn_delay_option)o)) printf(" %12s", ecn_delay_name((ecn_delay_option)o));
    printf("  best   (delays in ms)\n");
    for (int r = 0; r < n_rates; r++) {
        printf("%10g", mbps[r]);
        for (int o = 0; o < ECN_DELAY_OPTIONS; o++)
            if (ecn_delay_available(p, (ecn_delay_option)o))
                printf(" %12.4f", 1e3 * ecn_delay_of(p, (ecn_delay_option)o, mbps[r] * 1e6));
        printf("  %s\n", ecn_delay_name(ecn_delay_best(p, mbps[r] * 1e6, NULL)));
    }
    printf("\n");
    if (n_cx == 0)
        printf("best option at every rate: %s\n", ecn_delay_name(ecn_delay_best(p, 1e6, NULL)));
    for (int i = 0; i < n_cx; i++)
        printf("best changes at %.4g Mbit/s: %s below, %s above\n", cx[i].rate_bps / 1e6, ecn_delay_name(cx[i].below),
               ecn_delay_name(cx[i].above));
    if (p->has_exits) printf("(split+exits is the mean delay; an image no exit answers takes the split delay)\n");
}

int cmd_delay(int argc, char **argv)
{
    const char *data = NULL, *rates = NULL, *svg = NULL;
    int images = 200, json = 0, threads = 1;
    float slowdown = 1, latency_ms = 0;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--images", OPT_INT, &images, "N", "test images to time (default 200)"},
        {"--rates", OPT_STRING, &rates, "LIST", "data rates in Mbit/s, comma-separated (default 0.1,0.2,0.5,...,100)"},
        {"--edge-slowdown", OPT_FLOAT, &slowdown, "S", "the edge runs S times slower than this machine (default 1)"},
        {"--latency-ms", OPT_FLOAT, &latency_ms, "L", "one-way latency added to every transfer (default 0)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default 1; 0: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"--svg", OPT_STRING, &svg, "FILE", "write delay (ms, log) against log10 of the rate as SVG"},
    };
    cli_spec spec = {"ecnet delay CFG WEIGHTS --data DATA [--images N] [--rates LIST] [--edge-slowdown S]\n"
                     "       [--latency-ms L] [--threads T] [--json] [--svg FILE]",
                     "Capture-to-output delay against the data rate (Matsubara and Levorato) of local\n"
                     "computing (the edge runs the network), pure offloading (send the image as PNG\n"
                     "or zlib-9, whichever is smaller, the cloud runs it), split computing (the edge\n"
                     "runs the head and sends the [split] frame) and split computing with early\n"
                     "exits (only images no exit answers are sent; the mean delay).  Times are\n"
                     "measured here, batch 1, over N test images; the edge is S times slower.  Prints\n"
                     "each option's delay at each rate, the best, and the rates where it changes.",
                     opts, 8, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    double mbps[MAX_RATES] = {0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100};
    int n_rates = 10;
    const char *bad = !data ? "delay needs --data"
                    : images < 1 ? "--images must be at least 1"
                    : !(slowdown >= 0) ? "--edge-slowdown must be 0 or more"
                    : !(latency_ms >= 0) ? "--latency-ms must be 0 or more"
                    : threads < 0 ? "--threads must be 0 or more"
                    : rates && parse_rates(rates, mbps, &n_rates) ? "--rates wants positive numbers (Mbit/s) separated by commas, at most 64"
                    : NULL;
    if (bad) {
        fprintf(stderr, "ecnet: %s\nusage: %s\n(see --help)\n", bad, spec.usage);
        return EXIT_USAGE;
    }

    ecn_dataset ds = {0};
    ecn_err err;
    if (ecn_dataset_open(data, 1, &ds, &err)) return cli_fail(&err);
    if (ds.n < 1) {
        ecn_dataset_free(&ds);
        fprintf(stderr, "ecnet: %s: the test split has no images\n", data);
        return EXIT_FAIL;
    }
    if (images > ds.n) {
        if (!json) fprintf(stderr, "ecnet: %s has %d test images; using all of them\n", data, ds.n);
        images = ds.n;
    }
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) {
        ecn_dataset_free(&ds);
        return rc;
    }
    float *x = NULL;
    int *idx = NULL;
    rc = EXIT_FAIL;
    if (!ecn_net_has_split(net)) {
        fprintf(stderr, "ecnet: %s has no [split] section: there is no edge half to time, so split computing\n"
                        "is undefined (add [split] after the layer whose output should be sent)\n",
                pos[0]);
        goto done;
    }
    ecn_shape in = ecn_net_input_shape(net);
    size_t n_in = ecn_shape_size(in);
    x = malloc((size_t)images * n_in * sizeof *x);
    idx = malloc((size_t)images * sizeof *idx);
    if (!x || !idx) {
        rc = oom();
        goto done;
    }
    for (int i = 0; i < images; i++) idx[i] = i;
    unsigned long long rng = 1;
    if (ecn_dataset_batch(&ds, idx, images, in, NULL, &rng, x, NULL, 0, &err)) {
        rc = cli_fail(&err);
        goto done;
    }

    measured m = {.images = images, .threads = ecn_net_threads(net)};
    m.p.edge_slowdown = slowdown, m.p.latency_s = latency_ms * 1e-3;
    if ((rc = image_costs(x, images, in, &m)) || (rc = run_times(net, x, images, &m))) goto done;

    ecn_delay_crossover cx[8];
    int n_cx = ecn_delay_crossovers(&m.p, 0, INFINITY, cx, 8);
    if (n_cx > 8) n_cx = 8;
    if (json) print_json(pos[0], &m, mbps, n_rates, cx, n_cx);
    else print_table(&m, mbps, n_rates, cx, n_cx);
    rc = svg ? write_svg(svg, &m.p) : EXIT_OK;
    if (svg && rc == EXIT_OK && !json) printf("wrote %s\n", svg);
done:
    free(x);
    free(idx);
    ecn_net_free(net);
    ecn_dataset_free(&ds);
    return rc;
}
