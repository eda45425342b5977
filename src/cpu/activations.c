/* activations.c - Darknet's activation functions.
 *
 *   linear   y = x                      leaky  y = x > 0 ? x : 0.1x
 *   logistic y = 1 / (1 + e^-x)         relu   y = max(x, 0)
 *   loggy    y = 2 / (1 + e^-x) - 1     relie  y = x > 0 ? x : 0.01x
 *   elu      y = x >= 0 ? x : e^x - 1   ramp   y = max(x, 0) + 0.1x
 *   selu     1.0507 * (x >= 0 ? x : 1.6732 (e^x - 1))
 *   tanh, plse (piecewise linear sigmoid), stair, hardtan, lhtan as Darknet.
 *
 * Gradients are written in terms of the output y, which is what a layer keeps.
 */
#include "activations.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {
    [ECN_LINEAR] = "linear", [ECN_LOGISTIC] = "logistic", [ECN_LOGGY] = "loggy",
    [ECN_RELU] = "relu",     [ECN_ELU] = "elu",           [ECN_SELU] = "selu",
    [ECN_RELIE] = "relie",   [ECN_RAMP] = "ramp",         [ECN_LEAKY] = "leaky",
    [ECN_TANH] = "tanh",     [ECN_PLSE] = "plse",         [ECN_STAIR] = "stair",
    [ECN_HARDTAN] = "hardtan", [ECN_LHTAN] = "lhtan",
};
#define N_ACTIVATIONS ((int)(sizeof names / sizeof names[0]))

int ecn_activation_parse(const char *name, ecn_activation *a)
{
    for (int i = 0; i < N_ACTIVATIONS; i++) {
        if (strcmp(name, names[i]) == 0) {
            *a = (ecn_activation)i;
            return 0;
        }
    }
    return -1;
}

const char *ecn_activation_name(ecn_activation a)
{
    return (int)a >= 0 && (int)a < N_ACTIVATIONS ? names[a] : "?";
}

const char *ecn_activation_names(void)
{
    return "linear, logistic, loggy, relu, elu, selu, relie, ramp, leaky, tanh, plse, stair, "
           "hardtan, lhtan";
}

static float stair(float x)
{
    int n = (int)floorf(x);
    if (n % 2 == 0) return floorf(x / 2.f);
    return (x - n) + floorf(x / 2.f);
}

float ecn_activate1(float x, ecn_activation a)
{
    switch (a) {
    case ECN_LINEAR: return x;
    case ECN_LOGISTIC: return 1.f / (1.f + expf(-x));
    case ECN_LOGGY: return 2.f / (1.f + expf(-x)) - 1.f;
    case ECN_RELU: return x * (x > 0);
    case ECN_ELU: return (x >= 0) * x + (x < 0) * (expf(x) - 1.f);
    case ECN_SELU: return (x >= 0) * 1.0507f * x + (x < 0) * 1.0507f * 1.6732f * (expf(x) - 1.f);
    case ECN_RELIE: return x > 0 ? x : .01f * x;
    case ECN_RAMP: return x * (x > 0) + .1f * x;
    case ECN_LEAKY: return x > 0 ? x : .1f * x;
    case ECN_TANH: return (expf(2 * x) - 1) / (expf(2 * x) + 1);
    case ECN_PLSE:
        if (x < -4) return .01f * (x + 4);
        if (x > 4) return .01f * (x - 4) + 1;
        return .125f * x + .5f;
    case ECN_STAIR: return stair(x);
    case ECN_HARDTAN: return x < -1 ? -1.f : (x > 1 ? 1.f : x);
    case ECN_LHTAN:
        if (x < 0) return .001f * x;
        if (x > 1) return .001f * (x - 1) + 1;
        return x;
    }
    return x;
}

void ecn_activate(float *x, size_t n, ecn_activation a)
{
    /* The two common cases get their own loops so the compiler vectorises them. */
    if (a == ECN_LINEAR) return;
    if (a == ECN_LEAKY) {
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : .1f * x[i];
        return;
    }
    if (a == ECN_RELU) {
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0.f;
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = ecn_activate1(x[i], a);
}

float ecn_gradient1(float y, ecn_activation a)
{
    switch (a) {
    case ECN_LINEAR: return 1;
    case ECN_LOGISTIC: return (1 - y) * y;
    case ECN_LOGGY: {
        float s = (y + 1) / 2;
        return 2 * (1 - s) * s;
    }
    case ECN_RELU: return y > 0;
    case ECN_ELU: return (y >= 0) + (y < 0) * (y + 1);
    case ECN_SELU: return (y >= 0) * 1.0507f + (y < 0) * (y + 1.0507f * 1.6732f);
    case ECN_RELIE: return y > 0 ? 1 : .01f;
    case ECN_RAMP: return (y > 0) + .1f;
    case ECN_LEAKY: return y > 0 ? 1 : .1f;
    case ECN_TANH: return 1 - y * y;
    case ECN_PLSE: return (y < 0 || y > 1) ? .01f : .125f;
    case ECN_STAIR: return floorf(y) == y ? 0 : 1;
    case ECN_HARDTAN: return (y > -1 && y < 1) ? 1 : 0;
    case ECN_LHTAN: return (y > 0 && y < 1) ? 1 : .001f;
    }
    return 1;
}

void ecn_gradient(const float *y, size_t n, ecn_activation a, float *delta)
{
    if (a == ECN_LINEAR) return;
    for (size_t i = 0; i < n; i++) delta[i] *= ecn_gradient1(y[i], a);
}
