/* discriminator.c - `ecnet discriminator fit SMALL_CFG SMALL_W BIG_CFG BIG_W
 * --data DATA`: fit the difficult-case discriminator's three thresholds on
 * the train list of a detection set and write them to a file for `ecnet
 * cascade --thresholds`.
 *
 * Both detectors' results on the train list come from the cache or a run
 * (cascade_tool.c); ecn_disc_fit (src/detect/discriminator.h) picks the
 * thresholds; the rules are then applied to the train list (and with --test
 * to the valid list) to report the upload ratio, the objects found, and how
 * well the flagged frames match the difficult ones (the paper's Table I). */
#include <stdlib.h>
#include <string.h>

#include "cascade_tool.h"
#include "cli.h"

typedef struct fit_args {
    cascade_io io;
    const char *method, *out, *rules;
    double target, min_escalated;
    int limit, test, json;
} fit_args;

typedef struct fit_report {
    ecn_cascade_result r;
    ecn_disc_quality q;
} fit_report;

static int apply(const cascade_list *l, const ecn_disc_thresholds *t, fit_report *rep)
{
    ecn_err err;
    unsigned char *up = ecn_calloc((size_t)l->c.images, 1, &err);
    if (!up) return cli_fail(&err);
    ecn_disc_decide(&l->c, t, up);
    int rc = ecn_cascade_evaluate(&l->c, up, &rep->r, &err) ? cli_fail(&err) : EXIT_OK;
    ecn_disc_quality_of(&l->c, up, &rep->q);
    free(up);
    return rc;
}

static void json_report(const char *name, const fit_report *rep)
{
    const ecn_disc_quality *q = &rep->q;
    printf(",\"%s\":{", name);
    cascade_json_result(stdout, "discriminator", &rep->r);
    printf(",\"difficult\":%d,\"flagged\":%d,\"hits\":%d,\"accuracy\":%.6f,\"precision\":%.6f,\"recall\":%.6f,"
           "\"f1\":%.6f}",
           q->difficult, q->flagged, q->hits, q->accuracy, q->precision, q->recall, q->f1);
}

static void table_report(const char *name, const fit_report *rep)
{
    const ecn_cascade_result *r = &rep->r;
    const ecn_disc_quality *q = &rep->q;
    char a[16], b[16], c[16];
    printf("%-5s %6d frames, %6.2f%% uploaded; objects %s of the big model's, mAP@0.5 %s of its; missed "
           "uploaded %s\n",
           name, r->images, 100 * r->upload_ratio, cascade_pct(r->objects_ratio, a, sizeof a),
           cascade_pct(r->map50_ratio, b, sizeof b), cascade_pct(r->missed_escalated, c, sizeof c));
    printf("      difficult %d, flagged %d: accuracy %.2f%%, precision %.2f%%, recall %.2f%%, F1 %.4f\n",
           q->difficult, q->flagged, 100 * q->accuracy, 100 * q->precision, 100 * q->recall, q->f1);
}

static void print_out(const fit_args *a, const ecn_disc_thresholds *t, const fit_report *train,
                      const fit_report *test)
{
    if (a->json) {
        printf("{\"method\":\"%s\",\"target_upload\":%g,\"out\":", a->method, a->target);
        json_string(stdout, a->out);
        printf(",\"thresholds\":");
        cascade_json_thresholds(stdout, t);
        json_report("train", train);
        if (test) json_report("test", test);
        printf("}\n");
        return;
    }
    printf("thresholds (%s): conf %g, count %d, area %g, rule 1b %s -> %s\n", a->method, t->conf, t->count, t->area,
           t->empty ? "on" : "off", a->out);
    table_report("train", train);
    if (test) table_report("test", test);
}

static int fit(const fit_args *a)
{
    ecn_err err;
    cascade_list train, test;
    ecn_disc_thresholds t;
    fit_report rtrain, rtest;
    ecn_disc_fit_opts fo = {strcmp(a->method, "paper") == 0 ? ECN_DISC_PAPER : ECN_DISC_BUDGET, a->target,
                            strcmp(a->rules, "all") == 0, a->min_escalated};
    int rc = cascade_list_open(&a->io, 0, a->limit, &train);
    if (!rc && ecn_disc_fit(&train.c, &fo, &t, &err)) rc = cli_fail(&err);
    if (!rc) rc = apply(&train, &t, &rtrain);
    cascade_list_free(&train);
    if (!rc) {
        char comment[256];
        if (fo.method == ECN_DISC_PAPER)
            snprintf(comment, sizeof comment, "method paper: %.4f uploaded on %d train frames", rtrain.r.upload_ratio,
                     rtrain.r.images);
        else
            snprintf(comment, sizeof comment, "method budget, target upload %g, min escalated %g, rules %s: %.4f "
                     "uploaded on %d train frames", a->target, a->min_escalated, a->rules, rtrain.r.upload_ratio,
                     rtrain.r.images);
        if (ecn_disc_save(a->out, &t, comment, &err)) rc = cli_fail(&err);
    }
    if (!rc && a->test) {
        rc = cascade_list_open(&a->io, 1, 0, &test);
        if (!rc) rc = apply(&test, &t, &rtest);
        cascade_list_free(&test);
    }
    if (!rc) print_out(a, &t, &rtrain, a->test ? &rtest : NULL);
    return rc;
}

static int cmd_fit(int argc, char **argv)
{
    fit_args a = {.io = {.cache_dir = "build/cache", .thresh = .005f, .nms = .45f, .conf = .25f, .iou = .5f},
                  .method = "budget", .rules = "all", .out = "out/discriminator.txt", .target = .5};
    cli_opt opts[] = {
        {"--data", OPT_STRING, &a.io.data, "DATA", "a Darknet detection .data file (its train list)"},
        {"--target-upload", OPT_DOUBLE, &a.target, "R", "budget: upload at most this share of frames (0.5)"},
        {"--method", OPT_STRING, &a.method, "M", "budget (default) or paper"},
        {"--min-escalated", OPT_DOUBLE, &a.min_escalated, "M",
         "budget: upload >= M of the frames the small model misses (0)"},
        {"--rules", OPT_STRING, &a.rules, "R", "budget: all (default; rule 1b may be on) or paper (rules 1-3)"},
        {"--out", OPT_STRING, &a.out, "FILE", "where the thresholds go (default out/discriminator.txt)"},
        {"--test", OPT_FLAG, &a.test, NULL, "also apply them to the valid list and report"},
        {"--conf", OPT_FLOAT, &a.io.conf, "C", "working score: a detection counts from C (default 0.25)"},
        {"--iou", OPT_FLOAT, &a.io.iou, "IOU", "IoU of a found object (default 0.5)"},
        {"--thresh", OPT_FLOAT, &a.io.thresh, "T", "keep detections with probability above T (default 0.005)"},
        {"--nms", OPT_FLOAT, &a.io.nms, "IOU", "NMS overlap threshold (default 0.45)"},
        {"--limit", OPT_INT, &a.limit, "N", "only the first N images of the train list"},
        {"--cache", OPT_STRING, &a.io.cache_dir, "DIR", "detector results cache (default build/cache; \"\": none)"},
        {"--threads", OPT_INT, &a.io.threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &a.json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet discriminator fit SMALL_CFG SMALL_WEIGHTS BIG_CFG BIG_WEIGHTS --data DATA "
                     "[--target-upload R] [--method budget|paper] [--out FILE] [--test] [--json]",
                     "Fit the difficult-case discriminator's thresholds (the lower confidence, the\n"
                     "object count, the minimum object area ratio) on the train list and write them\n"
                     "to FILE for `ecnet cascade --thresholds FILE`.  budget: the most objects found\n"
                     "end to end within the upload budget; paper: the paper's fit (no budget).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 4, 4};
    const char *pos[4];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    a.io.cfg[0] = pos[0], a.io.weights[0] = pos[1], a.io.cfg[1] = pos[2], a.io.weights[1] = pos[3];
    a.io.quiet = a.json;
    if ((rc = cascade_io_check(&a.io, spec.usage))) return rc;
    const char *why = strcmp(a.method, "budget") && strcmp(a.method, "paper") ? "--method: budget or paper"
                      : !(a.target >= 0 && a.target <= 1)                     ? "--target-upload must be between 0 and 1"
                      : a.limit < 0                                           ? "--limit must be >= 0"
                      : !(a.min_escalated >= 0 && a.min_escalated <= 1)       ? "--min-escalated must be between 0 and 1"
                      : strcmp(a.rules, "all") && strcmp(a.rules, "paper")    ? "--rules: all or paper"
                      : !*a.out                                               ? "--out needs a file name"
                                                                              : NULL;
    if (why) {
        fprintf(stderr, "ecnet: %s\nusage: %s\n", why, spec.usage);
        return EXIT_USAGE;
    }
    return fit(&a);
}

int cmd_discriminator(int argc, char **argv)
{
    const char *usage = "ecnet discriminator fit SMALL_CFG SMALL_WEIGHTS BIG_CFG BIG_WEIGHTS --data DATA [options]";
    if (argc >= 2 && strcmp(argv[1], "fit") == 0) return cmd_fit(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n\nThe difficult-case discriminator of the small-big cascade.  Sub-commands:\n"
               "  fit   fit its thresholds on the train list (ecnet discriminator fit --help)\n",
               usage);
        return EXIT_OK;
    }
    fprintf(stderr, "ecnet: discriminator: expected the sub-command fit\nusage: %s\n", usage);
    return EXIT_USAGE;
}
