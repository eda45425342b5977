/* bench.c - `ecnet bench`: time the forward pass.
 *
 * Runs one warm-up pass and then --iters timed passes (random weights unless
 * --weights is given, batch norm folded as for inference) and prints the
 * mean and best time, the effective GFLOPS (network FLOPs / best time) and
 * the peak resident memory of the process.  --layers adds the time of each
 * layer (mean over the timed passes): that is what split points are chosen
 * from.  --sgemm also measures this machine's OpenBLAS sgemm peak. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "cpu/gemm.h"

typedef struct timer {
    double last;
    double *per_layer; /* accumulated seconds */
} timer;

static void layer_done(void *user, int layer, const float *out, size_t n)
{
    (void)out, (void)n;
    timer *t = user;
    double now = cli_now();
    t->per_layer[layer] += now - t->last;
    t->last = now;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static double net_flops(const ecn_net *net)
{
    double f = 0;
    for (int i = 0; i < ecn_net_layer_count(net); i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        f += li.flops;
    }
    return f;
}

static void report(const ecn_net *net, const char *cfg, int iters, double mean, double best,
                   const timer *t, int layers, double sgemm, double peak_mb, int json)
{
    double gflops = net_flops(net) / best / 1e9;
    int n = ecn_net_layer_count(net);
    ecn_shape in = ecn_net_input_shape(net);
    if (json) {
        printf("{\"cfg\":");
        json_string(stdout, cfg);
        printf(",\"width\":%d,\"height\":%d,\"threads\":%d,\"iters\":%d,\"ms_mean\":%.3f,"
               "\"ms_best\":%.3f,\"bflops\":%.4f,\"gflops\":%.2f,\"peak_rss_mb\":%.1f,\"blas_core\":",
               in.w, in.h, ecn_net_threads(net), iters, mean * 1e3, best * 1e3, net_flops(net) / 1e9,
               gflops, peak_mb);
        json_string(stdout, ecn_gemm_corename());
        if (sgemm > 0) printf(",\"sgemm_gflops\":%.2f", sgemm);
        if (ecn_net_gpu_device(net) >= 0) printf(",\"gpu\":%d", ecn_net_gpu_device(net));
        if (layers) {
            printf(",\"layers\":[");
            for (int i = 0; i < n; i++) {
                ecn_layer_info li;
                ecn_net_layer_info(net, i, &li);
                printf("%s{\"index\":%d,\"type\":\"%s\",\"ms\":%.4f,\"bflops\":%.5f}", i ? "," : "", i,
                       li.type, t->per_layer[i] / iters * 1e3, li.flops / 1e9);
            }
            printf("]");
        }
        printf("}\n");
        return;
    }
    if (layers) {
        printf("layer type           output               ms     GFLOPS\n");
        for (int i = 0; i < n; i++) {
            ecn_layer_info li;
            ecn_net_layer_info(net, i, &li);
            double ms = t->per_layer[i] / iters * 1e3;
            printf("%5d %-13s %4d x%4d x%5d %8.3f %8.1f\n", i, li.type, li.out.w, li.out.h, li.out.c,
                   ms, ms > 0 ? li.flops / ms / 1e6 : 0);
        }
    }
    printf("%s %dx%d: %.2f ms/forward (best %.2f), %.1f GFLOPS, %.3f BFLOPs, peak memory %.1f MB, "
           "%d threads, BLAS core %s\n",
           cfg, in.w, in.h, mean * 1e3, best * 1e3, gflops, net_flops(net) / 1e9, peak_mb,
           ecn_net_threads(net), ecn_gemm_corename());
    if (ecn_net_gpu_device(net) >= 0) printf("(on GPU %d)\n", ecn_net_gpu_device(net));
    if (sgemm > 0) printf("OpenBLAS sgemm peak: %.1f GFLOPS (ecnet reaches %.0f%% of it)\n", sgemm, 100 * gflops / sgemm);
}

int cmd_bench(int argc, char **argv)
{
    const char *weights = NULL;
    int width = 0, height = 0, iters = 10, threads = 0, json = 0, layers = 0, sgemm = 0, gpu = -1;
    cli_opt opts[] = {
        {"--weights", OPT_STRING, &weights, "W", "weights to load (default: random)"},
        {"--width", OPT_INT, &width, "W", "input width (default: the cfg's)"},
        {"--height", OPT_INT, &height, "H", "input height (default: the cfg's)"},
        {"--iters", OPT_INT, &iters, "N", "timed passes (default 10)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--layers", OPT_FLAG, &layers, NULL, "also print the time of each layer"},
        {"--sgemm", OPT_FLAG, &sgemm, NULL, "also measure the OpenBLAS sgemm peak (2048^3)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"--gpu", OPT_INT, &gpu, "N", "run on CUDA device N (a GPU=1 build)"},
    };
    cli_spec spec = {"ecnet bench CFG [--weights W] [--width W --height H] [--iters N] "
                     "[--threads T] [--layers] [--sgemm] [--json] [--gpu N]",
                     "Time the forward pass of a network (batch 1) and report ms/forward,\n"
                     "effective GFLOPS and peak memory.  With --gpu the times include copying\n"
                     "the input to the device and the output back (--layers then also copies\n"
                     "every layer's output, which waits for it).",
                     opts, 9, 1, 1};
    const char *pos[1];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (iters < 1) {
        fprintf(stderr, "ecnet: --iters must be at least 1\n");
        return EXIT_USAGE;
    }
    if ((rc = cli_check_gpu(gpu))) return rc;
    ecn_load_opts lo = {.batch = 1, .width = width, .height = height, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], weights, &lo, &net))) return rc;
    if (!weights) {
        ecn_net_randomize(net, 1);
        ecn_net_fold_batchnorm(net);
    }
    if ((rc = cli_use_gpu(net, gpu))) {
        ecn_net_free(net);
        return rc;
    }
    size_t n_in = ecn_shape_size(ecn_net_input_shape(net));
    float *x = malloc(n_in * sizeof *x);
    timer t = {0, calloc((size_t)ecn_net_layer_count(net), sizeof(double))};
    if (!x || !t.per_layer) {
        fprintf(stderr, "ecnet: out of memory\n");
        return EXIT_FAIL;
    }
    unsigned long long rng = 7;
    for (size_t i = 0; i < n_in; i++) x[i] = (float)((rng = rng * 6364136223846793005ULL + 1) >> 40) / 16777216.f;
    double total = 0, best = 1e30;
    /* warm-up: page in weights and buffers */
    rc = ecn_net_forward(net, x, NULL, NULL) ? EXIT_OK : cli_gpu_failed(net);
    for (int it = 0; it < iters && !rc; it++) {
        double start = cli_now();
        t.last = start;
        if (!ecn_net_forward(net, x, layers ? layer_done : NULL, &t)) rc = cli_gpu_failed(net);
        double dt = cli_now() - start;
        total += dt;
        if (dt < best) best = dt;
        cli_progress(json, "bench", it + 1, iters, total);
    }
    double peak_mb = peak_rss_mb(); /* before the sgemm probe's buffers */
    double peak = sgemm && !rc ? ecn_gemm_probe_gflops(2048, ecn_net_threads(net)) : 0;
    if (!rc) report(net, pos[0], iters, total / iters, best, &t, layers, peak, peak_mb, json);
    free(x);
    free(t.per_layer);
    ecn_net_free(net);
    return rc;
}
