/* test_grad.c - backward passes of the non-convolutional layers against
 * central finite differences, and the loss layers against hand computations.
 *
 * For a layer without a loss, the network's loss is L = sum_i R_i * y_i over
 * the last layer's output y for a fixed random R, so the last layer's delta
 * (-dL/dy) is seeded with -R after a training forward.  Then:
 *
 *   - input gradients: every test network starts with an identity layer
 *     ([maxpool] size=1 stride=1: out = in, and its backward leaves its own
 *     delta alone), so that layer's delta after backward is -dL/d(input),
 *     compared with -(L(x + h e_i) - L(x - h e_i)) / 2h for every input;
 *   - parameter gradients (connected, batchnorm): every learnable float the
 *     same way, through the value pointers of ops->params.
 *
 * All forwards run in training mode (batch statistics, dropout with the
 * generator re-seeded before each pass, so the mask is the same).  Inputs are
 * a shuffle of evenly spaced values, so max-pool windows hold no near ties
 * that the step h could cross.  Vectors are compared with the relative L2
 * error |a - n| / |n|.  Softmax (with truth) and cost are checked against
 * their formulas computed here, and the softmax cross-entropy also against
 * finite differences of the loss itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "ecnet.h"
#include "testlib.h"

#define STEP 2e-3f   /* finite-difference step */
#define TOL 1e-2     /* float32 network, double differences */

typedef struct probe {
    const char *name;
    ecn_net *net;
    int batch;
    float *x;           /* network input */
    float *r;           /* weights of L over the last output (no truth) */
    const float *truth; /* a loss layer's truth instead (NULL: use r) */
    int truth_floats;
    size_t n_in, n_out;
} probe;

/* ---- setting up ----------------------------------------------------- */

static int n_params(ecn_layer *l, ecn_param *prm)
{
    return l->ops->params ? l->ops->params(l, prm, ECN_MAX_PARAMS) : 0;
}

/* Biases and scales away from their 0 / 1 start, so that they matter. */
static void jitter_params(ecn_net *net, unsigned long long *rng)
{
    for (int li = 0; li < net->n; li++) {
        ecn_param prm[ECN_MAX_PARAMS];
        int np = n_params(&net->layers[li], prm);
        for (int k = 0; k < np; k++)
            if (!prm[k].decay)
                for (size_t i = 0; i < prm[k].n; i++)
                    prm[k].value[i] += .4f * (2 * ecn_rng_uniform(rng) - 1);
    }
}

/* x = a shuffle of n evenly spaced values in (-1, 1): no two closer than 2/n. */
static void spaced_input(float *x, size_t n, unsigned long long *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = ((float)i + .5f) * 2.f / (float)n - 1.f;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(ecn_rng_next(rng) % (i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static int probe_open(probe *p, const char *name, const char *cfg, int batch)
{
    ecn_load_opts lo = {.batch = batch, .threads = 2};
    ecn_err err;
    memset(p, 0, sizeof *p);
    p->name = name;
    p->batch = batch;
    if (ecn_net_from_cfg_text(cfg, strlen(cfg), name, &lo, &p->net, &err) ||
        ecn_net_train_begin(p->net, &err)) {
        CHECK(0, "%s: %s", name, err.msg);
        ecn_net_free(p->net);
        p->net = NULL;
        return -1;
    }
    ecn_net_randomize(p->net, 42);
    unsigned long long rng = 7;
    jitter_params(p->net, &rng);
    p->n_in = ecn_shape_size(ecn_net_input_shape(p->net)) * batch;
    p->n_out = ecn_shape_size(p->net->layers[p->net->n - 1].out) * batch;
    p->x = malloc(p->n_in * sizeof *p->x);
    p->r = malloc(p->n_out * sizeof *p->r);
    spaced_input(p->x, p->n_in, &rng);
    for (size_t i = 0; i < p->n_out; i++) p->r[i] = 2 * ecn_rng_uniform(&rng) - 1;
    return 0;
}

static void probe_close(probe *p)
{
    free(p->x);
    free(p->r);
    ecn_net_free(p->net);
}

static ecn_layer *layer(probe *p, int i) { return &p->net->layers[i]; }

/* ---- the loss and its analytic gradient ----------------------------- */

static double loss_of(probe *p)
{
    ecn_net_set_seed(p->net, 1);
    float loss = ecn_net_train_forward(p->net, p->x, p->truth, p->truth_floats);
    if (p->truth) return loss;
    const ecn_layer *last = layer(p, p->net->n - 1);
    double L = 0;
    for (size_t i = 0; i < p->n_out; i++) L += (double)p->r[i] * last->output[i];
    return L;
}

static void zero_grads(probe *p)
{
    for (int li = 0; li < p->net->n; li++) {
        ecn_param prm[ECN_MAX_PARAMS];
        int np = n_params(layer(p, li), prm);
        for (int k = 0; k < np; k++) memset(prm[k].grad, 0, prm[k].n * sizeof(float));
    }
}

/* One training forward and backward; -dL/d(input) is left in layer 0's
 * delta.  Returns the forward's loss (with a truth). */
static float analytic(probe *p)
{
    ecn_net_set_seed(p->net, 1);
    float loss = ecn_net_train_forward(p->net, p->x, p->truth, p->truth_floats);
    if (!p->truth) {
        ecn_layer *last = layer(p, p->net->n - 1);
        for (size_t i = 0; i < p->n_out; i++) last->delta[i] = -p->r[i];
    }
    ecn_net_backward(p->net, p->x);
    return loss;
}

/* Compare grad (-dL/dv, copied before probing) with central differences
 * over every element of v. */
static double compare(probe *p, float *v, const float *grad, size_t n, const char *what)
{
    double *num = calloc(n, sizeof *num), *ana = calloc(n, sizeof *ana);
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i], h = STEP * (fabsf(keep) > 1 ? fabsf(keep) : 1);
        v[i] = keep + h;
        double up = loss_of(p);
        v[i] = keep - h;
        double down = loss_of(p);
        v[i] = keep;
        num[i] = -(up - down) / (2.0 * (double)h);
        ana[i] = grad[i];
        norm += num[i] * num[i];
    }
    double e = test_rel_norm(ana, num, n);
    CHECK(e < TOL, "%s %s: relative error %.3g between analytic and numeric gradients", p->name,
          what, e);
    CHECK(norm > 1e-6, "%s %s: the gradient is zero, nothing was tested", p->name, what);
    printf("  %-34s %-16s %4zu values, relative error %.2e\n", p->name, what, n, e);
    free(num);
    free(ana);
    return e;
}

static void check_input(probe *p)
{
    zero_grads(p);
    analytic(p);
    float *g = malloc(p->n_in * sizeof *g);
    memcpy(g, layer(p, 0)->delta, p->n_in * sizeof *g);
    compare(p, p->x, g, p->n_in, "input");
    free(g);
}

static void check_params(probe *p, int li)
{
    ecn_param prm[ECN_MAX_PARAMS];
    int np = n_params(layer(p, li), prm);
    CHECK(np > 0, "%s: layer %d lists no parameters", p->name, li);
    zero_grads(p);
    analytic(p);
    float *grads[ECN_MAX_PARAMS];
    for (int k = 0; k < np; k++) { /* the probing forwards overwrite the caches, not the grads */
        grads[k] = malloc(prm[k].n * sizeof(float));
        memcpy(grads[k], prm[k].grad, prm[k].n * sizeof(float));
    }
    for (int k = 0; k < np; k++) {
        compare(p, prm[k].value, grads[k], prm[k].n, prm[k].name);
        free(grads[k]);
    }
}

/* Input gradient (and parameters of layer `param_layer`, if >= 0). */
static void check_net(const char *name, const char *cfg, int batch, int param_layer)
{
    probe p;
    if (probe_open(&p, name, cfg, batch)) return;
    check_input(&p);
    if (param_layer >= 0) check_params(&p, param_layer);
    probe_close(&p);
}

#define NET(w, h, c) "[net]\nwidth=" #w "\nheight=" #h "\nchannels=" #c "\n"
#define IDENTITY "[maxpool]\nsize=1\nstride=1\n"

/* ---- layers without parameters -------------------------------------- */

static void test_plain_layers(void)
{
    check_net("maxpool 2/2", NET(5, 4, 3) IDENTITY "[maxpool]\nsize=2\nstride=2\n", 2, -1);
    check_net("maxpool 3/1 padded", NET(5, 4, 3) IDENTITY "[maxpool]\nsize=3\nstride=1\n", 2, -1);
    check_net("avgpool", NET(5, 4, 3) IDENTITY "[avgpool]\n", 2, -1);
    /* Layer 0 feeds the route twice (directly and through the upsample). */
    check_net("route", NET(4, 3, 2) IDENTITY "[upsample]\nstride=1\nscale=-0.7\n[route]\nlayers=-1,-2,0\n",
              2, -1);
    check_net("upsample 2x scale", NET(3, 2, 2) IDENTITY "[upsample]\nstride=2\nscale=0.5\n", 2, -1);
    check_net("reorg /2", NET(4, 4, 8) IDENTITY "[reorg]\nstride=2\n", 2, -1);
    check_net("reorg reverse", NET(2, 2, 8) IDENTITY "[reorg]\nstride=2\nreverse=1\n", 2, -1);
    check_net("softmax groups, T=2", NET(5, 4, 3) IDENTITY "[softmax]\ngroups=3\ntemperature=2\n", 2,
              -1);
}

static void test_shortcut(void)
{
    check_net("shortcut same shape",
              NET(4, 3, 3) IDENTITY "[upsample]\nstride=1\nscale=0.5\n"
              "[shortcut]\nfrom=0\nalpha=0.6\nbeta=1.3\nactivation=logistic\n",
              2, -1);
    /* from = 4x4x3 into prev = 8x8x6: sample 2, 3 common channels. */
    check_net("shortcut from smaller",
              NET(4, 4, 3) IDENTITY "[upsample]\nstride=2\n[route]\nlayers=-1,-1\n"
              "[shortcut]\nfrom=0\nalpha=0.5\nbeta=2\nactivation=tanh\n",
              2, -1);
    /* from = 8x8x2 into prev = 4x4x4: stride 2, 2 common channels. */
    check_net("shortcut from larger",
              NET(8, 8, 2) IDENTITY "[route]\nlayers=0,0\n[maxpool]\nsize=2\nstride=2\n"
              "[shortcut]\nfrom=0\nalpha=0.5\nbeta=2\nactivation=tanh\n",
              2, -1);
}

/* ---- dropout -------------------------------------------------------- */

static void test_dropout(void)
{
    probe p;
    if (probe_open(&p, "dropout p=0.3", NET(6, 5, 4) IDENTITY "[dropout]\nprobability=0.3\n", 3))
        return;
    loss_of(&p);
    const float *out = layer(&p, 1)->output;
    size_t dropped = 0, scaled = 0;
    for (size_t i = 0; i < p.n_in; i++) {
        if (out[i] == 0) dropped++;
        else if (fabsf(out[i] - p.x[i] / .7f) <= 1e-6f * fabsf(p.x[i])) scaled++;
    }
    CHECK(dropped + scaled == p.n_in, "dropout: %zu values neither dropped nor scaled by 1/0.7",
          p.n_in - dropped - scaled);
    CHECK(dropped > p.n_in / 5 && dropped < p.n_in * 2 / 5, "dropout: %zu of %zu dropped, expected ~30%%",
          dropped, p.n_in);
    check_input(&p);
    /* Inference is the identity. */
    const float *y = ecn_net_forward(p.net, p.x, NULL, NULL);
    CHECK(memcmp(y, p.x, p.n_in * sizeof *y) == 0, "dropout: inference is not the identity");
    probe_close(&p);
}

/* ---- parametric layers ---------------------------------------------- */

static void test_parametric(void)
{
    check_net("connected logistic", NET(5, 4, 3) IDENTITY "[connected]\noutput=4\nactivation=logistic\n",
              2, 1);
    check_net("connected bn tanh, batch 3",
              NET(5, 4, 3) IDENTITY "[connected]\noutput=4\nbatch_normalize=1\nactivation=tanh\n", 3, 1);
    check_net("connected -> connected leaky",
              NET(3, 2, 2) IDENTITY "[connected]\noutput=5\nactivation=linear\n"
              "[connected]\noutput=3\nactivation=leaky\n",
              2, 1);
    check_net("batchnorm, batch 3", NET(5, 4, 3) IDENTITY "[batchnorm]\n", 3, 1);
    check_net("batchnorm, batch 1", NET(5, 4, 3) IDENTITY "[batchnorm]\n", 1, 1);
}

/* Two backward passes without zeroing give twice the grads. */
static void test_accumulation(void)
{
    probe p;
    if (probe_open(&p, "accumulate", NET(3, 2, 2) IDENTITY "[connected]\noutput=3\nbatch_normalize=1\n", 2))
        return;
    ecn_param prm[ECN_MAX_PARAMS];
    int np = n_params(layer(&p, 1), prm);
    CHECK(np == 3 && prm[0].decay == 1 && prm[1].decay == 0 && prm[2].decay == 0,
          "connected bn: expected weights (decay), biases and scales, got %d params", np);
    zero_grads(&p);
    analytic(&p);
    float once = prm[0].grad[1];
    analytic(&p);
    CHECK(fabsf(prm[0].grad[1] - 2 * once) <= 1e-5f * fabsf(once) && once != 0,
          "grads do not accumulate: %g then %g", once, prm[0].grad[1]);
    probe_close(&p);
}

/* ---- loss layers ---------------------------------------------------- */

/* Softmax with truth: delta = t - p, loss = -sum t log p, and t - p is the
 * exact -dLoss/d(softmax input). */
static void test_softmax_loss(void)
{
    probe p;
    if (probe_open(&p, "softmax cross-entropy", NET(1, 1, 6) IDENTITY "[softmax]\n", 2)) return;
    float truth[12] = {0, 0, 1, 0, 0, 0, /* one-hot */ .3f, 0, 0, 0, .7f, 0 /* soft */};
    p.truth = truth;
    p.truth_floats = 6;
    float loss = (float)loss_of(&p);
    const ecn_layer *sm = layer(&p, 1);
    double want = 0, derr = 0;
    for (int i = 0; i < 12; i++) {
        if (truth[i] != 0) want -= truth[i] * log(sm->output[i]);
        derr = fmax(derr, fabs(sm->delta[i] - (truth[i] - sm->output[i])));
    }
    CHECK(fabs(loss - want) <= 1e-5 * fabs(want), "softmax loss %g, expected %g", loss, want);
    CHECK(derr < 1e-6, "softmax delta differs from truth - p by %g", derr);
    check_input(&p);
    /* A truth of another size is not for this layer: no loss, no crash. */
    p.truth_floats = 5;
    CHECK(loss_of(&p) == 0, "softmax computed a loss against a truth of the wrong size");
    probe_close(&p);
}

/* Darknet's per-value error and delta for d = t - x (see cost.c). */
static double cost_ref(const char *type, float d, float *delta)
{
    float a = fabsf(d), s = d > 0 ? 1.f : d < 0 ? -1.f : 0.f;
    if (strcmp(type, "L1") == 0 || (strcmp(type, "smooth") == 0 && a >= 1)) {
        *delta = s;
        return strcmp(type, "L1") == 0 ? a : 2 * a - 1;
    }
    *delta = d;
    return (double)d * d;
}

static void test_cost(const char *type)
{
    char cfg[256], name[64];
    snprintf(cfg, sizeof cfg, NET(4, 3, 2) IDENTITY "[cost]\ntype=%s\nscale=0.5\n", type);
    snprintf(name, sizeof name, "cost %s", type);
    probe p;
    if (probe_open(&p, name, cfg, 2)) return;
    float truth[48];
    unsigned long long rng = 3;
    for (int i = 0; i < 48; i++) truth[i] = 4 * ecn_rng_uniform(&rng) - 2; /* some |d| > 1 */
    if (strcmp(type, "masked") == 0) truth[5] = truth[30] = -1234; /* "no truth here" */
    p.truth = truth;
    p.truth_floats = 24;
    float loss = analytic(&p); /* the deltas are read before any other forward */
    const ecn_layer *c = layer(&p, 1), *in = layer(&p, 0);
    double want = 0, derr = 0, ierr = 0;
    for (int i = 0; i < 48; i++) {
        float d;
        if (strcmp(type, "masked") == 0 && truth[i] == -1234)
            d = 0;
        else
            want += cost_ref(type, truth[i] - p.x[i], &d);
        derr = fmax(derr, fabs(c->delta[i] - d));
        ierr = fmax(ierr, fabs(in->delta[i] - .5f * d));
    }
    CHECK(fabs(loss - want) <= 1e-5 * want, "%s: loss %g, expected %g", name, loss, want);
    CHECK(derr < 1e-5, "%s: delta off by %g", name, derr);
    CHECK(ierr < 1e-5, "%s: the input's delta is not scale * delta (off by %g)", name, ierr);
    CHECK(memcmp(c->output, p.x, 48 * sizeof(float)) == 0, "%s: output is not the input", name);
    printf("  %-34s loss %.4f (expected %.4f), max delta error %.1e\n", name, loss, want, derr);
    probe_close(&p);
}

int main(void)
{
    test_plain_layers();
    test_shortcut();
    test_dropout();
    test_parametric();
    test_accumulation();
    test_softmax_loss();
    test_cost("sse");
    test_cost("masked");
    test_cost("smooth");
    test_cost("L1");
    return test_finish("test_grad");
}
