/* classify.c - `ecnet classify CFG WEIGHTS IMG`: top-k classes of an image. */
#include <stdlib.h>

#include "cli.h"
#include "names.h"

static void top_k(const float *p, int n, int k, int *idx)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < j; q++) taken |= idx[q] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        idx[j] = best;
    }
}

int cmd_classify(int argc, char **argv)
{
    const char *labels = NULL;
    int k = 5, json = 0, letterbox = 0, threads = 0, gpu = -1;
    cli_opt opts[] = {
        {"--labels", OPT_STRING, &labels, "FILE", "class names, one per line"},
        {"--top", OPT_INT, &k, "K", "how many classes to print (default 5)"},
        {"--letterbox", OPT_FLAG, &letterbox, NULL, "letterbox instead of resizing the image"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"--gpu", OPT_INT, &gpu, "N", "run on CUDA device N (a GPU=1 build)"},
    };
    cli_spec spec = {"ecnet classify CFG WEIGHTS IMG [--labels FILE] [--top K] [--letterbox] [--json] [--gpu N]",
                     "Classify an image: resize it to the network input (Darknet's bilinear\n"
                     "resize), run the network, print the K most probable classes.",
                     opts, 6, 3, 3};
    const char *pos[3];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if ((rc = cli_check_gpu(gpu))) return rc;
    ecn_err err;
    names nm;
    if (names_load(labels, &nm, &err)) return cli_fail(&err);
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net)) || (rc = cli_use_gpu(net, gpu))) {
        ecn_net_free(net);
        names_free(&nm);
        return rc;
    }
    ecn_shape s = ecn_net_input_shape(net);
    ecn_image im, sized = {0};
    rc = EXIT_OK;
    if (ecn_image_load(pos[2], s.c, &im, &err)) rc = cli_fail(&err);
    else {
        if ((letterbox ? ecn_image_letterbox(&im, s.w, s.h, &sized, &err)
                       : ecn_image_resize(&im, s.w, s.h, &sized, &err)))
            rc = cli_fail(&err);
        ecn_image_free(&im);
    }
    if (!rc) {
        const float *p = ecn_net_forward(net, sized.data, NULL, NULL);
        if (!p) {
            rc = cli_gpu_failed(net);
            goto done;
        }
        ecn_layer_info li;
        ecn_net_layer_info(net, ecn_net_layer_count(net) - 1, &li);
        int n = (int)ecn_shape_size(li.out);
        if (k > n) k = n;
        if (k < 1) k = 1;
        int *idx = malloc((size_t)k * sizeof *idx);
        top_k(p, n, k, idx);
        char buf[32];
        if (json) printf("{\"image\":"), json_string(stdout, pos[2]), printf(",\"top\":[");
        for (int j = 0; j < k; j++) {
            const char *name = names_get(&nm, idx[j], buf, sizeof buf);
            if (json) {
                printf("%s{\"class\":%d,\"name\":", j ? "," : "", idx[j]);
                json_string(stdout, name);
                printf(",\"prob\":%.6f}", p[idx[j]]);
            } else {
                printf("%5.2f%%: %s\n", 100 * p[idx[j]], name);
            }
        }
        if (json) printf("]}\n");
        free(idx);
    }
done:
    ecn_image_free(&sized);
    names_free(&nm);
    ecn_net_free(net);
    return rc;
}
