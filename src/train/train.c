/* train.c - see train.h. */
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "detect/map_net.h"
#include "train/eval.h"
#include "train/optimizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long mix(unsigned long long seed, unsigned long long k)
{
    unsigned long long s = seed ^ (k * 0x9E3779B97F4A7C15ULL);
    return ecn_rng_next(&s);
}

void ecn_train_paths(const ecn_train_opts *o, char *last, char *final, size_t size)
{
    snprintf(last, size, "%s/%s_last.weights", o->out_dir, o->name);
    snprintf(final, size, "%s/%s_final.weights", o->out_dir, o->name);
}

/* The training state that outlives one iteration. */
typedef struct run {
    ecn_net *net;
    const ecn_dataset *ds;
    const ecn_train_opts *o;
    ecn_optimizer *opt;
    int *perm, perm_epoch; /* shuffle of the epoch perm_epoch */
    float *x, *truth;
    int mini, truth_floats;
} run;

/* Example number of the s-th image of training. */
static int example_at(run *r, unsigned long long s)
{
    int epoch = (int)(s / (unsigned long long)r->ds->n);
    if (epoch != r->perm_epoch) {
        for (int i = 0; i < r->ds->n; i++) r->perm[i] = i;
        unsigned long long rng = mix(r->o->seed, (unsigned long long)epoch + 1);
        ecn_shuffle(r->perm, r->ds->n, &rng);
        r->perm_epoch = epoch;
    }
    return r->perm[s % (unsigned long long)r->ds->n];
}

/* One update: subdivisions passes of `mini` images.  Returns the loss per image. */
static int iterate(run *r, int iteration, float lr, float *loss, ecn_err *err)
{
    const ecn_train_params *t = &r->net->train;
    unsigned long long rng = mix(r->o->seed, 0x100000000ULL + (unsigned long long)iteration);
    double sum = 0;
    for (int sub = 0; sub < t->subdivisions; sub++) {
        int idx[4096];
        for (int i = 0; i < r->mini; i++) idx[i] = example_at(r, r->net->seen + (unsigned long long)i);
        if (ecn_dataset_batch(r->ds, idx, r->mini, r->net->input, r->o->aug, &rng, r->x, r->truth,
                              r->truth_floats, err))
            return -1;
        ecn_net_set_seed(r->net, ecn_rng_next(&rng));
        sum += ecn_net_train_step(r->net, r->x, r->truth, r->truth_floats);
        r->net->seen += (unsigned long long)r->mini;
    }
    ecn_optimizer_update(r->opt, lr, r->mini * t->subdivisions);
    *loss = (float)(sum / (r->mini * t->subdivisions));
    return 0;
}

static int checkpoint(run *r, const char *path, ecn_err *err)
{
    return ecn_net_save_weights(r->net, path, err);
}

/* Classification: one float per class; detection: 5 per box, room for the
 * most boxes an image of the set has. */
static int truth_floats_of(const ecn_dataset *ds)
{
    if (!ecn_dataset_is_detection(ds)) return ds->classes;
    int most = 1;
    for (int i = 0; i < ds->n; i++)
        if (ds->n_boxes[i] > most) most = ds->n_boxes[i];
    return 5 * most;
}

static int setup(run *r, ecn_err *err)
{
    const ecn_train_params *t = &r->net->train;
    r->mini = r->net->batch;
    if (r->mini > 4096) return ecn_fail(err, "mini-batch of %d images is too large (4096 at most)", r->mini);
    if (t->max_batches <= 0) return ecn_fail(err, "[net] max_batches must be set to train");
    if (r->ds->n <= 0) return ecn_fail(err, "the training set is empty");
    r->truth_floats = truth_floats_of(r->ds);
    r->perm = malloc((size_t)r->ds->n * sizeof *r->perm);
    r->x = malloc((size_t)r->mini * ecn_shape_size(r->net->input) * sizeof *r->x);
    r->truth = malloc((size_t)r->mini * r->truth_floats * sizeof *r->truth);
    r->perm_epoch = -1;
    if (!r->perm || !r->x || !r->truth) return ecn_fail(err, "out of memory");
    if (ecn_net_train_begin(r->net, err)) return -1;
    return ecn_optimizer_create(r->net, &r->opt, err);
}

static void teardown(run *r)
{
    ecn_optimizer_free(r->opt);
    free(r->perm);
    free(r->x);
    free(r->truth);
}

/* VOC mAP@0.5 of the network on the first `limit` images of a detection set. */
static int valid_map50(ecn_net *net, const ecn_dataset *valid, int limit, double *map50, ecn_err *err)
{
    ecn_map_run_opts ro = {.thresh = .005f, .nms = .45f, .limit = limit};
    ecn_map_opts mo = {.iou = .5f, .conf = .25f};
    ecn_map_set ms = {0};
    ecn_map_result mr = {0};
    int rc = ecn_map_run(net, valid, &ro, &ms, NULL, NULL, err);
    if (!rc) rc = ecn_map_evaluate(&ms, valid->classes, &mo, &mr, err);
    *map50 = rc ? -1 : mr.map50;
    ecn_map_result_free(&mr);
    ecn_map_set_free(&ms);
    return rc;
}

static int end_of_epoch(run *r, ecn_train_status *st, ecn_err *err)
{
    st->valid_top1 = st->valid_map50 = -1;
    if (r->o->valid && ecn_dataset_is_detection(r->o->valid)) {
        if (valid_map50(r->net, r->o->valid, r->o->valid_limit, &st->valid_map50, err)) return -1;
    } else if (r->o->valid) {
        ecn_eval_result er;
        if (ecn_eval_classifier(r->net, r->o->valid, &er, NULL, NULL, err)) return -1;
        st->valid_top1 = er.top1;
        ecn_eval_result_free(&er);
    }
    if (r->o->on_epoch) r->o->on_epoch(r->o->user, st);
    return 0;
}

int ecn_train(ecn_net *net, const ecn_dataset *ds, const ecn_train_opts *o, ecn_err *err)
{
    run r = {.net = net, .ds = ds, .o = o};
    char last[4096], final[4096];
    ecn_train_paths(o, last, final, sizeof last);
    int rc = setup(&r, err);
    const ecn_train_params *t = &net->train;
    int per_update = r.mini * t->subdivisions;
    int iters_per_epoch = (ds->n + per_update - 1) / per_update;
    int save_every = o->save_every > 0 ? o->save_every : iters_per_epoch;
    ecn_train_status st = {.max_iterations = t->max_batches, .avg_loss = -1, .valid_top1 = -1, .valid_map50 = -1};
    int start_iter = (int)(net->seen / (unsigned long long)per_update);
    double start = now();
    for (int it = start_iter; rc == 0 && it < t->max_batches; it++) {
        if (o->stop && *o->stop) break;
        st.lr = ecn_learning_rate(t, it, &net->rng);
        if ((rc = iterate(&r, it, st.lr, &st.loss, err))) break;
        st.iteration = it + 1;
        st.avg_loss = st.avg_loss < 0 ? st.loss : .9f * st.avg_loss + .1f * st.loss;
        st.elapsed_s = now() - start;
        st.images_per_s = (double)(st.iteration - start_iter) * per_update / st.elapsed_s;
        st.eta_s = (t->max_batches - st.iteration) * (double)per_update / st.images_per_s;
        st.epoch = (int)(net->seen / (unsigned long long)ds->n);
        if (o->on_iteration) o->on_iteration(o->user, &st);
        if (st.iteration % save_every == 0 && st.iteration < t->max_batches) rc = checkpoint(&r, last, err);
        int epoch_before = (int)((net->seen - (unsigned long long)per_update) / (unsigned long long)ds->n);
        if (rc == 0 && st.epoch > epoch_before) rc = end_of_epoch(&r, &st, err);
    }
    if (rc == 0) rc = checkpoint(&r, (o->stop && *o->stop) ? last : final, err);
    teardown(&r);
    return rc;
}

int ecn_train_open(const char *cfg, int threads, ecn_net **net, ecn_err *err)
{
    ecn_load_opts lo = {.batch = 1, .threads = threads};
    if (ecn_net_from_cfg(cfg, &lo, net, err)) return -1;
    int batch = (*net)->train.batch, subdivisions = (*net)->train.subdivisions;
    if (batch % subdivisions) {
        ecn_net_free(*net);
        *net = NULL;
        return ecn_fail(err, "%s: [net] batch=%d must be a multiple of subdivisions=%d", cfg, batch, subdivisions);
    }
    if (batch / subdivisions == 1) return 0;
    ecn_net_free(*net);
    lo.batch = batch / subdivisions;
    return ecn_net_from_cfg(cfg, &lo, net, err);
}
