/* optimizer.c - see optimizer.h. */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

float ecn_learning_rate(const ecn_train_params *t, int batch_num, unsigned long long *rng)
{
    if (batch_num < t->burn_in)
        return t->learning_rate * powf((float)batch_num / (float)t->burn_in, t->power);
    switch (t->policy) {
    case ECN_POLICY_CONSTANT: return t->learning_rate;
    case ECN_POLICY_STEP: return t->learning_rate * powf(t->scale, (float)(batch_num / (t->step > 0 ? t->step : 1)));
    case ECN_POLICY_STEPS: {
        float rate = t->learning_rate;
        for (int i = 0; i < t->n_steps && t->steps[i] <= batch_num; i++) rate *= t->scales[i];
        return rate;
    }
    case ECN_POLICY_EXP: return t->learning_rate * powf(t->gamma, (float)batch_num);
    case ECN_POLICY_POLY:
        if (t->max_batches <= 0) return t->learning_rate;
        return t->learning_rate * powf(1.f - (float)batch_num / (float)t->max_batches, t->power);
    case ECN_POLICY_SIG: return t->learning_rate / (1.f + expf(t->gamma * (float)(batch_num - t->step)));
    case ECN_POLICY_RANDOM: return t->learning_rate * powf(ecn_rng_uniform(rng), t->power);
    }
    return t->learning_rate;
}

typedef struct tensor {
    ecn_param p;
    float *m, *v; /* Adam moments */
} tensor;

struct ecn_optimizer {
    const ecn_train_params *t;
    tensor *tensors;
    int n;
    int steps; /* Adam's t */
};

int ecn_optimizer_create(ecn_net *net, ecn_optimizer **out, ecn_err *err)
{
    ecn_optimizer *o = calloc(1, sizeof *o);
    if (!o) return ecn_fail(err, "out of memory");
    o->t = &net->train;
    o->tensors = calloc((size_t)net->n * ECN_MAX_PARAMS, sizeof *o->tensors);
    if (!o->tensors) {
        free(o);
        return ecn_fail(err, "out of memory");
    }
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        ecn_param ps[ECN_MAX_PARAMS];
        int k = l->ops->params ? l->ops->params(l, ps, ECN_MAX_PARAMS) : 0;
        for (int j = 0; j < k; j++) {
            tensor *t = &o->tensors[o->n++];
            t->p = ps[j];
            if (net->train.adam) {
                t->m = calloc(ps[j].n, sizeof(float));
                t->v = calloc(ps[j].n, sizeof(float));
                if (!t->m || !t->v) {
                    ecn_optimizer_free(o);
                    return ecn_fail(err, "out of memory for Adam state");
                }
            }
        }
    }
    *out = o;
    return 0;
}

void ecn_optimizer_free(ecn_optimizer *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        free(o->tensors[i].m);
        free(o->tensors[i].v);
    }
    free(o->tensors);
    free(o);
}

static void sgd(const ecn_param *p, float lr, float momentum, float decay, int batch)
{
    if (p->decay)
        for (size_t i = 0; i < p->n; i++) p->grad[i] -= decay * batch * p->value[i];
    float step = lr / (float)batch;
    for (size_t i = 0; i < p->n; i++) {
        p->value[i] += step * p->grad[i];
        p->grad[i] *= momentum;
    }
}

static void adam(tensor *t, float lr, const ecn_train_params *tp, int batch, int steps)
{
    const ecn_param *p = &t->p;
    float c1 = 1.f - powf(tp->b1, (float)steps), c2 = 1.f - powf(tp->b2, (float)steps);
    for (size_t i = 0; i < p->n; i++) {
        float g = p->grad[i] - (p->decay ? tp->decay * batch * p->value[i] : 0);
        t->m[i] = tp->b1 * t->m[i] + (1 - tp->b1) * g;
        t->v[i] = tp->b2 * t->v[i] + (1 - tp->b2) * g * g;
        p->value[i] += lr * (t->m[i] / c1) / (sqrtf(t->v[i] / c2) + tp->eps);
        p->grad[i] = 0;
    }
}

void ecn_optimizer_update(ecn_optimizer *o, float lr, int batch)
{
    o->steps++;
    for (int i = 0; i < o->n; i++) {
        if (o->t->adam) adam(&o->tensors[i], lr, o->t, batch, o->steps);
        else sgd(&o->tensors[i].p, lr, o->t->momentum, o->t->decay, batch);
    }
}

void ecn_optimizer_zero(ecn_optimizer *o)
{
    for (int i = 0; i < o->n; i++) {
        memset(o->tensors[i].p.grad, 0, o->tensors[i].p.n * sizeof(float));
        if (o->tensors[i].m) memset(o->tensors[i].m, 0, o->tensors[i].p.n * sizeof(float));
        if (o->tensors[i].v) memset(o->tensors[i].v, 0, o->tensors[i].p.n * sizeof(float));
    }
}
