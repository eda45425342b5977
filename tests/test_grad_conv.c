/* test_grad_conv.c - convolution gradients against central finite differences.
 *
 * The loss is L = sum_i R_i * y_i over the last layer's output y for a fixed
 * random R, so the last layer's delta (-dL/dy) is -R.  Every parameter
 * gradient and the delta handed to the previous layer are compared with
 * (L(p + h) - L(p - h)) / 2h, computed with training-mode forwards (batch
 * statistics included: the batch-norm gradient must account for them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"

typedef struct probe {
    ecn_net *net;
    float *x;   /* network input */
    float *r;   /* loss weights over the last output */
    size_t n_in, n_out;
} probe;

static double loss_of(probe *p)
{
    ecn_net_set_seed(p->net, 1);
    ecn_net_train_forward(p->net, p->x, NULL, 0);
    const ecn_layer *last = &p->net->layers[p->net->n - 1];
    double L = 0;
    for (size_t i = 0; i < p->n_out; i++) L += (double)p->r[i] * last->output[i];
    return L;
}

static void analytic(probe *p)
{
    ecn_net_set_seed(p->net, 1);
    ecn_net_train_forward(p->net, p->x, NULL, 0);
    ecn_layer *last = &p->net->layers[p->net->n - 1];
    for (size_t i = 0; i < p->n_out; i++) last->delta[i] = -p->r[i];
    ecn_net_backward(p->net, p->x);
}

/* Numeric -dL/dv for every element of v (at most `limit`, spread out). */
static double check_tensor(probe *p, float *v, const float *grad, size_t n, const char *what)
{
    size_t step = n > 60 ? n / 60 : 1, m = 0;
    double *num = calloc(n, sizeof *num), *ana = calloc(n, sizeof *ana);
    for (size_t i = 0; i < n; i += step, m++) {
        float keep = v[i], h = 2e-3f * (fabsf(keep) > 1 ? fabsf(keep) : 1);
        v[i] = keep + h;
        double up = loss_of(p);
        v[i] = keep - h;
        double down = loss_of(p);
        v[i] = keep;
        num[m] = -(up - down) / (2.0 * h);
        ana[m] = grad[i];
    }
    double e = test_rel_norm(ana, num, m);
    CHECK(e < 2e-2, "%s: relative error %.3g between analytic and numeric gradients", what, e);
    printf("  %-40s %zu checked, relative error %.2e\n", what, m, e);
    free(num);
    free(ana);
    return e;
}

static void check_net(const char *name, const char *cfg, int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_err err;
    probe p = {0};
    if (ecn_net_from_cfg_text(cfg, strlen(cfg), name, &lo, &p.net, &err) ||
        ecn_net_train_begin(p.net, &err)) {
        CHECK(0, "%s: %s", name, err.msg);
        return;
    }
    ecn_net_randomize(p.net, 42);
    p.n_in = ecn_shape_size(ecn_net_input_shape(p.net)) * batch;
    p.n_out = ecn_shape_size(p.net->layers[p.net->n - 1].out) * batch;
    p.x = malloc(p.n_in * sizeof *p.x);
    p.r = malloc(p.n_out * sizeof *p.r);
    unsigned long long rng = 9;
    for (size_t i = 0; i < p.n_in; i++) p.x[i] = 2 * ecn_rng_uniform(&rng) - 1;
    for (size_t i = 0; i < p.n_out; i++) p.r[i] = 2 * ecn_rng_uniform(&rng) - 1;
    /* Biases away from zero so leaky kinks are rare. */
    for (int li = 0; li < p.net->n; li++) {
        ecn_layer *l = &p.net->layers[li];
        ecn_param prm[ECN_MAX_PARAMS];
        int np = l->ops->params ? l->ops->params(l, prm, ECN_MAX_PARAMS) : 0;
        for (int k = 0; k < np; k++)
            if (!prm[k].decay)
                for (size_t i = 0; i < prm[k].n; i++) prm[k].value[i] += .3f * (2 * ecn_rng_uniform(&rng) - 1);
    }
    /* Gradients accumulate: zero them, then one analytic pass. */
    for (int li = 0; li < p.net->n; li++) {
        ecn_layer *l = &p.net->layers[li];
        ecn_param prm[ECN_MAX_PARAMS];
        int np = l->ops->params ? l->ops->params(l, prm, ECN_MAX_PARAMS) : 0;
        for (int k = 0; k < np; k++) memset(prm[k].grad, 0, prm[k].n * sizeof(float));
    }
    analytic(&p);
    /* Finite differences run forwards that overwrite the analytic pass's
     * state, so each gradient is copied before its tensor is probed. */
    for (int li = 0; li < p.net->n; li++) {
        ecn_layer *l = &p.net->layers[li];
        char what[128];
        ecn_param prm[ECN_MAX_PARAMS];
        int np = l->ops->params ? l->ops->params(l, prm, ECN_MAX_PARAMS) : 0;
        for (int k = 0; k < np; k++) {
            float *g = malloc(prm[k].n * sizeof *g);
            memcpy(g, prm[k].grad, prm[k].n * sizeof *g);
            snprintf(what, sizeof what, "%s layer %d %s", name, li, prm[k].name);
            check_tensor(&p, prm[k].value, g, prm[k].n, what);
            free(g);
        }
    }
    free(p.x);
    free(p.r);
    ecn_net_free(p.net);
}

int main(void)
{
    /* Two convolutions: the first one's parameter gradients go through the
     * second one's input delta, so both backward paths are checked. */
    check_net("conv3x3+bn -> conv3x3/2 groups",
              "[net]\nwidth=7\nheight=6\nchannels=2\n"
              "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=logistic\n"
              "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=1\ngroups=2\nactivation=logistic\n",
              3);
    check_net("conv1x1 -> conv3x3 no pad",
              "[net]\nwidth=5\nheight=5\nchannels=3\n"
              "[convolutional]\nfilters=4\nsize=1\nstride=1\nactivation=tanh\n"
              "[convolutional]\nfilters=3\nsize=3\nstride=1\nbatch_normalize=1\nactivation=linear\n",
              2);
    /* Leaky has a kink at 0: the step is small enough to cross few of them. */
    check_net("leaky conv3x3/2 -> conv1x1",
              "[net]\nwidth=6\nheight=6\nchannels=2\n"
              "[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
              "[convolutional]\nfilters=2\nsize=1\nstride=1\nbatch_normalize=1\nactivation=leaky\n",
              2);
    /* Through a [split] (training runs it as the identity) and into an exit
     * branch that ends the network: the first convolution's gradients must
     * flow back through both. */
    check_net("conv -> split -> conv -> exit branch",
              "[net]\nwidth=6\nheight=5\nchannels=2\n"
              "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=logistic\n"
              "[split]\nbits=8\n"
              "[convolutional]\nfilters=4\nsize=1\nstride=1\nactivation=tanh\n"
              "[exit]\n"
              "[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\nactivation=linear\n"
              "[avgpool]\n[softmax]\n",
              2);
    return test_finish("test_grad_conv");
}
