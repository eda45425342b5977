/* test_compose.c - the composed detection set (src/detect/compose.c) and
 * `ecnet dataset compose`.
 *
 * Item scaling (exact 2 x 2 means when halving, mirror symmetry), the owner
 * map's boxes, option checks; then, when Fashion-MNIST is installed: a small
 * set composed twice with the same seed gives the same bytes in every file,
 * another seed other bytes, fewer frames the same first frames; the set
 * opens as a Darknet detection set with sane boxes and counts; the tool
 * prints valid JSON and refuses bad options with exit status 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/compose.h"
#include "ecnet.h"
#include "testlib.h"
#include "train/data.h"

static int fashion_here(void)
{
    const char *dir = getenv("ECNET_FASHION_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir ? dir : "/usr/share/datasets/fashion-mnist");
    return access(path, R_OK) == 0;
}

/* ---- pieces --------------------------------------------------------------- */

static void scaling(void)
{
    float src[28 * 28], half[14 * 14], flipped[14 * 14], big[40 * 40], big_flipped[40 * 40];
    unsigned long long s = 7;
    for (int i = 0; i < 28 * 28; i++) src[i] = (float)((s = s * 6364136223846793005ULL + 1) >> 40) / 16777216.f;
    /* halving: 2 x 2 samples per output pixel fall on source centres exactly */
    ecn_compose_scale_item(src, 28, 28, 14, 14, 0, half);
    double worst = 0;
    for (int y = 0; y < 14; y++)
        for (int x = 0; x < 14; x++) {
            const float *p = src + 2 * y * 28 + 2 * x;
            double want = (p[0] + p[1] + p[28] + p[29]) / 4.0;
            worst = fmax(worst, fabs(half[y * 14 + x] - want));
        }
    CHECK(worst < 1e-6, "halving gives 2 x 2 means (worst error %g)", worst);
    ecn_compose_scale_item(src, 28, 28, 14, 14, 1, flipped);
    int mirrored = 1;
    for (int y = 0; y < 14; y++)
        for (int x = 0; x < 14; x++) mirrored &= flipped[y * 14 + x] == half[y * 14 + 13 - x];
    CHECK(mirrored, "flip mirrors left to right");
    ecn_compose_scale_item(src, 28, 28, 40, 40, 0, big);
    ecn_compose_scale_item(src, 28, 28, 40, 40, 1, big_flipped);
    mirrored = 1;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 40; x++) mirrored &= big_flipped[y * 40 + x] == big[y * 40 + 39 - x];
    CHECK(mirrored, "flip mirrors when enlarging too");
    /* a constant item keeps its value inside, fades to zero outside */
    float ones[28 * 28], out[56 * 56];
    for (int i = 0; i < 28 * 28; i++) ones[i] = 1;
    ecn_compose_scale_item(ones, 28, 28, 56, 56, 0, out);
    CHECK(fabsf(out[28 * 56 + 28] - 1) < 1e-6f, "constant inside: %g", out[28 * 56 + 28]);
    CHECK(out[0] > 0.5f && out[0] < 1, "the corner blends with the black around: %g", out[0]);
}

static void owned_boxes(void)
{
    unsigned char owner[8 * 8];
    memset(owner, 255, sizeof owner);
    owner[1 * 8 + 2] = 0, owner[4 * 8 + 5] = 0, owner[3 * 8 + 3] = 1;
    int x0, y0, x1, y1;
    int n = ecn_compose_owned_box(owner, 8, 0, &x0, &y0, &x1, &y1);
    CHECK(n == 2 && x0 == 2 && y0 == 1 && x1 == 5 && y1 == 4, "box of id 0: %d px, %d,%d - %d,%d", n, x0, y0, x1, y1);
    n = ecn_compose_owned_box(owner, 8, 1, &x0, &y0, &x1, &y1);
    CHECK(n == 1 && x0 == 3 && x1 == 3 && y0 == 3 && y1 == 3, "a one-pixel box");
    CHECK(ecn_compose_owned_box(owner, 8, 2, &x0, &y0, &x1, &y1) == 0, "no pixels, no box");
}

static void option_checks(void)
{
    ecn_compose_opts o;
    ecn_err err = {{0}};
    ecn_compose_defaults(&o);
    CHECK(o.size == 128 && o.train == 4000 && o.test == 1000 && o.max_objects == 10 && o.seed == 1, "defaults");
    o.out_dir = "x";
    CHECK(ecn_compose_check(&o, &err) == 0, "defaults pass: %s", err.msg);
    o.size = 16;
    CHECK(ecn_compose_check(&o, &err) == -1 && strstr(err.msg, "size"), "tiny frame refused: %s", err.msg);
    o.size = 128, o.max_objects = ECN_COMPOSE_MAX_OBJECTS + 1;
    CHECK(ecn_compose_check(&o, &err) == -1, "too many objects refused");
    o.max_objects = 10, o.min_item = 50, o.max_item = 20;
    CHECK(ecn_compose_check(&o, &err) == -1 && strstr(err.msg, "item"), "min item > max item refused: %s", err.msg);
    o.min_item = o.max_item = 0, o.empty_share = 1.5f;
    CHECK(ecn_compose_check(&o, &err) == -1, "empty share above 1 refused");
    o.empty_share = .1f, o.out_dir = NULL;
    CHECK(ecn_compose_check(&o, &err) == -1, "no output directory refused");
}

/* ---- whole sets ----------------------------------------------------------- */

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Every file of frames [0, frames) of both splits, and the meta files. */
static int same_sets(const char *d1, const char *d2, int train, int test, int with_lists)
{
    static const char *const meta[] = {"det.data", "det.names", "train.txt", "test.txt"};
    char a[1024], b[1024];
    int same = 1;
    for (int m = 0; m < (with_lists ? 4 : 2); m++) {
        snprintf(a, sizeof a, "%s/%s", d1, meta[m]);
        snprintf(b, sizeof b, "%s/%s", d2, meta[m]);
        same &= same_file(a, b);
    }
    for (int split = 0; split < 2; split++)
        for (int i = 0; i < (split ? test : train); i++)
            for (int kind = 0; kind < 2; kind++) {
                const char *sub = split ? "test" : "train", *ext = kind ? "txt" : "png";
                const char *top = kind ? "labels" : "images";
                snprintf(a, sizeof a, "%s/%s/%s/%06d.%s", d1, top, sub, i, ext);
                snprintf(b, sizeof b, "%s/%s/%s/%06d.%s", d2, top, sub, i, ext);
                same &= same_file(a, b);
            }
    return same;
}

static int compose_into(const char *dir, int seed, int train, int test, ecn_compose_stats *st)
{
    ecn_compose_opts o;
    ecn_compose_defaults(&o);
    o.out_dir = dir, o.seed = (unsigned long long)seed, o.train = train, o.test = test;
    ecn_err err = {{0}};
    int rc = ecn_compose(&o, st, &err);
    CHECK(rc == 0, "compose into %s: %s", dir, err.msg);
    return rc;
}

static void determinism(const char *tmp)
{
    char d1[1024], d2[1024], d3[1024], d4[1024];
    snprintf(d1, sizeof d1, "%s/one", tmp);
    snprintf(d2, sizeof d2, "%s/two", tmp);
    snprintf(d3, sizeof d3, "%s/seed2", tmp);
    snprintf(d4, sizeof d4, "%s/fewer", tmp);
    ecn_compose_stats s1, s2, s3, s4;
    if (compose_into(d1, 1, 12, 4, &s1) || compose_into(d2, 1, 12, 4, &s2) || compose_into(d3, 2, 12, 4, &s3) ||
        compose_into(d4, 1, 5, 2, &s4))
        return;
    CHECK(same_sets(d1, d2, 12, 4, 1), "the same seed gives the same bytes in every file");
    CHECK(memcmp(&s1, &s2, sizeof s1) == 0, "and the same statistics");
    CHECK(!same_sets(d1, d3, 12, 4, 0), "another seed gives other frames");
    CHECK(same_sets(d1, d4, 5, 2, 0), "frame k does not depend on the number of frames");
}

static int line_count(const char *path)
{
    size_t n;
    unsigned char *b = test_read_file(path, &n);
    int lines = 0;
    for (size_t i = 0; b && i < n; i++) lines += b[i] == '\n';
    free(b);
    return b ? lines : -1;
}

/* Boxes inside the frame and at most 64 x 1.25 pixels (the largest item
 * side times the largest aspect), classes in range, counts that add up. */
static void check_split(const ecn_dataset *ds, const ecn_compose_split_stats *st, int frames)
{
    CHECK(ds->n == frames && ds->classes == 10 && ecn_dataset_is_detection(ds), "%d frames, 10 classes, boxes", ds->n);
    CHECK(ds->names && strcmp(ds->names[0], "T-shirt/top") == 0 && strcmp(ds->names[9], "Ankle boot") == 0,
          "Fashion-MNIST's class names");
    int objects = 0, empty = 0, bad = 0, count_sum = 0;
    for (int i = 0; i < ds->n; i++) {
        objects += ds->n_boxes[i];
        empty += ds->n_boxes[i] == 0;
        bad += ds->n_boxes[i] > 10;
        for (int b = 0; b < ds->n_boxes[i]; b++) {
            const ecn_box_label *l = &ds->boxes[i][b];
            bad += l->cls < 0 || l->cls > 9 || l->w <= 0 || l->h <= 0 || l->w > .63f || l->h > .63f;
            bad += l->x - l->w / 2 < -1e-5f || l->x + l->w / 2 > 1 + 1e-5f;
            bad += l->y - l->h / 2 < -1e-5f || l->y + l->h / 2 > 1 + 1e-5f;
        }
    }
    for (int k = 0; k <= 10; k++) count_sum += st->per_count[k];
    CHECK(bad == 0, "%d boxes out of the frame, too large, of a bad class, or frames with more than 10", bad);
    CHECK(objects == st->objects && empty == st->empty, "label files hold %d objects, %d empty frames; stats say %d, %d",
          objects, empty, st->objects, st->empty);
    CHECK(count_sum == frames && st->frames == frames, "frames by count add up: %d", count_sum);
}

static void data_set(const char *tmp)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/set", tmp);
    ecn_compose_stats st;
    if (compose_into(dir, 3, 150, 30, &st)) return;
    CHECK(st.photos >= 1 || access("/usr/share/darknet/data/dog.jpg", R_OK) != 0, "%d photographs found", st.photos);
    snprintf(path, sizeof path, "%s/det.data", dir);
    ecn_dataset train, test;
    ecn_err err = {{0}};
    int rc = ecn_dataset_open(path, 0, &train, &err);
    CHECK(rc == 0, "open the train list: %s", err.msg);
    if (rc == 0) check_split(&train, &st.split[0], 150);
    rc = ecn_dataset_open(path, 1, &test, &err);
    CHECK(rc == 0, "open the valid list: %s", err.msg);
    if (rc == 0) check_split(&test, &st.split[1], 30);
    snprintf(path, sizeof path, "%s/train.txt", dir);
    CHECK(line_count(path) == 150, "train.txt lists 150 frames");
    const ecn_compose_split_stats *s = &st.split[0];
    CHECK(s->empty >= 5 && s->empty <= 40, "%d of 150 frames empty (12%% expected)", s->empty);
    CHECK(s->objects > 150 * 3 && s->objects < 150 * 7, "%d objects (about 4.8 a frame expected)", s->objects);
    CHECK(s->size_hist[0] > 0 && s->size_hist[3] > 0 && s->size_hist[5] == 0, "small and large boxes, none above 128");
    CHECK(s->photo_frames > 30 && s->photo_frames < 120, "about half the frames on photographs: %d", s->photo_frames);
    /* the pixels load and batch as a detection set */
    if (rc == 0) {
        float x[3 * 128 * 128], truth[5 * 20];
        unsigned long long rng = 1;
        rc = ecn_dataset_batch(&test, NULL, 1, (ecn_shape){3, 128, 128}, NULL, &rng, x, truth, 100, &err);
        CHECK(rc == 0, "a batch of the composed set: %s", err.msg);
    }
    ecn_dataset_free(&train);
    ecn_dataset_free(&test);
}

static void tool(const char *tmp)
{
    const char *e = test_ecnet();
    int rc = test_system("%s dataset compose --out %s/tool --train 4 --test 2 --seed 5 --json > %s/tool.json", e, tmp, tmp);
    CHECK(rc == 0, "ecnet dataset compose --json exit %d", rc);
    if (test_system("command -v jq >/dev/null 2>&1") == 0) {
        rc = test_system("jq -e '.train.frames == 4 and .test.frames == 2 and (.size_bins | length) == 6' %s/tool.json "
                         ">/dev/null",
                         tmp);
        CHECK(rc == 0, "the JSON parses and has the counts");
    } else {
        test_skip("jq not installed: JSON not parsed");
    }
    CHECK(test_system("%s dataset compose --out %s/bad --size 8 2>/dev/null", e, tmp) == 2, "a bad size: exit 2");
    CHECK(test_system("%s dataset compose 2>/dev/null", e) == 2, "no --out: exit 2");
    CHECK(test_system("%s dataset frobnicate 2>/dev/null", e) == 2, "an unknown action: exit 2");
    CHECK(test_system("%s dataset compose --help >/dev/null", e) == 0, "--help: exit 0");
}

int main(void)
{
    scaling();
    owned_boxes();
    option_checks();
    if (!fashion_here()) {
        test_skip("Fashion-MNIST not installed (dataset-fashion-mnist): no sets composed");
        return test_finish("test_compose");
    }
    char *tmp = test_tmpdir();
    CHECK(tmp != NULL, "a temporary directory");
    if (tmp) {
        determinism(tmp);
        data_set(tmp);
        tool(tmp);
        test_rmdir(tmp);
        free(tmp);
    }
    return test_finish("test_compose");
}
