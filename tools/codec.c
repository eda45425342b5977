/* codec.c - `ecnet codec CFG WEIGHTS --data DATA`: how well the feature map
 * that crosses the [split] compresses (the ECNet paper's Tables II and III,
 * and its Fig. 4).
 *
 * What it does, in order:
 *   1. Runs N test images (split 1 of the data set) through the network with
 *      the split set to 32-bit raw, so that the round trip is lossless, and
 *      catches every tensor of the cut set with a layer hook when the layer
 *      that makes it finishes.  Each tensor is quantised here, per image,
 *      with the split's own settings (mode, range, percentile) at B bits (the
 *      cfg's, or --bits), exactly as the frame encoder would.
 *   2. Symbol statistics (Table II): per DPCM mode (none, channel, row,
 *      column; residuals are taken mod 2^B as the codec does) the number of
 *      distinct symbols and the order-0 entropy, per frame (mean over the
 *      frames) and pooled over all of them.
 *   3. Codecs (Table III): raw, zlib 1/6/9, Huffman and rANS, each with and
 *      without DPCM.  Huffman and rANS need a prior table: it is fitted on the
 *      first half of the images (on the stream the codec sees, after DPCM)
 *      and every codec is measured on the second half, so the prior never
 *      saw the frames it codes.  Each tensor is coded on its own, as in a
 *      frame; the sizes are payload bytes (the frame's header, shapes, ranges
 *      and CRC are reported once, apart).  Every payload is decoded and
 *      compared with its symbols.  Speeds are symbol bytes per second over
 *      all measured frames, coded frame by frame as a frame is; passes over
 *      them repeat for at least 0.2 s, and each block of frames (about 20 us
 *      of work) counts with its fastest time, which leaves out what other
 *      processes take from a shared machine, alike for every codec (see
 *      throughput()).
 *   4. The order-0 entropy of the measured frames (pooled) is the size bound
 *      of a static entropy coder that knew their exact histogram; "of bound"
 *      is the share of that bound a codec reaches (bound size / codec size).
 *      zlib is not order-0 and may pass 100%.
 *   5. Baseline: the input images quantised to 8 bits and zlib-9 coded, i.e.
 *      what sending the image to the cloud would cost.
 *
 * --fit-prior prints the symbol counts of all N images (after the cfg's DPCM
 * mode) as a `prior=` line for the [split] section; --picture writes the
 * split tensor of the first image as a grid of its channels (Fig. 4);
 * --histogram writes the symbol histograms of the four DPCM modes as SVG. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/net.h"
#include "layers/split.h"
#include "plot.h"
#include "split/frame.h"
#include "train/data.h"

#define MIN_TIME_S 0.2   /* timing, per codec and direction */
#define BLOCK_S 20e-6    /* frames are timed in blocks of about this long */
#define N_DPCM 4

typedef struct cut_tensor {
    int layer;
    ecn_shape shape;
    size_t n;   /* values */
    size_t off; /* where its symbols start in a frame's symbols */
    ecn_quant q;
} cut_tensor;

typedef struct study {
    int bits;
    int n_cut;
    cut_tensor t[ECN_FRAME_MAX_TENSORS];
    size_t per_frame;  /* symbols per frame, all tensors */
    int images;
    uint8_t *sym;      /* images * per_frame symbols */
    uint8_t *res[N_DPCM]; /* the same after each DPCM mode (res[0] == sym) */
    /* while collecting */
    int batch_first, batch_count;
    int pic_k;         /* the tensor drawn by --picture */
    float *pic;        /* its values for image 0 (NULL: not wanted) */
    int failed;
    ecn_err err;
} study;

/* Called after each layer: quantise the outputs of cut-set layers. */
static void collect(void *user, int layer, const float *out, size_t floats)
{
    (void)floats;
    study *s = user;
    if (s->failed) return;
    for (int k = 0; k < s->n_cut; k++) {
        cut_tensor *t = &s->t[k];
        if (t->layer != layer) continue;
        for (int b = 0; b < s->batch_count; b++) {
            int img = s->batch_first + b;
            const float *x = out + (size_t)b * t->n;
            if (ecn_quantize(x, t->shape, &t->q, s->sym + (size_t)img * s->per_frame + t->off, &s->err)) {
                s->failed = 1;
                return;
            }
            if (img == 0 && k == s->pic_k && s->pic) memcpy(s->pic, x, t->n * sizeof(float));
        }
    }
}

/* ---- statistics -------------------------------------------------------- */

typedef struct sym_stats {
    double distinct_frame;  /* mean over frames of the distinct symbols in a frame */
    double entropy_frame;   /* mean over frames of a frame's own entropy */
    int distinct_all;       /* distinct symbols over all frames */
    double entropy_all;     /* entropy of the pooled histogram */
    uint64_t hist[256];
} sym_stats;

static void stream_stats(const uint8_t *buf, size_t per_frame, int first, int count, int bits, sym_stats *st)
{
    int nsym = 1 << bits;
    memset(st, 0, sizeof *st);
    for (int i = first; i < first + count; i++) {
        uint64_t h[256] = {0};
        const uint8_t *p = buf + (size_t)i * per_frame;
        for (size_t j = 0; j < per_frame; j++) h[p[j]]++;
        int d = 0;
        for (int v = 0; v < nsym; v++) {
            d += h[v] > 0;
            st->hist[v] += h[v];
        }
        st->distinct_frame += d;
        st->entropy_frame += ecn_entropy_bits(h, nsym);
    }
    if (count > 0) st->distinct_frame /= count, st->entropy_frame /= count;
    for (int v = 0; v < nsym; v++) st->distinct_all += st->hist[v] > 0;
    st->entropy_all = ecn_entropy_bits(st->hist, nsym);
}

/* Bits per symbol of the histogram `test` under a prior, with every count
 * raised by 1/2 (a coder must give unseen symbols some code). */
static double cross_entropy(const uint64_t *test, const uint64_t *prior, int nsym)
{
    double tt = 0, pt = 0, h = 0;
    for (int v = 0; v < nsym; v++) tt += (double)test[v], pt += (double)prior[v] + 0.5;
    if (tt == 0) return 0;
    for (int v = 0; v < nsym; v++)
        if (test[v]) h -= (double)test[v] / tt * log2(((double)prior[v] + 0.5) / pt);
    return h;
}

/* ---- codecs ------------------------------------------------------------ */

typedef struct codec_run {
    ecn_codec_id id;
    int level;
    ecn_dpcm_mode dpcm;
    double bytes_per_frame, encode_mb_s, decode_mb_s;
} codec_run;

/* What measure() codes: frames [first, first + count), each tensor on its own,
 * payload i (frame f, tensor k: i = f * n_cut + k) at pay + off[i]. */
typedef struct coding {
    const study *s;
    ecn_codec *codec; /* one per tensor */
    int first;
    uint8_t *pay, *dec;
    const size_t *off;
    size_t *len;
} coding;

/* Encode (decode = 0) or decode frames [f0, f1) of the coding. */
static int code_frames(const coding *c, int decode, int f0, int f1, ecn_err *err)
{
    const study *s = c->s;
    for (int f = f0; f < f1; f++)
        for (int k = 0; k < s->n_cut; k++) {
            size_t i = (size_t)f * s->n_cut + k;
            int rc = decode ? ecn_decode(&c->codec[k], c->pay + c->off[i], c->len[i], c->dec + s->t[k].off,
                                         s->t[k].n, err)
                            : ecn_encode(&c->codec[k], s->sym + (size_t)(c->first + f) * s->per_frame + s->t[k].off,
                                         s->t[k].n, c->pay + c->off[i], c->off[i + 1] - c->off[i], &c->len[i], err);
            if (rc) return -1;
        }
    return 0;
}

/* Symbol bytes per second of code_frames over all `count` frames.  A first
 * pass sets the block size: as many frames as take about BLOCK_S (20 us), so
 * that every codec's blocks last alike and the clock's own cost stays under
 * 1%.  Then passes over all the frames, timed block by block, repeat until
 * MIN_TIME_S has passed, and each block's fastest time counts: what other
 * processes take from a shared machine falls out of the minimum, the same
 * way for every codec. */
static int throughput(const coding *c, int decode, int count, double *bytes_s, ecn_err *err)
{
    double t0 = cli_now();
    if (code_frames(c, decode, 0, count, err)) return -1;
    double pass = cli_now() - t0, want = pass > 0 ? BLOCK_S * count / pass : count;
    int block = want < 1 ? 1 : want > count ? count : (int)want;
    int blocks = (count + block - 1) / block;
    double *best = malloc((size_t)(blocks ? blocks : 1) * sizeof *best), t_end = cli_now() + MIN_TIME_S;
    if (!best) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    for (int b = 0; b < blocks; b++) best[b] = INFINITY;
    for (int p = 0; p == 0 || cli_now() < t_end; p++)
        for (int b = 0; b < blocks; b++) {
            int f1 = (b + 1) * block < count ? (b + 1) * block : count;
            double t1 = cli_now();
            if (code_frames(c, decode, b * block, f1, err)) {
                free(best);
                return -1;
            }
            double dt = cli_now() - t1;
            if (dt < best[b]) best[b] = dt;
        }
    double total = 0;
    for (int b = 0; b < blocks; b++) total += best[b];
    *bytes_s = total > 0 ? (double)count * (double)c->s->per_frame / total : INFINITY;
    free(best);
    return 0;
}

/* Code frames [first, first + count) tensor by tensor; time and check. */
static int measure(const study *s, codec_run *r, const ecn_prior *prior, int first, int count, ecn_err *err)
{
    int rc = -1;
    size_t nt = (size_t)count * (size_t)s->n_cut;
    ecn_codec *codec = calloc((size_t)s->n_cut, sizeof *codec);
    size_t *off = calloc(nt + 1, sizeof *off), *len = calloc(nt, sizeof *len);
    uint8_t *pay = NULL, *dec = malloc(s->per_frame ? s->per_frame : 1);
    if (!codec || !off || !len || !dec) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        goto done;
    }
    for (int k = 0; k < s->n_cut; k++) {
        ecn_codec_opts o = {r->id, s->bits, r->level, r->dpcm, s->t[k].shape};
        if (ecn_codec_init(&codec[k], &o, r->id == ECN_CODEC_HUFFMAN || r->id == ECN_CODEC_RANS ? prior : NULL, err))
            goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        size_t b = ecn_encode_bound(&codec[i % (size_t)s->n_cut], s->t[i % (size_t)s->n_cut].n);
        if (b == SIZE_MAX || off[i] > SIZE_MAX - b) {
            snprintf(err->msg, sizeof err->msg, "payloads too large to hold");
            goto done;
        }
        off[i + 1] = off[i] + b;
    }
    pay = malloc(off[nt] ? off[nt] : 1);
    if (!pay) {
        snprintf(err->msg, sizeof err->msg, "out of memory (%zu bytes of payloads)", off[nt]);
        goto done;
    }
    coding cd = {s, codec, first, pay, dec, off, len};
    double bytes_s;
    if (throughput(&cd, 0, count, &bytes_s, err)) goto done;
    r->encode_mb_s = bytes_s / 1e6;
    double total = 0;
    for (size_t i = 0; i < nt; i++) total += (double)len[i];
    r->bytes_per_frame = count ? total / count : 0;

    /* every payload must decode to its symbols (checked once, untimed) */
    for (int f = 0; f < count; f++) {
        for (int k = 0; k < s->n_cut; k++) {
            size_t i = (size_t)f * s->n_cut + k;
            if (ecn_decode(&codec[k], pay + off[i], len[i], dec + s->t[k].off, s->t[k].n, err)) goto done;
        }
        if (memcmp(dec, s->sym + (size_t)(first + f) * s->per_frame, s->per_frame) != 0) {
            snprintf(err->msg, sizeof err->msg, "%s (dpcm %s): frame %d does not decode to its symbols",
                     ecn_codec_name(r->id), ecn_dpcm_name(r->dpcm), first + f);
            goto done;
        }
    }
    if (throughput(&cd, 1, count, &bytes_s, err)) goto done;
    r->decode_mb_s = bytes_s / 1e6;
    rc = 0;
done:
    free(codec);
    free(off);
    free(len);
    free(pay);
    free(dec);
    return rc;
}

/* ---- the input baseline ------------------------------------------------------ */

typedef struct input_zlib {
    ecn_codec codec;
    uint8_t *sym, *out;
    size_t n, cap;
    double bytes; /* summed over images */
} input_zlib;

static int input_add(input_zlib *z, const float *x, int count, ecn_err *err)
{
    for (int b = 0; b < count; b++) {
        for (size_t i = 0; i < z->n; i++) {
            float v = x[(size_t)b * z->n + i];
            v = v > 0 ? (v < 1 ? v : 1) : 0;
            z->sym[i] = (uint8_t)lrintf(v * 255.f);
        }
        size_t len;
        if (ecn_encode(&z->codec, z->sym, z->n, z->out, z->cap, &len, err)) return -1;
        z->bytes += (double)len;
    }
    return 0;
}

/* ---- outputs ----------------------------------------------------------------- */

/* Fig. 4: channels side by side, each min-max scaled, 1-pixel white lines. */
static int save_picture(const char *path, const float *x, ecn_shape s, ecn_err *err)
{
    int cols = (int)ceil(sqrt((double)s.c)), rows = (s.c + cols - 1) / cols;
    int big = s.h > s.w ? s.h : s.w, scale = big >= 96 ? 1 : (96 + big - 1) / big; /* tiles of at least 96 pixels */
    int cw = s.w * scale, ch = s.h * scale;
    ecn_image im = {cols * cw + cols + 1, rows * ch + rows + 1, 1, NULL};
    im.data = malloc((size_t)im.w * im.h * sizeof(float));
    if (!im.data) {
        snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < (size_t)im.w * im.h; i++) im.data[i] = 1;
    size_t plane = (size_t)s.h * s.w;
    for (int c = 0; c < s.c; c++) {
        const float *p = x + c * plane;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < plane; i++)
            if (isfinite(p[i])) lo = fminf(lo, p[i]), hi = fmaxf(hi, p[i]);
        float span = hi > lo ? hi - lo : 1;
        if (!(lo <= hi)) lo = 0;
        int x0 = 1 + (c % cols) * (cw + 1), y0 = 1 + (c / cols) * (ch + 1);
        for (int y = 0; y < ch; y++)
            for (int xx = 0; xx < cw; xx++) {
                float v = p[(y / scale) * s.w + xx / scale];
                im.data[(size_t)(y0 + y) * im.w + x0 + xx] = isfinite(v) ? (v - lo) / span : 0;
            }
    }
    int rc = ecn_image_save_png(&im, path, err);
    free(im.data);
    return rc;
}

static const char *const dpcm_title[N_DPCM] = {"none", "channel", "row", "column"};

/* Symbol histograms of the four streams, residuals drawn signed. */
static int save_histogram(const char *path, const study *s, const sym_stats *st, ecn_err *err)
{
    int nsym = 1 << s->bits, half = nsym / 2, nb = nsym + half;
    double *edges = malloc((size_t)(nb + 1) * sizeof *edges), *y = calloc((size_t)nb * N_DPCM, sizeof *y);
    if (!edges || !y) {
        free(edges), free(y);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    for (int i = 0; i <= nb; i++) edges[i] = -half + i - 0.5;
    plot_series ser[N_DPCM];
    char names[N_DPCM][48];
    for (int m = 0; m < N_DPCM; m++) {
        for (int v = 0; v < nsym; v++) {
            int at = m == 0 || v < half ? v : v - nsym;
            y[(size_t)m * nb + at + half] = (double)st[m].hist[v];
        }
        if (m) snprintf(names[m], sizeof names[m], "DPCM %s (%.2f bits)", dpcm_title[m], st[m].entropy_all);
        else snprintf(names[m], sizeof names[m], "symbols, no DPCM (%.2f bits)", st[m].entropy_all);
        ser[m] = (plot_series){names[m], NULL, y + (size_t)m * nb, nb};
    }
    char title[128];
    snprintf(title, sizeof title, "%d-bit symbols of %d frames before and after DPCM", s->bits, s->images);
    plot_opts o = {.log_y = 1, .ylabel = "count (log)"};
    int rc = plot_histogram_svg_ex(path, title, "symbol (DPCM residuals signed)", edges, ser, N_DPCM, &o, err);
    free(edges);
    free(y);
    return rc;
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

/* ---- the command --------------------------------------------------------------- */

typedef struct report {
    const char *cfg, *data;
    int bits, images, fit_first, fit_count, test_first, test_count;
    size_t raw_bytes, overhead, input_bytes;
    double input_zlib;
    ecn_quant_mode mode;
    ecn_range_mode range;
    float percentile;
    int cfg_bits;
    sym_stats all[N_DPCM], test[N_DPCM];
    double xent[N_DPCM];
    codec_run *runs;
    int n_runs;
} report;

static double bound_ratio(const report *r, const study *s, ecn_dpcm_mode m)
{
    double bound_bytes = r->test[m].entropy_all * (double)s->per_frame / 8;
    return bound_bytes > 0 ? (double)r->raw_bytes / bound_bytes : INFINITY;
}

static void print_table(const report *r, const study *s)
{
    static const char *const modes[] = {"tensor", "channel"}, *const ranges[] = {"minmax", "percentile"};
    printf("ecnet codec: %s on %d test images of %s\n", r->cfg, r->images, r->data);
    for (int k = 0; k < s->n_cut; k++)
        printf("cut tensor %d: output of layer %d, %d x %d x %d = %zu values\n", k, s->t[k].layer, s->t[k].shape.w,
               s->t[k].shape.h, s->t[k].shape.c, s->t[k].n);
    printf("symbols: %d bits (%s ranges, %s", r->bits, modes[r->mode], ranges[r->range]);
    if (r->range == ECN_RANGE_PERCENTILE) printf(" %.4g%%", (double)r->percentile);
    printf("), %zu per frame; float32 %zu bytes, raw %d-bit packed %zu bytes\n", s->per_frame, s->per_frame * 4,
           r->bits, r->raw_bytes);
    printf("frame overhead (header, shapes, ranges, CRC): %zu bytes per frame, not counted below\n\n", r->overhead);

    printf("symbol statistics, all %d frames (Table II; DPCM residuals mod 2^%d):\n", r->images, r->bits);
    printf("  dpcm      distinct/frame  distinct  entropy/frame  entropy(pooled)  held-out under prior\n");
    for (int m = 0; m < N_DPCM; m++)
        printf("  %-9s %14.1f  %8d  %13.3f  %15.3f  %20.3f\n", dpcm_title[m], r->all[m].distinct_frame,
               r->all[m].distinct_all, r->all[m].entropy_frame, r->all[m].entropy_all, r->xent[m]);
    printf("  (entropies in bits per symbol; the last column: bits per symbol of frames %d..%d under the\n"
           "   prior fitted on frames %d..%d, counts + 1/2)\n\n",
           r->test_first, r->test_first + r->test_count - 1, r->fit_first, r->fit_first + r->fit_count - 1);

    printf("codecs (Table III): priors for huffman and rans fitted on frames %d..%d (after DPCM),\n"
           "every codec measured on frames %d..%d, which the priors did not see:\n",
           r->fit_first, r->fit_first + r->fit_count - 1, r->test_first, r->test_first + r->test_count - 1);
    printf("  codec    dpcm     level  bytes/frame   ratio  vs f32  enc MB/s  dec MB/s  bound b/sym  "
           "bound ratio  of bound\n");
    for (int i = 0; i < r->n_runs; i++) {
        const codec_run *c = &r->runs[i];
        double ratio = (double)r->raw_bytes / c->bytes_per_frame, br = bound_ratio(r, s, c->dpcm);
        char level[8] = "-";
        if (c->id == ECN_CODEC_ZLIB) snprintf(level, sizeof level, "%d", c->level);
        printf("  %-8s %-8s %5s  %11.1f  %6.3f  %6.2f  %8.1f  %8.1f  %11.3f  %11.3f  %7.1f%%\n",
               ecn_codec_name(c->id), dpcm_title[c->dpcm], level, c->bytes_per_frame, ratio,
               4.0 * (double)s->per_frame / c->bytes_per_frame, c->encode_mb_s, c->decode_mb_s,
               r->test[c->dpcm].entropy_all, br, isfinite(br) ? 100 * ratio / br : 0);
    }
    printf("  (ratio: raw %d-bit size / size; vs f32: float32 size / size; bound: order-0 entropy of the\n"
           "   measured frames, pooled; of bound: bound size / size)\n\n",
           r->bits);
    printf("sending the image instead: %zu bytes at 8 bits, %.1f bytes zlib-9 (mean of %d images)\n",
           r->input_bytes, r->input_zlib, r->images);
}

static void print_json(const report *r, const study *s, const ecn_prior *fit, ecn_dpcm_mode fit_dpcm)
{
    static const char *const modes[] = {"tensor", "channel"}, *const ranges[] = {"minmax", "percentile"};
    printf("{\"cfg\":");
    json_string(stdout, r->cfg);
    printf(",\"data\":");
    json_string(stdout, r->data);
    printf(",\"bits\":%d,\"quant_mode\":\"%s\",\"range\":\"%s\",\"percentile\":", r->bits, modes[r->mode],
           ranges[r->range]);
    json_num(r->percentile);
    printf(",\"images\":%d,\"prior_images\":[%d,%d],\"measured_images\":[%d,%d],\"cuts\":[", r->images, r->fit_first,
           r->fit_first + r->fit_count, r->test_first, r->test_first + r->test_count);
    for (int k = 0; k < s->n_cut; k++)
        printf("%s{\"layer\":%d,\"c\":%d,\"h\":%d,\"w\":%d}", k ? "," : "", s->t[k].layer, s->t[k].shape.c,
               s->t[k].shape.h, s->t[k].shape.w);
    printf("],\"symbols_per_frame\":%zu,\"raw_bytes_per_frame\":%zu,\"float32_bytes_per_frame\":%zu,"
           "\"frame_overhead_bytes\":%zu,",
           s->per_frame, r->raw_bytes, s->per_frame * 4, r->overhead);
    printf("\"entropy_bits\":");
    json_num(r->all[0].entropy_frame);
    printf(",\"entropy_bits_pooled\":");
    json_num(r->all[0].entropy_all);
    printf(",\"distinct_symbols\":");
    json_num(r->all[0].distinct_frame);
    printf(",\"distinct_symbols_pooled\":%d,\"input_bytes\":%zu,\"input_zlib_bytes\":", r->all[0].distinct_all,
           r->input_bytes);
    json_num(r->input_zlib);
    printf(",\"codecs\":[");
    for (int i = 0; i < r->n_runs; i++) {
        const codec_run *c = &r->runs[i];
        double ratio = (double)r->raw_bytes / c->bytes_per_frame, br = bound_ratio(r, s, c->dpcm);
        printf("%s{\"name\":\"%s\",\"dpcm\":\"%s\",\"level\":%d,\"ratio\":", i ? "," : "", ecn_codec_name(c->id),
               dpcm_title[c->dpcm], c->id == ECN_CODEC_ZLIB ? c->level : 0);
        json_num(ratio);
        printf(",\"ratio_float32\":");
        json_num(4.0 * (double)s->per_frame / c->bytes_per_frame);
        printf(",\"bytes_per_frame\":");
        json_num(c->bytes_per_frame);
        printf(",\"encode_mb_s\":");
        json_num(c->encode_mb_s);
        printf(",\"decode_mb_s\":");
        json_num(c->decode_mb_s);
        printf(",\"bound_bits\":");
        json_num(r->test[c->dpcm].entropy_all);
        printf(",\"bound_ratio\":");
        json_num(br);
        printf(",\"bound_ratio_fraction\":");
        json_num(isfinite(br) ? ratio / br : NAN);
        printf("}");
    }
    printf("],\"dpcm\":[");
    for (int m = 0; m < N_DPCM; m++) {
        printf("%s{\"mode\":\"%s\",\"distinct_symbols\":", m ? "," : "", dpcm_title[m]);
        json_num(r->all[m].distinct_frame);
        printf(",\"distinct_symbols_pooled\":%d,\"entropy_bits\":", r->all[m].distinct_all);
        json_num(r->all[m].entropy_frame);
        printf(",\"entropy_bits_pooled\":");
        json_num(r->all[m].entropy_all);
        printf(",\"prior_cross_entropy_bits\":");
        json_num(r->xent[m]);
        printf("}");
    }
    printf("]");
    if (fit) {
        printf(",\"prior\":{\"dpcm\":\"%s\",\"counts\":[", dpcm_title[fit_dpcm]);
        for (int v = 0; v < 1 << r->bits; v++) printf("%s%llu", v ? "," : "", (unsigned long long)fit->counts[v]);
        printf("]}");
    }
    printf("}\n");
}

static int oom(void)
{
    fprintf(stderr, "ecnet: out of memory\n");
    return EXIT_FAIL;
}

int cmd_codec(int argc, char **argv)
{
    const char *data = NULL, *picture = NULL, *histogram = NULL;
    int images = 1000, bits = 0, json = 0, fit_prior = 0, threads = 0, train_split = 0;
    cli_opt opts[] = {
        {"--data", OPT_STRING, &data, "DATA", "a Darknet .data file (its valid= list), or fashion-mnist (test split)"},
        {"--images", OPT_INT, &images, "N", "test images to run (default 1000, at least 2)"},
        {"--bits", OPT_INT, &bits, "B", "symbol width 1..8 (default: the [split]'s bits; 8 if it is 16 or 32)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"--picture", OPT_STRING, &picture, "PNG", "write the split tensor of the first image, channel by channel"},
        {"--histogram", OPT_STRING, &histogram, "SVG", "write the symbol histograms before and after DPCM"},
        {"--fit-prior", OPT_FLAG, &fit_prior, NULL, "print a prior= line (counts of all N images) for [split]"},
        {"--train-split", OPT_FLAG, &train_split, NULL, "run training images (fit a prior where the model was trained)"},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: one per core)"},
    };
    cli_spec spec = {"ecnet codec CFG WEIGHTS --data DATA [--images N] [--bits B] [--json] [--picture PNG]\n"
                     "       [--histogram SVG] [--fit-prior [--train-split]]",
                     "How well the feature map that crosses the [split] compresses.  Runs N test\n"
                     "images, quantises the cut set to B-bit symbols with the split's settings, and\n"
                     "reports the symbols' statistics before and after DPCM (channel, row, column)\n"
                     "and, per codec (raw, zlib 1/6/9, huffman, rans; with and without DPCM), the\n"
                     "bytes per frame, the compression ratio, encode and decode speed, and the\n"
                     "order-0 entropy bound.  Huffman and rANS priors are fitted on the first half\n"
                     "of the images; all codecs are measured on the second half.  Memory: about\n"
                     "4 x N x (symbols per frame) bytes.",
                     opts, 9, 2, 2};
    const char *pos[2];
    int n_pos, rc = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    const char *bad = !data ? "codec needs --data" : images < 2 ? "--images must be at least 2 (half fit the prior, half are measured)"
                    : bits < 0 || bits > 8 ? "--bits must be 1 to 8" : NULL;
    if (bad) {
        fprintf(stderr, "ecnet: %s\nusage: %s\n(see --help)\n", bad, spec.usage);
        return EXIT_USAGE;
    }

    ecn_dataset ds = {0};
    ecn_err err;
    if (ecn_dataset_open(data, train_split ? 0 : 1, &ds, &err)) return cli_fail(&err);
    if (ds.n < 2) {
        ecn_dataset_free(&ds);
        fprintf(stderr, "ecnet: %s: the test split has %d images (at least 2 are needed)\n", data, ds.n);
        return EXIT_FAIL;
    }
    if (images > ds.n) {
        if (!json) fprintf(stderr, "ecnet: %s has %d test images; using all of them\n", data, ds.n);
        images = ds.n;
    }
    int batch = images < 32 ? images : 32;
    ecn_load_opts lo = {.batch = batch, .threads = threads};
    ecn_net *net;
    if ((rc = cli_load_net(pos[0], pos[1], &lo, &net))) {
        ecn_dataset_free(&ds);
        return rc;
    }
    study s = {0};
    report r = {0};
    float *x = NULL;
    input_zlib iz = {0};
    ecn_prior *priors = NULL, fit_all;
    rc = EXIT_FAIL;
    if (!ecn_net_has_split(net)) {
        fprintf(stderr, "ecnet: %s has no [split] section: no feature map crosses to the cloud, so there is\n"
                        "nothing to code (add [split] after the layer whose output should be sent)\n",
                pos[0]);
        goto done;
    }

    /* The split's settings, read before the 32-bit reconfiguration below. */
    ecn_frame_spec *fs = ecn_split_spec(&net->layers[net->split]);
    r.cfg_bits = fs->t[0].quant.bits;
    s.bits = bits ? bits : r.cfg_bits <= 8 ? r.cfg_bits : 8;
    if (!bits && r.cfg_bits > 8 && !json)
        fprintf(stderr, "ecnet: the [split] sends %d-bit floats; analysing 8-bit symbols (see --bits)\n", r.cfg_bits);
    ecn_dpcm_mode cfg_dpcm = fs->t[0].codec.opts.dpcm;
    r.mode = fs->t[0].quant.mode, r.range = fs->t[0].quant.range, r.percentile = fs->t[0].quant.percentile;
    s.n_cut = fs->n;
    s.images = images;
    s.pic_k = 0;
    r.overhead = ECN_FRAME_HEADER + 4;
    for (int k = 0; k < s.n_cut; k++) {
        cut_tensor *t = &s.t[k];
        t->layer = fs->t[k].layer;
        t->shape = fs->t[k].shape;
        t->n = ecn_shape_size(t->shape);
        t->off = s.per_frame;
        s.per_frame += t->n;
        r.raw_bytes += ecn_pack_size(t->n, s.bits);
        if (ecn_quant_init(&t->q, s.bits, fs->t[k].quant.mode, fs->t[k].quant.range, fs->t[k].quant.percentile,
                           &err)) {
            cli_fail(&err);
            goto done;
        }
        t->q.channels = 0;
        ecn_quant probe = t->q; /* the parameters' size once fitted: 1 or c ranges */
        probe.channels = t->q.mode == ECN_QUANT_CHANNEL ? t->shape.c : 1;
        r.overhead += 28 + ecn_quant_params_size(&probe);
        if (t->layer > s.t[s.pic_k].layer) s.pic_k = k;
    }
    if (ecn_net_split_configure(net, 32, "raw", &err)) {
        cli_fail(&err);
        goto done;
    }

    ecn_shape in = ecn_net_input_shape(net);
    size_t n_in = ecn_shape_size(in);
    x = calloc((size_t)batch * n_in, sizeof *x);
    s.sym = malloc((size_t)images * s.per_frame);
    if (picture) s.pic = malloc(s.t[s.pic_k].n * sizeof(float));
    iz.n = n_in;
    iz.sym = malloc(n_in);
    ecn_codec_opts zo = {ECN_CODEC_ZLIB, 8, 9, ECN_DPCM_NONE, in};
    if (!x || !s.sym || (picture && !s.pic) || !iz.sym) {
        rc = oom();
        goto done;
    }
    if (ecn_codec_init(&iz.codec, &zo, NULL, &err) || !(iz.cap = ecn_encode_bound(&iz.codec, n_in)) ||
        !(iz.out = malloc(iz.cap))) {
        rc = err.msg[0] ? cli_fail(&err) : oom();
        goto done;
    }

    /* 1. run the images, catch the cut set */
    unsigned long long rng = 1;
    double start = cli_now();
    for (int first = 0; first < images; first += batch) {
        int count = images - first < batch ? images - first : batch;
        int idx[32];
        for (int b = 0; b < count; b++) idx[b] = first + b;
        if (ecn_dataset_batch(&ds, idx, count, in, NULL, &rng, x, NULL, 0, &err) ||
            input_add(&iz, x, count, &err)) {
            cli_fail(&err);
            goto done;
        }
        s.batch_first = first, s.batch_count = count;
        ecn_net_forward(net, x, collect, &s);
        const char *split_err = ecn_net_split_error(net);
        if (s.failed || split_err) {
            fprintf(stderr, "ecnet: %s\n", s.failed ? s.err.msg : split_err);
            goto done;
        }
        cli_progress(json, "codec: forward", first + count, images, cli_now() - start);
    }
    r.input_bytes = n_in;
    r.input_zlib = iz.bytes / images;

    /* 2. DPCM streams and their statistics */
    s.res[0] = s.sym;
    for (int m = 1; m < N_DPCM; m++) {
        if (!(s.res[m] = malloc((size_t)images * s.per_frame))) {
            rc = oom();
            goto done;
        }
        for (int i = 0; i < images; i++)
            for (int k = 0; k < s.n_cut; k++) {
                size_t o = (size_t)i * s.per_frame + s.t[k].off;
                if (ecn_dpcm_forward((ecn_dpcm_mode)m, s.t[k].shape, s.bits, s.sym + o, s.res[m] + o, s.t[k].n,
                                     &err)) {
                    cli_fail(&err);
                    goto done;
                }
            }
    }
    r.bits = s.bits, r.images = images;
    r.data = data, r.cfg = pos[0];
    r.fit_first = 0, r.fit_count = images / 2;
    r.test_first = r.fit_count, r.test_count = images - r.fit_count;
    priors = calloc(N_DPCM, sizeof *priors);
    if (!priors) {
        rc = oom();
        goto done;
    }
    for (int m = 0; m < N_DPCM; m++) {
        stream_stats(s.res[m], s.per_frame, 0, images, s.bits, &r.all[m]);
        stream_stats(s.res[m], s.per_frame, r.test_first, r.test_count, s.bits, &r.test[m]);
        if (ecn_prior_init(&priors[m], s.bits, &err) ||
            ecn_prior_add(&priors[m], s.res[m], (size_t)r.fit_count * s.per_frame, &err)) {
            cli_fail(&err);
            goto done;
        }
        r.xent[m] = cross_entropy(r.test[m].hist, priors[m].counts, 1 << s.bits);
    }

    /* 3. the codecs */
    codec_run runs[1 + 5 * N_DPCM];
    int n = 0;
    runs[n++] = (codec_run){ECN_CODEC_RAW, 0, ECN_DPCM_NONE, 0, 0, 0};
    for (int m = 0; m < N_DPCM; m++) {
        static const int levels[] = {1, 6, 9};
        for (int l = 0; l < 3; l++) runs[n++] = (codec_run){ECN_CODEC_ZLIB, levels[l], (ecn_dpcm_mode)m, 0, 0, 0};
        runs[n++] = (codec_run){ECN_CODEC_HUFFMAN, 0, (ecn_dpcm_mode)m, 0, 0, 0};
        runs[n++] = (codec_run){ECN_CODEC_RANS, 0, (ecn_dpcm_mode)m, 0, 0, 0};
    }
    start = cli_now();
    for (int i = 0; i < n; i++) {
        if (measure(&s, &runs[i], &priors[runs[i].dpcm], r.test_first, r.test_count, &err)) {
            cli_fail(&err);
            goto done;
        }
        cli_progress(json, "codec: coding", i + 1, n, cli_now() - start);
    }
    r.runs = runs, r.n_runs = n;

    /* 4. the prior for the cfg, the pictures */
    if (fit_prior &&
        (ecn_prior_init(&fit_all, s.bits, &err) ||
         ecn_prior_add(&fit_all, s.res[cfg_dpcm], (size_t)images * s.per_frame, &err))) {
        cli_fail(&err);
        goto done;
    }
    if (picture && save_picture(picture, s.pic, s.t[s.pic_k].shape, &err)) {
        cli_fail(&err);
        goto done;
    }
    if (histogram && save_histogram(histogram, &s, r.all, &err)) {
        cli_fail(&err);
        goto done;
    }
    if (fit_prior && s.bits != r.cfg_bits)
        fprintf(stderr, "ecnet: the prior is for %d-bit symbols and the [split] has bits=%d: set bits=%d with it\n",
                s.bits, r.cfg_bits, s.bits);
    if (json) {
        print_json(&r, &s, fit_prior ? &fit_all : NULL, cfg_dpcm);
    } else {
        print_table(&r, &s);
        if (picture) printf("picture: %s (layer %d, %d channels)\n", picture, s.t[s.pic_k].layer, s.t[s.pic_k].shape.c);
        if (histogram) printf("histogram: %s\n", histogram);
        if (fit_prior) {
            printf("\n# [split] prior: %d-bit symbols after dpcm=%s, counted over %d images\nprior=", s.bits,
                   dpcm_title[cfg_dpcm], images);
            for (int v = 0; v < 1 << s.bits; v++) printf("%s%llu", v ? "," : "", (unsigned long long)fit_all.counts[v]);
            printf("\n");
        }
    }
    rc = EXIT_OK;
done:
    for (int k = 0; k < s.n_cut; k++) ecn_quant_free(&s.t[k].q);
    for (int m = 1; m < N_DPCM; m++) free(s.res[m]);
    free(s.sym);
    free(s.pic);
    free(x);
    free(iz.sym);
    free(iz.out);
    free(priors);
    ecn_net_free(net);
    ecn_dataset_free(&ds);
    return rc;
}
