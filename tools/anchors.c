/* anchors.c - `ecnet anchors --data DATA --num K --width W --height H`:
 * anchor boxes for a [yolo] or [region] head by k-means on the training
 * boxes (src/detect/anchors.c), printed in the cfg's anchors= format. */
#include <math.h>
#include <stdlib.h>

#include "cli.h"
#include "detect/anchors.h"
#include "train/data.h"

/* Every box of the set with a positive size, in network pixels. */
static float *collect_boxes(const ecn_dataset *ds, int width, int height, int *n)
{
    size_t total = 0;
    for (int i = 0; i < ds->n; i++) total += (size_t)ds->n_boxes[i];
    float *wh = malloc((total ? total : 1) * 2 * sizeof *wh);
    *n = 0;
    if (!wh) return NULL;
    for (int i = 0; i < ds->n; i++)
        for (int b = 0; b < ds->n_boxes[i]; b++) {
            const ecn_box_label *l = &ds->boxes[i][b];
            if (!(l->w > 0 && l->h > 0)) continue;
            wh[2 * *n] = l->w * width;
            wh[2 * *n + 1] = l->h * height;
            (*n)++;
        }
    return wh;
}

static void print_result(const float *anchors, const float *rounded, int k, double iou, double iou_rounded, int boxes,
                         int json)
{
    if (json) {
        printf("{\"boxes\":%d,\"num\":%d,\"mean_iou\":%.6f,\"mean_iou_rounded\":%.6f,\"anchors\":[", boxes, k, iou,
               iou_rounded);
        for (int c = 0; c < k; c++) printf("%s[%.3f,%.3f]", c ? "," : "", anchors[2 * c], anchors[2 * c + 1]);
        printf("],\"cfg\":\"");
        for (int c = 0; c < k; c++) printf("%s%.0f,%.0f", c ? ", " : "", rounded[2 * c], rounded[2 * c + 1]);
        printf("\"}\n");
        return;
    }
    printf("anchors = ");
    for (int c = 0; c < k; c++) printf("%s%.0f,%.0f", c ? ",  " : "", rounded[2 * c], rounded[2 * c + 1]);
    printf("\nmean IoU of %d boxes with their best anchor: %.4f (%.4f before rounding)\n", boxes, iou_rounded, iou);
}

int cmd_anchors(int argc, char **argv)
{
    const char *data = NULL;
    int k = 6, width = 0, height = 0, seed = 1, restarts = 5, json = 0;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &data, "DATA", "a Darknet detection .data file (its train list)"},
        {"--num", OPT_INT, &k, "K", "number of anchors (default 6)"},
        {"--width", OPT_INT, &width, "W", "network input width in pixels"},
        {"--height", OPT_INT, &height, "H", "network input height in pixels (default: the width)"},
        {"--seed", OPT_INT, &seed, "S", "seed of the k-means++ draws (default 1)"},
        {"--restarts", OPT_INT, &restarts, "R", "runs from different seeds, the best kept (default 5)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet anchors --data DATA --num K --width W [--height H] [--seed S] [--json]",
                     "Anchor boxes for a detector: k-means (k-means++ seeds, 1 - IoU distance with\n"
                     "boxes aligned at a corner) on the (w, h) of every box of the training list,\n"
                     "scaled to the network input.  Prints the anchors sorted by area, rounded to\n"
                     "pixels as the cfg's anchors= line, and the mean IoU of the boxes with their\n"
                     "best anchor.",
                     opts, 7, 0, 0};
    int n_pos, rc = cli_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc >= 0) return rc;
    if (!height) height = width;
    if (!data || width <= 0 || height <= 0 || k < 1 || k > 100) {
        fprintf(stderr, "ecnet: anchors needs --data, --width (positive) and --num from 1 to 100\nusage: %s\n",
                spec.usage);
        return EXIT_USAGE;
    }
    ecn_err err;
    ecn_dataset ds;
    if (ecn_dataset_open(data, 0, &ds, &err)) return cli_fail(&err);
    if (!ecn_dataset_is_detection(&ds)) {
        ecn_dataset_free(&ds);
        fprintf(stderr, "ecnet: %s is not a detection set (no label files)\n", data);
        return EXIT_FAIL;
    }
    int n;
    float *wh = collect_boxes(&ds, width, height, &n), anchors[200], rounded[200];
    ecn_dataset_free(&ds);
    double iou;
    if (!wh) {
        fprintf(stderr, "ecnet: out of memory\n");
        return EXIT_FAIL;
    }
    rc = ecn_anchors_kmeans(wh, n, k, (unsigned long long)(unsigned)seed, restarts, anchors, &iou, &err);
    if (rc) {
        free(wh);
        return cli_fail(&err);
    }
    for (int c = 0; c < 2 * k; c++) rounded[c] = fmaxf(1, roundf(anchors[c]));
    print_result(anchors, rounded, k, iou, ecn_anchors_mean_iou(wh, n, rounded, k), n, json);
    free(wh);
    return EXIT_OK;
}
