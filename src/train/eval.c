/* eval.c - see eval.h.  Top-k: the true class is among the k largest outputs. */
#include "eval.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Number of outputs larger than the true class's (its rank, 0 = top). */
static int rank_of(const float *p, int n, int label)
{
    int r = 0;
    for (int i = 0; i < n; i++) r += p[i] > p[label] || (p[i] == p[label] && i < label);
    return r;
}

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

int ecn_eval_classifier(ecn_net *net, const ecn_dataset *ds, ecn_eval_result *r,
                        ecn_eval_progress progress, void *user, ecn_err *err)
{
    memset(r, 0, sizeof *r);
    const ecn_layer *last = &net->layers[net->n - 1];
    int classes = (int)ecn_shape_size(last->out), batch = net->batch;
    if (ds->classes > 0 && ds->classes != classes)
        return ecn_fail(err, "the network has %d outputs but the data set has %d classes", classes, ds->classes);
    size_t in_size = ecn_shape_size(net->input);
    float *x = malloc((size_t)batch * in_size * sizeof *x);
    int *idx = malloc((size_t)batch * sizeof *idx);
    r->confusion = calloc((size_t)classes * classes, sizeof *r->confusion);
    if (!x || !idx || !r->confusion) {
        free(x);
        free(idx);
        ecn_eval_result_free(r);
        return ecn_fail(err, "out of memory");
    }
    r->classes = classes;
    double start = now(), top1 = 0, top5 = 0;
    int rc = 0;
    for (int first = 0; first < ds->n && rc == 0; first += batch) {
        int count = ds->n - first < batch ? ds->n - first : batch;
        for (int i = 0; i < batch; i++) idx[i] = first + (i < count ? i : 0); /* pad the last batch */
        rc = ecn_dataset_batch(ds, idx, batch, net->input, NULL, NULL, x, NULL, 0, err);
        if (rc) break;
        const float *out = ecn_net_forward(net, x, NULL, NULL);
        for (int i = 0; i < count; i++) {
            int label = ds->labels[first + i];
            const float *p = out + (size_t)i * classes;
            if (label < 0 || label >= classes) continue;
            int rank = rank_of(p, classes, label);
            top1 += rank == 0;
            top5 += rank < 5;
            r->confusion[label * classes + argmax(p, classes)]++;
            r->images++;
        }
        if (progress) progress(user, first + count, ds->n);
    }
    free(x);
    free(idx);
    if (rc) {
        ecn_eval_result_free(r);
        return -1;
    }
    r->top1 = r->images ? top1 / r->images : 0;
    r->top5 = r->images ? top5 / r->images : 0;
    r->seconds = now() - start;
    return 0;
}

void ecn_eval_result_free(ecn_eval_result *r)
{
    free(r->confusion);
    r->confusion = NULL;
}
