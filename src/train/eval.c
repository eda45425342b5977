/* eval.c - see eval.h.  Top-k: the true class is among the k largest outputs. */
#include "eval.h"

#include <math.h>
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
        if (!out) {
            rc = ecn_fail(err, "forward pass on the GPU: %s", ecn_net_gpu_error(net) ? ecn_net_gpu_error(net) : "failed");
            break;
        }
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

/* ---- early exits ------------------------------------------------------ */

double ecn_entropy(const float *p, int n)
{
    double h = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) h -= p[i] * log(p[i]);
    return h;
}

static void record_batch(ecn_net *net, const ecn_dataset *ds, int first, int count, const float *final,
                         ecn_exit_records *out)
{
    for (int i = 0; i < count; i++) {
        ecn_exit_record *rec = &out->r[first + i];
        rec->label = (short)ds->labels[first + i];
        rec->final_answer = (short)argmax(final + (size_t)i * out->classes, out->classes);
        rec->bytes = (unsigned)ecn_net_split_bytes(net, i);
        for (int k = 0; k < out->n_exits; k++) {
            int classes;
            const float *p = ecn_net_exit_output(net, k, &classes) + (size_t)i * classes;
            rec->entropy[k] = (float)ecn_entropy(p, classes);
            rec->answer[k] = (short)argmax(p, classes);
        }
    }
}

int ecn_eval_exits_run(ecn_net *net, const ecn_dataset *ds, ecn_exit_records *out, ecn_eval_progress progress,
                       void *user, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    int batch = net->batch;
    out->classes = (int)ecn_shape_size(net->layers[net->n - 1].out);
    out->n_exits = net->n_exits;
    if (ds->classes > 0 && ds->classes != out->classes)
        return ecn_fail(err, "the network has %d outputs but the data set has %d classes", out->classes, ds->classes);
    out->r = calloc((size_t)ds->n, sizeof *out->r);
    float *x = malloc((size_t)batch * ecn_shape_size(net->input) * sizeof *x);
    int *idx = malloc((size_t)batch * sizeof *idx);
    int rc = (!out->r || !x || !idx) ? ecn_fail(err, "out of memory") : 0;
    for (int first = 0; rc == 0 && first < ds->n; first += batch) {
        int count = ds->n - first < batch ? ds->n - first : batch;
        for (int i = 0; i < batch; i++) idx[i] = first + (i < count ? i : 0);
        rc = ecn_dataset_batch(ds, idx, batch, net->input, NULL, NULL, x, NULL, 0, err);
        if (rc) break;
        const float *final = ecn_net_forward(net, x, NULL, NULL);
        if (!final) {
            rc = ecn_fail(err, "forward pass on the GPU: %s", ecn_net_gpu_error(net) ? ecn_net_gpu_error(net) : "failed");
            break;
        }
        if (ecn_net_split_error(net)) {
            rc = ecn_fail(err, "split round trip: %s", ecn_net_split_error(net));
            break;
        }
        record_batch(net, ds, first, count, final, out);
        if (progress) progress(user, first + count, ds->n);
    }
    free(x);
    free(idx);
    if (rc) {
        ecn_exit_records_free(out);
        return -1;
    }
    out->n = ds->n;
    return 0;
}

void ecn_exit_records_free(ecn_exit_records *r)
{
    free(r->r);
    memset(r, 0, sizeof *r);
}

void ecn_exit_summarize(const ecn_exit_records *r, const float *thresholds, ecn_exit_summary *s)
{
    memset(s, 0, sizeof *s);
    double correct = 0, cloud = 0, offloaded = 0, bytes = 0, edge = 0, edge_correct = 0;
    double answered[ECN_MAX_EXITS] = {0}, right[ECN_MAX_EXITS] = {0};
    for (int i = 0; i < r->n; i++) {
        const ecn_exit_record *rec = &r->r[i];
        int k = 0;
        while (k < r->n_exits && !(rec->entropy[k] < thresholds[k])) k++;
        int answer = k < r->n_exits ? rec->answer[k] : rec->final_answer;
        correct += answer == rec->label;
        cloud += rec->final_answer == rec->label;
        if (k < r->n_exits) {
            answered[k]++;
            right[k] += answer == rec->label;
            edge++;
            edge_correct += answer == rec->label;
        } else {
            offloaded++;
            bytes += rec->bytes;
        }
    }
    double n = r->n > 0 ? r->n : 1;
    s->top1 = correct / n;
    s->cloud_top1 = cloud / n;
    s->offload_rate = offloaded / n;
    s->bytes_per_offload = offloaded > 0 ? bytes / offloaded : 0;
    s->edge_accuracy = edge > 0 ? edge_correct / edge : 0;
    for (int k = 0; k < r->n_exits; k++) {
        s->exit_rate[k] = answered[k] / n;
        s->exit_accuracy[k] = answered[k] > 0 ? right[k] / answered[k] : 0;
    }
}
