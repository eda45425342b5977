/* eval.h - classification accuracy of a network over a data set. */
#ifndef ECN_EVAL_H
#define ECN_EVAL_H

#include "core/net.h"
#include "train/data.h"

typedef struct ecn_eval_result {
    int images, classes;
    double top1, top5;  /* fractions */
    int *confusion;     /* classes x classes, row = true class, column = predicted */
    double seconds;
} ecn_eval_result;

typedef void (*ecn_eval_progress)(void *user, int done, int total);

/* Runs the network (inference mode, batch by batch) over every example. */
int ecn_eval_classifier(ecn_net *net, const ecn_dataset *ds, ecn_eval_result *r,
                        ecn_eval_progress progress, void *user, ecn_err *err);
void ecn_eval_result_free(ecn_eval_result *r);

#endif
