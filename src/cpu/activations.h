/* activations.h - Darknet's activation functions, elementwise. */
#ifndef ECN_ACTIVATIONS_H
#define ECN_ACTIVATIONS_H

#include <stddef.h>

typedef enum ecn_activation {
    ECN_LINEAR, ECN_LOGISTIC, ECN_LOGGY, ECN_RELU, ECN_ELU, ECN_SELU, ECN_RELIE,
    ECN_RAMP, ECN_LEAKY, ECN_TANH, ECN_PLSE, ECN_STAIR, ECN_HARDTAN, ECN_LHTAN
} ecn_activation;

/* Returns 0 and sets *a for a known name, -1 otherwise. */
int ecn_activation_parse(const char *name, ecn_activation *a);
const char *ecn_activation_name(ecn_activation a);
/* Comma-separated list of all names, for error messages. */
const char *ecn_activation_names(void);

float ecn_activate1(float x, ecn_activation a);
void ecn_activate(float *x, size_t n, ecn_activation a);
/* delta *= f'(x) expressed through the output y = f(x), as Darknet does. */
float ecn_gradient1(float y, ecn_activation a);
void ecn_gradient(const float *y, size_t n, ecn_activation a, float *delta);

#endif
