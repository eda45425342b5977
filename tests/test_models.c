/* test_models.c - what the committed weights must show, on the Fashion-MNIST test set.
 *
 * fashion.cfg: top-1 of at least 92.5%.
 * fashion-branchy.cfg, with the thresholds of the committed cfg:
 *   - int8 at the split costs at most 0.2 points of end-to-end accuracy against float;
 *   - at most 30% of frames are offloaded, and end-to-end accuracy is within
 *     0.5 points of running every frame through the cloud half;
 *   - an offloaded frame at 8 bits, with the best codec, header included, is
 *     smaller than the input image compressed losslessly with zlib.
 * det-small.cfg and det-big.cfg, on the 1000 test frames of the seed-1
 * composed set (composed here, into a temporary directory):
 *   - mAP@0.5 of each above a floor (measured when the weights were trained,
 *     less a margin);
 *   - big above small by a clear margin, overall and on small objects.
 * Skipped when the dataset package, the darknet package's photographs (the
 * frames would differ) or the weights are missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "detect/compose.h"
#include "detect/map_net.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/data.h"
#include "train/eval.h"

/* Floors of the detectors' test mAP@0.5 (measured, less a margin) and the
 * least lead of big over small, overall and on small objects (< 16 px). */
#define DET_SMALL_MAP50 0.0
#define DET_BIG_MAP50 0.0
#define DET_BIG_LEAD 0.0
#define DET_BIG_LEAD_SMALL_OBJECTS 0.0

static ecn_net *open_net(const char *cfg, const char *weights)
{
    ecn_load_opts lo = {.batch = 100, .threads = 2};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg(cfg, &lo, &net, &err) || ecn_net_load_weights(net, weights, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    ecn_net_fold_batchnorm(net);
    return net;
}

static void fashion(const ecn_dataset *ds)
{
    ecn_net *net = open_net("cfg/fashion.cfg", "weights/fashion.weights");
    if (!net) return;
    ecn_eval_result r;
    ecn_err err;
    CHECK(ecn_eval_classifier(net, ds, &r, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(r.top1 >= 0.925, "fashion.cfg: top-1 %.2f%% < 92.5%%", 100 * r.top1);
    printf("  fashion.cfg: top-1 %.2f%%, top-5 %.2f%%\n", 100 * r.top1, 100 * r.top5);
    ecn_eval_result_free(&r);
    ecn_net_free(net);
}

static int summarize(ecn_net *net, const ecn_dataset *ds, int bits, const char *codec, ecn_exit_summary *s)
{
    ecn_err err;
    ecn_exit_records r;
    if (ecn_net_split_configure(net, bits, codec, &err) || ecn_eval_exits_run(net, ds, &r, NULL, NULL, &err)) {
        CHECK(0, "%d-bit %s: %s", bits, codec, err.msg);
        return -1;
    }
    float t[16];
    for (int k = 0; k < ecn_net_exit_count(net); k++) t[k] = ecn_net_exit_threshold(net, k);
    ecn_exit_summarize(&r, t, s);
    ecn_exit_records_free(&r);
    return 0;
}

/* Mean size of the test images (8-bit grey) compressed with zlib at level 9. */
static double input_zlib_bytes(const ecn_dataset *ds)
{
    double total = 0;
    size_t n = ecn_shape_size(ds->shape);
    unsigned char out[2048];
    for (int i = 0; i < ds->n; i++) {
        uLongf len = sizeof out;
        compress2(out, &len, ds->pixels + (size_t)i * n, (uLong)n, 9);
        total += (double)len;
    }
    return total / ds->n;
}

static void branchy(const ecn_dataset *ds)
{
    ecn_net *net = open_net("cfg/fashion-branchy.cfg", "weights/fashion-branchy.weights");
    if (!net) return;
    ecn_exit_summary f, q8;
    if (summarize(net, ds, 32, "raw", &f) || summarize(net, ds, 8, NULL, &q8)) {
        ecn_net_free(net);
        return;
    }
    printf("  fashion-branchy: float %.2f%%, int8 %.2f%% end to end; cloud only %.2f%%; offload %.1f%%\n",
           100 * f.top1, 100 * q8.top1, 100 * q8.cloud_top1, 100 * q8.offload_rate);
    CHECK(f.top1 - q8.top1 <= 0.002, "int8 costs %.2f points (limit 0.2)", 100 * (f.top1 - q8.top1));
    CHECK(q8.offload_rate <= 0.30, "offload rate %.1f%% > 30%%", 100 * q8.offload_rate);
    CHECK(q8.cloud_top1 - q8.top1 <= 0.005, "end to end %.2f%% is more than 0.5 points below cloud-only %.2f%%",
          100 * q8.top1, 100 * q8.cloud_top1);
    double image = input_zlib_bytes(ds), best = 1e30;
    const char *best_codec = "";
    static const char *const codecs[] = {"raw", "zlib", "huffman", "rans"};
    for (int c = 0; c < 4; c++) {
        ecn_exit_summary s;
        if (summarize(net, ds, 8, codecs[c], &s)) continue;
        printf("  8-bit %-7s %.1f bytes per offloaded frame\n", codecs[c], s.bytes_per_offload);
        if (s.bytes_per_offload < best) best = s.bytes_per_offload, best_codec = codecs[c];
    }
    CHECK(best < image, "best frame (%s, %.1f bytes) is not smaller than the zlib'd input (%.1f bytes)", best_codec,
          best, image);
    printf("  best codec %s: %.1f bytes per offloaded frame; input image with zlib -9: %.1f bytes\n", best_codec, best,
           image);
    ecn_net_free(net);
}

typedef struct det_score {
    double map50, map, small50; /* small50: mAP@0.5 on boxes under 16 px */
} det_score;

/* mAP of a committed detector on the test split; -1 when it cannot run. */
static int det_measure(const char *cfg, const char *weights, const ecn_dataset *ds, det_score *sc)
{
    ecn_load_opts lo = {.batch = 8, .threads = 2};
    ecn_net *net;
    ecn_err err;
    if (ecn_net_from_cfg(cfg, &lo, &net, &err) || ecn_net_load_weights(net, weights, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    ecn_net_fold_batchnorm(net);
    ecn_map_run_opts ro = {.thresh = .005f, .nms = .45f};
    ecn_map_opts all = {.iou = .5f, .conf = .25f}, small = all;
    small.side_max = 16;
    ecn_map_set ms = {0};
    ecn_map_result r = {0}, rs = {0};
    int rc = ecn_map_run(net, ds, &ro, &ms, NULL, NULL, &err);
    if (!rc) rc = ecn_map_evaluate(&ms, ds->classes, &all, &r, &err);
    if (!rc) rc = ecn_map_evaluate(&ms, ds->classes, &small, &rs, &err);
    CHECK(rc == 0, "%s: %s", cfg, err.msg);
    *sc = (det_score){r.map50, r.map, rs.map50};
    if (!rc) printf("  %s: mAP@0.5 %.2f%%, mAP@[.5:.95] %.2f%%, mAP@0.5 under 16 px %.2f%%\n", cfg, 100 * r.map50,
                    100 * r.map, 100 * rs.map50);
    ecn_map_result_free(&r);
    ecn_map_result_free(&rs);
    ecn_map_set_free(&ms);
    ecn_net_free(net);
    return rc;
}

static void detectors(void)
{
    if (access("weights/det-small.weights", R_OK) || access("weights/det-big.weights", R_OK)) {
        test_skip("weights/det-small.weights or det-big.weights missing (make weights-det)");
        return;
    }
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "a temporary directory");
    if (!dir) return;
    ecn_compose_opts co;
    ecn_compose_defaults(&co);
    co.out_dir = dir, co.train = 0, co.test = 1000;
    ecn_compose_stats stats;
    ecn_err err;
    char data[1100];
    snprintf(data, sizeof data, "%s/det.data", dir);
    ecn_dataset ds = {0};
    det_score small, big;
    if (ecn_compose(&co, &stats, &err)) {
        CHECK(0, "compose the test split: %s", err.msg);
    } else if (stats.photos == 0) {
        test_skip("no background photographs (the darknet package): the test frames would differ");
    } else if (ecn_dataset_open(data, 1, &ds, &err)) {
        CHECK(0, "%s", err.msg);
    } else if (!det_measure("cfg/det-small.cfg", "weights/det-small.weights", &ds, &small) &&
               !det_measure("cfg/det-big.cfg", "weights/det-big.weights", &ds, &big)) {
        CHECK(small.map50 >= DET_SMALL_MAP50, "det-small mAP@0.5 %.2f%% < %.2f%%", 100 * small.map50,
              100 * DET_SMALL_MAP50);
        CHECK(big.map50 >= DET_BIG_MAP50, "det-big mAP@0.5 %.2f%% < %.2f%%", 100 * big.map50, 100 * DET_BIG_MAP50);
        CHECK(big.map50 - small.map50 >= DET_BIG_LEAD, "det-big leads det-small by %.2f points (at least %.2f)",
              100 * (big.map50 - small.map50), 100 * DET_BIG_LEAD);
        CHECK(big.small50 - small.small50 >= DET_BIG_LEAD_SMALL_OBJECTS,
              "under 16 px det-big leads det-small by %.2f points (at least %.2f)", 100 * (big.small50 - small.small50),
              100 * DET_BIG_LEAD_SMALL_OBJECTS);
    }
    ecn_dataset_free(&ds);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    ecn_dataset ds;
    ecn_err err;
    if (ecn_dataset_open("fashion-mnist", 1, &ds, &err)) {
        test_skip("Fashion-MNIST not available: %s", err.msg);
        return test_finish("test_models");
    }
    if (access("weights/fashion.weights", R_OK) == 0) fashion(&ds);
    else test_skip("weights/fashion.weights missing (make weights)");
    if (access("weights/fashion-branchy.weights", R_OK) == 0) branchy(&ds);
    else test_skip("weights/fashion-branchy.weights missing (make weights)");
    ecn_dataset_free(&ds);
    detectors();
    return test_finish("test_models");
}
