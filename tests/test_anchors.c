/* test_anchors.c - k-means anchors (src/detect/anchors.c) and `ecnet anchors`.
 *
 * Corner-aligned IoU by hand; three obvious clusters of box shapes give
 * three anchors at their centres, sorted by area, with a high mean IoU; one
 * cluster gives the mean box; the same seed gives the same anchors; bad
 * input is refused.  The tool runs on a hand-made Darknet label set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/anchors.h"
#include "ecnet.h"
#include "testlib.h"

static void iou_by_hand(void)
{
    CHECK(fabsf(ecn_anchor_iou(10, 10, 20, 20) - .25f) < 1e-6f, "10x10 in 20x20: 100 / 400");
    CHECK(fabsf(ecn_anchor_iou(10, 20, 20, 10) - 1 / 3.f) < 1e-6f, "10x20 and 20x10: 100 / 300");
    CHECK(ecn_anchor_iou(7, 3, 7, 3) == 1, "the same shape: 1");
    float boxes[4] = {10, 10, 20, 20}, anchors[2] = {10, 10};
    CHECK(fabs(ecn_anchors_mean_iou(boxes, 2, anchors, 1) - .625) < 1e-6, "mean of 1 and 0.25");
}

/* Three clusters of 100 boxes each around (10, 10), (30, 60) and (80, 40),
 * spread by up to 5% in each side. */
static int clusters(float *wh)
{
    static const float centre[3][2] = {{80, 40}, {10, 10}, {30, 60}};
    unsigned long long s = 3;
    int n = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 100; i++) {
            for (int k = 0; k < 2; k++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                float u = (float)(s >> 40) / 16777216.f; /* [0, 1) */
                wh[2 * n + k] = centre[c][k] * (.95f + .1f * u);
            }
            n++;
        }
    return n;
}

static void obvious_clusters(void)
{
    float wh[600], a[6], b[6];
    int n = clusters(wh);
    double iou, iou2;
    ecn_err err = {{0}};
    int rc = ecn_anchors_kmeans(wh, n, 3, 1, 3, a, &iou, &err);
    CHECK(rc == 0, "k-means: %s", err.msg);
    if (rc) return;
    static const float want[3][2] = {{10, 10}, {30, 60}, {80, 40}}; /* by area: 100, 1800, 3200 */
    for (int c = 0; c < 3; c++)
        CHECK(fabsf(a[2 * c] / want[c][0] - 1) < .02f && fabsf(a[2 * c + 1] / want[c][1] - 1) < .02f,
              "anchor %d = %.2f x %.2f, expected about %.0f x %.0f", c, a[2 * c], a[2 * c + 1], want[c][0], want[c][1]);
    CHECK(iou > .9, "mean IoU %.4f > 0.9", iou);
    CHECK(fabs(iou - ecn_anchors_mean_iou(wh, n, a, 3)) < 1e-9, "the reported mean IoU is the anchors'");
    rc = ecn_anchors_kmeans(wh, n, 3, 1, 3, b, &iou2, &err);
    CHECK(rc == 0 && memcmp(a, b, sizeof a) == 0 && iou == iou2, "the same seed, the same anchors");
    /* one restart from any seed still finds such clear clusters */
    rc = ecn_anchors_kmeans(wh, n, 3, 99, 1, b, &iou2, &err);
    CHECK(rc == 0 && fabs(iou2 - iou) < 1e-3, "seed 99, one run: mean IoU %.4f", iou2);
    /* k = 1: the centre is the mean box */
    double mw = 0, mh = 0;
    for (int i = 0; i < n; i++) mw += wh[2 * i] / n, mh += wh[2 * i + 1] / n;
    rc = ecn_anchors_kmeans(wh, n, 1, 1, 1, a, &iou, &err);
    CHECK(rc == 0 && fabs(a[0] - mw) < 1e-3 && fabs(a[1] - mh) < 1e-3, "k = 1: %.3f x %.3f, mean %.3f x %.3f", a[0],
          a[1], mw, mh);
    /* k = n: every box is its own anchor */
    float four[8] = {5, 5, 50, 10, 10, 50, 30, 30}, got[8];
    rc = ecn_anchors_kmeans(four, 4, 4, 1, 1, got, &iou, &err);
    CHECK(rc == 0 && fabs(iou - 1) < 1e-9, "k = n: mean IoU 1 (%.4f)", iou);
    CHECK(rc == 0 && got[0] == 5 && got[6] == 30 && got[7] == 30, "sorted by area: 5x5 first, 30x30 last");
}

static void refusals(void)
{
    float wh[4] = {1, 2, 3, 4}, a[6];
    double iou;
    ecn_err err = {{0}};
    CHECK(ecn_anchors_kmeans(wh, 2, 3, 1, 1, a, &iou, &err) == -1 && strstr(err.msg, "boxes"), "fewer boxes than k: %s",
          err.msg);
    CHECK(ecn_anchors_kmeans(wh, 2, 0, 1, 1, a, &iou, &err) == -1, "k = 0 refused");
    wh[3] = 0;
    CHECK(ecn_anchors_kmeans(wh, 2, 1, 1, 1, a, &iou, &err) == -1 && strstr(err.msg, "positive"), "a zero size: %s",
          err.msg);
}

/* A Darknet label set of 2 images: boxes 0.1 x 0.1 and 0.5 x 0.25. */
static void tool(void)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "a temporary directory");
    if (!dir) return;
    int rc = test_system("mkdir -p %s/images %s/labels && cd %s && "
                         "printf 'classes = 2\\ntrain = list.txt\\nvalid = list.txt\\nnames = n.names\\n' > s.data && "
                         "printf 'a\\nb\\n' > n.names && printf 'images/1.png\\nimages/2.png\\n' > list.txt && "
                         "printf '0 0.5 0.5 0.1 0.1\\n1 0.3 0.3 0.5 0.25\\n0 0.2 0.2 0.1 0.1\\n' > labels/1.txt && "
                         "printf '1 0.6 0.6 0.5 0.25\\n' > labels/2.txt",
                         dir, dir, dir);
    CHECK(rc == 0, "write the set");
    rc = test_system("%s anchors --data %s/s.data --num 2 --width 200 --height 100 > %s/out.txt", test_ecnet(), dir,
                     dir);
    CHECK(rc == 0, "ecnet anchors exit %d", rc);
    char path[1024];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    size_t n;
    char *text = (char *)test_read_file(path, &n);
    CHECK(text && n > 0 && strstr(text, "anchors = 20,10,  100,25") && strstr(text, "1.0000"),
          "anchors = 20,10,  100,25 with mean IoU 1: '%.*s'", text ? (int)n : 0, text ? text : "");
    free(text);
    rc = test_system("%s anchors --data %s/s.data --num 2 --width 200 --json > %s/out.json", test_ecnet(), dir, dir);
    CHECK(rc == 0, "ecnet anchors --json exit %d", rc);
    if (test_system("command -v jq >/dev/null 2>&1") == 0)
        CHECK(test_system("jq -e '.num == 2 and .boxes == 4 and .mean_iou > 0.999' %s/out.json >/dev/null", dir) == 0,
              "the JSON parses and says 2 anchors of 4 boxes");
    CHECK(test_system("%s anchors --data %s/s.data --num 5 --width 200 2>/dev/null", test_ecnet(), dir) == 1,
          "more anchors than boxes: exit 1");
    CHECK(test_system("%s anchors --data %s/s.data 2>/dev/null", test_ecnet(), dir) == 2, "no --width: exit 2");
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    iou_by_hand();
    obvious_clusters();
    refusals();
    tool();
    return test_finish("test_anchors");
}
