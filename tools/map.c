/* map.c - `ecnet map CFG [WEIGHTS] --data DATA`: mean average precision of
 * a detector over the valid list of a Darknet .data file.
 *
 * Each image goes through the path of `ecnet detect`: letterboxed to the
 * network input (--resize: a plain resize), one forward pass, every
 * [yolo]/[region] head decoded, the letterbox undone, per-class NMS; each
 * class of each box with probability above --thresh becomes a scored
 * detection.  src/detect/map.c matches them to the label files' boxes and
 * computes VOC AP50 and COCO AP .50:.95 per class; --by-size also for the
 * true boxes of each size range alone (COCO's area ranges, by side). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "detect/map.h"
#include "detect/map_net.h"
#include "train/data.h"

typedef struct map_args {
    const char *data;
    float thresh, nms;
    int resize, limit, json, by_size;
} map_args;

/* The size ranges of --by-size: sqrt(w h) of a box in pixels. */
static const struct size_range {
    const char *name;
    float lo, hi;
} size_ranges[] = {{"small", 0, 16}, {"medium", 16, 32}, {"large", 32, 1e30f}};
enum { N_SIZES = sizeof size_ranges / sizeof size_ranges[0] };

static const char *class_name(const ecn_dataset *ds, int k, char *buf, size_t n)
{
    if (ds->names) return ds->names[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

/* A value that is -1 when undefined: a number or null. */
static void json_ap(const char *key, double v)
{
    if (v < 0) printf("\"%s\":null", key);
    else printf("\"%s\":%.6f", key, v);
}

static void print_json(const ecn_dataset *ds, const ecn_map_result *r, const map_args *a, const ecn_map_opts *o,
                       int images, double seconds)
{
    char buf[32];
    printf("{\"images\":%d,\"images_per_s\":%.1f,\"thresh\":%g,\"nms\":%g,\"iou\":%g,\"conf\":%g,", images,
           images / seconds, a->thresh, a->nms, o->iou, o->conf);
    json_ap("map50", r->map50);
    printf(",");
    json_ap("map", r->map);
    printf(",");
    json_ap("map75", r->map75);
    printf(",\"gt\":%d,\"tp\":%d,\"fp\":%d,\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"per_class\":[", r->gt,
           r->tp, r->fp, r->precision, r->recall, r->f1);
    for (int k = 0; k < r->classes; k++) {
        const ecn_map_class *c = &r->per_class[k];
        printf("%s{\"class\":%d,\"name\":", k ? "," : "", k);
        json_string(stdout, class_name(ds, k, buf, sizeof buf));
        printf(",\"gt\":%d,\"detections\":%d,", c->gt, c->det);
        json_ap("ap50", c->ap50);
        printf(",");
        json_ap("ap", c->ap);
        printf(",");
        json_ap("ap75", c->ap_at[5]);
        printf(",\"tp\":%d,\"fp\":%d,\"precision\":%.6f,\"recall\":%.6f}", c->tp, c->fp, c->precision, c->recall);
    }
    printf("]");
}

static void print_table(const ecn_dataset *ds, const ecn_map_result *r, const ecn_map_opts *o, int images,
                        double seconds)
{
    char buf[32];
    printf("%-4s %-14s %6s %8s %7s %7s %7s %7s %7s\n", "", "class", "gt", "dets", "AP50", "AP", "AP75", "P", "R");
    for (int k = 0; k < r->classes; k++) {
        const ecn_map_class *c = &r->per_class[k];
        printf("%-4d %-14s %6d %8d", k, class_name(ds, k, buf, sizeof buf), c->gt, c->det);
        if (c->gt) printf(" %6.2f%% %6.2f%% %6.2f%%", 100 * c->ap50, 100 * c->ap, 100 * c->ap_at[5]);
        else printf(" %7s %7s %7s", "-", "-", "-");
        printf(" %6.2f%% %6.2f%%\n", 100 * c->precision, 100 * c->recall);
    }
    printf("\nmAP@%.2f (VOC, all-point) = %.2f%%   mAP@[.5:.95] (COCO, 101-point) = %.2f%%   mAP@.75 = %.2f%%\n",
           o->iou, 100 * r->map50, 100 * r->map, 100 * r->map75);
    printf("at score >= %.2f: precision %.2f%%, recall %.2f%%, F1 %.3f (TP %d, FP %d, FN %d)\n", o->conf,
           100 * r->precision, 100 * r->recall, r->f1, r->tp, r->fp, r->gt - r->tp);
    printf("%d images, %d classes with ground truth, %.1f images/s\n", images, r->with_gt, images / seconds);
}

typedef struct progress_state {
    int json;
    double start;
} progress_state;

static void on_progress(void *user, int done, int total)
{
    const progress_state *p = user;
    cli_progress(p->json, "map", done, total, cli_now() - p->start);
}

static void print_sizes_json(const ecn_map_result *by)
{
    printf(",\"by_size\":[");
    for (int k = 0; k < N_SIZES; k++) {
        printf("%s{\"size\":\"%s\",\"min_px\":%g,", k ? "," : "", size_ranges[k].name, size_ranges[k].lo);
        if (size_ranges[k].hi < 1e29f) printf("\"max_px\":%g,", size_ranges[k].hi);
        else printf("\"max_px\":null,");
        json_ap("map50", by[k].map50);
        printf(",");
        json_ap("map", by[k].map);
        printf(",\"gt\":%d,\"tp\":%d,\"fp\":%d,\"recall\":%.6f}", by[k].gt, by[k].tp, by[k].fp, by[k].recall);
    }
    printf("]");
}

static void print_sizes_table(const ecn_map_result *by, const ecn_map_opts *o)
{
    printf("\n%-7s %-10s %6s %8s %8s %8s\n", "size", "pixels", "gt", "AP50", "AP", "R");
    for (int k = 0; k < N_SIZES; k++) {
        char px[32];
        if (size_ranges[k].hi < 1e29f) snprintf(px, sizeof px, "%g-%g", size_ranges[k].lo, size_ranges[k].hi);
        else snprintf(px, sizeof px, ">= %g", size_ranges[k].lo);
        printf("%-7s %-10s %6d %7.2f%% %7.2f%% %7.2f%%\n", size_ranges[k].name, px, by[k].gt, 100 * by[k].map50,
               100 * by[k].map, 100 * by[k].recall);
    }
    printf("(size: sqrt(w h) of the true box in pixels; R at score >= %.2f)\n", o->conf);
}

/* The mAP of every size range of --by-size into by[]. */
static int evaluate_sizes(const ecn_map_set *ms, int classes, const ecn_map_opts *o, ecn_map_result *by, ecn_err *err)
{
    for (int k = 0; k < N_SIZES; k++) {
        ecn_map_opts so = *o;
        so.side_min = size_ranges[k].lo, so.side_max = size_ranges[k].hi;
        if (ecn_map_evaluate(ms, classes, &so, &by[k], err)) return -1;
    }
    return 0;
}

static int evaluate(ecn_net *net, const ecn_dataset *ds, const map_args *a, const ecn_map_opts *o)
{
    int images = a->limit > 0 && a->limit < ds->n ? a->limit : ds->n;
    ecn_map_set ms = {0};
    ecn_map_result r = {0}, by[N_SIZES] = {{0}};
    ecn_err err;
    ecn_map_run_opts ro = {a->thresh, a->nms, a->resize, a->limit};
    double start = cli_now();
    progress_state ps = {a->json, start};
    int rc = ecn_map_run(net, ds, &ro, &ms, on_progress, &ps, &err) ? cli_fail(&err) : EXIT_OK;
    if (!rc && ecn_map_evaluate(&ms, ds->classes, o, &r, &err)) rc = cli_fail(&err);
    if (!rc && a->by_size && evaluate_sizes(&ms, ds->classes, o, by, &err)) rc = cli_fail(&err);
    double seconds = cli_now() - start;
    if (!rc && a->json) {
        print_json(ds, &r, a, o, images, seconds);
        if (a->by_size) print_sizes_json(by);
        printf("}\n");
    } else if (!rc) {
        print_table(ds, &r, o, images, seconds);
        if (a->by_size) print_sizes_table(by, o);
    }
    if (!rc && r.with_gt == 0) fprintf(stderr, "warning: no ground-truth boxes: the mAP is undefined (null)\n");
    for (int k = 0; k < N_SIZES; k++) ecn_map_result_free(&by[k]);
    ecn_map_result_free(&r);
    ecn_map_set_free(&ms);
    return rc;
}

static int check_net(ecn_net *net, const ecn_dataset *ds)
{
    if (!ecn_net_is_detector(net)) {
        fprintf(stderr, "ecnet: the network has no [yolo] or [region] layer to detect with\n");
        return EXIT_FAIL;
    }
    if (!ecn_dataset_is_detection(ds)) {
        fprintf(stderr, "ecnet: the valid list has no label files: not a detection set\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int cmd_map(int argc, char **argv)
{
    map_args a = {NULL, .005f, .45f, 0, 0, 0, 0};
    ecn_map_opts o = {.iou = .5f, .conf = .25f};
    int threads = 0, seed = 1;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &a.data, "DATA", "a Darknet detection .data file (its valid list)"},
        {"--thresh", OPT_FLOAT, &a.thresh, "T", "keep detections with probability above T (default 0.005)"},
        {"--nms", OPT_FLOAT, &a.nms, "IOU", "NMS overlap threshold, 0 to disable (default 0.45)"},
        {"--iou", OPT_FLOAT, &o.iou, "IOU", "IoU of a match for map50 and P/R (default 0.5)"},
        {"--conf", OPT_FLOAT, &o.conf, "C", "score from which precision and recall count (default 0.25)"},
        {"--limit", OPT_INT, &a.limit, "N", "only the first N images"},
        {"--resize", OPT_FLAG, &a.resize, NULL, "plain resize to the input instead of the letterbox"},
        {"--seed", OPT_INT, &seed, "S", "without WEIGHTS: seed of the random parameters (default 1)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--by-size", OPT_FLAG, &a.by_size, NULL, "also mAP per box size: small < 16 px, medium 16-32, large >= 32"},
        {"--json", OPT_FLAG, &a.json, NULL, "print one JSON object: map50, map, map75, per_class, ..."},
    };
    cli_spec spec = {"ecnet map CFG [WEIGHTS] --data DATA [--thresh T] [--nms IOU] [--iou IOU] [--limit N] [--by-size] [--json]",
                     "Mean average precision of a detector on the valid list of a .data file: VOC\n"
                     "AP50 (all-point interpolation) and COCO AP over IoU .50:.05:.95 (101-point\n"
                     "interpolation), per class and their means over the classes with ground truth.\n"
                     "Without WEIGHTS the network gets random parameters (a baseline).",
                     opts, 11, 1, 2};
    const char *pos[2] = {NULL, NULL};
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!a.data || !(o.iou > 0 && o.iou < 1) || a.thresh < 0 || a.limit < 0) {
        fprintf(stderr, "ecnet: map needs --data, --iou between 0 and 1, --thresh >= 0\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    ecn_err err;
    ecn_dataset ds;
    if (ecn_dataset_open(a.data, 1, &ds, &err)) return cli_fail(&err);
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net = NULL;
    rc = cli_load_net(pos[0], pos[1], &lo, &net);
    if (!rc && !pos[1]) {
        fprintf(stderr, "warning: no weights: random parameters (seed %d)\n", seed);
        ecn_net_randomize(net, (unsigned long long)(unsigned)seed);
    }
    if (!rc) rc = check_net(net, &ds);
    if (!rc) rc = evaluate(net, &ds, &a, &o);
    ecn_net_free(net);
    ecn_dataset_free(&ds);
    return rc;
}
