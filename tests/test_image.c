/* test_image.c - loading, saving, resize and letterbox (src/core/image.c).
 *
 * Hand-computed small cases first; then, when the Darknet oracle
 * build/darknet_ref is there, ecn_image_resize / ecn_image_letterbox against
 * Darknet's own resize_image / letterbox_image on a real photo.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "ecnet.h"
#include "testlib.h"

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

static void make_image(ecn_image *im, int w, int h, int c, const float *values)
{
    im->w = w, im->h = h, im->c = c;
    im->data = malloc((size_t)w * h * c * sizeof(float));
    memcpy(im->data, values, (size_t)w * h * c * sizeof(float));
}

/* A 3x2 RGB PNG written by stb directly: loading gives byte/255 in CHW. */
static void test_load(const char *dir)
{
    /* HWC bytes: row 0: (0,10,20) (30,40,50) (60,70,80); row 1: +100 */
    unsigned char px[2 * 3 * 3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int k = 0; k < 3; k++) px[(y * 3 + x) * 3 + k] = (unsigned char)(100 * y + 30 * x + 10 * k);
    char path[600];
    snprintf(path, sizeof path, "%s/pattern.png", dir);
    CHECK(stbi_write_png(path, 3, 2, 3, px, 3 * 3), "stbi_write_png %s", path);

    ecn_image im;
    ecn_err err = {{0}};
    int rc = ecn_image_load(path, 0, &im, &err);
    CHECK(rc == 0, "load: %s", err.msg);
    if (rc) return;
    CHECK(im.w == 3 && im.h == 2 && im.c == 3, "size %d x %d x %d", im.w, im.h, im.c);
    int bad = 0;
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) {
                float want = (float)((100 * y + 30 * x + 10 * k) / 255.);
                if (im.data[(k * 2 + y) * 3 + x] != want) bad++;
            }
    CHECK(bad == 0, "%d pixel values differ from byte/255 (CHW)", bad);

    /* Saving and loading again gives the same bytes back. */
    char path2[600];
    snprintf(path2, sizeof path2, "%s/again.png", dir);
    rc = ecn_image_save_png(&im, path2, &err);
    CHECK(rc == 0, "save_png: %s", err.msg);
    ecn_image im2;
    rc = ecn_image_load(path2, 3, &im2, &err);
    CHECK(rc == 0, "load again: %s", err.msg);
    if (rc == 0) {
        CHECK(im2.w == 3 && im2.h == 2 && im2.c == 3, "size again");
        CHECK(max_abs_diff(im.data, im2.data, 18) == 0, "save/load round trip changed pixels");
        ecn_image_free(&im2);
    }

    /* Saving clamps and rounds. */
    float odd[4] = {-0.5f, 1.7f, 0.5f, 2.f / 255 + 0.4f / 255};
    ecn_image o;
    make_image(&o, 2, 2, 1, odd);
    snprintf(path2, sizeof path2, "%s/clamp.png", dir);
    rc = ecn_image_save_png(&o, path2, &err);
    CHECK(rc == 0, "save_png grey: %s", err.msg);
    ecn_image_free(&o);
    rc = ecn_image_load(path2, 0, &o, &err);
    CHECK(rc == 0 && o.c == 1, "load grey: %s", err.msg);
    if (rc == 0) {
        CHECK(o.data[0] == 0 && o.data[1] == 1, "clamp: %g %g", o.data[0], o.data[1]);
        CHECK(o.data[2] == (float)(128 / 255.), "round 127.5 -> 128: %g", o.data[2] * 255);
        CHECK(o.data[3] == (float)(2 / 255.), "round 2.4 -> 2: %g", o.data[3] * 255);
        ecn_image_free(&o);
    }
    ecn_image_free(&im);

    /* One channel asked of a colour file. */
    rc = ecn_image_load(path, 1, &im, &err);
    CHECK(rc == 0 && im.c == 1 && im.w == 3 && im.h == 2, "load as grey: %s", err.msg);
    ecn_image_free(&im);

    /* Errors name the file. */
    snprintf(path2, sizeof path2, "%s/missing.png", dir);
    rc = ecn_image_load(path2, 3, &im, &err);
    CHECK(rc == -1 && strstr(err.msg, "missing.png"), "missing file: rc %d, '%s'", rc, err.msg);
    CHECK(im.data == NULL, "no data after a failure");
    snprintf(path2, sizeof path2, "%s/junk.png", dir);
    test_write_file(path2, "this is not an image", 20);
    rc = ecn_image_load(path2, 3, &im, &err);
    CHECK(rc == -1 && strstr(err.msg, "junk.png"), "undecodable file: rc %d, '%s'", rc, err.msg);
    rc = ecn_image_load(path, 7, &im, &err);
    CHECK(rc == -1, "7 channels refused");
}

static void test_resize(void)
{
    ecn_err err = {{0}};
    /* 2x2 -> 3x3: both scales are 0.5, so this is plain bilinear. */
    const float a = 0, b = 1, c = .5f, d = .25f;
    float src[4] = {a, b, c, d};
    ecn_image im, out;
    make_image(&im, 2, 2, 1, src);
    int rc = ecn_image_resize(&im, 3, 3, &out, &err);
    CHECK(rc == 0, "resize: %s", err.msg);
    if (rc == 0) {
        float top[3] = {a, .5f * a + .5f * b, b}, bot[3] = {c, .5f * c + .5f * d, d};
        float want[9];
        for (int x = 0; x < 3; x++) {
            want[x] = top[x];
            want[3 + x] = .5f * top[x] + .5f * bot[x];
            want[6 + x] = bot[x];
        }
        CHECK(out.w == 3 && out.h == 3 && out.c == 1, "resize size");
        CHECK(max_abs_diff(out.data, want, 9) == 0, "2x2 -> 3x3 bilinear: %g",
              max_abs_diff(out.data, want, 9));
        ecn_image_free(&out);
    }
    ecn_image_free(&im);

    /* 4x1 -> 3x1 (one row: im.h == 1 keeps the row as is); w_scale 1.5:
     * col 0 = p0, col 1: sx 1.5 -> .5 p1 + .5 p2, col 2 (last) = p3. */
    float row[4] = {.1f, .2f, .4f, .8f};
    make_image(&im, 4, 1, 1, row);
    rc = ecn_image_resize(&im, 3, 1, &out, &err);
    CHECK(rc == 0, "resize row: %s", err.msg);
    if (rc == 0) {
        float want[3] = {.1f, .5f * .2f + .5f * .4f, .8f};
        CHECK(max_abs_diff(out.data, want, 3) == 0, "4x1 -> 3x1: %g %g %g", out.data[0],
              out.data[1], out.data[2]);
        ecn_image_free(&out);
    }
    /* ... -> 1x1: every column is the last one. */
    rc = ecn_image_resize(&im, 1, 1, &out, &err);
    CHECK(rc == 0 && out.data[0] == .8f, "4x1 -> 1x1");
    ecn_image_free(&out);
    ecn_image_free(&im);

    /* Two channels stay apart; 2x1 -> 2x3 (a column stretch). */
    float two[4] = {0, 1, 10, 20}; /* channel 0: 0 1, channel 1: 10 20, one row */
    make_image(&im, 2, 1, 2, two);
    rc = ecn_image_resize(&im, 2, 3, &out, &err);
    CHECK(rc == 0, "resize 2 channels: %s", err.msg);
    if (rc == 0) {
        float want[12] = {0, 1, 0, 1, 0, 1, 10, 20, 10, 20, 10, 20};
        CHECK(max_abs_diff(out.data, want, 12) == 0, "2 channels stretched");
        ecn_image_free(&out);
    }
    rc = ecn_image_resize(&im, 0, 3, &out, &err);
    CHECK(rc == -1 && out.data == NULL, "width 0 refused");
    ecn_image_free(&im);
}

static void test_letterbox(void)
{
    ecn_err err = {{0}};
    /* 4x2 into 4x4: 4/4 < 4/2, so new size 4x2, placed at (0, 1). */
    float wide[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ecn_image im, out;
    make_image(&im, 4, 2, 1, wide);
    int rc = ecn_image_letterbox(&im, 4, 4, &out, &err);
    CHECK(rc == 0, "letterbox: %s", err.msg);
    if (rc == 0) {
        float want[16] = {.5f, .5f, .5f, .5f, 1, 2, 3, 4, 5, 6, 7, 8, .5f, .5f, .5f, .5f};
        CHECK(out.w == 4 && out.h == 4 && out.c == 1, "letterbox size");
        CHECK(max_abs_diff(out.data, want, 16) == 0, "wide image letterboxed");
        ecn_image_free(&out);
    }
    ecn_image_free(&im);

    /* 2x4 into 4x4: new size 2x4, placed at (1, 0). */
    make_image(&im, 2, 4, 1, wide);
    rc = ecn_image_letterbox(&im, 4, 4, &out, &err);
    CHECK(rc == 0, "letterbox tall: %s", err.msg);
    if (rc == 0) {
        float want[16] = {.5f, 1, 2, .5f, .5f, 3, 4, .5f, .5f, 5, 6, .5f, .5f, 7, 8, .5f};
        CHECK(max_abs_diff(out.data, want, 16) == 0, "tall image letterboxed");
        ecn_image_free(&out);
    }
    ecn_image_free(&im);

    /* 3x2 into 5x5: 5/3 < 5/2: new 5 x (2*5/3 = 3), at (0, 1); the rest grey. */
    float six[6] = {0, .5f, 1, 1, .5f, 0};
    make_image(&im, 3, 2, 1, six);
    ecn_image sized;
    rc = ecn_image_letterbox(&im, 5, 5, &out, &err);
    int rc2 = ecn_image_resize(&im, 5, 3, &sized, &err);
    CHECK(rc == 0 && rc2 == 0, "letterbox 3x2: %s", err.msg);
    if (rc == 0 && rc2 == 0) {
        int bad = 0;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++) {
                float want = (y >= 1 && y < 4) ? sized.data[(y - 1) * 5 + x] : .5f;
                bad += out.data[y * 5 + x] != want;
            }
        CHECK(bad == 0, "3x2 in 5x5: %d pixels wrong", bad);
    }
    ecn_image_free(&out);
    ecn_image_free(&sized);
    ecn_image_free(&im);
}

/* Run the oracle and compare with our result. */
static void compare_with_darknet(const char *oracle, const char *png, const ecn_image *im, int w,
                                 int h, int letterbox, const char *dir)
{
    ecn_err err = {{0}};
    ecn_image ours;
    int rc = letterbox ? ecn_image_letterbox(im, w, h, &ours, &err)
                       : ecn_image_resize(im, w, h, &ours, &err);
    CHECK(rc == 0, "%s %dx%d: %s", letterbox ? "letterbox" : "resize", w, h, err.msg);
    if (rc) return;
    char ref_path[600];
    snprintf(ref_path, sizeof ref_path, "%s/ref_%d_%d_%d.f32", dir, w, h, letterbox);
    int st = test_system("'%s' image '%s' '%s' --width %d --height %d %s 2>/dev/null", oracle,
                         png, ref_path, w, h, letterbox ? "--letterbox" : "");
    CHECK(st == 0, "darknet_ref image exited with %d", st);
    size_t size = 0;
    float *ref = (float *)test_read_file(ref_path, &size);
    size_t n = (size_t)w * h * 3;
    CHECK(ref && size == n * sizeof(float), "oracle output: %zu bytes, expected %zu", size,
          n * sizeof(float));
    if (ref && size == n * sizeof(float)) {
        float diff = max_abs_diff(ours.data, ref, n);
        CHECK(diff <= 1e-5f, "%s %dx%d differs from Darknet by %g", letterbox ? "letterbox" : "resize",
              w, h, diff);
    }
    free(ref);
    ecn_image_free(&ours);
}

static void test_against_darknet(const char *dir)
{
    char oracle[600];
    snprintf(oracle, sizeof oracle, "%s/darknet_ref", test_build_dir());
    const char *jpg = "/usr/share/darknet/data/dog.jpg";
    FILE *f = fopen(oracle, "rb");
    if (!f) {
        test_skip("%s not built (make build/darknet_ref): no comparison with Darknet", oracle);
        return;
    }
    fclose(f);
    ecn_image im;
    ecn_err err = {{0}};
    if (ecn_image_load(jpg, 3, &im, &err)) {
        test_skip("%s", err.msg);
        return;
    }
    /* JPEG decoders differ in their last bits (stb here, libjpeg via OpenCV in
     * Darknet), so both sides read the same lossless PNG copy. */
    char png[600];
    snprintf(png, sizeof png, "%s/dog.png", dir);
    int rc = ecn_image_save_png(&im, png, &err);
    CHECK(rc == 0, "save %s: %s", png, err.msg);
    ecn_image_free(&im);
    rc = ecn_image_load(png, 3, &im, &err);
    CHECK(rc == 0, "load %s: %s", png, err.msg);
    if (rc) return;
    compare_with_darknet(oracle, png, &im, 416, 416, 1, dir);
    compare_with_darknet(oracle, png, &im, 256, 256, 0, dir);
    compare_with_darknet(oracle, png, &im, 300, 200, 1, dir);
    ecn_image_free(&im);
}

int main(void)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL, "temporary directory");
    if (!dir) return test_finish("test_image");
    test_load(dir);
    test_resize();
    test_letterbox();
    test_against_darknet(dir);
    test_rmdir(dir);
    free(dir);
    return test_finish("test_image");
}
