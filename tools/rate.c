/* rate.c - `ecnet rate`: the cloud's ingress rate for a fleet of cameras
 * (the transfer-rate model of src/net/rate.h), by simulation. */
#include <string.h>

#include "cli.h"
#include "net/rate.h"

int cmd_rate(int argc, char **argv)
{
    ecn_rate_model m = {.cameras = 100, .fps = 10, .offload_rate = 0.2, .frame_bytes = 421, .grid = 7,
                        .objects_mean = 2, .objects_var = 2, .cells_per_object = 2, .cell_ratio = 0.5,
                        .cell_bytes = 512, .header_bytes = 76};
    int seconds = 1000, seed = 1, json = 0;
    const char *model = "frame";
    cli_opt opts[] = {
        {"--cameras", OPT_INT, &m.cameras, "N", "cameras (default 100)"},
        {"--fps", OPT_DOUBLE, &m.fps, "F", "frames per second per camera (default 10)"},
        {"--model", OPT_STRING, &model, "frame|cell", "what an offloaded frame costs (default frame)"},
        {"--offload-rate", OPT_DOUBLE, &m.offload_rate, "P", "frame model: share of frames offloaded (0.2)"},
        {"--bytes", OPT_DOUBLE, &m.frame_bytes, "B", "frame model: bytes per offloaded frame (421)"},
        {"--grid", OPT_INT, &m.grid, "G", "cell model: the image is G x G cells (7)"},
        {"--objects-mean", OPT_DOUBLE, &m.objects_mean, "M", "cell model: objects per camera, mean (2)"},
        {"--objects-var", OPT_DOUBLE, &m.objects_var, "S", "cell model: objects per camera, variance (2)"},
        {"--cells-per-object", OPT_DOUBLE, &m.cells_per_object, "C", "cell model: cells an object covers (2)"},
        {"--ratio", OPT_DOUBLE, &m.cell_ratio, "R", "cell model: share of object cells sent to the cloud (0.5)"},
        {"--cell-bytes", OPT_DOUBLE, &m.cell_bytes, "b", "cell model: bytes per cell sent (512)"},
        {"--header-bytes", OPT_DOUBLE, &m.header_bytes, "h", "cell model: bytes per frame that sends cells (76)"},
        {"--seconds", OPT_INT, &seconds, "T", "simulated seconds (default 1000)"},
        {"--seed", OPT_INT, &seed, "S", "random seed (default 1)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_spec spec = {"ecnet rate [--cameras N] [--fps F] [--model frame|cell] [model options] [--json]",
                     "The cloud's ingress rate for a fleet of edge cameras, simulated second by\n"
                     "second: mean, median, p95, p99 and max in Mbit/s, and the analytic mean.\n"
                     "Frame model: each frame is offloaded with the measured offload rate and\n"
                     "costs the measured bytes per offloaded frame (ecnet eval prints both).\n"
                     "Cell model: objects per camera (mean, variance), the cells they cover, the\n"
                     "share of those cells the cloud must see, bytes per cell.",
                     opts, 15, 0, 0};
    const char *pos[1];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (strcmp(model, "frame") && strcmp(model, "cell")) {
        fprintf(stderr, "ecnet: --model must be frame or cell\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    m.cell_model = strcmp(model, "cell") == 0;
    ecn_rate_result r;
    ecn_err err;
    if (ecn_rate_simulate(&m, seconds, (unsigned long long)seed, &r, &err)) {
        fprintf(stderr, "ecnet: %s\nusage: %s\n", err.msg, spec.usage);
        return EXIT_USAGE;
    }
    if (json) {
        printf("{\"model\":\"%s\",\"cameras\":%d,\"fps\":%g,\"seconds\":%d,\"mean_mbps\":%.6f,\"p50_mbps\":%.6f,"
               "\"p95_mbps\":%.6f,\"p99_mbps\":%.6f,\"max_mbps\":%.6f,\"expected_mbps\":%.6f}\n",
               model, m.cameras, m.fps, r.seconds, r.mean_bps / 1e6, r.p50_bps / 1e6, r.p95_bps / 1e6,
               r.p99_bps / 1e6, r.max_bps / 1e6, r.expected_bps / 1e6);
        return EXIT_OK;
    }
    printf("%d cameras at %g fps, %s model, %d simulated seconds:\n", m.cameras, m.fps, model, r.seconds);
    printf("  cloud ingress: mean %.3f Mbit/s, median %.3f, p95 %.3f, p99 %.3f, max %.3f\n", r.mean_bps / 1e6,
           r.p50_bps / 1e6, r.p95_bps / 1e6, r.p99_bps / 1e6, r.max_bps / 1e6);
    printf("  analytic mean: %.3f Mbit/s\n", r.expected_bps / 1e6);
    return EXIT_OK;
}
