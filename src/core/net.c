/* net.c - building a network from a cfg, planning its memory, running it.
 *
 * Building: the first section must be [net]; every following section becomes
 * a layer whose ops table comes from the registry.  Each layer reads its own
 * options; an option nobody read becomes a warning (usually a typo).
 *
 * Memory: at inference only a few activations are alive at once.  A layer's
 * output lives from its own step to the last layer that reads it, so outputs
 * are packed into one arena of reusable slots, assigned greedily in layer
 * order.  Detector heads and the last layer keep their output to the end.
 */
#include "net.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/gemm.h"
#include "error.h"
#include "../layers/exit.h"
#include "../layers/split.h"

/* ---- the [net] section ---------------------------------------------- */

static ecn_lr_policy parse_policy(ecn_opts *o)
{
    static const struct {
        const char *name;
        ecn_lr_policy p;
    } names[] = {{"constant", ECN_POLICY_CONSTANT}, {"step", ECN_POLICY_STEP},
                 {"steps", ECN_POLICY_STEPS},       {"poly", ECN_POLICY_POLY},
                 {"exp", ECN_POLICY_EXP},           {"sigmoid", ECN_POLICY_SIG},
                 {"random", ECN_POLICY_RANDOM}};
    const char *s = ecn_opt_str(o, "policy", "constant");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) return names[i].p;
    ecn_opt_fail(o, "policy", "expected constant, step, steps, poly, exp, sigmoid or random");
    return ECN_POLICY_CONSTANT;
}

static void parse_train_params(ecn_opts *o, ecn_train_params *t)
{
    t->batch = ecn_opt_int_range(o, "batch", 1, 1, 1 << 20);
    t->subdivisions = ecn_opt_int_range(o, "subdivisions", 1, 1, 1 << 20);
    t->time_steps = ecn_opt_int_range(o, "time_steps", 1, 1, 1 << 20);
    t->learning_rate = ecn_opt_float(o, "learning_rate", .001f);
    t->momentum = ecn_opt_float(o, "momentum", .9f);
    t->decay = ecn_opt_float(o, "decay", .0001f);
    t->adam = ecn_opt_int(o, "adam", 0);
    t->b1 = ecn_opt_float(o, "B1", .9f);
    t->b2 = ecn_opt_float(o, "B2", .999f);
    t->eps = ecn_opt_float(o, "eps", .0000001f);
    t->policy = parse_policy(o);
    t->burn_in = ecn_opt_int(o, "burn_in", 0);
    t->power = ecn_opt_float(o, "power", 4);
    t->step = ecn_opt_int(o, "step", 1);
    t->scale = ecn_opt_float(o, "scale", 1);
    t->gamma = ecn_opt_float(o, "gamma", 1);
    t->max_batches = ecn_opt_int(o, "max_batches", 0);
    t->n_steps = ecn_opt_ints(o, "steps", t->steps, ECN_MAX_STEPS);
    int n_scales = ecn_opt_floats(o, "scales", t->scales, ECN_MAX_STEPS);
    if (!o->failed && t->policy == ECN_POLICY_STEPS && n_scales != t->n_steps)
        ecn_opt_fail(o, "scales", "expected as many scales as steps (%d)", t->n_steps);
    t->angle = ecn_opt_float(o, "angle", 0);
    t->aspect = ecn_opt_float(o, "aspect", 1);
    t->saturation = ecn_opt_float(o, "saturation", 1);
    t->exposure = ecn_opt_float(o, "exposure", 1);
    t->hue = ecn_opt_float(o, "hue", 0);
    t->jitter = ecn_opt_float(o, "jitter", 0);
    t->center = ecn_opt_int(o, "center", 0);
    t->flip = ecn_opt_int(o, "flip", 1);
    /* Read by Darknet, used by its training loop only. */
    ecn_opt_int(o, "random", 0);
    ecn_opt_int(o, "notruth", 0);
    ecn_opt_float(o, "clip", 0);
    ecn_opt_float(o, "max_ratio", 0);
    ecn_opt_float(o, "min_ratio", 0);
}

static int parse_net_section(ecn_net *net, ecn_opts *o, const ecn_load_opts *lo)
{
    if (strcmp(o->sec->name, "net") != 0 && strcmp(o->sec->name, "network") != 0)
        return ecn_opt_fail(o, NULL, "the first section must be [net], got [%s]", o->sec->name);
    parse_train_params(o, &net->train);
    int w = ecn_opt_int_range(o, "width", 0, 0, 1 << 16);
    int h = ecn_opt_int_range(o, "height", 0, 0, 1 << 16);
    int c = ecn_opt_int_range(o, "channels", 0, 0, 1 << 16);
    long long whc = (long long)w * h * c; /* w * h * c overflows int for 65536 x 65536 */
    int inputs = ecn_opt_int_range(o, "inputs", whc <= (1 << 30) ? (int)whc : 0, 0, 1 << 30);
    net->train.max_crop = ecn_opt_int(o, "max_crop", w * 2);
    net->train.min_crop = ecn_opt_int(o, "min_crop", w);
    if (o->failed) return -1;
    if (lo && lo->width > 0) w = lo->width;
    if (lo && lo->height > 0) h = lo->height;
    if (w && h && c) net->input = (ecn_shape){c, h, w};
    else if (inputs > 0) net->input = (ecn_shape){inputs, 1, 1};
    else
        return ecn_opt_fail(o, NULL, "expected width, height and channels (or inputs) in [net]");
    if ((double)ecn_shape_size(net->input) > (double)(1 << 30))
        return ecn_opt_fail(o, NULL, "input of %dx%dx%d is too large", w, h, c);
    net->batch = lo && lo->batch > 0 ? lo->batch : 1;
    return 0;
}

/* ---- layers --------------------------------------------------------- */

static int add_warning(ecn_net *net, const char *msg)
{
    char **w = realloc(net->warnings, (size_t)(net->n_warnings + 1) * sizeof *w);
    if (!w) return -1;
    net->warnings = w;
    w[net->n_warnings] = strdup(msg);
    if (w[net->n_warnings]) net->n_warnings++;
    return 0;
}

static void warn_unused(ecn_net *net, const ecn_cfg *cfg, const ecn_section *s)
{
    for (int i = 0; i < s->n_opts; i++) {
        if (s->opts[i].used) continue;
        char msg[512];
        if (s->opts[i].first_line)
            snprintf(msg, sizeof msg, "%s:%d: [%s] option '%s' repeats line %d, whose value is used",
                     cfg->path, s->opts[i].line, s->name, s->opts[i].key, s->opts[i].first_line);
        else
            snprintf(msg, sizeof msg, "%s:%d: [%s] option '%s' is not used by this section (typo?)",
                     cfg->path, s->opts[i].line, s->name, s->opts[i].key);
        add_warning(net, msg);
    }
}

static const char *known_sections(void)
{
    return "convolutional (conv), connected (conn), maxpool (max), avgpool (avg), route, shortcut, "
           "upsample, reorg, softmax (soft), dropout, cost, yolo, region, batchnorm, and ecnet's "
           "exit and split";
}

/* Options Darknet reads in every section.  The weights-file switches change
 * what a file holds, so a nonzero value is refused rather than misread.  The
 * training switches (stopbackward, onlyforward, a per-layer learning-rate
 * scale, label smoothing, truth) are accepted so Darknet's cfgs load, but
 * ecnet's training does not act on them yet. */
static void read_common_options(ecn_opts *o)
{
    static const char *const refused[] = {"dontload", "dontloadscales", "dontsave", "numload"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (ecn_opt_int(o, refused[i], 0) != 0)
            ecn_opt_fail(o, refused[i], "partial weights files are not supported: expected 0");
    ecn_opt_int(o, "stopbackward", 0);
    ecn_opt_int(o, "onlyforward", 0);
    ecn_opt_int(o, "truth", 0);
    ecn_opt_float(o, "learning_rate", 1);
    ecn_opt_float(o, "smooth", 0);
}

/* Where the builder is: on the main path, or inside an exit branch (from an
 * [exit] to the [softmax] that ends it).  Layers default to reading the
 * previous layer of their own path, so the main path resumes after a branch
 * from where it left. */
typedef struct path_state {
    int branch;      /* 0 on the main path; k inside exit branch k */
    int trunk_last;  /* last main-path layer (-1: the network input) */
    int exit_layer;  /* the [exit] of the open branch */
    int n_exits;
} path_state;

static int is_section(const ecn_layer *l, const char *name) { return strcmp(l->ops->name, name) == 0; }

/* After layer `index` was made: open or close a branch, note splits. */
static int follow_path(ecn_net *net, path_state *ps, int index, const ecn_cfg *cfg, ecn_err *err)
{
    ecn_layer *l = &net->layers[index];
    if (is_section(l, "exit")) {
        if (ps->branch)
            return ecn_fail(err, "%s:%d: [exit] inside the branch of the [exit] on line %d: end that "
                            "branch with a [softmax] first", cfg->path, l->line, net->layers[ps->exit_layer].line);
        if (net->n_exits == ECN_MAX_EXITS)
            return ecn_fail(err, "%s:%d: more than %d exits", cfg->path, l->line, ECN_MAX_EXITS);
        ps->branch = l->branch = ++ps->n_exits;
        ps->exit_layer = index;
        net->exit_layer[net->n_exits] = index;
    } else if (ps->branch && is_section(l, "softmax")) {
        l->loss_weight = ecn_exit_weight(&net->layers[ps->exit_layer]);
        l->keep_output = 1; /* the exit's class probabilities */
        net->exit_head[net->n_exits++] = index;
        ps->branch = 0;
    } else if (is_section(l, "split")) {
        if (ps->branch)
            return ecn_fail(err, "%s:%d: [split] inside an exit branch: the split is on the main path",
                            cfg->path, l->line);
        if (net->split >= 0)
            return ecn_fail(err, "%s:%d: a second [split] (the first is on line %d)", cfg->path, l->line,
                            net->layers[net->split].line);
        net->split = index;
    }
    if (l->branch == 0) ps->trunk_last = index;
    return 0;
}

static int make_layer(ecn_net *net, const ecn_cfg *cfg, ecn_section *s, int index, path_state *ps,
                      ecn_err *err)
{
    ecn_layer *l = &net->layers[index];
    const ecn_layer_ops *ops = ecn_layer_ops_find(s->name);
    if (!ops && (strcmp(s->name, "net") == 0 || strcmp(s->name, "network") == 0))
        return ecn_fail(err, "%s:%d: a second [%s] section: [net] comes once, first", cfg->path,
                        s->line, s->name);
    if (!ops)
        return ecn_fail(err, "%s:%d: unknown section [%s]; expected one of: %s", cfg->path, s->line,
                        s->name, known_sections());
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->index = index;
    l->line = s->line;
    l->batch = net->batch;
    int prev = ps->branch ? index - 1 : ps->trunk_last;
    l->in = prev >= 0 ? net->layers[prev].out : net->input;
    l->n_sources = 1;
    l->sources[0] = prev;
    l->branch = ps->branch;
    l->loss_weight = 1;
    ecn_build b = {net->layers, index, ps->trunk_last, l->in, net->input, net->batch};
    ecn_opts o = {cfg, s, err, 0};
    read_common_options(&o);
    int rc = o.failed ? -1 : ops->make(l, &o, &b);
    if (rc == 0 && o.failed) rc = -1;
    if (rc == 0 && (l->out.c <= 0 || l->out.h <= 0 || l->out.w <= 0))
        rc = ecn_fail(err, "%s:%d: [%s] gives an empty output (%d x %d x %d) for input %d x %d x %d",
                      cfg->path, s->line, s->name, l->out.w, l->out.h, l->out.c, l->in.w, l->in.h,
                      l->in.c);
    if (rc == 0 && (double)ecn_shape_size(l->out) * net->batch > (double)(1u << 31))
        rc = ecn_fail(err, "%s:%d: [%s] output of %d x %d x %d is too large", cfg->path, s->line,
                      s->name, l->out.w, l->out.h, l->out.c);
    if (rc) {
        if (ops->destroy) ops->destroy(l);
        return -1;
    }
    warn_unused(net, cfg, s);
    if (follow_path(net, ps, index, cfg, err)) {
        if (ops->destroy) ops->destroy(l);
        return -1;
    }
    return 0;
}

/* ---- the split point ------------------------------------------------ */

/* The slot that physically holds layer i's output (follows in-place chains). */
static int owner_of(const ecn_net *net, int i)
{
    while (i >= 0 && net->layers[i].in_place && net->layers[i].sources[0] >= 0)
        i = net->layers[i].sources[0];
    return i;
}


/* The cut set: every output computed at or before the split that a layer
 * after it reads (YOLOv3's routes reach back across the split), each once,
 * in layer order.  These tensors are what crosses from the edge to the cloud. */
static int find_cut_set(ecn_net *net, ecn_err *err)
{
    net->n_cut = 0;
    for (int k = 0; k <= net->split; k++) {
        int crosses = 0;
        for (int j = net->split + 1; j < net->n && !crosses; j++)
            for (int q = 0; q < net->layers[j].n_sources; q++)
                crosses |= owner_of(net, net->layers[j].sources[q]) == k && owner_of(net, k) == k;
        if (!crosses) continue;
        if (net->n_cut == ECN_MAX_CUT)
            return ecn_fail(err, "more than %d tensors cross the [split] on line %d", ECN_MAX_CUT,
                            net->layers[net->split].line);
        net->cut[net->n_cut++] = k;
    }
    for (int j = net->split + 1; j < net->n; j++)
        for (int q = 0; q < net->layers[j].n_sources; q++)
            if (net->layers[j].sources[q] < 0)
                return ecn_fail(err, "layer %d (cfg line %d), after the [split], reads the network input",
                                j, net->layers[j].line);
    return 0;
}

/* ---- memory plan ---------------------------------------------------- */


typedef struct slot {
    size_t offset, size; /* in floats */
    int busy_until;      /* last step that reads it */
} slot;

static int plan_memory(ecn_net *net, ecn_err *err)
{
    int n = net->n;
    if (n <= 0) return ecn_fail(err, "no layers");
    int *last_use = calloc((size_t)n, sizeof *last_use);
    int *slot_of = calloc((size_t)n, sizeof *slot_of);
    slot *slots = calloc((size_t)n, sizeof *slots);
    int n_slots = 0, rc = 0;
    if (!last_use || !slot_of || !slots) {
        rc = ecn_fail(err, "out of memory planning buffers");
        goto done;
    }
    /* Last reader of each owner's buffer. */
    for (int i = 0; i < n; i++) last_use[i] = i;
    for (int i = 0; i < n; i++) {
        const ecn_layer *l = &net->layers[i];
        for (int k = 0; k < l->n_sources; k++)
            if (l->sources[k] >= 0) {
                int o = owner_of(net, l->sources[k]);
                if (last_use[o] < i) last_use[o] = i;
            }
        if (l->keep_output || i == n - 1) last_use[owner_of(net, i)] = n;
    }
    for (int i = 0; i < n; i++) {
        ecn_layer *l = &net->layers[i];
        if (owner_of(net, i) != i) continue; /* aliases its source */
        size_t need = ecn_shape_size(l->out) * (size_t)net->batch;
        int best = -1;
        for (int s = 0; s < n_slots; s++) {
            if (slots[s].busy_until >= i) continue;
            if (best < 0) best = s;
            int fits = slots[s].size >= need, best_fits = slots[best].size >= need;
            if ((fits && (!best_fits || slots[s].size < slots[best].size)) ||
                (!fits && !best_fits && slots[s].size > slots[best].size))
                best = s;
        }
        if (best < 0) best = n_slots++;
        if (slots[best].size < need) slots[best].size = need;
        slots[best].busy_until = last_use[i];
        slot_of[i] = best;
    }
    size_t total = 0;
    for (int s = 0; s < n_slots; s++) {
        slots[s].offset = total;
        total += (slots[s].size + 15) & ~(size_t)15; /* 64-byte aligned slots */
    }
    net->arena = aligned_alloc(64, (total ? total : 16) * sizeof(float));
    if (!net->arena) {
        rc = ecn_fail(err, "out of memory: %zu MB of activations", total * 4 >> 20);
        goto done;
    }
    memset(net->arena, 0, (total ? total : 16) * sizeof(float));
    net->arena_floats = total;
    for (int i = 0; i < n; i++) {
        int o = owner_of(net, i);
        net->layers[i].output = o >= 0 ? net->arena + slots[slot_of[o]].offset : NULL;
        net->layers[i].keep_output = last_use[o] == n;
    }
done:
    free(last_use);
    free(slot_of);
    free(slots);
    return rc;
}

static void free_scratch(ecn_net *net)
{
    if (net->scratch) free(net->scratch[0]);
    free(net->scratch);
    net->scratch = NULL;
}

static int alloc_scratch(ecn_net *net, ecn_err *err)
{
    free_scratch(net);
    size_t need = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        size_t s = l->ops->scratch_floats ? l->ops->scratch_floats(l) : 0;
        if (s > need) need = s;
    }
    /* One block; thread t's part starts at t * need, so a layer may also use
     * the whole block from scratch[0] when it works on one shared buffer. */
    int threads = ecn_pool_threads(net->pool);
    need = (need + 15) & ~(size_t)15;
    net->scratch = calloc((size_t)threads, sizeof *net->scratch);
    if (!net->scratch) return ecn_fail(err, "out of memory");
    float *block = aligned_alloc(64, (need * (size_t)threads + 16) * sizeof(float));
    if (!block) return ecn_fail(err, "out of memory: scratch of %zu floats", need * threads);
    net->scratch_floats = need;
    for (int t = 0; t < threads; t++) net->scratch[t] = block + (size_t)t * need;
    return 0;
}

/* ---- building ------------------------------------------------------- */

static int build(ecn_net *net, ecn_cfg *cfg, const ecn_load_opts *lo, ecn_err *err)
{
    ecn_opts o = {cfg, &cfg->sections[0], err, 0};
    if (parse_net_section(net, &o, lo)) return -1;
    warn_unused(net, cfg, &cfg->sections[0]);
    net->n = cfg->n_sections - 1;
    if (net->n == 0) return ecn_fail(err, "%s: no layers after [net]", cfg->path);
    net->layers = calloc((size_t)net->n, sizeof *net->layers);
    if (!net->layers) return ecn_fail(err, "%s: out of memory", cfg->path);
    path_state ps = {0, -1, -1, 0};
    net->split = -1;
    for (int i = 0; i < net->n; i++) {
        if (make_layer(net, cfg, &cfg->sections[i + 1], i, &ps, err)) {
            net->n = i; /* only the layers made so far get destroyed */
            return -1;
        }
    }
    if (ps.branch)
        return ecn_fail(err, "%s:%d: the branch of this [exit] never ends: close it with a [softmax]",
                        cfg->path, net->layers[ps.exit_layer].line);
    if (net->split >= 0 && (find_cut_set(net, err) ||
                            ecn_split_finalize(&net->layers[net->split], net->layers, net->n, net->cut,
                                               net->n_cut, err)))
        return ecn_fail_prefix(err, "%s", cfg->path);
    ecn_gemm_init();
    net->pool = ecn_pool_create(lo ? lo->threads : 0);
    if (!net->pool) return ecn_fail(err, "%s: cannot start worker threads", cfg->path);
    for (int i = 0; i < net->n; i++) net->layers[i].threads = ecn_pool_threads(net->pool);
    if (plan_memory(net, err) || alloc_scratch(net, err)) return ecn_fail_prefix(err, "%s", cfg->path);
    return 0;
}

/* Build a network from a parsed cfg, which it frees. */
static int from_parsed(ecn_cfg *cfg, const ecn_load_opts *opts, ecn_net **out, ecn_err *err)
{
    ecn_net *net = calloc(1, sizeof *net);
    int rc = net ? build(net, cfg, opts, err) : ecn_fail(err, "out of memory");
    ecn_cfg_free(cfg);
    if (rc) {
        ecn_net_free(net);
        return -1;
    }
    *out = net;
    return 0;
}

int ecn_net_from_cfg_text(const char *text, size_t len, const char *name, const ecn_load_opts *opts,
                          ecn_net **out, ecn_err *err)
{
    *out = NULL;
    ecn_cfg cfg;
    if (ecn_cfg_parse(text, len, name, &cfg, err)) return -1;
    return from_parsed(&cfg, opts, out, err);
}

int ecn_net_from_cfg(const char *cfg_path, const ecn_load_opts *opts, ecn_net **out, ecn_err *err)
{
    *out = NULL;
    ecn_cfg cfg;
    if (ecn_cfg_read(cfg_path, &cfg, err)) return -1;
    return from_parsed(&cfg, opts, out, err);
}

void ecn_net_free(ecn_net *net)
{
    if (!net) return;
    ecn_net_gpu_release(net);
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].ops && net->layers[i].ops->destroy) net->layers[i].ops->destroy(&net->layers[i]);
    free(net->layers);
    free_scratch(net);
    ecn_pool_free(net->pool);
    free(net->arena);
    free(net->train_arena);
    for (int i = 0; i < net->n_warnings; i++) free(net->warnings[i]);
    free(net->warnings);
    free(net);
}

/* ---- running -------------------------------------------------------- */

static void gather_inputs(const ecn_net *net, const ecn_layer *l, const float *input, const float **in);

/* The cut set makes the edge-to-cloud round trip in place (see split.c). */
static void cut_buffers(ecn_net *net, float **cut);

void ecn_net_cross_split(ecn_net *net, const ecn_ctx *ctx)
{
    float *cut[ECN_MAX_CUT];
    cut_buffers(net, cut);
    ecn_split_cross(&net->layers[net->split], cut, ctx);
}

/* Layers [from, to).  The split's inline round trip runs only when the
 * range is the whole network: an edge runs [0, split] and sends frames, a
 * cloud receives them and runs (split, n). */
const float *ecn_net_forward_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook,
                                   void *user)
{
    if (net->gpu) return ecn_net_gpu_forward_range(net, input, from, to, hook, user);
    ecn_ctx ctx = {net->pool, net->scratch, net->scratch_floats, 0, NULL, 0, &net->rng};
    int whole = from <= 0 && to >= net->n;
    if (from < 0) from = 0;
    if (to > net->n) to = net->n;
    for (int i = from; i < to; i++) {
        ecn_layer *l = &net->layers[i];
        const float *in[ECN_MAX_SOURCES];
        gather_inputs(net, l, input, in);
        l->ops->forward(l, in, &ctx);
        if (i == net->split && whole) ecn_net_cross_split(net, &ctx);
        if (hook) hook(user, i, l->output, ecn_layer_outputs(l) * (size_t)l->batch);
    }
    return to > 0 ? net->layers[to - 1].output : NULL;
}

const float *ecn_net_forward(ecn_net *net, const float *input, ecn_layer_hook hook, void *user)
{
    return ecn_net_forward_range(net, input, 0, net->n, hook, user);
}

void ecn_net_randomize(ecn_net *net, unsigned long long seed)
{
    unsigned long long rng = seed;
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].ops->randomize) net->layers[i].ops->randomize(&net->layers[i], &rng);
    net->folded = 0;
    net->params_version++;
}

void ecn_net_fold_batchnorm(ecn_net *net)
{
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].ops->fold_batchnorm && net->layers[i].ops->fold_batchnorm(&net->layers[i]))
            net->folded = 1; /* only folded weights stop a network from saving or training */
    net->params_version++;
}

/* ---- training -------------------------------------------------------- */

/* Training keeps every output (backward reads them) and gives every layer a
 * delta buffer: one arena, no reuse. */
static int plan_training_memory(ecn_net *net, ecn_err *err)
{
    size_t total = 0;
    for (int i = 0; i < net->n; i++)
        total += 2 * ((ecn_shape_size(net->layers[i].out) * (size_t)net->batch + 15) & ~(size_t)15);
    float *arena = aligned_alloc(64, total * sizeof(float));
    if (!arena) return ecn_fail(err, "out of memory: %zu MB for training activations", total * 4 >> 20);
    memset(arena, 0, total * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        size_t n = (ecn_shape_size(l->out) * (size_t)net->batch + 15) & ~(size_t)15;
        l->output = arena + off;
        l->delta = arena + off + n;
        l->in_place = 0;
        l->keep_output = 1;
        off += 2 * n;
    }
    free(net->arena);
    net->arena = NULL;
    net->arena_floats = total;
    net->train_arena = arena;
    return 0;
}

int ecn_net_train_begin(ecn_net *net, ecn_err *err)
{
    if (net->training) return 0;
    if (net->folded)
        return ecn_fail(err, "batch norm was folded for inference: load the weights again to train");
    if (net->gpu)
        return ecn_fail(err, "the network runs on the GPU, which has no training yet: train it on the CPU");
    if (plan_training_memory(net, err)) return -1;
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        if (l->ops->train_begin && l->ops->train_begin(l, err))
            return ecn_fail_prefix(err, "layer %d (%s, cfg line %d)", i, l->ops->name, l->line);
    }
    net->training = 1;
    if (!net->rng) net->rng = 0x5eed;
    return alloc_scratch(net, err); /* layers may need more scratch to train */
}

void ecn_net_set_seed(ecn_net *net, unsigned long long seed) { net->rng = seed; }

static void gather_inputs(const ecn_net *net, const ecn_layer *l, const float *input, const float **in)
{
    for (int k = 0; k < l->n_sources; k++)
        in[k] = l->sources[k] < 0 ? input : net->layers[l->sources[k]].output;
}

float ecn_net_train_forward(ecn_net *net, const float *input, const float *truth, int truth_floats)
{
    ecn_ctx ctx = {net->pool, net->scratch, net->scratch_floats, 1, truth, truth_floats, &net->rng};
    float loss = 0;
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        const float *in[ECN_MAX_SOURCES];
        gather_inputs(net, l, input, in);
        memset(l->delta, 0, ecn_shape_size(l->out) * (size_t)l->batch * sizeof(float));
        l->loss = 0;
        l->ops->forward(l, in, &ctx);
        loss += l->loss;
    }
    return loss;
}

void ecn_net_backward(ecn_net *net, const float *input)
{
    ecn_ctx ctx = {net->pool, net->scratch, net->scratch_floats, 1, NULL, 0, &net->rng};
    for (int i = net->n - 1; i >= 0; i--) {
        ecn_layer *l = &net->layers[i];
        if (!l->ops->backward) continue;
        const float *in[ECN_MAX_SOURCES];
        float *in_delta[ECN_MAX_SOURCES];
        gather_inputs(net, l, input, in);
        for (int k = 0; k < l->n_sources; k++)
            in_delta[k] = l->sources[k] < 0 ? NULL : net->layers[l->sources[k]].delta;
        l->ops->backward(l, in, in_delta, &ctx);
    }
}

float ecn_net_train_step(ecn_net *net, const float *input, const float *truth, int truth_floats)
{
    float loss = ecn_net_train_forward(net, input, truth, truth_floats);
    ecn_net_backward(net, input);
    return loss;
}

/* ---- exits ------------------------------------------------------------ */

int ecn_net_exit_count(const ecn_net *net) { return net->n_exits; }

const float *ecn_net_exit_output(const ecn_net *net, int k, int *classes)
{
    if (k < 0 || k >= net->n_exits) return NULL;
    const ecn_layer *head = &net->layers[net->exit_head[k]];
    if (classes) *classes = (int)ecn_shape_size(head->out);
    return head->output;
}

float ecn_net_exit_threshold(const ecn_net *net, int k)
{
    return k >= 0 && k < net->n_exits ? ecn_exit_threshold(&net->layers[net->exit_layer[k]]) : 0;
}

void ecn_net_set_exit_threshold(ecn_net *net, int k, float threshold)
{
    if (k >= 0 && k < net->n_exits) ecn_exit_set_threshold(&net->layers[net->exit_layer[k]], threshold);
}

int ecn_net_has_split(const ecn_net *net) { return net->split >= 0; }

int ecn_net_split_configure(ecn_net *net, int bits, const char *codec, ecn_err *err)
{
    if (net->split < 0) return ecn_fail(err, "the network has no [split]");
    return ecn_split_configure(&net->layers[net->split], bits, codec, err);
}

int ecn_net_split_layer(const ecn_net *net) { return net->split; }

static void cut_buffers(ecn_net *net, float **cut)
{
    for (int k = 0; k < net->n_cut; k++) cut[k] = net->layers[net->cut[k]].output;
}

int ecn_net_split_encode(ecn_net *net, int image, unsigned long long frame_id, unsigned char **buf, size_t *cap,
                         size_t *len, ecn_err *err)
{
    if (net->split < 0) return ecn_fail(err, "the network has no [split]");
    float *cut[ECN_MAX_CUT];
    cut_buffers(net, cut);
    return ecn_split_encode(&net->layers[net->split], cut, image, frame_id, buf, cap, len, err);
}

int ecn_net_split_decode(ecn_net *net, int image, const unsigned char *buf, size_t len,
                         unsigned long long *frame_id, ecn_err *err)
{
    if (net->split < 0) return ecn_fail(err, "the network has no [split]");
    float *cut[ECN_MAX_CUT];
    cut_buffers(net, cut);
    uint64_t id = 0;
    int rc = ecn_split_decode(&net->layers[net->split], cut, image, buf, len, &id, err);
    if (rc == 0 && frame_id) *frame_id = id;
    return rc;
}

size_t ecn_net_split_bytes(const ecn_net *net, int image)
{
    return net->split < 0 ? 0 : ecn_split_frame_bytes(&net->layers[net->split], image);
}

const char *ecn_net_split_error(const ecn_net *net)
{
    return net->split < 0 ? NULL : ecn_split_error(&net->layers[net->split]);
}

/* ---- introspection -------------------------------------------------- */

ecn_shape ecn_net_input_shape(const ecn_net *net) { return net->input; }
int ecn_net_batch(const ecn_net *net) { return net->batch; }
int ecn_net_layer_count(const ecn_net *net) { return net->n; }
int ecn_net_threads(const ecn_net *net) { return ecn_pool_threads(net->pool); }
int ecn_net_warning_count(const ecn_net *net) { return net->n_warnings; }

const char *ecn_net_warning(const ecn_net *net, int i)
{
    return i >= 0 && i < net->n_warnings ? net->warnings[i] : NULL;
}

void ecn_net_layer_info(const ecn_net *net, int i, ecn_layer_info *info)
{
    const ecn_layer *l = &net->layers[i];
    memset(info, 0, sizeof *info);
    info->type = l->ops->name;
    info->line = l->line;
    info->in = l->in;
    info->out = l->out;
    info->flops = l->ops->flops ? l->ops->flops(l) : 0;
    info->params = l->ops->param_count ? l->ops->param_count(l) : 0;
    if (l->ops->describe) l->ops->describe(l, info->detail, sizeof info->detail);
}

const float *ecn_net_layer_output(const ecn_net *net, int i)
{
    if (i < 0 || i >= net->n || !net->layers[i].keep_output) return NULL;
    return net->layers[i].output;
}

size_t ecn_net_memory_bytes(const ecn_net *net)
{
    size_t floats = net->arena_floats + net->scratch_floats * (size_t)ecn_pool_threads(net->pool);
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (l->ops->param_count) floats += l->ops->param_count(l);
    }
    return floats * sizeof(float);
}
