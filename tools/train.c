/* train.c - `ecnet train CFG --data DATA`: train a classifier or a detector.
 *
 * Progress goes to stderr (a bar on a terminal, a line per epoch otherwise);
 * the accuracy curve (one row per epoch: test top-1 for a classifier, test
 * mAP@0.5 for a detector) to stdout, or one JSON object with --json.
 * Augmentation: random crops and flips for classification; Darknet's jitter
 * (random cuts and pads of each side), flips and colour changes (hue,
 * saturation, exposure) for detection.  Ctrl-C (or SIGTERM) saves a checkpoint before exiting; --resume
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
    double score, avg_loss, images_per_s, elapsed_s; /* score: top-1 or mAP@0.5 */
} curve_point;

typedef struct reporter {
    int quiet, detector;
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
    double score = r->detector ? st->valid_map50 : st->valid_top1;
    if (r->n < (int)(sizeof r->points / sizeof r->points[0]))
        r->points[r->n++] = (curve_point){st->epoch, score, st->avg_loss, st->images_per_s, st->elapsed_s};
    if (r->quiet) return;
    if (isatty(STDERR_FILENO)) fputc('\n', stderr);
    fprintf(stderr, "epoch %d: avg loss %.4f, %.0f img/s, %.0fs", st->epoch, st->avg_loss, st->images_per_s, st->elapsed_s);
    if (st->valid_top1 >= 0) fprintf(stderr, ", test top-1 %.2f%%", 100 * st->valid_top1);
    if (st->valid_map50 >= 0) fprintf(stderr, ", test mAP@0.5 %.2f%%", 100 * st->valid_map50);
    fputc('\n', stderr);
}

static void print_curve(const reporter *r, int json, const char *final)
{
    const char *key = r->detector ? "map50" : "top1";
    if (json) {
        printf("{\"weights\":");
        json_string(stdout, final);
        printf(",\"epochs\":[");
        for (int i = 0; i < r->n; i++)
            printf("%s{\"epoch\":%d,\"%s\":%.6f,\"avg_loss\":%.6f,\"images_per_s\":%.1f,\"elapsed_s\":%.1f}",
                   i ? "," : "", r->points[i].epoch, key, r->points[i].score, r->points[i].avg_loss,
                   r->points[i].images_per_s, r->points[i].elapsed_s);
        printf("]}\n");
        return;
    }
    printf("epoch  %10s  avg loss   img/s  elapsed\n", r->detector ? "test mAP50" : "test top-1");
    for (int i = 0; i < r->n; i++)
        printf("%5d  %9.2f%%  %8.4f  %6.0f  %6.0fs\n", r->points[i].epoch, 100 * r->points[i].score,
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

typedef struct train_args {
    const char *init, *data, *out;
    int resume, save_every, threads, json, no_augment, seed, crop, no_flip, valid_limit;
    float jitter, hue, saturation, exposure;
} train_args;

/* Open the sets, load or randomize the weights, train, report. */
static int run_training(const char *cfg, const train_args *a, ecn_net *net)
{
    ecn_err err;
    ecn_dataset train = {0}, valid = {0};
    char name[256], last[4096], final[4096];
    reporter rep = {.quiet = a->json};
    ecn_augment aug = {.flip = !a->no_flip};
    ecn_train_opts to = {.out_dir = a->out, .name = base_name(cfg, name, sizeof name), .save_every = a->save_every,
                         .seed = (unsigned long long)a->seed, .aug = a->no_augment ? NULL : &aug,
                         .valid_limit = a->valid_limit, .stop = &stop_requested, .on_iteration = on_iteration,
                         .on_epoch = on_epoch, .user = &rep};
    ecn_train_paths(&to, last, final, sizeof last);
    int rc = EXIT_OK;
    const char *from = a->resume ? last : a->init;
    if (from && ecn_net_load_weights(net, from, &err)) rc = cli_fail(&err);
    if (!rc && !from) ecn_net_randomize(net, (unsigned long long)a->seed);
    if (!rc && !a->resume) net->seen = 0;
    if (!rc && ecn_dataset_open(a->data, 0, &train, &err)) rc = cli_fail(&err);
    if (!rc && ecn_dataset_open(a->data, 1, &valid, &err) == 0) to.valid = &valid;
    rep.detector = !rc && ecn_dataset_is_detection(&train);
    aug.crop_pad = a->crop >= 0 ? a->crop : rep.detector ? 0 : 2;
    if (rep.detector) aug.jitter = a->jitter, aug.hue = a->hue, aug.saturation = a->saturation, aug.exposure = a->exposure;
    if (!rc) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (ecn_train(net, &train, &to, &err)) rc = cli_fail(&err);
        else if (stop_requested) {
            fprintf(stderr, "\nstopped: checkpoint saved to %s (continue with --resume)\n", last);
            rc = EXIT_FAIL;
        } else {
            print_curve(&rep, a->json, final);
        }
    }
    ecn_dataset_free(&train);
    ecn_dataset_free(&valid);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_args a = {.out = "backup", .seed = 1, .crop = -1, .jitter = .2f, .hue = .1f, .saturation = 1.5f,
                    .exposure = 1.5f};
    cli_opt opts[] = {
        {"--weights", OPT_STRING, &a.init, "INIT", "start from these weights (their 'seen' is reset)"},
        {"--data", OPT_STRING, &a.data, "DATA", "a Darknet .data file, or fashion-mnist"},
        {"--out", OPT_STRING, &a.out, "DIR", "where checkpoints go (default backup/)"},
        {"--resume", OPT_FLAG, &a.resume, NULL, "continue from DIR/NAME_last.weights"},
        {"--save-every", OPT_INT, &a.save_every, "N", "iterations between checkpoints (default: each epoch)"},
        {"--seed", OPT_INT, &a.seed, "S", "seed of the data order, augmentation and dropout (default 1)"},
        {"--crop", OPT_INT, &a.crop, "N", "random crops: pad by N pixels, crop back (default 2, detection 0)"},
        {"--jitter", OPT_FLOAT, &a.jitter, "J", "detection: cut or pad each side by up to J of the size (default 0.2)"},
        {"--hue", OPT_FLOAT, &a.hue, "H", "detection: turn the hue by up to H of the circle (default 0.1)"},
        {"--saturation", OPT_FLOAT, &a.saturation, "S", "detection: saturation x 1/S to S (default 1.5; 1: off)"},
        {"--exposure", OPT_FLOAT, &a.exposure, "E", "detection: brightness x 1/E to E (default 1.5; 1: off)"},
        {"--no-flip", OPT_FLAG, &a.no_flip, NULL, "no random horizontal flips"},
        {"--no-augment", OPT_FLAG, &a.no_augment, NULL, "no random crops, jitter, flips or colours"},
        {"--valid-limit", OPT_INT, &a.valid_limit, "N", "detection: mAP after each epoch on the first N test images"},
        {"--threads", OPT_INT, &a.threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &a.json, NULL, "print one JSON object at the end, no progress"},
    };
    cli_spec spec = {"ecnet train CFG --data DATA [--weights INIT] [--out DIR] [--resume] "
                     "[--save-every N] [--seed S] [--jitter J] [--valid-limit N] [--json]",
                     "Train a classifier or a detector with the [net] section's batch, subdivisions,\n"
                     "learning rate policy, momentum and decay, until max_batches updates.  The\n"
                     "test split (valid= in a .data file) is evaluated after every epoch: top-1\n"
                     "for a classifier, mAP@0.5 for a detector (a set with label files).",
                     opts, 16, 1, 1};
    const char *pos[1];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!a.data || a.crop < -1 || a.crop > 64 || !(a.jitter >= 0 && a.jitter < .5f) || a.valid_limit < 0 ||
        !(a.hue >= 0 && a.hue <= .5f) || !(a.saturation >= 1) || !(a.exposure >= 1)) {
        fprintf(stderr, "ecnet: train needs --data (and --crop from 0 to 64, --jitter from 0 to below 0.5, --hue\n"
                        "from 0 to 0.5, --saturation and --exposure of 1 or more)\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if (mkdir(a.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ecnet: cannot create %s: %s\n", a.out, strerror(errno));
        return EXIT_FAIL;
    }
    ecn_err err;
    ecn_net *net = NULL;
    if (ecn_train_open(pos[0], a.threads, &net, &err)) return cli_fail(&err);
    cli_print_warnings(net);
    rc = run_training(pos[0], &a, net);
    ecn_net_free(net);
    return rc;
}
