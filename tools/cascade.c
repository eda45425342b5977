/* cascade.c - `ecnet cascade SMALL_CFG SMALL_W BIG_CFG BIG_W --data DATA`:
 * the small-big model cascade on the valid list of a detection set.
 *
 * Both detectors run once over the list (or come from the cache, see
 * cascade_tool.c).  A policy then picks the frames to upload:
 *   discriminator  the difficult-case rules (src/detect/discriminator.h),
 *                  their thresholds from --thresholds FILE or fitted on the
 *                  train list for an upload budget of --upload-ratio;
 *   random, blur, confidence, top1   rankings (src/detect/cascade.h) that
 *                  upload the first --upload-ratio of the frames.
 * For the discriminator the baselines are also evaluated at the upload
 * ratio it reached.  --sweep evaluates every policy at upload ratios 0, step,
 * ..., 1 (the discriminator refitted on train for each as its budget): a
 * table, JSON, and with --svg two charts (objects found and mAP against the
 * upload ratio). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cascade_tool.h"
#include "cli.h"
#include "detect/blur.h"
#include "plot.h"

typedef struct cascade_args {
    cascade_io io;
    const char *policy, *thresholds, *svg, *rules;
    double ratio, step, min_escalated;
    int seed, limit, train_limit, sweep, json;
} cascade_args;

enum { RANKINGS = ECN_POLICY_COUNT - 1 }; /* the policies after the discriminator */

/* ---- the discriminator's thresholds --------------------------------------- */

/* The fit's options for an upload budget of `ratio`. */
static ecn_disc_fit_opts fit_opts(const cascade_args *a, double ratio)
{
    return (ecn_disc_fit_opts){ECN_DISC_BUDGET, ratio, strcmp(a->rules, "all") == 0, a->min_escalated};
}

/* Fit on the train list (*train_r: the result there, may be NULL). */
static int fit_on_train(const cascade_list *train, const ecn_disc_fit_opts *fo, ecn_disc_thresholds *t,
                        ecn_cascade_result *train_r)
{
    ecn_err err;
    unsigned char *up = ecn_calloc((size_t)train->c.images, 1, &err);
    int rc = up && !ecn_disc_fit(&train->c, fo, t, &err) ? EXIT_OK : cli_fail(&err);
    if (!rc) ecn_disc_decide(&train->c, t, up);
    if (!rc && train_r && ecn_cascade_evaluate(&train->c, up, train_r, &err)) rc = cli_fail(&err);
    free(up);
    return rc;
}

static int thresholds_of(const cascade_args *a, ecn_disc_thresholds *t, ecn_cascade_result *train_r, int *fitted)
{
    ecn_err err;
    *fitted = !a->thresholds;
    if (a->thresholds) {
        if (ecn_disc_load(a->thresholds, t, &err)) return cli_fail(&err);
        if (t->work > 0 && fabsf(t->work - a->io.conf) > 1e-6f)
            fprintf(stderr, "warning: %s was fitted for --conf %g, this run uses %g\n", a->thresholds, t->work,
                    a->io.conf);
        return EXIT_OK;
    }
    cascade_list train;
    ecn_disc_fit_opts fo = fit_opts(a, a->ratio);
    int rc = cascade_list_open(&a->io, 0, a->train_limit, &train);
    if (!rc) rc = fit_on_train(&train, &fo, t, train_r);
    cascade_list_free(&train);
    return rc;
}

/* ---- one policy -------------------------------------------------------------- */

static int need_focus(const cascade_list *l, double **focus)
{
    ecn_err err;
    *focus = ecn_calloc((size_t)l->c.images, sizeof **focus, &err);
    if (!*focus || ecn_brenner_list(&l->ds, l->c.images, *focus, &err)) return cli_fail(&err);
    return EXIT_OK;
}

/* A ranking policy's uploads at `ratio`. */
static int rank_upload(const cascade_list *l, ecn_cascade_policy p, const double *focus, int seed, double ratio,
                       unsigned char *up)
{
    ecn_err err;
    double *score = ecn_calloc((size_t)l->c.images, sizeof *score, &err);
    int rc = score && !ecn_cascade_rank(&l->c, p, focus, (unsigned long long)(unsigned)seed, score, &err) &&
                     !ecn_cascade_upload_top(score, l->c.images, ratio, up, &err)
                 ? EXIT_OK
                 : cli_fail(&err);
    free(score);
    return rc;
}

static int evaluate_ranking(const cascade_list *l, ecn_cascade_policy p, const double *focus, int seed, double ratio,
                            ecn_cascade_result *r)
{
    ecn_err err;
    unsigned char *up = ecn_calloc((size_t)l->c.images, 1, &err);
    int rc = up ? rank_upload(l, p, focus, seed, ratio, up) : cli_fail(&err);
    if (!rc && ecn_cascade_evaluate(&l->c, up, r, &err)) rc = cli_fail(&err);
    free(up);
    return rc;
}

static int evaluate_discriminator(const cascade_list *l, const ecn_disc_thresholds *t, ecn_cascade_result *r,
                                  ecn_disc_quality *q)
{
    ecn_err err;
    unsigned char *up = ecn_calloc((size_t)l->c.images, 1, &err);
    if (!up) return cli_fail(&err);
    ecn_disc_decide(&l->c, t, up);
    int rc = ecn_cascade_evaluate(&l->c, up, r, &err) ? cli_fail(&err) : EXIT_OK;
    if (q) ecn_disc_quality_of(&l->c, up, q);
    free(up);
    return rc;
}

/* ---- printing one run ------------------------------------------------------- */

static void print_result_table(const char *policy, const ecn_cascade_result *r)
{
    char a[16], b[16], c[16], d[16];
    printf("policy %s: %d of %d frames uploaded (%s)\n", policy, r->uploaded, r->images,
           cascade_pct(r->upload_ratio, a, sizeof a));
    printf("objects found (of %d): end to end %d, small alone %d, big alone %d: %s of the big model's\n", r->truths,
           r->objects, r->objects_small, r->objects_big, cascade_pct(r->objects_ratio, a, sizeof a));
    printf("mAP@0.5: end to end %s, small alone %s, big alone %s: %s of the big model's\n",
           cascade_pct(r->map50, a, sizeof a), cascade_pct(r->map50_small, b, sizeof b),
           cascade_pct(r->map50_big, c, sizeof c), cascade_pct(r->map50_ratio, d, sizeof d));
    printf("frames where the small model shows nothing and the big model finds objects: %d, uploaded %d (%s)\n",
           r->missed_frames, r->missed_uploaded, cascade_pct(r->missed_escalated, a, sizeof a));
}

static void print_row(const char *policy, const ecn_cascade_result *r)
{
    char a[16], b[16], c[16], d[16], e[16];
    printf("%-14s %8s %8d %8s %8s %8s %8s\n", policy, cascade_pct(r->upload_ratio, a, sizeof a), r->objects,
           cascade_pct(r->objects_ratio, b, sizeof b), cascade_pct(r->map50, c, sizeof c),
           cascade_pct(r->map50_ratio, d, sizeof d), cascade_pct(r->missed_escalated, e, sizeof e));
}

typedef struct single_out {
    const char *policy;
    ecn_cascade_result r, base[RANKINGS];
    int discriminator, fitted;
    ecn_disc_thresholds t;
    ecn_cascade_result train;
    ecn_disc_quality q;
} single_out;

static void print_single_json(const cascade_args *a, const single_out *o)
{
    printf("{");
    cascade_json_result(stdout, o->policy, &o->r);
    printf(",\"conf\":%g,\"iou\":%g", a->io.conf, a->io.iou);
    if (o->discriminator) {
        printf(",\"thresholds\":");
        cascade_json_thresholds(stdout, &o->t);
        printf(",\"thresholds_from\":");
        json_string(stdout, o->fitted ? "fit on the train list" : a->thresholds);
        if (o->fitted) {
            printf(",\"target_upload\":%g,\"min_escalated\":%g,\"rules\":\"%s\",\"train\":{", a->ratio,
                   a->min_escalated, a->rules);
            cascade_json_result(stdout, o->policy, &o->train);
            printf("}");
        }
        printf(",\"quality\":{\"difficult\":%d,\"flagged\":%d,\"hits\":%d,\"accuracy\":%.6f,\"precision\":%.6f,"
               "\"recall\":%.6f,\"f1\":%.6f}",
               o->q.difficult, o->q.flagged, o->q.hits, o->q.accuracy, o->q.precision, o->q.recall, o->q.f1);
        printf(",\"baselines\":[");
        for (int k = 0; k < RANKINGS; k++) {
            printf("%s{", k ? "," : "");
            cascade_json_result(stdout, ecn_cascade_policy_name((ecn_cascade_policy)(k + 1)), &o->base[k]);
            printf("}");
        }
        printf("]");
    } else {
        printf(",\"seed\":%d", a->seed);
    }
    printf("}\n");
}

static void print_single_table(const cascade_args *a, const single_out *o)
{
    if (o->discriminator) {
        printf("thresholds: conf %g, count %d, area %g, rule 1b %s (%s)\n", o->t.conf, o->t.count, o->t.area,
               o->t.empty ? "on" : "off",
               o->fitted ? "fitted on the train list" : a->thresholds);
        if (o->fitted)
            printf("on the train list: %.2f%% uploaded for a budget of %.2f%%\n", 100 * o->train.upload_ratio,
                   100 * a->ratio);
    }
    print_result_table(o->policy, &o->r);
    if (!o->discriminator) return;
    printf("difficult frames (the big model finds more): %d; flagged %d; accuracy %.2f%%, precision %.2f%%, "
           "recall %.2f%%\n",
           o->q.difficult, o->q.flagged, 100 * o->q.accuracy, 100 * o->q.precision, 100 * o->q.recall);
    printf("\n%-14s %8s %8s %8s %8s %8s %8s\n", "policy", "upload", "objects", "obj/big", "mAP50", "mAP/big",
           "missed");
    print_row(o->policy, &o->r);
    for (int k = 0; k < RANKINGS; k++) print_row(ecn_cascade_policy_name((ecn_cascade_policy)(k + 1)), &o->base[k]);
    printf("(baselines at the discriminator's upload ratio; missed: share of the frames where the small model\n"
           " shows nothing and the big model finds objects that are uploaded)\n");
}

static int run_single(const cascade_args *a, ecn_cascade_policy p, const cascade_list *test)
{
    single_out o = {.policy = ecn_cascade_policy_name(p), .discriminator = p == ECN_POLICY_DISCRIMINATOR};
    double *focus = NULL;
    int rc = EXIT_OK;
    if (o.discriminator || p == ECN_POLICY_BLUR) rc = need_focus(test, &focus);
    if (!rc && o.discriminator) {
        rc = thresholds_of(a, &o.t, &o.train, &o.fitted);
        if (!rc) rc = evaluate_discriminator(test, &o.t, &o.r, &o.q);
        for (int k = 0; !rc && k < RANKINGS; k++)
            rc = evaluate_ranking(test, (ecn_cascade_policy)(k + 1), focus, a->seed, o.r.upload_ratio, &o.base[k]);
    } else if (!rc) {
        rc = evaluate_ranking(test, p, focus, a->seed, a->ratio, &o.r);
    }
    if (!rc && a->json) print_single_json(a, &o);
    else if (!rc) print_single_table(a, &o);
    free(focus);
    return rc;
}

/* ---- the sweep -------------------------------------------------------------- */

typedef struct sweep_data {
    int steps; /* ratios 0 .. steps-1 */
    double *ratio;
    ecn_cascade_result *r[ECN_POLICY_COUNT]; /* per policy, per ratio */
} sweep_data;

static int sweep_alloc(sweep_data *s, double step)
{
    ecn_err err;
    s->steps = (int)floor(1 / step + .5) + 1;
    s->ratio = ecn_calloc((size_t)s->steps, sizeof *s->ratio, &err);
    for (int p = 0; p < ECN_POLICY_COUNT; p++) s->r[p] = ecn_calloc((size_t)s->steps, sizeof *s->r[p], &err);
    for (int k = 0; s->ratio && k < s->steps; k++) s->ratio[k] = k == s->steps - 1 ? 1 : k * step;
    for (int p = 0; p < ECN_POLICY_COUNT; p++)
        if (!s->r[p]) return cli_fail(&err);
    return s->ratio ? EXIT_OK : cli_fail(&err);
}

static void sweep_free(sweep_data *s)
{
    free(s->ratio);
    for (int p = 0; p < ECN_POLICY_COUNT; p++) free(s->r[p]);
}

static int sweep_discriminator(const cascade_args *a, const cascade_list *test, sweep_data *s)
{
    cascade_list train;
    int rc = cascade_list_open(&a->io, 0, a->train_limit, &train);
    for (int k = 0; !rc && k < s->steps; k++) {
        ecn_disc_thresholds t;
        ecn_disc_fit_opts fo = fit_opts(a, s->ratio[k]);
        rc = fit_on_train(&train, &fo, &t, NULL);
        if (!rc) rc = evaluate_discriminator(test, &t, &s->r[ECN_POLICY_DISCRIMINATOR][k], NULL);
    }
    cascade_list_free(&train);
    return rc;
}

static void print_sweep_json(const sweep_data *s)
{
    const ecn_cascade_result *r0 = &s->r[ECN_POLICY_RANDOM][0];
    printf("{\"images\":%d,\"truths\":%d,\"objects_small\":%d,\"objects_big\":%d,", r0->images, r0->truths,
           r0->objects_small, r0->objects_big);
    cascade_json_num(stdout, "map50_small", r0->map50_small);
    printf(",");
    cascade_json_num(stdout, "map50_big", r0->map50_big);
    printf(",\"sweep\":[");
    for (int p = 0; p < ECN_POLICY_COUNT; p++) {
        printf("%s{\"policy\":\"%s\",\"points\":[", p ? "," : "", ecn_cascade_policy_name((ecn_cascade_policy)p));
        for (int k = 0; k < s->steps; k++) {
            const ecn_cascade_result *r = &s->r[p][k];
            printf("%s{\"target\":%.4f,\"upload_ratio\":%.6f,", k ? "," : "", s->ratio[k], r->upload_ratio);
            cascade_json_num(stdout, "objects_ratio", r->objects_ratio);
            printf(",");
            cascade_json_num(stdout, "map50", r->map50);
            printf(",");
            cascade_json_num(stdout, "map50_ratio", r->map50_ratio);
            printf(",");
            cascade_json_num(stdout, "missed_escalated", r->missed_escalated);
            printf("}");
        }
        printf("]}");
    }
    printf("]}\n");
}

static void print_sweep_table(const sweep_data *s)
{
    char a[16], b[16], c[16];
    printf("objects found end to end / by the big model, and end-to-end mAP@0.5, at each upload ratio\n");
    printf("%-7s", "upload");
    for (int p = 1; p < ECN_POLICY_COUNT; p++) printf(" %-17s", ecn_cascade_policy_name((ecn_cascade_policy)p));
    printf(" | %-26s\n", "discriminator (its upload)");
    for (int k = 0; k < s->steps; k++) {
        printf("%-7.2f", s->ratio[k]);
        for (int p = 1; p < ECN_POLICY_COUNT; p++)
            printf(" %8s %8s", cascade_pct(s->r[p][k].objects_ratio, a, sizeof a),
                   cascade_pct(s->r[p][k].map50, b, sizeof b));
        const ecn_cascade_result *d = &s->r[ECN_POLICY_DISCRIMINATOR][k];
        printf(" | %8s %8s %8s\n", cascade_pct(d->upload_ratio, c, sizeof c), cascade_pct(d->objects_ratio, a, sizeof a),
               cascade_pct(d->map50, b, sizeof b));
    }
    const ecn_cascade_result *r0 = &s->r[ECN_POLICY_RANDOM][0];
    printf("big model alone: %d objects, mAP@0.5 %s; small alone: %d objects, mAP@0.5 %s\n", r0->objects_big,
           cascade_pct(r0->map50_big, a, sizeof a), r0->objects_small, cascade_pct(r0->map50_small, b, sizeof b));
}

/* One chart: `what` of every policy against its upload ratio. */
static int sweep_chart(const sweep_data *s, const char *path, const char *title, const char *ylabel, int map)
{
    ecn_err err;
    double *x = ecn_calloc((size_t)(ECN_POLICY_COUNT + 1) * s->steps, sizeof *x, &err);
    double *y = ecn_calloc((size_t)(ECN_POLICY_COUNT + 1) * s->steps, sizeof *y, &err);
    plot_series ser[ECN_POLICY_COUNT + 1];
    int rc = x && y ? EXIT_OK : cli_fail(&err);
    for (int p = 0; !rc && p < ECN_POLICY_COUNT; p++) {
        for (int k = 0; k < s->steps; k++) {
            const ecn_cascade_result *r = &s->r[p][k];
            double v = map ? r->map50 : r->objects_ratio;
            x[p * s->steps + k] = 100 * r->upload_ratio;
            y[p * s->steps + k] = v < 0 ? NAN : 100 * v;
        }
        ser[p] = (plot_series){ecn_cascade_policy_name((ecn_cascade_policy)p), x + p * s->steps, y + p * s->steps,
                               s->steps};
    }
    double big = map ? s->r[ECN_POLICY_RANDOM][0].map50_big : 1;
    double *bx = x + ECN_POLICY_COUNT * s->steps, *by = y + ECN_POLICY_COUNT * s->steps;
    bx[0] = 0, bx[1] = 100, by[0] = by[1] = big < 0 ? NAN : 100 * big;
    ser[ECN_POLICY_COUNT] = (plot_series){"big model alone", bx, by, 2};
    if (!rc && plot_lines_svg(path, title, "frames uploaded (%)", ylabel, ser, ECN_POLICY_COUNT + 1, &err))
        rc = cli_fail(&err);
    free(x);
    free(y);
    return rc;
}

static int sweep_charts(const sweep_data *s, const char *prefix)
{
    char path[1024];
    snprintf(path, sizeof path, "%s-objects.svg", prefix);
    int rc = sweep_chart(s, path, "Objects found end to end vs upload ratio", "objects found / by the big model (%)", 0);
    if (!rc) fprintf(stderr, "wrote %s\n", path);
    snprintf(path, sizeof path, "%s-map.svg", prefix);
    if (!rc) rc = sweep_chart(s, path, "End-to-end mAP@0.5 vs upload ratio", "mAP@0.5 (%)", 1);
    if (!rc) fprintf(stderr, "wrote %s\n", path);
    return rc;
}

static int run_sweep(const cascade_args *a, const cascade_list *test)
{
    sweep_data s = {0};
    double *focus = NULL;
    int rc = sweep_alloc(&s, a->step);
    if (!rc) rc = need_focus(test, &focus);
    for (int p = 1; !rc && p < ECN_POLICY_COUNT; p++)
        for (int k = 0; !rc && k < s.steps; k++)
            rc = evaluate_ranking(test, (ecn_cascade_policy)p, focus, a->seed, s.ratio[k], &s.r[p][k]);
    if (!rc) rc = sweep_discriminator(a, test, &s);
    if (!rc && a->json) print_sweep_json(&s);
    else if (!rc) print_sweep_table(&s);
    if (!rc && a->svg) rc = sweep_charts(&s, a->svg);
    free(focus);
    sweep_free(&s);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static int check_args(const cascade_args *a, const char *usage, ecn_cascade_policy *p)
{
    int rc = cascade_io_check(&a->io, usage);
    if (rc) return rc;
    const char *why = ecn_cascade_policy_parse(a->policy, p) ? "--policy: discriminator, random, blur, confidence or top1"
                      : !(a->ratio >= 0 && a->ratio <= 1)   ? "--upload-ratio must be between 0 and 1"
                      : !(a->step > 0 && a->step <= 1)      ? "--step must be in (0, 1]"
                      : !(a->min_escalated >= 0 && a->min_escalated <= 1) ? "--min-escalated must be between 0 and 1"
                      : a->limit < 0 || a->train_limit < 0  ? "--limit and --train-limit must be >= 0"
                      : a->svg && !a->sweep                 ? "--svg goes with --sweep"
                      : strcmp(a->rules, "all") && strcmp(a->rules, "paper") ? "--rules: all or paper"
                                                            : NULL;
    if (!why) return EXIT_OK;
    fprintf(stderr, "ecnet: %s\nusage: %s\n", why, usage);
    return EXIT_USAGE;
}

int cmd_cascade(int argc, char **argv)
{
    cascade_args a = {.io = {.cache_dir = "build/cache", .thresh = .005f, .nms = .45f, .conf = .25f, .iou = .5f},
                      .policy = "discriminator", .rules = "all", .ratio = .5, .step = .05, .seed = 1};
    cli_opt opts[] = {
        {"--data", OPT_STRING, &a.io.data, "DATA", "a Darknet detection .data file (valid list; train to fit)"},
        {"--policy", OPT_STRING, &a.policy, "P", "discriminator (default), random, blur, confidence or top1"},
        {"--upload-ratio", OPT_DOUBLE, &a.ratio, "R", "share of frames a ranking uploads; the fit's budget (0.5)"},
        {"--thresholds", OPT_STRING, &a.thresholds, "FILE", "the discriminator's thresholds (ecnet discriminator fit)"},
        {"--rules", OPT_STRING, &a.rules, "R", "fitting here: all (default; rule 1b may be on) or paper"},
        {"--min-escalated", OPT_DOUBLE, &a.min_escalated, "M",
         "fitting here: upload >= M of the frames the small model misses (0)"},
        {"--seed", OPT_INT, &a.seed, "S", "seed of the random policy (default 1)"},
        {"--conf", OPT_FLOAT, &a.io.conf, "C", "working score: a detection counts from C (default 0.25)"},
        {"--iou", OPT_FLOAT, &a.io.iou, "IOU", "IoU of a found object and of mAP@ (default 0.5)"},
        {"--thresh", OPT_FLOAT, &a.io.thresh, "T", "keep detections with probability above T (default 0.005)"},
        {"--nms", OPT_FLOAT, &a.io.nms, "IOU", "NMS overlap threshold (default 0.45)"},
        {"--limit", OPT_INT, &a.limit, "N", "only the first N images of the valid list"},
        {"--train-limit", OPT_INT, &a.train_limit, "N", "only the first N images of the train list (fitting)"},
        {"--sweep", OPT_FLAG, &a.sweep, NULL, "every policy at upload ratios 0, step, ..., 1"},
        {"--step", OPT_DOUBLE, &a.step, "S", "the sweep's step (default 0.05)"},
        {"--svg", OPT_STRING, &a.svg, "PREFIX", "with --sweep: PREFIX-objects.svg and PREFIX-map.svg"},
        {"--cache", OPT_STRING, &a.io.cache_dir, "DIR", "detector results cache (default build/cache; \"\": none)"},
        {"--threads", OPT_INT, &a.io.threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &a.json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet cascade SMALL_CFG SMALL_WEIGHTS BIG_CFG BIG_WEIGHTS --data DATA [--policy P] "
                     "[--upload-ratio R] [--thresholds FILE] [--sweep [--svg PREFIX]] [--json]",
                     "The small-big model cascade on the valid list of a detection set: the small\n"
                     "model answers the frames a policy keeps at the edge, the big model the frames\n"
                     "it uploads.  Prints the upload ratio, the objects found end to end against\n"
                     "those the big model finds alone, the end-to-end mAP@0.5 and its ratio to the\n"
                     "big model's, and the share of the frames where the small model shows nothing\n"
                     "but the big model finds objects that are uploaded.  WEIGHTS may be random:SEED.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 4, 4};
    const char *pos[4];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    ecn_cascade_policy p;
    a.io.cfg[0] = pos[0], a.io.weights[0] = pos[1], a.io.cfg[1] = pos[2], a.io.weights[1] = pos[3];
    a.io.quiet = a.json;
    if ((rc = check_args(&a, spec.usage, &p))) return rc;
    cascade_list test;
    rc = cascade_list_open(&a.io, 1, a.limit, &test);
    if (!rc) rc = a.sweep ? run_sweep(&a, &test) : run_single(&a, p, &test);
    cascade_list_free(&test);
    return rc;
}
