/* plot.h - a tiny SVG chart writer for the tools (no dependencies).
 *
 * Two kinds of chart, each written to one self-contained .svg file that any
 * browser shows:
 *
 *   line chart   several named series of (x, y) points, drawn as polylines
 *                (with point markers when a series is short), a legend,
 *                axes with "nice" ticks (1, 2, 5 x 10^k), grid lines, labels
 *                and a title.
 *   histogram    bins given by their edges (n + 1 increasing values for n
 *                bins) and, per series, n counts; several series are overlaid
 *                with transparent fills.
 *
 * Points whose x or y is not finite are skipped (a line breaks there); on a
 * logarithmic y axis values <= 0 are skipped too.  Every number written is
 * finite.  Text (title, labels, series names) is escaped for XML; control
 * characters other than tab and newline are dropped (XML 1.0 forbids them).
 *
 * The file is written to PATH.tmp and renamed, so a failed write never
 * leaves half a chart.  Functions return 0, or -1 with a message in err.
 */
#ifndef ECN_PLOT_H
#define ECN_PLOT_H

#include "ecnet.h"

typedef struct plot_series {
    const char *name; /* legend text (NULL or "" for none) */
    const double *x;  /* line charts: n x values (NULL: 0, 1, 2, ...); histograms: unused */
    const double *y;  /* n values: the line's y, or the count of each bin */
    int n;
} plot_series;

typedef struct plot_opts {
    int width, height;  /* pixels; 0 means 720 x 440 */
    int log_y;          /* logarithmic y axis */
    const char *ylabel; /* histograms: y axis label (NULL: "count") */
} plot_opts;

/* Line chart of n_series series (1 or more). */
int plot_lines_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                   const plot_series *s, int n_series, ecn_err *err);
/* Histogram: edges[0..n] for n bins; every series has n = counts[k].n bins. */
int plot_histogram_svg(const char *path, const char *title, const char *xlabel, const double *edges,
                       const plot_series *counts, int n_series, ecn_err *err);

/* The same with options (opts may be NULL). */
int plot_lines_svg_ex(const char *path, const char *title, const char *xlabel, const char *ylabel,
                      const plot_series *s, int n_series, const plot_opts *opts, ecn_err *err);
int plot_histogram_svg_ex(const char *path, const char *title, const char *xlabel, const double *edges,
                          const plot_series *counts, int n_series, const plot_opts *opts, ecn_err *err);

#endif
