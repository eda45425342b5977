/* detect.c - `ecnet detect CFG WEIGHTS IMG`: boxes of a detector.
 *
 * As Darknet's `detect`: letterbox the image to the network input, run it,
 * decode every [yolo]/[region] layer, undo the letterbox, per-class NMS,
 * print each class above the threshold and draw the boxes into a PNG. */
#include <stdlib.h>

#include "cli.h"
#include "detect/detections.h"
#include "names.h"

static void print_text(const ecn_detection *d, int n, float thresh, const names *nm, int iw, int ih)
{
    char buf[32];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d[i].classes; k++) {
            if (d[i].prob[k] <= thresh) continue;
            const ecn_box *b = &d[i].box;
            printf("%s: %.0f%%  box x=%.1f y=%.1f w=%.1f h=%.1f (pixels, centre)\n",
                   names_get(nm, k, buf, sizeof buf), 100 * d[i].prob[k], b->x * iw, b->y * ih,
                   b->w * iw, b->h * ih);
        }
}

static void print_json(const ecn_detection *d, int n, float thresh, const names *nm, int iw, int ih)
{
    char buf[32];
    int first = 1;
    printf("{\"image_width\":%d,\"image_height\":%d,\"detections\":[", iw, ih);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d[i].classes; k++) {
            if (d[i].prob[k] <= thresh) continue;
            printf("%s{\"class\":%d,\"name\":", first ? "" : ",", k);
            json_string(stdout, names_get(nm, k, buf, sizeof buf));
            printf(",\"prob\":%.6f,\"x\":%.6f,\"y\":%.6f,\"w\":%.6f,\"h\":%.6f}", d[i].prob[k],
                   d[i].box.x, d[i].box.y, d[i].box.w, d[i].box.h);
            first = 0;
        }
    printf("]}\n");
}

int cmd_detect(int argc, char **argv)
{
    const char *names_path = NULL, *out = "predictions.png";
    float thresh = .5f, nms = .45f;
    int json = 0, threads = 0, gpu = -1;
    cli_opt opts[] = {
        {"--names", OPT_STRING, &names_path, "FILE", "class names, one per line (e.g. coco.names)"},
        {"--thresh", OPT_FLOAT, &thresh, "T", "class probability threshold (default 0.5)"},
        {"--nms", OPT_FLOAT, &nms, "IOU", "NMS overlap threshold, 0 to disable (default 0.45)"},
        {"--out", OPT_STRING, &out, "PNG", "picture with the boxes (default predictions.png; \"\" for none)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object (boxes relative to the image)"},
        {"--gpu", OPT_INT, &gpu, "N", "run on CUDA device N (a GPU=1 build)"},
    };
    cli_spec spec = {"ecnet detect CFG WEIGHTS IMG [--names FILE] [--thresh T] [--nms IOU] "
                     "[--out PNG] [--json] [--gpu N]",
                     "Detect objects in an image with a [yolo] or [region] network, print the\n"
                     "classes found and write the image with the boxes drawn.",
                     opts, 7, 3, 3};
    const char *pos[3];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if ((rc = cli_check_gpu(gpu))) return rc;
    ecn_err err;
    names nm;
    if (names_load(names_path, &nm, &err)) return cli_fail(&err);
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net)) || (rc = cli_use_gpu(net, gpu))) {
        ecn_net_free(net);
        names_free(&nm);
        return rc;
    }
    ecn_shape s = ecn_net_input_shape(net);
    ecn_image im = {0}, boxed = {0};
    ecn_detection *dets = NULL;
    int n = 0;
    rc = EXIT_OK;
    if (ecn_image_load(pos[2], s.c, &im, &err) || ecn_image_letterbox(&im, s.w, s.h, &boxed, &err)) {
        rc = cli_fail(&err);
    } else {
        ecn_detect_opts dop = {thresh, nms, im.w, im.h, 1};
        if (!ecn_net_forward(net, boxed.data, NULL, NULL)) rc = cli_gpu_failed(net);
        else if (ecn_net_detections(net, &dop, &dets, &n, &err)) rc = cli_fail(&err);
    }
    if (!rc) {
        if (json) print_json(dets, n, thresh, &nm, im.w, im.h);
        else print_text(dets, n, thresh, &nm, im.w, im.h);
        ecn_draw_detections(&im, dets, n, thresh, (const char *const *)nm.items, nm.n);
        if (out && *out && ecn_image_save_png(&im, out, &err)) rc = cli_fail(&err);
        else if (out && *out && !json) fprintf(stderr, "wrote %s\n", out);
    }
    ecn_detections_free(dets, n);
    ecn_image_free(&im);
    ecn_image_free(&boxed);
    names_free(&nm);
    ecn_net_free(net);
    return rc;
}
