/* test_rate.c - the transfer-rate model (src/net/rate.c).
 *
 * The object-count draws have the asked mean and variance (Poisson,
 * negative binomial, binomial); the simulated ingress agrees with the analytic
 * mean where the model has one; percentiles are ordered; bad models are errors.
 * `ecnet rate` hands every option to the model (numbers that are not whole).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/rate.h"
#include "testlib.h"

static void object_counts(double mean, double var)
{
    unsigned long long rng = 5;
    double s = 0, sq = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double k = ecn_rate_objects(mean, var, &rng);
        s += k;
        sq += k * k;
    }
    double m = s / n, v = sq / n - m * m;
    CHECK(fabs(m - mean) < 0.02 * mean, "objects mean %.4f, asked %.4f (variance %.2f)", m, mean, var);
    CHECK(fabs(v - var) < 0.05 * var, "objects variance %.4f, asked %.4f (mean %.2f)", v, var, mean);
}

static void frame_model(void)
{
    ecn_rate_model m = {.cameras = 64, .fps = 10, .offload_rate = 0.25, .frame_bytes = 400};
    ecn_rate_result r;
    ecn_err err;
    CHECK(ecn_rate_simulate(&m, 2000, 1, &r, &err) == 0, "%s", err.msg);
    CHECK(fabs(r.mean_bps - r.expected_bps) < 0.01 * r.expected_bps, "simulated mean %.0f vs analytic %.0f",
          r.mean_bps, r.expected_bps);
    CHECK(r.p50_bps <= r.p95_bps && r.p95_bps <= r.p99_bps && r.p99_bps <= r.max_bps, "percentiles out of order");
    /* Binomial(640, 0.25) frames a second: p99 is about 2.33 standard deviations above the mean. */
    double sd = 8 * 400 * sqrt(640 * 0.25 * 0.75);
    CHECK(fabs(r.p99_bps - (r.expected_bps + 2.33 * sd)) < 0.5 * sd, "p99 %.0f, expected about %.0f", r.p99_bps,
          r.expected_bps + 2.33 * sd);
    m.offload_rate = 1;
    CHECK(ecn_rate_simulate(&m, 100, 1, &r, &err) == 0 && r.max_bps == r.p50_bps && r.mean_bps == r.expected_bps,
          "every frame offloaded: the rate must be constant");
}

static void cell_model(void)
{
    ecn_rate_model m = {.cameras = 20, .fps = 5, .cell_model = 1, .grid = 100, .objects_mean = 3, .objects_var = 6,
                        .cells_per_object = 2, .cell_ratio = 0.5, .cell_bytes = 100, .header_bytes = 0};
    ecn_rate_result r;
    ecn_err err;
    CHECK(ecn_rate_simulate(&m, 3000, 2, &r, &err) == 0, "%s", err.msg);
    CHECK(fabs(r.mean_bps - r.expected_bps) < 0.02 * r.expected_bps, "cell model mean %.0f vs analytic %.0f",
          r.mean_bps, r.expected_bps);
    m.grid = 2; /* at most 4 cells: the cap bites, the rate falls below the uncapped mean */
    CHECK(ecn_rate_simulate(&m, 300, 2, &r, &err) == 0 && r.mean_bps < 0.9 * r.expected_bps,
          "a 2 x 2 grid must cap the cells sent");
}

static void bad_models(void)
{
    ecn_rate_model ok = {.cameras = 1, .fps = 1, .offload_rate = .5, .frame_bytes = 1};
    ecn_rate_result r;
    ecn_err err;
    ecn_rate_model m = ok;
    m.cameras = 0;
    CHECK(ecn_rate_simulate(&m, 100, 1, &r, &err) != 0, "0 cameras accepted");
    m = ok;
    m.offload_rate = 1.5;
    CHECK(ecn_rate_simulate(&m, 100, 1, &r, &err) != 0, "offload rate 1.5 accepted");
    m = ok;
    m.fps = NAN;
    CHECK(ecn_rate_simulate(&m, 100, 1, &r, &err) != 0, "NaN fps accepted");
    CHECK(ecn_rate_simulate(&ok, 5, 1, &r, &err) != 0, "5 simulated seconds accepted");
}

static double json_number(const char *line, const char *key)
{
    const char *at = strstr(line, key);
    return at ? atof(at + strlen(key)) : NAN;
}

/* 4 cameras x 250 fps x 0.5 x 1000 B x 8 = 4 Mbit/s exactly. */
static void command_line(void)
{
    char cmd[512], line[1024] = {0};
    snprintf(cmd, sizeof cmd, "%s rate --cameras 4 --fps 250 --offload-rate 0.5 --bytes 1000 --json", test_ecnet());
    FILE *f = popen(cmd, "r");
    int ok = f && fgets(line, sizeof line, f);
    if (f) ok = pclose(f) == 0 && ok;
    CHECK(ok, "%s failed", cmd);
    double expected = json_number(line, "\"expected_mbps\":"), mean = json_number(line, "\"mean_mbps\":");
    CHECK(fabs(expected - 4.0) < 1e-9, "ecnet rate: expected %.6f Mbit/s, want 4 (%s)", expected, line);
    CHECK(fabs(mean - 4.0) < 0.04, "ecnet rate: simulated mean %.6f Mbit/s, want 4 within 1%%", mean);
}

int main(void)
{
    object_counts(3, 3);   /* Poisson */
    object_counts(3, 9);   /* negative binomial */
    object_counts(4, 2);   /* binomial */
    object_counts(150, 150); /* Poisson, normal approximation */
    frame_model();
    cell_model();
    bad_models();
    command_line();
    return test_finish("test_rate");
}
