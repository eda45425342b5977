/* weights.c - Darknet .weights files.
 *
 * Layout (little-endian):
 *   int32 major, int32 minor, int32 revision,
 *   seen: uint64 when major*10 + minor >= 2 (and both < 1000), else int32,
 *   then every layer's parameters, in layer order, as float32 arrays in the
 *   order each layer's load() reads them.
 * Files with major or minor > 1000 come from an old Darknet that stored
 * connected-layer weights transposed.  We write version 0.2.0, as Darknet does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net.h"

struct ecn_wfile {
    FILE *f;
    const char *path;
    int transpose;
    const ecn_layer *layer; /* the layer being read or written, for messages */
    long long offset;       /* bytes so far */
    ecn_err *err;
};

int ecn_wfile_transposed(const ecn_wfile *wf) { return wf->transpose; }

int ecn_wfile_read(ecn_wfile *wf, float *dst, size_t n, const char *what)
{
    size_t got = fread(dst, sizeof(float), n, wf->f);
    if (got != n)
        return ecn_fail(wf->err,
                        "%s: file ends inside layer %d (%s, cfg line %d) while reading %s: needed %zu "
                        "floats at byte %lld, found %zu (weights do not match the cfg?)",
                        wf->path, wf->layer->index, wf->layer->ops->name, wf->layer->line, what, n,
                        wf->offset, got);
    wf->offset += (long long)(n * sizeof(float));
    return 0;
}

int ecn_wfile_write(ecn_wfile *wf, const float *src, size_t n)
{
    if (fwrite(src, sizeof(float), n, wf->f) != n)
        return ecn_fail(wf->err, "%s: write failed in layer %d: %s", wf->path, wf->layer->index,
                        strerror(errno));
    wf->offset += (long long)(n * sizeof(float));
    return 0;
}

static int read_header(ecn_net *net, ecn_wfile *wf)
{
    int32_t v[3];
    if (fread(v, sizeof(int32_t), 3, wf->f) != 3)
        return ecn_fail(wf->err, "%s: too short for a Darknet weights header (12+ bytes)", wf->path);
    memcpy(net->header, v, sizeof net->header);
    int major = v[0], minor = v[1];
    wf->transpose = major > 1000 || minor > 1000;
    if ((long long)major * 10 + minor >= 2 && major < 1000 && minor < 1000) { /* int overflows */
        uint64_t seen;
        if (fread(&seen, sizeof seen, 1, wf->f) != 1)
            return ecn_fail(wf->err, "%s: header ends inside the 'seen' counter", wf->path);
        net->seen = seen;
        wf->offset = 20;
    } else {
        int32_t seen;
        if (fread(&seen, sizeof seen, 1, wf->f) != 1)
            return ecn_fail(wf->err, "%s: header ends inside the 'seen' counter", wf->path);
        net->seen = (unsigned long long)(uint32_t)seen;
        wf->offset = 16;
    }
    return 0;
}

int ecn_net_load_weights(ecn_net *net, const char *path, ecn_err *err)
{
    ecn_wfile wf = {.path = path, .err = err};
    wf.f = fopen(path, "rb");
    if (!wf.f) return ecn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_header(net, &wf);
    for (int i = 0; rc == 0 && i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        wf.layer = l;
        if (l->ops->load) rc = l->ops->load(l, &wf);
    }
    if (rc == 0) {
        long long extra = 0;
        while (fgetc(wf.f) != EOF) extra++;
        if (extra)
            rc = ecn_fail(err, "%s: %lld bytes left after the last layer's parameters (%lld bytes "
                          "used): the weights belong to a bigger network than the cfg",
                          path, extra, wf.offset);
    }
    fclose(wf.f);
    if (rc == 0) net->folded = 0;
    net->params_version++; /* even a failed load may have changed some layers */
    return rc;
}

int ecn_net_save_weights(const ecn_net *net, const char *path, ecn_err *err)
{
    if (net->folded)
        return ecn_fail(err, "%s: this network's batch norm was folded for inference; load it "
                        "again without folding to save weights", path);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ecn_fail(err, "%s: path too long", path);
    ecn_wfile wf = {.path = path, .err = err};
    wf.f = fopen(tmp, "wb");
    if (!wf.f) return ecn_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    int32_t v[3] = {0, 2, 0};
    uint64_t seen = net->seen;
    int rc = 0;
    if (fwrite(v, sizeof v, 1, wf.f) != 1 || fwrite(&seen, sizeof seen, 1, wf.f) != 1)
        rc = ecn_fail(err, "%s: write failed: %s", tmp, strerror(errno));
    for (int i = 0; rc == 0 && i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        wf.layer = l;
        if (l->ops->save) rc = l->ops->save(l, &wf);
    }
    if (fflush(wf.f) != 0 && rc == 0) rc = ecn_fail(err, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(wf.f) != 0 && rc == 0) rc = ecn_fail(err, "%s: write failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ecn_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) remove(tmp);
    return rc;
}
