/* forward.c - `ecnet forward`: run a network once and write raw outputs.
 *
 * Input and outputs are little-endian float32 in CHW order, batch 1.  The
 * output is the last layer's, except for detectors, where it is every
 * [yolo]/[region] layer's output concatenated in layer order. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct dump {
    FILE *f;
    int failed;
} dump;

static void dump_layer(void *user, int layer, const float *out, size_t n)
{
    (void)layer;
    dump *d = user;
    if (!d->failed && fwrite(out, sizeof(float), n, d->f) != n) d->failed = 1;
}

/* The input tensor: from a raw file or an image (resized or letterboxed). */
static float *load_input(const ecn_net *net, const char *input, const char *image, int letterbox,
                         ecn_err *err)
{
    ecn_shape s = ecn_net_input_shape(net);
    if (input) {
        size_t n;
        float *x = cli_read_f32(input, &n, err);
        if (x && n != ecn_shape_size(s)) {
            snprintf(err->msg, sizeof err->msg, "%s holds %zu floats; the network takes %d x %d x %d = %zu",
                     input, n, s.c, s.h, s.w, ecn_shape_size(s));
            free(x);
            return NULL;
        }
        return x;
    }
    ecn_image im, sized;
    if (ecn_image_load(image, s.c, &im, err)) return NULL;
    int rc = letterbox ? ecn_image_letterbox(&im, s.w, s.h, &sized, err)
                       : ecn_image_resize(&im, s.w, s.h, &sized, err);
    ecn_image_free(&im);
    return rc ? NULL : sized.data;
}

static int is_detector_head(const char *type)
{
    return strcmp(type, "yolo") == 0 || strcmp(type, "region") == 0;
}

static int write_output(const ecn_net *net, const float *last, const char *path, ecn_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot create", path);
        return -1;
    }
    int heads = 0, ok = 1;
    for (int i = 0; i < ecn_net_layer_count(net); i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        if (!is_detector_head(li.type)) continue;
        heads++;
        size_t n = ecn_shape_size(li.out);
        ok &= fwrite(ecn_net_layer_output(net, i), sizeof(float), n, f) == n;
    }
    if (!heads) {
        ecn_layer_info li;
        ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &li);
        size_t n = ecn_shape_size(li.out);
        ok &= fwrite(last, sizeof(float), n, f) == n;
    }
    if (fclose(f) != 0 || !ok) {
        snprintf(err->msg, sizeof err->msg, "%s: write failed", path);
        return -1;
    }
    return 0;
}

int cmd_forward(int argc, char **argv)
{
    const char *input = NULL, *image = NULL, *save_input = NULL, *output = NULL, *dump_path = NULL;
    int letterbox = 0, width = 0, height = 0, threads = 0, gpu = -1;
    cli_opt opts[] = {
        {"--input", OPT_STRING, &input, "X.f32", "input tensor: raw float32, CHW"},
        {"--image", OPT_STRING, &image, "IMG", "input image (PNG, JPEG, ...), resized to the net"},
        {"--letterbox", OPT_FLAG, &letterbox, NULL, "letterbox the image (detectors) instead of resizing"},
        {"--width", OPT_INT, &width, "W", "network input width (default: the cfg's)"},
        {"--height", OPT_INT, &height, "H", "network input height (default: the cfg's)"},
        {"--save-input", OPT_STRING, &save_input, "IN.f32", "also write the input tensor used"},
        {"--output", OPT_STRING, &output, "OUT.f32", "where to write the output (required)"},
        {"--dump-layers", OPT_STRING, &dump_path, "LAYERS.f32", "write every layer's output, in order"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--gpu", OPT_INT, &gpu, "N", "run on CUDA device N (a GPU=1 build)"},
    };
    cli_spec spec = {"ecnet forward CFG WEIGHTS (--input X.f32 | --image IMG [--letterbox]) "
                     "[--width W --height H] [--save-input IN.f32] --output OUT.f32 "
                     "[--dump-layers LAYERS.f32] [--gpu N]",
                     "Run the network once (batch 1) and write its output as raw little-endian\n"
                     "float32.  For detectors the output is every [yolo]/[region] layer's output\n"
                     "concatenated in layer order.",
                     opts, 10, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!output || (!input == !image)) {
        fprintf(stderr, "ecnet: forward needs --output and exactly one of --input or --image\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    if ((rc = cli_check_gpu(gpu))) return rc;
    ecn_load_opts lo = {.batch = 1, .width = width, .height = height, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) return rc;
    if ((rc = cli_use_gpu(net, gpu))) {
        ecn_net_free(net);
        return rc;
    }
    ecn_err err;
    float *x = load_input(net, input, image, letterbox, &err);
    rc = EXIT_OK;
    if (!x) rc = cli_fail(&err);
    if (!rc && save_input && cli_write_f32(save_input, x, ecn_shape_size(ecn_net_input_shape(net)), &err))
        rc = cli_fail(&err);
    dump d = {NULL, 0};
    if (!rc && dump_path && !(d.f = fopen(dump_path, "wb"))) {
        fprintf(stderr, "ecnet: %s: cannot create\n", dump_path);
        rc = EXIT_FAIL;
    }
    if (!rc) {
        const float *last = ecn_net_forward(net, x, d.f ? dump_layer : NULL, &d);
        if (!last) rc = cli_gpu_failed(net);
        if (d.f && (fclose(d.f) != 0 || d.failed) && !rc) {
            fprintf(stderr, "ecnet: %s: write failed\n", dump_path);
            rc = EXIT_FAIL;
        }
        if (!rc && write_output(net, last, output, &err)) rc = cli_fail(&err);
    }
    free(x);
    ecn_net_free(net);
    return rc;
}
