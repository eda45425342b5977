/* test_plot.c - the SVG chart writer of the tools (tools/plot.c).
 *
 * plot.c belongs to the ecnet command, not to libecnet: the Makefile links
 * its object into this test.  Charts are checked for what a viewer needs: the
 * file starts with <svg and ends with </svg>, tags balance, names appear
 * escaped, every number in an attribute is finite, and failures (an
 * unwritable path, bad input) are errors that leave no file behind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/plot.h"
#include "testlib.h"

static char *read_text(const char *path)
{
    size_t n;
    unsigned char *b = test_read_file(path, &n);
    if (!b) return NULL;
    char *s = realloc(b, n + 1);
    if (!s) {
        free(b);
        return NULL;
    }
    s[n] = 0;
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Every attribute value that looks numeric parses to a finite number, and no
 * "nan" or "inf" appears anywhere. */
static int numbers_finite(const char *s)
{
    if (strstr(s, "nan") || strstr(s, "NaN") || strstr(s, "inf") || strstr(s, "Inf")) return 0;
    static const char *const attrs[] = {" x=\"", " y=\"", " width=\"", " height=\"", " cx=\"", " cy=\"", " x1=\"",
                                        " y2=\"", " points=\""};
    for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++)
        for (const char *p = s; (p = strstr(p, attrs[a])); p++) {
            const char *v = p + strlen(attrs[a]);
            while (*v && *v != '"') {
                char *end;
                double d = strtod(v, &end);
                if (end == v || !isfinite(d)) return 0;
                v = end;
                while (*v == ',' || *v == ' ') v++;
            }
        }
    return 1;
}

/* Starts with <svg, ends with </svg> (and a newline), the tags we write balance. */
static void check_svg(const char *path, const char *what)
{
    char *s = read_text(path);
    CHECK(s != NULL, "%s: %s was written", what, path);
    if (!s) return;
    size_t n = strlen(s);
    CHECK(strncmp(s, "<svg", 4) == 0, "%s: starts with <svg", what);
    CHECK(n >= 7 && strcmp(s + n - 7, "</svg>\n") == 0, "%s: ends with </svg>", what);
    CHECK(count(s, "<svg") == 1 && count(s, "</svg>") == 1, "%s: one svg element", what);
    CHECK(count(s, "<g") == count(s, "</g>"), "%s: <g> balanced (%d open, %d closed)", what, count(s, "<g"),
          count(s, "</g>"));
    CHECK(count(s, "<text") == count(s, "</text>"), "%s: <text> balanced", what);
    CHECK(numbers_finite(s), "%s: every number is finite", what);
    free(s);
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void test_lines(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/lines.svg", dir);
    double x[40], a[40], b[40], c[5] = {1, NAN, 3, INFINITY, 2};
    for (int i = 0; i < 40; i++) {
        x[i] = i * 0.25;
        a[i] = sin(x[i]);
        b[i] = 0.001 * i * i;
    }
    plot_series s[3] = {{"sin <x> & \"friends\"", x, a, 40}, {"quad's", x, b, 40}, {"gaps", NULL, c, 5}};
    ecn_err err = {{0}};
    int rc = plot_lines_svg(path, "Title <1> & 2", "x (s)", "y [a.u.]", s, 3, &err);
    CHECK(rc == 0, "plot_lines_svg: %s", err.msg);
    check_svg(path, "lines");
    char *t = read_text(path);
    if (t) {
        CHECK(strstr(t, "sin &lt;x&gt; &amp; &quot;friends&quot;") != NULL, "series name escaped");
        CHECK(strstr(t, "quad&apos;s") != NULL, "apostrophe escaped");
        CHECK(strstr(t, "Title &lt;1&gt; &amp; 2") != NULL, "title escaped");
        CHECK(strstr(t, "<x>") == NULL && strstr(t, "& ") == NULL, "no raw < or & left");
        CHECK(count(t, "<polyline") == 5, "two lines plus a line broken into three pieces (%d polylines)",
              count(t, "<polyline"));
        free(t);
    }
    char tmp[610];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp), "no .tmp file left behind");

    /* log axis, a single point, a series with nothing finite */
    double one = 5, none = NAN, ly[4] = {1, 10, 1000, -3};
    plot_series s2[3] = {{"one", NULL, &one, 1}, {"none", NULL, &none, 1}, {"log", NULL, ly, 4}};
    plot_opts o = {.log_y = 1, .width = 400, .height = 300};
    rc = plot_lines_svg_ex(path, NULL, NULL, NULL, s2, 3, &o, &err);
    CHECK(rc == 0, "log chart: %s", err.msg);
    check_svg(path, "log lines");
    rc = plot_lines_svg_ex(path, "", "", "", s2, 2, NULL, &err);
    CHECK(rc == 0, "degenerate chart: %s", err.msg);
    check_svg(path, "degenerate lines");
}

static void test_histogram(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/hist.svg", dir);
    enum { NB = 64 };
    double edges[NB + 1], h1[NB], h2[NB];
    for (int i = 0; i <= NB; i++) edges[i] = i - 0.5;
    for (int i = 0; i < NB; i++) {
        h1[i] = 1000 * exp(-0.1 * i);
        h2[i] = i % 7 == 0 ? 0 : 300 + 10 * i;
    }
    plot_series s[2] = {{"before DPCM", NULL, h1, NB}, {"after <row> DPCM", NULL, h2, NB}};
    ecn_err err = {{0}};
    int rc = plot_histogram_svg(path, "symbols", "symbol", edges, s, 2, &err);
    CHECK(rc == 0, "plot_histogram_svg: %s", err.msg);
    check_svg(path, "histogram");
    char *t = read_text(path);
    if (t) {
        CHECK(strstr(t, "before DPCM") && strstr(t, "after &lt;row&gt; DPCM"), "series names escaped");
        CHECK(strstr(t, "fill-opacity=\"0.45\"") != NULL, "overlaid series are transparent");
        int bars = NB + NB - (NB + 6) / 7;
        CHECK(count(t, "<rect") >= bars, "%d bars drawn (at least %d rects)", count(t, "<rect"), bars);
        free(t);
    }
    plot_opts o = {.log_y = 1, .ylabel = "frames"};
    rc = plot_histogram_svg_ex(path, "log", "symbol", edges, s, 2, &o, &err);
    CHECK(rc == 0, "log histogram: %s", err.msg);
    check_svg(path, "log histogram");

    /* bad input: decreasing edges, mismatched bins */
    double bad_edges[3] = {0, 2, 1}, y2[2] = {1, 2};
    plot_series one = {"x", NULL, y2, 2};
    rc = plot_histogram_svg(path, "t", "x", bad_edges, &one, 1, &err);
    CHECK(rc == -1 && strstr(err.msg, "increasing"), "decreasing edges refused: %s", err.msg);
    plot_series two[2] = {{"a", NULL, h1, NB}, {"b", NULL, h2, 3}};
    rc = plot_histogram_svg(path, "t", "x", edges, two, 2, &err);
    CHECK(rc == -1 && strstr(err.msg, "bins"), "mismatched bins refused: %s", err.msg);
    rc = plot_lines_svg(path, "t", "x", "y", NULL, 0, &err);
    CHECK(rc == -1 && strstr(err.msg, "no series"), "no series refused: %s", err.msg);
}

static void test_unwritable(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/chart.svg", dir);
    double y[3] = {1, 2, 3};
    plot_series s = {"s", NULL, y, 3};
    ecn_err err = {{0}};
    int rc = plot_lines_svg(path, "t", "x", "y", &s, 1, &err);
    CHECK(rc == -1, "unwritable path fails");
    CHECK(strstr(err.msg, "chart.svg") && strstr(err.msg, "cannot create"), "message names the file: %s", err.msg);
    double edges[4] = {0, 1, 2, 3};
    rc = plot_histogram_svg(path, "t", "x", edges, &s, 1, &err);
    CHECK(rc == -1 && strstr(err.msg, "chart.svg"), "histogram: unwritable path fails: %s", err.msg);
    CHECK(!file_exists(path), "nothing written");
}

int main(void)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "temporary directory");
    if (!dir) return test_finish("test_plot");
    test_lines(dir);
    test_histogram(dir);
    test_unwritable(dir);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_plot");
}
