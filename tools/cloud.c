/* cloud.c - `ecnet cloud CFG WEIGHTS --listen HOST:PORT`: serve the layers
 * after the [split] to edges over TCP (src/net/cloud.h), optionally in
 * batches and only to edges holding a shared key (src/net/auth.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "net/auth.h"
#include "net/cloud.h"
#include "net/transport.h"

/* Set by the signal handler, read by the server's loops: a handler can only
 * reach the program through such a global. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* SIGTERM/SIGINT end the accept loop (no SA_RESTART: poll wakes up). */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Every worker's networks: one per batch size of ecn_cloud_batch_sizes. */
static int load_copies(const char *cfg, const char *weights, int workers, int max_batch, int threads,
                       ecn_net ***out)
{
    int sizes[ECN_CLOUD_MAX_SIZES], n_sizes = ecn_cloud_batch_sizes(max_batch, sizes), n = workers * n_sizes;
    ecn_net **nets = calloc((size_t)n, sizeof *nets);
    if (!nets) return EXIT_FAIL;
    for (int i = 0; i < n; i++) {
        ecn_load_opts lo = {.batch = sizes[i % n_sizes], .threads = threads};
        int rc = cli_load_net(cfg, weights, &lo, &nets[i]);
        if (rc == 0 && ecn_net_split_layer(nets[i]) < 0) {
            fprintf(stderr, "ecnet: %s has no [split]: nothing to serve\n", cfg);
            rc = EXIT_FAIL;
        }
        if (rc) {
            for (int k = 0; k <= i; k++) ecn_net_free(nets[k]);
            free(nets);
            return rc;
        }
    }
    *out = nets;
    return EXIT_OK;
}

int cmd_cloud(int argc, char **argv)
{
    const char *listen_at = NULL, *key_file = NULL;
    int workers = 1, max_queue = 64, max_batch = 1, print_port = 0, threads = 1;
    cli_opt opts[] = {
        {"--listen", OPT_STRING, &listen_at, "HOST:PORT", "address to listen on (port 0: any free port)"},
        {"--workers", OPT_INT, &workers, "N", "network copies answering frames in parallel (default 1)"},
        {"--max-queue", OPT_INT, &max_queue, "Q", "frames waiting before readers block (default 64)"},
        {"--max-batch", OPT_INT, &max_batch, "B", "a worker answers up to B queued frames in one pass (default 1)"},
        {"--key-file", OPT_STRING, &key_file, "F", "accept only frames signed with this shared key (16+ raw bytes)"},
        {"--threads", OPT_INT, &threads, "T", "threads per network copy (default 1)"},
        {"--print-port", OPT_FLAG, &print_port, NULL, "print \"listening on HOST:PORT\" once listening"},
    };
    cli_spec spec = {"ecnet cloud CFG WEIGHTS --listen HOST:PORT [--workers N] [--max-queue Q] [--max-batch B]\n"
                     "       [--key-file F] [--print-port]",
                     "The cloud half of a split network: receives frames (docs/wire.md) from edges,\n"
                     "runs the layers after the [split] and replies with the class scores.  A bad\n"
                     "frame gets an error reply.  With --key-file, frames must carry the shared\n"
                     "key's HMAC and a fresh sequence number; others are refused and logged on\n"
                     "stderr.  SIGTERM/SIGINT stop accepting, answer what is queued and exit 0.",
                     opts, sizeof opts / sizeof *opts, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    char host[256];
    ecn_err err;
    if (!listen_at || workers < 1 || max_queue < 1 || max_batch < 1 || threads < 0) {
        fprintf(stderr, "ecnet: cloud needs --listen (and --workers, --max-queue, --max-batch >= 1)\nusage: %s\n",
                spec.usage);
        return EXIT_USAGE;
    }
    ecn_cloud_opts co = {.host = host, .workers = workers, .max_queue = max_queue, .max_batch = max_batch,
                         .log = stderr};
    if (ecn_parse_hostport(listen_at, host, sizeof host, &co.port, &err)) {
        fprintf(stderr, "ecnet: %s\n", err.msg);
        return EXIT_USAGE;
    }
    ecn_key key;
    int loose = 0;
    if (key_file && ecn_key_load(key_file, &key, &loose, &err)) return cli_fail(&err);
    if (loose)
        fprintf(stderr, "ecnet: warning: key file %s can be read by its group or others (chmod 600 it)\n", key_file);
    co.key = key_file ? &key : NULL;
    ecn_net **nets;
    if ((rc = load_copies(pos[0], pos[1], workers, max_batch, threads, &nets))) return rc;
    install_signals();
    ecn_cloud *srv;
    if (ecn_cloud_open(nets, &co, &srv, &err)) {
        ecn_cloud_free(srv);
        return cli_fail(&err);
    }
    if (print_port) printf("listening on %s:%d\n", host, ecn_cloud_port(srv));
    fflush(stdout);
    rc = ecn_cloud_run(srv, &stop_flag, &err) ? cli_fail(&err) : EXIT_OK;
    ecn_cloud_stats st = ecn_cloud_get_stats(srv);
    fprintf(stderr, "ecnet cloud: stopped after %ld frames in %ld batches, %ld refused\n", st.answered, st.batches,
            st.refused);
    ecn_cloud_free(srv);
    if (key_file) ecn_key_wipe(&key);
    return rc;
}
