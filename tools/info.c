/* info.c - `ecnet info CFG`: the layer table, as Darknet prints it, plus totals. */
#include <string.h>

#include "cli.h"

static void print_table(const ecn_net *net)
{
    printf("layer     type      filters size/stride     input                output            BFLOPs\n");
    double total = 0;
    size_t params = 0;
    for (int i = 0; i < ecn_net_layer_count(net); i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        total += li.flops;
        params += li.params;
        printf("%5d %-13s %-18s %4d x%4d x%5d -> %4d x%4d x%5d  %7.3f\n", i, li.type, li.detail,
               li.in.w, li.in.h, li.in.c, li.out.w, li.out.h, li.out.c, li.flops / 1e9);
    }
    printf("total: %.3f BFLOPs, %zu parameters (%.1f MB), %zu MB of memory for inference\n",
           total / 1e9, params, params * 4.0 / 1048576, ecn_net_memory_bytes(net) >> 20);
}

static void print_json(const ecn_net *net)
{
    ecn_shape in = ecn_net_input_shape(net);
    printf("{\"input\":[%d,%d,%d],\"layers\":[", in.c, in.h, in.w);
    double total = 0;
    size_t params = 0;
    for (int i = 0; i < ecn_net_layer_count(net); i++) {
        ecn_layer_info li;
        ecn_net_layer_info(net, i, &li);
        total += li.flops;
        params += li.params;
        printf("%s{\"index\":%d,\"type\":", i ? "," : "", i);
        json_string(stdout, li.type);
        printf(",\"line\":%d,\"detail\":", li.line);
        json_string(stdout, li.detail);
        printf(",\"input\":[%d,%d,%d],\"output\":[%d,%d,%d],\"bflops\":%.6f,\"params\":%zu}",
               li.in.c, li.in.h, li.in.w, li.out.c, li.out.h, li.out.w, li.flops / 1e9, li.params);
    }
    printf("],\"bflops\":%.6f,\"params\":%zu,\"memory_bytes\":%zu}\n", total / 1e9, params,
           ecn_net_memory_bytes(net));
}

int cmd_info(int argc, char **argv)
{
    int json = 0, width = 0, height = 0;
    cli_opt opts[] = {
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object instead of the table"},
        {"--width", OPT_INT, &width, "W", "input width (default: the cfg's)"},
        {"--height", OPT_INT, &height, "H", "input height (default: the cfg's)"},
    };
    cli_spec spec = {"ecnet info CFG [--width W --height H] [--json]",
                     "Parse a Darknet cfg and print its layers: index, type, filters, size/stride,\n"
                     "input -> output shape (w x h x c) and BFLOPs, then the totals.",
                     opts, 3, 1, 1};
    const char *pos[1];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    ecn_load_opts lo = {.batch = 1, .width = width, .height = height, .threads = 1};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], NULL, &lo, &net))) return rc;
    if (json) print_json(net);
    else print_table(net);
    ecn_net_free(net);
    return EXIT_OK;
}
