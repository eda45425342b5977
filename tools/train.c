/* train.c - `ecnet train CFG --data DATA`: train a classifier.
 *
 * Progress goes to stderr (a bar on a terminal, a line per epoch otherwise);
 * the accuracy curve (one row per epoch) to stdout, or one JSON object with
 * --json.  Ctrl-C (or SIGTERM) saves a checkpoint before exiting; --resume
 * continues from it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/net.h"
#include "train/train.h"

/* Set by the signal handler; read by the training loop between iterations.
 * A signal handler can only talk to the program through such a global. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct curve_point {
    int epoch;
    double top1, avg_loss, images_per_s, elapsed_s;
} curve_point;

typedef struct reporter {
    int quiet;
    curve_point points[1000];
    int n;
} reporter;

static void on_iteration(void *user, const ecn_train_status *st)
{
    reporter *r = user;
    if (r->quiet || !isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\r\033[Kepoch %d  iter %d/%d  loss %.4f (avg %.4f)  lr %.4g  %.0f img/s  eta %.0fs",
            st->epoch + 1, st->iteration, st->max_iterations, st->loss, st->avg_loss, st->lr,
            st->images_per_s, st->eta_s);
}

static void on_epoch(void *user, const ecn_train_status *st)
{
    reporter *r = user;
    if (r->n < (int)(sizeof r->points / sizeof r->points[0]))
        r->points[r->n++] = (curve_point){st->epoch, st->valid_top1, st->avg_loss, st->images_per_s, st->elapsed_s};
    if (r->quiet) return;
    if (isatty(STDERR_FILENO)) fputc('\n', stderr);
    fprintf(stderr, "epoch %d: avg loss %.4f, %.0f img/s, %.0fs", st->epoch, st->avg_loss, st->images_per_s, st->elapsed_s);
    if (st->valid_top1 >= 0) fprintf(stderr, ", test top-1 %.2f%%", 100 * st->valid_top1);
    fputc('\n', stderr);
}

static void print_curve(const reporter *r, int json, const char *final)
{
    if (json) {
        printf("{\"weights\":");
        json_string(stdout, final);
        printf(",\"epochs\":[");
        for (int i = 0; i < r->n; i++)
            printf("%s{\"epoch\":%d,\"top1\":%.6f,\"avg_loss\":%.6f,\"images_per_s\":%.1f,\"elapsed_s\":%.1f}",
                   i ? "," : "", r->points[i].epoch, r->points[i].top1, r->points[i].avg_loss,
                   r->points[i].images_per_s, r->points[i].elapsed_s);
        printf("]}\n");
        return;
    }
    printf("epoch  test top-1  avg loss   img/s  elapsed\n");
    for (int i = 0; i < r->n; i++)
        printf("%5d  %9.2f%%  %8.4f  %6.0f  %6.0fs\n", r->points[i].epoch, 100 * r->points[i].top1,
               r->points[i].avg_loss, r->points[i].images_per_s, r->points[i].elapsed_s);
    printf("weights: %s\n", final);
}

static const char *base_name(const char *path, char *buf, size_t n)
{
    const char *b = strrchr(path, '/');
    snprintf(buf, n, "%s", b ? b + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

int cmd_train(int argc, char **argv)
{
    const char *init = NULL, *data = NULL, *out = "backup";
    int resume = 0, save_every = 0, threads = 0, json = 0, no_augment = 0, seed = 1, crop = 2, no_flip = 0;
    cli_opt opts[] = {
        {"--weights", OPT_STRING, &init, "INIT", "start from these weights (their 'seen' is reset)"},
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file, or fashion-mnist"},
        {"--out", OPT_STRING, &out, "DIR", "where checkpoints go (default backup/)"},
        {"--resume", OPT_FLAG, &resume, NULL, "continue from DIR/NAME_last.weights"},
        {"--save-every", OPT_INT, &save_every, "N", "iterations between checkpoints (default: each epoch)"},
        {"--seed", OPT_INT, &seed, "S", "seed of the data order, augmentation and dropout (default 1)"},
        {"--crop", OPT_INT, &crop, "N", "random crops: pad by N pixels, crop back (default 2; 0: none)"},
        {"--no-flip", OPT_FLAG, &no_flip, NULL, "no random horizontal flips"},
        {"--no-augment", OPT_FLAG, &no_augment, NULL, "no random crops and flips"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object at the end, no progress"},
    };
    cli_spec spec = {"ecnet train CFG --data DATA [--weights INIT] [--out DIR] [--resume] "
                     "[--save-every N] [--seed S] [--json]",
                     "Train a classifier with the [net] section's batch, subdivisions, learning\n"
                     "rate policy, momentum and decay, until max_batches updates.  The test split\n"
                     "(valid= in a .data file) is evaluated after every epoch.",
                     opts, 11, 1, 1};
    const char *pos[1];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    rc = EXIT_OK;
    if (!data || crop < 0 || crop > 64) {
        fprintf(stderr, "ecnet: train needs --data (and --crop from 0 to 64)\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ecnet: cannot create %s: %s\n", out, strerror(errno));
        return EXIT_FAIL;
    }
    ecn_err err;
    ecn_net *net = NULL;
    ecn_dataset train = {0}, valid = {0};
    char name[256], last[4096], final[4096];
    ecn_augment aug = {.flip = !no_flip, .crop_pad = crop};
    reporter rep = {.quiet = json};
    ecn_train_opts to = {out, base_name(pos[0], name, sizeof name), save_every, (unsigned long long)seed,
                         no_augment ? NULL : &aug, NULL, &stop_requested, on_iteration, on_epoch, &rep};
    ecn_train_paths(&to, last, final, sizeof last);
    if (ecn_train_open(pos[0], threads, &net, &err)) return cli_fail(&err);
    cli_print_warnings(net);
    const char *from = resume ? last : init;
    if (from && ecn_net_load_weights(net, from, &err)) rc = cli_fail(&err);
    if (!rc && !from) ecn_net_randomize(net, (unsigned long long)seed);
    if (!rc && !resume) net->seen = 0;
    if (!rc && ecn_dataset_open(data, 0, &train, &err)) rc = cli_fail(&err);
    if (!rc && ecn_dataset_open(data, 1, &valid, &err) == 0) to.valid = &valid;
    if (!rc) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (ecn_train(net, &train, &to, &err)) rc = cli_fail(&err);
        else if (stop_requested) {
            fprintf(stderr, "\nstopped: checkpoint saved to %s (continue with --resume)\n", last);
            rc = EXIT_FAIL;
        } else {
            print_curve(&rep, json, final);
        }
    }
    ecn_dataset_free(&train);
    ecn_dataset_free(&valid);
    ecn_net_free(net);
    return rc;
}
