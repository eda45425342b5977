/* plot.c - see plot.h.
 *
 * The picture is a plot area (a rectangle with margins for the title, the
 * tick labels and the axis labels) and two axes that map data values to
 * pixels linearly (or, for a log y axis, log10 of the value linearly).  Axis
 * limits are widened to whole tick steps, where a step is 1, 2 or 5 times a
 * power of ten chosen so that about six ticks fit.  SVG's y grows downwards,
 * so the y axis maps its low end to the bottom of the plot area.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_COLOURS (int)(sizeof palette / sizeof palette[0])

static int fail(ecn_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Text for an XML text node or attribute. */
static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n') fputc(c, f);
        }
    }
}

/* ---- axes ------------------------------------------------------------- */

typedef struct axis {
    double lo, hi;   /* data limits (log axes: log10 of them) */
    double p0, p1;   /* pixels of lo and hi */
    double step;     /* tick step in data (log: in decades) */
    double tick0;    /* first tick */
    int log;
} axis;

static double nice_step(double span, int target)
{
    double raw = span / target, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

/* Limits from the data range [lo, hi] (finite, lo <= hi); zero_base keeps 0
 * as the lower limit (histogram counts). */
static void axis_fit(axis *a, double lo, double hi, int log_scale, int zero_base)
{
    a->log = log_scale;
    a->tick0 = 0;
    if (log_scale) {
        lo = floor(log10(lo));
        hi = ceil(log10(hi));
        if (hi <= lo) hi = lo + 1;
        a->lo = lo, a->hi = hi;
        a->step = hi - lo > 8 ? ceil((hi - lo) / 8) : 1;
        a->tick0 = lo;
        return;
    }
    lo = fmax(lo, -1e300), hi = fmin(hi, 1e300); /* keep hi - lo finite */
    double lo0 = lo, hi0 = hi;
    if (zero_base && lo > 0) lo = 0;
    if (hi == lo) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1;
        lo -= zero_base && lo == 0 ? 0 : d;
        hi += d;
    }
    a->step = nice_step(hi - lo, 6);
    a->lo = floor(lo / a->step + 1e-9) * a->step;
    a->hi = ceil(hi / a->step - 1e-9) * a->step;
    if (a->hi <= a->lo) a->hi = a->lo + a->step;
    if (!(a->hi > a->lo) || !((a->hi - a->lo) / a->step <= 100)) { /* lost to rounding: plain limits */
        a->lo = zero_base ? fmin(lo0, 0) : lo0;
        a->hi = hi0 > a->lo ? hi0 : a->lo + fabs(a->lo) * 1e-3 + 1;
        a->step = (a->hi - a->lo) / 5;
    }
    a->tick0 = a->lo;
}

/* Limits exactly [lo, hi] (lo < hi, finite), ticks at the multiples of a nice
 * step inside: histogram bins fill the whole width. */
static void axis_exact(axis *a, double lo, double hi)
{
    a->log = 0;
    a->lo = lo, a->hi = hi;
    a->step = nice_step(hi - lo, 6);
    a->tick0 = ceil(lo / a->step - 1e-9) * a->step;
    if (!isfinite(a->step) || a->step <= 0 || !((hi - a->tick0) / a->step <= 100)) {
        a->step = (hi - lo) / 5;
        a->tick0 = lo;
    }
}

static int axis_ticks(const axis *a)
{
    return (int)floor((a->hi - a->tick0) / a->step + 1e-6);
}

static double axis_tick(const axis *a, int i) { return a->tick0 + i * a->step; }

/* Pixel of tick value v (log axes: v is the exponent). */
static double axis_tick_px(const axis *a, double v)
{
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

static double axis_map(const axis *a, double v)
{
    if (a->log) v = log10(v);
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

static void tick_label(const axis *a, double v, char *buf, size_t n)
{
    if (a->log) {
        double x = pow(10, v);
        if (v >= -3 && v <= 5) snprintf(buf, n, "%g", x);
        else snprintf(buf, n, "1e%d", (int)lround(v));
        return;
    }
    if (fabs(v) < a->step * 1e-6) v = 0;
    double m = fmax(fabs(a->lo), fabs(a->hi));
    if (m >= 1e7 || (m < 1e-4 && m > 0)) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
}

/* ---- the frame: background, title, grid, ticks, labels -------------------- */

typedef struct canvas {
    int w, h;
    double x0, x1, y0, y1; /* plot area: left, right, top, bottom */
    axis ax, ay;
} canvas;

static void canvas_init(canvas *c, const plot_opts *o)
{
    c->w = o && o->width > 0 ? o->width : 720;
    c->h = o && o->height > 0 ? o->height : 440;
    if (c->w < 200) c->w = 200;
    if (c->h < 150) c->h = 150;
    c->x0 = 72, c->x1 = c->w - 20, c->y0 = 40, c->y1 = c->h - 52;
    c->ax.p0 = c->x0, c->ax.p1 = c->x1;
    c->ay.p0 = c->y1, c->ay.p1 = c->y0;
}

static void draw_frame(FILE *f, const canvas *c, const char *title, const char *xlabel, const char *ylabel)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            c->w, c->h, c->w, c->h);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", c->w, c->h);
    fprintf(f, "<defs><clipPath id=\"area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>"
               "</clipPath></defs>\n",
            c->x0, c->y0, c->x1 - c->x0, c->y1 - c->y0);
    if (title && *title) {
        fprintf(f, "<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
                c->w / 2.0);
        xml_text(f, title);
        fputs("</text>\n", f);
    }
    /* grid and ticks */
    char buf[64];
    fputs("<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n", f);
    int nx = axis_ticks(&c->ax), ny = axis_ticks(&c->ay);
    for (int i = 0; i <= nx; i++) {
        double px = axis_tick_px(&c->ax, axis_tick(&c->ax, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, c->y0, px, c->y1);
    }
    for (int i = 0; i <= ny; i++) {
        double py = axis_tick_px(&c->ay, axis_tick(&c->ay, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", c->x0, py, c->x1, py);
    }
    fputs("</g>\n<g fill=\"#333\">\n", f);
    for (int i = 0; i <= nx; i++) {
        double v = axis_tick(&c->ax, i);
        tick_label(&c->ax, v, buf, sizeof buf);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", axis_tick_px(&c->ax, v),
                c->y1 + 16, buf);
    }
    for (int i = 0; i <= ny; i++) {
        double v = axis_tick(&c->ay, i);
        tick_label(&c->ay, v, buf, sizeof buf);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", c->x0 - 6,
                axis_tick_px(&c->ay, v) + 4, buf);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#555\"/>\n",
            c->x0, c->y0, c->x1 - c->x0, c->y1 - c->y0);
    if (xlabel && *xlabel) {
        fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", (c->x0 + c->x1) / 2, c->h - 14);
        xml_text(f, xlabel);
        fputs("</text>\n", f);
    }
    if (ylabel && *ylabel) {
        double cy = (c->y0 + c->y1) / 2;
        fprintf(f, "<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.2f)\">", cy, cy);
        xml_text(f, ylabel);
        fputs("</text>\n", f);
    }
}

static void draw_legend(FILE *f, const canvas *c, const plot_series *s, int n, int filled)
{
    int rows = 0;
    size_t longest = 0;
    for (int k = 0; k < n; k++)
        if (s[k].name && *s[k].name) {
            rows++;
            if (strlen(s[k].name) > longest) longest = strlen(s[k].name);
        }
    if (!rows) return;
    double w = 34 + 6.8 * (double)(longest > 60 ? 60 : longest), h = 8 + 18.0 * rows;
    double x = c->x1 - 10 - w, y = c->y0 + 10;
    fprintf(f, "<g>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"white\" "
               "fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n",
            x, y, w, h);
    int row = 0;
    for (int k = 0; k < n; k++) {
        if (!s[k].name || !*s[k].name) continue;
        const char *col = palette[k % N_COLOURS];
        double cy = y + 13 + 18.0 * row++;
        if (filled)
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"18\" height=\"10\" fill=\"%s\" fill-opacity=\"0.6\" "
                       "stroke=\"%s\"/>\n",
                    x + 8, cy - 5, col, col);
        else
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                    x + 8, cy, x + 26, cy, col);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", x + 30, cy + 4);
        xml_text(f, s[k].name);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
}

/* ---- files ------------------------------------------------------------- */

typedef struct out_file {
    FILE *f;
    char *tmp;
    const char *path;
} out_file;

static int out_open(out_file *o, const char *path, ecn_err *err)
{
    o->path = path;
    o->f = NULL;
    o->tmp = malloc(strlen(path) + 5);
    if (!o->tmp) return fail(err, "%s: out of memory", path);
    sprintf(o->tmp, "%s.tmp", path);
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        fail(err, "%s: cannot create: %s", o->tmp, strerror(errno));
        free(o->tmp);
        return -1;
    }
    return 0;
}

static int out_close(out_file *o, ecn_err *err)
{
    fputs("</svg>\n", o->f);
    int bad = ferror(o->f);
    int e = errno;
    if (fclose(o->f) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(o->tmp, o->path) != 0) bad = 1, e = errno;
    if (bad) {
        remove(o->tmp);
        fail(err, "%s: write failed: %s", o->path, strerror(e));
    }
    free(o->tmp);
    return bad ? -1 : 0;
}

/* ---- line charts ----------------------------------------------------------- */

static double px_of(const plot_series *s, int i) { return s->x ? s->x[i] : (double)i; }

static int point_ok(const plot_series *s, int i, int log_y)
{
    double x = px_of(s, i), y = s->y[i];
    return isfinite(x) && isfinite(y) && (!log_y || y > 0);
}

static int check_series(const plot_series *s, int n_series, const char *what, ecn_err *err)
{
    if (!s || n_series < 1) return fail(err, "%s: no series to plot", what);
    for (int k = 0; k < n_series; k++)
        if (s[k].n < 0 || (s[k].n > 0 && !s[k].y))
            return fail(err, "%s: series %d has %d points and %s values", what, k + 1, s[k].n,
                        s[k].y ? "some" : "no");
    return 0;
}

int plot_lines_svg_ex(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const plot_series *s, int n_series, const plot_opts *opts, ecn_err *err)
{
    if (!path) return fail(err, "plot: no output path");
    if (check_series(s, n_series, path, err)) return -1;
    int log_y = opts && opts->log_y;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!point_ok(&s[k], i, log_y)) continue;
            double x = px_of(&s[k], i), y = s[k].y[i];
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (!(ylo <= yhi)) ylo = log_y ? 1 : 0, yhi = log_y ? 10 : 1;
    if (!log_y && yhi > ylo) { /* a little room, so extreme points do not sit on the frame */
        double pad = 0.03 * (yhi - ylo);
        ylo -= pad, yhi += pad;
    }
    canvas c;
    canvas_init(&c, opts);
    axis_fit(&c.ax, xlo, xhi, 0, 0);
    axis_fit(&c.ay, ylo, yhi, log_y, 0);

    out_file o;
    if (out_open(&o, path, err)) return -1;
    FILE *f = o.f;
    draw_frame(f, &c, title, xlabel, ylabel);
    fputs("<g clip-path=\"url(#area)\" fill=\"none\" stroke-width=\"1.8\" stroke-linejoin=\"round\">\n", f);
    for (int k = 0; k < n_series; k++) {
        const char *col = palette[k % N_COLOURS];
        int open = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!point_ok(&s[k], i, log_y)) {
                if (open) fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open) fprintf(f, "<polyline stroke=\"%s\" points=\"", col);
            fprintf(f, "%s%.2f,%.2f", open ? " " : "", axis_map(&c.ax, px_of(&s[k], i)), axis_map(&c.ay, s[k].y[i]));
            open = 1;
        }
        if (open) fputs("\"/>\n", f);
        if (s[k].n <= 50)
            for (int i = 0; i < s[k].n; i++)
                if (point_ok(&s[k], i, log_y))
                    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.6\" fill=\"%s\" stroke=\"none\"/>\n",
                            axis_map(&c.ax, px_of(&s[k], i)), axis_map(&c.ay, s[k].y[i]), col);
    }
    fputs("</g>\n", f);
    draw_legend(f, &c, s, n_series, 0);
    return out_close(&o, err);
}

int plot_lines_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                   const plot_series *s, int n_series, ecn_err *err)
{
    return plot_lines_svg_ex(path, title, xlabel, ylabel, s, n_series, NULL, err);
}

/* ---- histograms -------------------------------------------------------------- */

int plot_histogram_svg_ex(const char *path, const char *title, const char *xlabel, const double *edges,
                          const plot_series *counts, int n_series, const plot_opts *opts, ecn_err *err)
{
    if (!path) return fail(err, "plot: no output path");
    if (check_series(counts, n_series, path, err)) return -1;
    int n = counts[0].n;
    if (n < 1 || !edges) return fail(err, "%s: a histogram needs at least one bin and its edges", path);
    for (int k = 1; k < n_series; k++)
        if (counts[k].n != n)
            return fail(err, "%s: series %d has %d bins, series 1 has %d", path, k + 1, counts[k].n, n);
    for (int i = 0; i <= n; i++)
        if (!isfinite(edges[i]) || (i && !(edges[i] > edges[i - 1])))
            return fail(err, "%s: bin edges must be finite and increasing (edge %d is %g)", path, i, edges[i]);
    int log_y = opts && opts->log_y;
    double ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < n; i++) {
            double y = counts[k].y[i];
            if (!isfinite(y) || (log_y && y <= 0)) continue;
            ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    if (!(ylo <= yhi)) ylo = log_y ? 1 : 0, yhi = log_y ? 10 : 1;
    canvas c;
    canvas_init(&c, opts);
    axis_exact(&c.ax, edges[0], edges[n]);
    axis_fit(&c.ay, ylo, yhi, log_y, 1);
    double base = c.ay.p0; /* bars grow from the bottom of the plot area (0, or the log axis's floor) */

    out_file o;
    if (out_open(&o, path, err)) return -1;
    FILE *f = o.f;
    draw_frame(f, &c, title, xlabel, opts && opts->ylabel ? opts->ylabel : "count");
    double opacity = n_series > 1 ? 0.45 : 0.75;
    fputs("<g clip-path=\"url(#area)\">\n", f);
    for (int k = 0; k < n_series; k++) {
        const char *col = palette[k % N_COLOURS];
        fprintf(f, "<g fill=\"%s\" fill-opacity=\"%.2f\"", col, opacity);
        double min_w = INFINITY;
        for (int i = 0; i < n; i++) min_w = fmin(min_w, axis_map(&c.ax, edges[i + 1]) - axis_map(&c.ax, edges[i]));
        if (min_w >= 4) fprintf(f, " stroke=\"%s\" stroke-width=\"0.8\"", col);
        fputs(">\n", f);
        for (int i = 0; i < n; i++) {
            double y = counts[k].y[i];
            if (!isfinite(y) || y <= 0) continue;
            double xa = axis_map(&c.ax, edges[i]), xb = axis_map(&c.ax, edges[i + 1]), top = axis_map(&c.ay, y);
            if (top > base) top = base;
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>\n", xa, top, xb - xa, base - top);
        }
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);
    draw_legend(f, &c, counts, n_series, 1);
    return out_close(&o, err);
}

int plot_histogram_svg(const char *path, const char *title, const char *xlabel, const double *edges,
                       const plot_series *counts, int n_series, ecn_err *err)
{
    return plot_histogram_svg_ex(path, title, xlabel, edges, counts, n_series, NULL, err);
}
