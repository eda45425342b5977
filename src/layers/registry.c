/* registry.c - maps cfg section names to layer types. */
#include <string.h>

#include "core/layer.h"

extern const ecn_layer_ops ecn_convolutional_ops, ecn_connected_ops, ecn_maxpool_ops,
    ecn_avgpool_ops, ecn_route_ops, ecn_shortcut_ops, ecn_upsample_ops, ecn_reorg_ops,
    ecn_softmax_ops, ecn_dropout_ops, ecn_cost_ops, ecn_yolo_ops, ecn_region_ops,
    ecn_batchnorm_ops, ecn_exit_ops, ecn_split_ops;

static const struct {
    const char *name;
    const ecn_layer_ops *ops;
} table[] = {
    {"convolutional", &ecn_convolutional_ops}, {"conv", &ecn_convolutional_ops},
    {"connected", &ecn_connected_ops},         {"conn", &ecn_connected_ops},
    {"maxpool", &ecn_maxpool_ops},             {"max", &ecn_maxpool_ops},
    {"avgpool", &ecn_avgpool_ops},             {"avg", &ecn_avgpool_ops},
    {"route", &ecn_route_ops},                 {"shortcut", &ecn_shortcut_ops},
    {"upsample", &ecn_upsample_ops},           {"reorg", &ecn_reorg_ops},
    {"softmax", &ecn_softmax_ops},             {"soft", &ecn_softmax_ops},
    {"dropout", &ecn_dropout_ops},             {"cost", &ecn_cost_ops},
    {"yolo", &ecn_yolo_ops},                   {"region", &ecn_region_ops},
    {"batchnorm", &ecn_batchnorm_ops},
    /* ecnet's own sections */
    {"exit", &ecn_exit_ops},                   {"split", &ecn_split_ops},
};

const ecn_layer_ops *ecn_layer_ops_find(const char *section_name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, section_name) == 0) return table[i].ops;
    return NULL;
}
