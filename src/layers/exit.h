/* exit.h - what the network needs to know about an [exit] layer. */
#ifndef ECN_EXIT_H
#define ECN_EXIT_H

#include "core/layer.h"

float ecn_exit_threshold(const ecn_layer *l); /* entropy below which the exit answers */
float ecn_exit_weight(const ecn_layer *l);    /* its share of the training loss */
void ecn_exit_set_threshold(ecn_layer *l, float threshold);

#endif
