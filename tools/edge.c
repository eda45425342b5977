/* edge.c - `ecnet edge CFG WEIGHTS --cloud HOST:PORT --data DATA`: run the
 * edge half over a test set, answer at the exits, offload the rest to a
 * cloud (src/net/edge.h), and report accuracy, offload rate and latency. */
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "net/auth.h"
#include "net/edge.h"
#include "net/linkproxy.h"
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

static void report(const ecn_edge_stats *s, double seconds, int json, const ecn_link_stats *link)
{
    qsort(s->latency_ms, (size_t)s->results, sizeof *s->latency_ms, cmp_double);
    double top1 = s->labelled ? (double)s->correct / (double)s->labelled : 0;
    double offload = s->frames ? (double)s->offloaded / (double)s->frames : 0;
    double bytes = s->offloaded ? s->offload_bytes / (double)s->offloaded : 0;
    double p50 = percentile(s->latency_ms, s->results, 0.5), p99 = percentile(s->latency_ms, s->results, 0.99);
    double fps = seconds > 0 ? (double)s->frames / seconds : 0;
    if (json) {
        printf("{\"frames\":%ld,\"results\":%ld,\"top1\":%.6f,\"offload_rate\":%.6f,\"offloaded\":%ld,"
               "\"fallbacks\":%ld,\"bytes_per_offload\":%.1f,\"offload_bytes\":%.0f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"seconds\":%.3f,\"frames_per_s\":%.1f,\"refused\":%ld,\"bad_replies\":%ld",
               s->frames, s->results, top1, offload, s->offloaded, s->fallbacks, bytes, s->offload_bytes, p50,
               p99, seconds, fps, s->refused, s->bad_replies);
        if (link)
            printf(",\"link\":{\"up_messages\":%ld,\"up_lost\":%ld,\"down_messages\":%ld,\"down_lost\":%ld,"
                   "\"up_bytes\":%.0f,\"down_bytes\":%.0f,\"connections\":%ld}",
                   link->up_messages, link->up_lost, link->down_messages, link->down_lost, link->up_bytes,
                   link->down_bytes, link->connections);
        printf("}\n");
        return;
    }
    printf("frames %ld  results %ld  top-1 %.2f%%  offload %.1f%%  fallbacks %ld\n"
           "bytes/offload %.1f  latency p50 %.3f ms  p99 %.3f ms  %.1f frames/s\n",
           s->frames, s->results, 100 * top1, 100 * offload, s->fallbacks, bytes, p50, p99, fps);
    if (link)
        printf("link: %ld messages up (%ld lost), %ld down (%ld lost), %ld connection(s)\n", link->up_messages,
               link->up_lost, link->down_messages, link->down_lost, link->connections);
}

/* What the edge streams: images first, first+1, ... (wrapping around the
 * set), `count` of them, or for `seconds` when that is set; at `fps` frames
 * per second when set (a camera), else as fast as the edge goes. */
typedef struct stream_plan {
    int first, count;
    double seconds, fps;
} stream_plan;

static void sleep_until(double t)
{
    double wait = t - cli_now();
    if (wait <= 0) return;
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
}

static int run_images(ecn_edge *e, ecn_net *net, const ecn_dataset *ds, const stream_plan *plan, ecn_err *err)
{
    float *x = malloc(ecn_shape_size(ecn_net_input_shape(net)) * sizeof *x);
    int rc = x ? 0 : EXIT_FAIL;
    double start = cli_now();
    for (long k = 0; rc == 0; k++) {
        if (plan->seconds > 0 ? cli_now() - start >= plan->seconds : k >= plan->count) break;
        if (plan->fps > 0) sleep_until(start + (double)k / plan->fps);
        int i = (int)((plan->first + k) % ds->n);
        if (ecn_dataset_batch(ds, &i, 1, ecn_net_input_shape(net), NULL, NULL, x, NULL, 0, err) ||
            ecn_edge_submit_keyed(e, x, i, ds->labels ? ds->labels[i] : -1, err))
            rc = cli_fail(err);
    }
    ecn_edge_drain(e);
    free(x);
    return rc;
}

/* The edge, optionally behind an emulated link, streaming the plan. */
static int run_edge(ecn_net *net, ecn_edge_opts *eo, const ecn_link_opts *lk, int use_link,
                    const char *data, int images, stream_plan *plan, int json)
{
    ecn_dataset ds = {0};
    ecn_edge *e = NULL;
    ecn_linkproxy *proxy = NULL;
    ecn_link_stats ls = {0};
    ecn_err err;
    int rc = 0, proxy_port = 0;
    if (ecn_dataset_open(data, 1, &ds, &err)) return cli_fail(&err);
    if (use_link && ecn_linkproxy_start(eo->host, eo->port, lk, &proxy_port, &proxy, &err)) {
        rc = cli_fail(&err);
    } else {
        if (use_link) eo->host = "127.0.0.1", eo->port = proxy_port;
        if (ecn_edge_open(net, eo, &e, &err)) rc = cli_fail(&err);
    }
    if (rc == 0) {
        plan->count = images > 0 ? images : ds.n;
        double start = cli_now();
        rc = run_images(e, net, &ds, plan, &err);
        double seconds = cli_now() - start;
        ecn_linkproxy_stop(proxy, &ls);
        proxy = NULL;
        if (rc == 0) report(ecn_edge_get_stats(e), seconds, json, use_link ? &ls : NULL);
    }
    ecn_linkproxy_stop(proxy, NULL);
    ecn_edge_free(e);
    ecn_dataset_free(&ds);
    return rc;
}

int cmd_edge(int argc, char **argv)
{
    const char *cloud = NULL, *data = NULL, *key_file = NULL;
    int images = 0, deadline = 1000, window = 4, json = 0, threads = 1, first = 0, seed = 1, replay = 0;
    float duration = 0, fps = 0, mbps = 0, delay_ms = 0, loss = 0, threshold = -1;
    cli_opt opts[] = {
        {"--cloud", OPT_STRING, &cloud, "HOST:PORT", "where `ecnet cloud` listens"},
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--images", OPT_INT, &images, "N", "N images (default: the whole set once)"},
        {"--first", OPT_INT, &first, "I", "start at image I, wrapping around the set (default 0)"},
        {"--duration", OPT_FLOAT, &duration, "S", "stream for S seconds instead, wrapping around the set"},
        {"--fps", OPT_FLOAT, &fps, "F", "a camera: F frames per second (default: as fast as it goes)"},
        {"--threshold", OPT_FLOAT, &threshold, "T", "every exit's entropy threshold (0: offload all)"},
        {"--deadline-ms", OPT_INT, &deadline, "D", "a reply later than this falls back to the exits (default 1000)"},
        {"--window", OPT_INT, &window, "W", "frames in flight (default 4)"},
        {"--key-file", OPT_STRING, &key_file, "F", "sign frames with this key, shared with the cloud's --key-file"},
        {"--link-mbps", OPT_FLOAT, &mbps, "R", "emulate a link of R Mbit/s each way (default: none)"},
        {"--link-delay-ms", OPT_FLOAT, &delay_ms, "D", "emulated one-way delay (default 0)"},
        {"--link-loss", OPT_FLOAT, &loss, "P", "emulated probability that a message is lost (default 0)"},
        {"--link-seed", OPT_INT, &seed, "S", "seed of the emulated losses (default 1)"},
        {"--replay", OPT_INT, &replay, "N", "load generator: heads of the first N images run once, then replay"},
        {"--threads", OPT_INT, &threads, "T", "threads of the network (default 1)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet edge CFG WEIGHTS --cloud HOST:PORT --data DATA [--images N | --duration S] [--fps F]\n"
                     "       [--threshold T] [--deadline-ms D] [--window W] [--key-file F]\n"
                     "       [--link-mbps R] [--link-delay-ms D] [--link-loss P] [--json]",
                     "The edge half of a split network: runs the layers up to the [split] on each\n"
                     "image, answers where an exit is sure enough, and offloads the rest to a cloud.\n"
                     "Late or lost replies fall back to the most confident exit.  Reports top-1,\n"
                     "offload rate, fallbacks, bytes per offload, and p50/p99 latency.  The --link\n"
                     "options put an emulated link (rate, one-way delay, message loss, both ways)\n"
                     "between the edge and the cloud, as a weak wireless link would be.",
                     opts, sizeof opts / sizeof *opts, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    ecn_edge_opts eo = {.deadline_ms = deadline, .window = window, .replay = replay};
    char host[256];
    ecn_err err;
    if (!cloud || !data || images < 0 || first < 0 || duration < 0 || fps < 0 || deadline < 1 || window < 1 ||
        replay < 0 ||
        mbps < 0 || delay_ms < 0 || loss < 0 || loss > 1) {
        fprintf(stderr, "ecnet: edge needs --cloud and --data, positive numbers and a loss in [0, 1]\n"
                        "usage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if (ecn_parse_hostport(cloud, host, sizeof host, &eo.port, &err)) {
        fprintf(stderr, "ecnet: %s\n", err.msg);
        return EXIT_USAGE;
    }
    eo.host = host, eo.log = stderr;
    ecn_key key;
    int loose = 0;
    if (key_file && ecn_key_load(key_file, &key, &loose, &err)) return cli_fail(&err);
    if (loose)
        fprintf(stderr, "ecnet: warning: key file %s can be read by its group or others (chmod 600 it)\n", key_file);
    eo.key = key_file ? &key : NULL;
    signal(SIGPIPE, SIG_IGN);
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) return rc;
    for (int k = 0; threshold >= 0 && k < ecn_net_exit_count(net); k++) ecn_net_set_exit_threshold(net, k, threshold);
    ecn_link_opts lk = {mbps, delay_ms, loss, (unsigned long long)seed};
    stream_plan plan = {.first = first, .seconds = duration, .fps = fps};
    rc = run_edge(net, &eo, &lk, mbps > 0 || delay_ms > 0 || loss > 0, data, images, &plan, json);
    ecn_net_free(net);
    if (key_file) ecn_key_wipe(&key);
    return rc;
}
