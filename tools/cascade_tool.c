/* cascade_tool.c - both models' results over a list, through the cache.
 *
 * For each model: the cache key (cascade.h) of its cfg, weights, the list's
 * images and the run options; the file CACHE/NAME-KEY.dets when it is there
 * and holds that key; else the network is loaded, run over the list
 * (ecn_cascade_detect), and its results written to that file. */
#include "cascade_tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *const model_names[2] = {"small", "big"};

/* mkdir -p */
static int make_dirs(const char *dir, ecn_err *err)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(path, 0755) && errno != EEXIST) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot create the cache directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* CACHE/<cfg name without directory and .cfg>-<key>.dets */
static void cache_path(const char *dir, const char *cfg, unsigned long long key, char *out, size_t n)
{
    const char *base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".cfg") == 0) len -= 4;
    if (len > 64) len = 64;
    snprintf(out, n, "%s/%.*s-%016llx.dets", dir, (int)len, base, key);
}

typedef struct progress_state {
    int quiet;
    const char *label;
    double start;
} progress_state;

static void on_progress(void *user, int done, int total)
{
    const progress_state *p = user;
    cli_progress(p->quiet, p->label, done, total, cli_now() - p->start);
}

static int run_model(const cascade_io *io, int m, const cascade_list *l, const ecn_map_run_opts *ro,
                     ecn_cascade_dets *d)
{
    ecn_load_opts lo = {.batch = 1, .threads = io->threads};
    ecn_net *net = NULL;
    int rc = cli_load_net(io->cfg[m], io->weights[m], &lo, &net);
    if (rc) return rc;
    ecn_err err;
    char label[64];
    snprintf(label, sizeof label, "%s model", model_names[m]);
    progress_state ps = {io->quiet, label, cli_now()};
    if (ecn_cascade_detect(net, &l->ds, ro, d, on_progress, &ps, &err)) rc = cli_fail(&err);
    ecn_net_free(net);
    return rc;
}

/* Model m's results on l's list: from the cache, or run and cached. */
static int model_results(const cascade_io *io, int m, cascade_list *l, int images)
{
    ecn_err err;
    ecn_map_run_opts ro = {io->thresh, io->nms, 0, images};
    unsigned long long key = 0;
    char path[1200] = "";
    int cached = io->cache_dir && *io->cache_dir;
    if (cached && ecn_cascade_key(io->cfg[m], io->weights[m], &l->ds, images, &ro, &key, &err)) return cli_fail(&err);
    if (cached) cache_path(io->cache_dir, io->cfg[m], key, path, sizeof path);
    int got = cached ? ecn_cascade_cache_load(path, key, &l->dets[m], &err) : 1;
    if (got < 0) return cli_fail(&err);
    if (got == 0) {
        fprintf(stderr, "%s model: %d images from %s\n", model_names[m], images, path);
        return EXIT_OK;
    }
    double start = cli_now();
    int rc = run_model(io, m, l, &ro, &l->dets[m]);
    if (rc) return rc;
    fprintf(stderr, "%s model: ran on %d images in %.1f s\n", model_names[m], images, cli_now() - start);
    if (cached && (make_dirs(io->cache_dir, &err) || ecn_cascade_cache_save(path, key, &l->dets[m], &err)))
        fprintf(stderr, "warning: %s (going on without the cache)\n", err.msg);
    return EXIT_OK;
}

int cascade_list_open(const cascade_io *io, int split, int limit, cascade_list *l)
{
    memset(l, 0, sizeof *l);
    ecn_err err;
    if (ecn_dataset_open(io->data, split, &l->ds, &err)) return cli_fail(&err);
    if (!ecn_dataset_is_detection(&l->ds) || !l->ds.paths) {
        fprintf(stderr, "ecnet: %s: the %s list has no label files: not a detection set\n", io->data,
                split ? "valid" : "train");
        return EXIT_FAIL;
    }
    int images = limit > 0 && limit < l->ds.n ? limit : l->ds.n, rc = EXIT_OK;
    if (images < 1) {
        fprintf(stderr, "ecnet: %s: the %s list is empty\n", io->data, split ? "valid" : "train");
        return EXIT_FAIL;
    }
    for (int m = 0; !rc && m < 2; m++) rc = model_results(io, m, l, images);
    if (rc) return rc;
    l->c = (ecn_cascade){.images = images, .classes = l->ds.classes, .truth = l->ds.boxes, .n_truth = l->ds.n_boxes,
                         .model = {&l->dets[0], &l->dets[1]}, .conf = io->conf, .iou = io->iou};
    if (ecn_cascade_prepare(&l->c, &err)) return cli_fail(&err);
    return EXIT_OK;
}

void cascade_list_free(cascade_list *l)
{
    ecn_cascade_free(&l->c);
    for (int m = 0; m < 2; m++) ecn_cascade_dets_free(&l->dets[m]);
    ecn_dataset_free(&l->ds);
}

int cascade_io_check(const cascade_io *io, const char *usage)
{
    const char *why = !io->data                              ? "--data is required"
                      : !(io->conf > 0 && io->conf <= 1)     ? "--conf must be in (0, 1]"
                      : !(io->iou > 0 && io->iou < 1)        ? "--iou must be between 0 and 1"
                      : !(io->thresh >= 0 && io->thresh < io->conf) ? "--thresh must be >= 0 and below --conf"
                      : io->nms < 0                          ? "--nms must be >= 0"
                                                             : NULL;
    if (!why) return EXIT_OK;
    fprintf(stderr, "ecnet: %s\nusage: %s\n", why, usage);
    return EXIT_USAGE;
}

void cascade_json_num(FILE *f, const char *key, double v)
{
    if (v < 0) fprintf(f, "\"%s\":null", key);
    else fprintf(f, "\"%s\":%.6f", key, v);
}

void cascade_json_result(FILE *f, const char *policy, const ecn_cascade_result *r)
{
    fprintf(f, "\"policy\":\"%s\",\"images\":%d,\"uploaded\":%d,\"upload_ratio\":%.6f,", policy, r->images,
            r->uploaded, r->upload_ratio);
    fprintf(f, "\"truths\":%d,\"objects\":%d,\"objects_small\":%d,\"objects_big\":%d,", r->truths, r->objects,
            r->objects_small, r->objects_big);
    cascade_json_num(f, "objects_ratio", r->objects_ratio);
    fputc(',', f);
    cascade_json_num(f, "map50", r->map50);
    fputc(',', f);
    cascade_json_num(f, "map50_small", r->map50_small);
    fputc(',', f);
    cascade_json_num(f, "map50_big", r->map50_big);
    fputc(',', f);
    cascade_json_num(f, "map50_ratio", r->map50_ratio);
    fprintf(f, ",\"missed_frames\":%d,\"missed_uploaded\":%d,", r->missed_frames, r->missed_uploaded);
    cascade_json_num(f, "missed_escalated", r->missed_escalated);
}

void cascade_json_thresholds(FILE *f, const ecn_disc_thresholds *t)
{
    fprintf(f, "{\"conf\":%.6g,\"count\":%d,\"area\":%.6g,\"work\":%.6g,\"empty\":%d}", t->conf, t->count, t->area,
            t->work, t->empty);
}

const char *cascade_pct(double v, char *buf, size_t n)
{
    if (v < 0) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.2f%%", 100 * v);
    return buf;
}
