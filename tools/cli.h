/* cli.h - what every sub-command shares: option parsing, --help, JSON text,
 * progress, exit codes.  Exit codes: 0 ok, 1 failure, 2 usage error. */
#ifndef ECN_CLI_H
#define ECN_CLI_H

#include <stdio.h>

#include "ecnet.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_DOUBLE, OPT_STRING } cli_kind;

typedef struct cli_opt {
    const char *name; /* "--width" */
    cli_kind kind;
    void *dst;        /* int*, float*, double* or const char**: as the kind says */
    const char *metavar;
    const char *help;
} cli_opt;

typedef struct cli_spec {
    const char *usage;       /* "ecnet info CFG [options]" */
    const char *summary;     /* one paragraph */
    const cli_opt *opts;
    int n_opts;
    int min_pos, max_pos;    /* positional arguments */
} cli_spec;

/* Parses argv[1..] (argv[0] is the sub-command).  Positional arguments go to
 * pos[].  Returns -1 to go on, or an exit code: 0 after --help, 2 after a
 * usage error (already explained on stderr). */
int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos);

/* A sub-command's entry point. */
typedef int (*cli_command)(int argc, char **argv);

/* Print a library error on stderr and return EXIT_FAIL. */
int cli_fail(const ecn_err *err);
/* Print the network's parse warnings on stderr. */
void cli_print_warnings(const ecn_net *net);
/* Load cfg (and weights when given, folding batch norm for inference).
 * WEIGHTS "random:SEED" gives random parameters from SEED instead: two
 * processes given the same seed hold the same network (load tests). */
int cli_load_net(const char *cfg, const char *weights, const ecn_load_opts *lo, ecn_net **net);

/* --gpu N (-1, the default, runs on the CPU).  cli_check_gpu, right after
 * parsing: EXIT_OK to go on, or EXIT_USAGE when N is negative or the build
 * has no GPU support (saying so).  cli_use_gpu, once the network has its
 * weights: moves it to device N, or says why it cannot (EXIT_FAIL). */
int cli_check_gpu(int device);
int cli_use_gpu(ecn_net *net, int device);
/* After ecn_net_forward returned NULL on a GPU: print why, return EXIT_FAIL. */
int cli_gpu_failed(const ecn_net *net);

/* JSON string with escapes. */
void json_string(FILE *f, const char *s);

/* Progress line on stderr, only when stderr is a terminal and not quiet. */
void cli_progress(int quiet, const char *label, long done, long total, double elapsed_s);
double cli_now(void); /* monotonic seconds */

/* Raw float32 files (little-endian, as the host is). */
float *cli_read_f32(const char *path, size_t *count, ecn_err *err);
int cli_write_f32(const char *path, const float *data, size_t count, ecn_err *err);

#endif
