/* edge.c - `ecnet edge CFG WEIGHTS --cloud HOST:PORT --data DATA`: run the
 * edge half over a test set, answer at the exits, offload the rest to a
 * cloud (src/net/edge.h), and report accuracy, offload rate and latency. */
#include <signal.h>
#include <stdlib.h>

#include "cli.h"
#include "net/edge.h"
#include "net/transport.h"
#include "train/data.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, long n, double q)
{
    if (n <= 0) return 0;
    long i = (long)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static void report(const ecn_edge_stats *s, double seconds, int json)
{
    qsort(s->latency_ms, (size_t)s->results, sizeof *s->latency_ms, cmp_double);
    double top1 = s->labelled ? (double)s->correct / (double)s->labelled : 0;
    double offload = s->frames ? (double)s->offloaded / (double)s->frames : 0;
    double bytes = s->offloaded ? s->offload_bytes / (double)s->offloaded : 0;
    double p50 = percentile(s->latency_ms, s->results, 0.5), p99 = percentile(s->latency_ms, s->results, 0.99);
    double fps = seconds > 0 ? (double)s->frames / seconds : 0;
    if (json)
        printf("{\"frames\":%ld,\"results\":%ld,\"top1\":%.6f,\"offload_rate\":%.6f,\"fallbacks\":%ld,"
               "\"bytes_per_offload\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"frames_per_s\":%.1f}\n",
               s->frames, s->results, top1, offload, s->fallbacks, bytes, p50, p99, fps);
    else
        printf("frames %ld  results %ld  top-1 %.2f%%  offload %.1f%%  fallbacks %ld\n"
               "bytes/offload %.1f  latency p50 %.3f ms  p99 %.3f ms  %.1f frames/s\n",
               s->frames, s->results, 100 * top1, 100 * offload, s->fallbacks, bytes, p50, p99, fps);
}

static int run_images(ecn_edge *e, ecn_net *net, const ecn_dataset *ds, int n, ecn_err *err)
{
    float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
    int rc = x ? 0 : EXIT_FAIL;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (ecn_dataset_batch(ds, &i, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, err) ||
            ecn_edge_submit(e, x, ds->labels ? ds->labels[i] : -1, err))
            rc = cli_fail(err);
    }
    ecn_edge_drain(e);
    free(x);
    return rc;
}

int cmd_edge(int argc, char **argv)
{
    const char *cloud = NULL, *data = NULL;
    int images = 0, deadline = 1000, window = 4, json = 0, threads = 1;
    cli_opt opts[] = {
        {"--cloud", OPT_STRING, &cloud, "HOST:PORT", "where `ecnet cloud` listens"},
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--images", OPT_INT, &images, "N", "only the first N images (default: all)"},
        {"--deadline-ms", OPT_INT, &deadline, "D", "a reply later than this falls back to the exits (default 1000)"},
        {"--window", OPT_INT, &window, "W", "frames in flight (default 4)"},
        {"--threads", OPT_INT, &threads, "T", "threads of the network (default 1)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet edge CFG WEIGHTS --cloud HOST:PORT --data DATA [--images N] [--deadline-ms D] "
                     "[--window W] [--json]",
                     "The edge half of a split network: runs the layers up to the [split] on each\n"
                     "image, answers where an exit is sure enough, and offloads the rest to a cloud.\n"
                     "Late or lost replies fall back to the most confident exit.  Reports top-1,\n"
                     "offload rate, fallbacks, bytes per offload, and p50/p99 latency.",
                     opts, 7, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    ecn_edge_opts eo = {.deadline_ms = deadline, .window = window};
    char host[256];
    ecn_err err;
    if (!cloud || !data || images < 0 || deadline < 1 || window < 1) {
        fprintf(stderr, "ecnet: edge needs --cloud and --data (and positive numbers)\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if (ecn_parse_hostport(cloud, host, sizeof host, &eo.port, &err)) {
        fprintf(stderr, "ecnet: %s\n", err.msg);
        return EXIT_USAGE;
    }
    eo.host = host;
    signal(SIGPIPE, SIG_IGN);
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) return rc;
    ecn_dataset ds = {0};
    ecn_edge *e = NULL;
    if (ecn_dataset_open(data, 1, &ds, &err) || ecn_edge_open(net, &eo, &e, &err)) {
        rc = cli_fail(&err);
    } else {
        int n = images > 0 && images < ds.n ? images : ds.n;
        double start = cli_now();
        rc = run_images(e, net, &ds, n, &err);
        if (rc == 0) report(ecn_edge_get_stats(e), cli_now() - start, json);
    }
    ecn_edge_free(e);
    ecn_dataset_free(&ds);
    ecn_net_free(net);
    return rc;
}
