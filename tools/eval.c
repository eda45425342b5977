/* eval.c - `ecnet eval CFG WEIGHTS --data DATA`: accuracy of a classifier. */
#include <stdlib.h>

#include "cli.h"
#include "core/net.h"
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

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL;
    int json = 0, threads = 0, batch = 100;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--batch", OPT_INT, &batch, "N", "images per forward pass (default 100)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object (top1, top5, images, per_class, confusion)"},
    };
    cli_spec spec = {"ecnet eval CFG WEIGHTS --data DATA [--batch N] [--json]",
                     "Accuracy of a classifier on a test set: top-1, top-5, per-class accuracy and\n"
                     "the confusion matrix.",
                     opts, 4, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!data || batch < 1) {
        fprintf(stderr, "ecnet: eval needs --data (and --batch >= 1)\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    ecn_load_opts lo = {.batch = batch, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) return rc;
    ecn_err err;
    ecn_dataset ds = {0};
    ecn_eval_result r;
    double start = cli_now();
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
