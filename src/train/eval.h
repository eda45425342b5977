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

/* ---- early exits and the split ----------------------------------------
 *
 * Every image is run through the whole network (local mode: the split's
 * tensors make the real round trip) and recorded: each exit's entropy and
 * answer, the final answer, the frame's bytes.  Any threshold can then be
 * evaluated from the records without running the network again: the first
 * exit k with entropy H_k < T_k answers; a frame no exit answers is
 * offloaded and answered by the final layer. */

typedef struct ecn_exit_record {
    float entropy[ECN_MAX_EXITS];
    short answer[ECN_MAX_EXITS];
    short final_answer, label;
    unsigned bytes; /* frame bytes, 0 without a split */
} ecn_exit_record;

typedef struct ecn_exit_records {
    int n, n_exits, classes;
    ecn_exit_record *r;
} ecn_exit_records;

int ecn_eval_exits_run(ecn_net *net, const ecn_dataset *ds, ecn_exit_records *out, ecn_eval_progress progress,
                       void *user, ecn_err *err);
void ecn_exit_records_free(ecn_exit_records *r);

typedef struct ecn_exit_summary {
    double top1;              /* end to end */
    double offload_rate;      /* share of frames no exit answered */
    double bytes_per_offload; /* mean frame bytes of offloaded frames */
    double exit_rate[ECN_MAX_EXITS], exit_accuracy[ECN_MAX_EXITS]; /* share answered there; accuracy of those */
    double edge_accuracy;     /* accuracy of all frames answered by exits */
    double cloud_top1;        /* every frame through the whole network */
} ecn_exit_summary;

/* thresholds: one per exit. */
void ecn_exit_summarize(const ecn_exit_records *r, const float *thresholds, ecn_exit_summary *s);
/* -sum p log p (natural log). */
double ecn_entropy(const float *p, int n);

#endif
