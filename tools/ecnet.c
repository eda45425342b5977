/* ecnet.c - the ecnet command: dispatches to one file per sub-command. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_rate(int argc, char **argv);
int cmd_codec(int argc, char **argv);
int cmd_delay(int argc, char **argv);
int cmd_cloud(int argc, char **argv);
int cmd_edge(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_anchors(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_cascade(int argc, char **argv);
int cmd_discriminator(int argc, char **argv);

static const struct {
    const char *name;
    cli_command run;
    const char *help;
} commands[] = {
    {"info", cmd_info, "layer table of a cfg: shapes, BFLOPs, parameters"},
    {"forward", cmd_forward, "run a network on a tensor or image, write raw float32 outputs"},
    {"classify", cmd_classify, "top-k classes of an image"},
    {"detect", cmd_detect, "boxes of a detector on an image, and a PNG with them drawn"},
    {"train", cmd_train, "train a classifier (Darknet [net] semantics, checkpoints, --resume)"},
    {"eval", cmd_eval, "accuracy of a classifier: top-1/top-5, per class, confusion matrix"},
    {"rate", cmd_rate, "the cloud's ingress rate for a fleet of cameras, by simulation"},
    {"bench", cmd_bench, "time the forward pass: ms, GFLOPS, peak memory, per-layer times"},
    {"codec", cmd_codec, "how the split's feature map compresses: entropy, DPCM, codecs (ratio, speed)"},
    {"delay", cmd_delay, "capture-to-output delay vs data rate: local, offloading, split, split+exits"},
    {"cloud", cmd_cloud, "serve the layers after the [split] to edges over TCP"},
    {"edge", cmd_edge, "run the edge half on a data set, offload unsure frames to a cloud"},
    {"dataset", cmd_dataset, "compose a detection set: Fashion-MNIST items on photographs and patterns"},
    {"anchors", cmd_anchors, "anchor boxes for a detector by k-means on a data set's boxes"},
    {"map", cmd_map, "mAP of a detector: VOC AP50 and COCO AP@[.5:.95], per class"},
    {"cascade", cmd_cascade, "small-big detector cascade: upload policies, objects found, mAP, sweeps"},
    {"discriminator", cmd_discriminator, "fit the cascade's difficult-case discriminator on a train list"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ecnet COMMAND [ARGS...]   (ecnet COMMAND --help for details)\n\n"
               "ecnet runs Darknet-format networks, and splits them between an edge device\n"
               "and a cloud server.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ecnet: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
