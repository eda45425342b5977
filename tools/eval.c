/* eval.c - `ecnet eval CFG WEIGHTS --data DATA`: accuracy of a classifier. */
#include <math.h>
#include <stdlib.h>

#include "cli.h"
#include "plot.h"
#include "core/net.h"
#include "layers/split.h"
#include "split/frame.h"
#include "train/eval.h"

static void progress(void *user, int done, int total)
{
    double *start = user;
    cli_progress(0, "eval", done, total, cli_now() - *start);
}

static void print_table(const ecn_dataset *ds, const ecn_eval_result *r)
{
    int k = r->classes;
    printf("top-1 %.2f%%  top-5 %.2f%%  (%d images, %.0f images/s)\n\nper class:\n", 100 * r->top1,
           100 * r->top5, r->images, r->images / r->seconds);
    for (int c = 0; c < k; c++) {
        int total = 0;
        for (int j = 0; j < k; j++) total += r->confusion[c * k + j];
        printf("  %-14s %6.2f%%  (%d)\n", ds->names ? ds->names[c] : "", total ? 100.0 * r->confusion[c * k + c] / total : 0, total);
    }
    if (k > 20) return;
    printf("\nconfusion (rows: true class, columns: predicted):\n");
    for (int c = 0; c < k; c++) {
        printf("  %2d", c);
        for (int j = 0; j < k; j++) printf(" %5d", r->confusion[c * k + j]);
        printf("\n");
    }
}

static void print_json(const ecn_dataset *ds, const ecn_eval_result *r)
{
    int k = r->classes;
    printf("{\"top1\":%.6f,\"top5\":%.6f,\"images\":%d,\"images_per_s\":%.1f,\"per_class\":[", r->top1,
           r->top5, r->images, r->images / r->seconds);
    for (int c = 0; c < k; c++) {
        int total = 0;
        for (int j = 0; j < k; j++) total += r->confusion[c * k + j];
        printf("%s{\"class\":%d,\"name\":", c ? "," : "", c);
        json_string(stdout, ds->names ? ds->names[c] : "");
        printf(",\"accuracy\":%.6f,\"images\":%d}", total ? (double)r->confusion[c * k + c] / total : 0, total);
    }
    printf("],\"confusion\":[");
    for (int c = 0; c < k; c++) {
        printf("%s[", c ? "," : "");
        for (int j = 0; j < k; j++) printf("%s%d", j ? "," : "", r->confusion[c * k + j]);
        printf("]");
    }
    printf("]}\n");
}

/* ---- networks with early exits or a split ---------------------------- */

static int split_bits(ecn_net *net)
{
    return net->split >= 0 && ecn_split_spec(&net->layers[net->split])->n ?
               ecn_split_spec(&net->layers[net->split])->t[0].quant.bits : 0;
}

static const char *split_codec(ecn_net *net)
{
    return net->split >= 0 && ecn_split_spec(&net->layers[net->split])->n ?
               ecn_codec_name(ecn_split_spec(&net->layers[net->split])->t[0].codec.opts.id) : NULL;
}

typedef struct exit_eval {
    ecn_net *net;
    const ecn_dataset *ds;
    float threshold; /* < 0: the cfg's */
    int json;
} exit_eval;

static void thresholds_of(const exit_eval *e, float *t)
{
    for (int k = 0; k < ecn_net_exit_count(e->net); k++)
        t[k] = e->threshold >= 0 ? e->threshold : ecn_net_exit_threshold(e->net, k);
}

static void print_exit_summary(const exit_eval *e, const ecn_exit_records *r, const float *t, int bits,
                               const char *codec)
{
    ecn_exit_summary s;
    ecn_exit_summarize(r, t, &s);
    if (e->json) {
        printf("{\"top1\":%.6f,\"images\":%d,\"offload_rate\":%.6f,\"bytes_per_offload\":%.1f,"
               "\"cloud_top1\":%.6f,\"edge_accuracy\":%.6f,\"bits\":%d,\"codec\":",
               s.top1, r->n, s.offload_rate, s.bytes_per_offload, s.cloud_top1, s.edge_accuracy, bits);
        json_string(stdout, codec ? codec : "");
        printf(",\"exits\":[");
        for (int k = 0; k < r->n_exits; k++)
            printf("%s{\"threshold\":%.6f,\"rate\":%.6f,\"accuracy\":%.6f}", k ? "," : "", t[k],
                   s.exit_rate[k], s.exit_accuracy[k]);
        printf("]}\n");
        return;
    }
    printf("end-to-end top-1 %.2f%% over %d images (every frame through the cloud: %.2f%%)\n", 100 * s.top1,
           r->n, 100 * s.cloud_top1);
    for (int k = 0; k < r->n_exits; k++)
        printf("  exit %d (entropy < %.3f): answers %5.1f%% of frames, %.2f%% of them right\n", k, t[k],
               100 * s.exit_rate[k], 100 * s.exit_accuracy[k]);
    printf("  offloaded: %.1f%% of frames, %.1f bytes per offloaded frame (%d-bit, %s)\n", 100 * s.offload_rate,
           s.bytes_per_offload, bits, codec ? codec : "-");
}

/* Offload rate and accuracies for thresholds from 0 to log(classes), for
 * each bit width at the split (the paper's Fig. 3), and the entropy
 * histogram of each exit (Fig. 2); with --svg, pictures of both. */
enum { SWEEP_STEPS = 21, SWEEP_WIDTHS = 6, HIST_BINS = 20 };

typedef struct sweep_data {
    int widths[SWEEP_WIDTHS], n_widths, n_exits;
    double threshold[SWEEP_STEPS];
    double top1[SWEEP_WIDTHS][SWEEP_STEPS], offload[SWEEP_WIDTHS][SWEEP_STEPS], exit_acc[SWEEP_WIDTHS][SWEEP_STEPS];
    double edges[HIST_BINS + 1], hist[ECN_MAX_EXITS][HIST_BINS];
} sweep_data;

static void sweep_width(sweep_data *d, int w, const ecn_exit_records *r)
{
    double hmax = log((double)r->classes);
    for (int i = 0; i < SWEEP_STEPS; i++) {
        float t[ECN_MAX_EXITS];
        d->threshold[i] = hmax * i / (SWEEP_STEPS - 1);
        for (int k = 0; k < r->n_exits; k++) t[k] = (float)d->threshold[i];
        ecn_exit_summary s;
        ecn_exit_summarize(r, t, &s);
        d->top1[w][i] = s.top1, d->offload[w][i] = s.offload_rate, d->exit_acc[w][i] = s.edge_accuracy;
    }
    if (w) return;
    for (int b = 0; b <= HIST_BINS; b++) d->edges[b] = hmax * b / HIST_BINS;
    for (int n = 0; n < r->n; n++)
        for (int k = 0; k < r->n_exits; k++) {
            int b = (int)(r->r[n].entropy[k] / hmax * HIST_BINS);
            d->hist[k][b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
        }
}

static void print_sweep(const sweep_data *d, int json)
{
    if (!json) {
        printf("bits  threshold  offload  exit-acc  top-1\n");
        for (int w = 0; w < d->n_widths; w++)
            for (int i = 0; i < SWEEP_STEPS; i++)
                printf("%4d  %9.3f  %6.1f%%  %7.2f%%  %6.2f%%\n", d->widths[w], d->threshold[i],
                       100 * d->offload[w][i], 100 * d->exit_acc[w][i], 100 * d->top1[w][i]);
        return;
    }
    printf("{\"sweep\":[");
    for (int w = 0; w < d->n_widths; w++) {
        printf("%s{\"bits\":%d,\"points\":[", w ? "," : "", d->widths[w]);
        for (int i = 0; i < SWEEP_STEPS; i++)
            printf("%s{\"threshold\":%.4f,\"offload_rate\":%.6f,\"exit_accuracy\":%.6f,\"top1\":%.6f}",
                   i ? "," : "", d->threshold[i], d->offload[w][i], d->exit_acc[w][i], d->top1[w][i]);
        printf("]}");
    }
    printf("],\"entropy_histograms\":[");
    for (int k = 0; k < d->n_exits; k++) {
        printf("%s{\"exit\":%d,\"edges\":[", k ? "," : "", k);
        for (int b = 0; b <= HIST_BINS; b++) printf("%s%.4f", b ? "," : "", d->edges[b]);
        printf("],\"counts\":[");
        for (int b = 0; b < HIST_BINS; b++) printf("%s%.0f", b ? "," : "", d->hist[k][b]);
        printf("]}");
    }
    printf("]}\n");
}

static int sweep_pictures(const sweep_data *d, const char *prefix, ecn_err *err)
{
    char path[1024], names[SWEEP_WIDTHS + 1][32];
    plot_series s[SWEEP_WIDTHS + 1];
    for (int w = 0; w < d->n_widths; w++) {
        snprintf(names[w], sizeof names[w], d->widths[w] == 32 ? "float" : "%d-bit", d->widths[w]);
        s[w] = (plot_series){names[w], d->threshold, d->top1[w], SWEEP_STEPS};
    }
    snprintf(path, sizeof path, "%s-accuracy.svg", prefix);
    if (plot_lines_svg(path, "End-to-end accuracy vs entropy threshold", "entropy threshold", "top-1", s,
                       d->n_widths, err))
        return -1;
    s[0] = (plot_series){"offload rate", d->threshold, d->offload[0], SWEEP_STEPS};
    s[1] = (plot_series){"exit accuracy", d->threshold, d->exit_acc[0], SWEEP_STEPS};
    snprintf(path, sizeof path, "%s-offload.svg", prefix);
    if (plot_lines_svg(path, "Offload rate and exit accuracy vs entropy threshold", "entropy threshold",
                       "fraction", s, 2, err))
        return -1;
    for (int k = 0; k < d->n_exits && k <= SWEEP_WIDTHS; k++) {
        snprintf(names[k], sizeof names[k], "exit %d", k);
        s[k] = (plot_series){names[k], NULL, d->hist[k], HIST_BINS};
    }
    snprintf(path, sizeof path, "%s-entropy.svg", prefix);
    return plot_histogram_svg(path, "Entropy of each exit's answer", "entropy", d->edges, s,
                              d->n_exits <= SWEEP_WIDTHS + 1 ? d->n_exits : SWEEP_WIDTHS + 1, err);
}

static int sweep(exit_eval *e, const char *svg, ecn_err *err)
{
    static const int widths[] = {32, 16, 8, 6, 4, 2};
    sweep_data *d = calloc(1, sizeof *d);
    if (!d) return ecn_fail(err, "out of memory");
    d->n_widths = ecn_net_has_split(e->net) ? SWEEP_WIDTHS : 1;
    d->n_exits = ecn_net_exit_count(e->net);
    int rc = 0;
    for (int w = 0; w < d->n_widths && rc == 0; w++) {
        d->widths[w] = widths[w];
        ecn_exit_records r;
        rc = (ecn_net_has_split(e->net) && ecn_net_split_configure(e->net, widths[w], NULL, err)) ||
             ecn_eval_exits_run(e->net, e->ds, &r, NULL, NULL, err);
        if (rc) break;
        sweep_width(d, w, &r);
        ecn_exit_records_free(&r);
        cli_progress(e->json, "sweep", w + 1, d->n_widths, 0);
    }
    if (rc == 0) print_sweep(d, e->json);
    if (rc == 0 && svg) rc = sweep_pictures(d, svg, err);
    free(d);
    return rc ? -1 : 0;
}

static int eval_exits(exit_eval *e, int bits, const char *codec, int do_sweep, const char *svg, ecn_err *err)
{
    if (ecn_net_has_split(e->net) && (bits || codec) && ecn_net_split_configure(e->net, bits, codec, err))
        return -1;
    if (do_sweep) return sweep(e, svg, err);
    ecn_exit_records r;
    double start = cli_now();
    if (ecn_eval_exits_run(e->net, e->ds, &r, e->json ? NULL : progress, &start, err)) return -1;
    float t[ECN_MAX_EXITS];
    thresholds_of(e, t);
    ecn_net *net = e->net;
    print_exit_summary(e, &r, t, ecn_net_has_split(net) ? (bits ? bits : split_bits(net)) : 0,
                       ecn_net_has_split(net) ? (codec ? codec : split_codec(net)) : NULL);
    ecn_exit_records_free(&r);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL, *codec = NULL, *svg = NULL;
    int json = 0, threads = 0, batch = 100, bits = 0, do_sweep = 0, gpu = -1;
    float threshold = -1;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--batch", OPT_INT, &batch, "N", "images per forward pass (default 100)"},
        {"--threshold", OPT_FLOAT, &threshold, "T", "entropy threshold of every exit (default: the cfg's)"},
        {"--bits", OPT_INT, &bits, "B", "bits at the split: 32, 16, 8, 6, 4, 2 (default: the cfg's)"},
        {"--codec", OPT_STRING, &codec, "C", "codec at the split: raw, zlib, huffman, rans"},
        {"--sweep", OPT_FLAG, &do_sweep, NULL, "thresholds from 0 to log(classes) for each bit width"},
        {"--svg", OPT_STRING, &svg, "PREFIX", "with --sweep: PREFIX-accuracy.svg, -offload.svg, -entropy.svg"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object (top1, top5, images, per_class, confusion)"},
        {"--gpu", OPT_INT, &gpu, "N", "run on CUDA device N (a GPU=1 build)"},
    };
    cli_spec spec = {"ecnet eval CFG WEIGHTS --data DATA [--batch N] [--threshold T] [--bits B] "
                     "[--codec C] [--sweep [--svg PREFIX]] [--json] [--gpu N]",
                     "Accuracy of a classifier on a test set: top-1, top-5, per-class accuracy and\n"
                     "the confusion matrix.  For a network with early exits or a [split]: the\n"
                     "end-to-end accuracy, the share of frames each exit answers and how well,\n"
                     "the offload rate and the bytes per offloaded frame (the split's tensors make\n"
                     "the real quantize/code/decode round trip).",
                     opts, 10, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!data || batch < 1) {
        fprintf(stderr, "ecnet: eval needs --data (and --batch >= 1)\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if ((rc = cli_check_gpu(gpu))) return rc;
    ecn_load_opts lo = {.batch = batch, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) return rc;
    if ((rc = cli_use_gpu(net, gpu))) {
        ecn_net_free(net);
        return rc;
    }
    ecn_err err;
    ecn_dataset ds = {0};
    ecn_eval_result r;
    double start = cli_now();
    if (ecn_net_exit_count(net) > 0 || ecn_net_has_split(net)) {
        exit_eval e = {net, &ds, threshold, json};
        if (ecn_dataset_open(data, 1, &ds, &err) || eval_exits(&e, bits, codec, do_sweep, svg, &err)) rc = cli_fail(&err);
        ecn_dataset_free(&ds);
        ecn_net_free(net);
        return rc;
    }
    if (bits || codec || threshold >= 0 || do_sweep) {
        fprintf(stderr, "ecnet: --threshold, --bits, --codec and --sweep need a network with [exit] or [split]\n");
        ecn_net_free(net);
        return EXIT_USAGE;
    }
    if (ecn_dataset_open(data, 1, &ds, &err) ||
        ecn_eval_classifier(net, &ds, &r, json ? NULL : progress, &start, &err)) {
        rc = cli_fail(&err);
    } else {
        if (json) print_json(&ds, &r);
        else print_table(&ds, &r);
        ecn_eval_result_free(&r);
    }
    ecn_dataset_free(&ds);
    ecn_net_free(net);
    return rc;
}
