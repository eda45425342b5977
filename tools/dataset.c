/* dataset.c - `ecnet dataset compose --out DIR`: a detection data set made
 * from Fashion-MNIST items on real and procedural backgrounds (the library
 * does the work: src/detect/compose.c; the format is in docs/detection.md). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "detect/compose.h"

static const char *const size_bin_names[ECN_COMPOSE_SIZE_BINS] = {"<8", "8-16", "16-32", "32-64", "64-128", ">=128"};

typedef struct progress_state {
    double start;
} progress_state;

static void on_frame(void *user, int done, int total)
{
    progress_state *p = user;
    if (done == total || done % 20 == 0) cli_progress(0, "compose", done, total, cli_now() - p->start);
}

static void json_ints(const char *key, const int *v, int n)
{
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", v[i]);
    printf("]");
}

static void json_split(const char *name, const ecn_compose_split_stats *s, int max_objects)
{
    printf("\"%s\":{\"frames\":%d,\"objects\":%d,\"empty\":%d,\"photo_frames\":%d,\"dropped\":%d,", name, s->frames,
           s->objects, s->empty, s->photo_frames, s->dropped);
    json_ints("per_count", s->per_count, max_objects + 1);
    printf(",");
    json_ints("per_class", s->per_class, 10);
    printf(",");
    json_ints("size_hist", s->size_hist, ECN_COMPOSE_SIZE_BINS);
    printf("}");
}

static void print_json(const ecn_compose_opts *o, const ecn_compose_stats *st, double seconds)
{
    printf("{\"out\":");
    json_string(stdout, o->out_dir);
    printf(",\"seed\":%llu,\"size\":%d,\"max_objects\":%d,\"photos\":%d,\"seconds\":%.2f,\"size_bins\":[", o->seed,
           o->size, o->max_objects, st->photos, seconds);
    for (int b = 0; b < ECN_COMPOSE_SIZE_BINS; b++) printf("%s\"%s\"", b ? "," : "", size_bin_names[b]);
    printf("],");
    json_split("train", &st->split[0], o->max_objects);
    printf(",");
    json_split("test", &st->split[1], o->max_objects);
    printf("}\n");
}

static void print_split(const char *name, const ecn_compose_split_stats *s, int max_objects)
{
    if (!s->frames) return;
    printf("%s: %d frames, %d objects (%.2f a frame), %d empty (%.1f%%), %d on photographs, %d objects found no place\n",
           name, s->frames, s->objects, (double)s->objects / s->frames, s->empty, 100.0 * s->empty / s->frames,
           s->photo_frames, s->dropped);
    printf("  frames by objects:");
    for (int k = 0; k <= max_objects; k++) printf(" %d:%d", k, s->per_count[k]);
    printf("\n  boxes by sqrt(w h) in pixels:");
    for (int b = 0; b < ECN_COMPOSE_SIZE_BINS; b++) printf(" %s:%d", size_bin_names[b], s->size_hist[b]);
    printf("\n  boxes by class:");
    for (int k = 0; k < 10; k++) printf(" %d:%d", k, s->per_class[k]);
    printf("\n");
}

static int cmd_compose(int argc, char **argv)
{
    ecn_compose_opts o;
    ecn_compose_defaults(&o);
    int seed = 1, json = 0;
    cli_opt opts[] = {
        {"--out", OPT_STRING, &o.out_dir, "DIR", "where the set goes (created when missing)"},
        {"--seed", OPT_INT, &seed, "S", "random seed: the same seed gives the same bytes (default 1)"},
        {"--train", OPT_INT, &o.train, "N", "training frames (default 4000)"},
        {"--test", OPT_INT, &o.test, "N", "test frames (default 1000)"},
        {"--size", OPT_INT, &o.size, "S", "frame side in pixels (default 128)"},
        {"--max-objects", OPT_INT, &o.max_objects, "K", "objects per frame from 0 to K (default 10)"},
        {"--min-item", OPT_INT, &o.min_item, "P", "smallest item side in pixels (default size/16)"},
        {"--max-item", OPT_INT, &o.max_item, "P", "largest item side in pixels (default size/2)"},
        {"--empty", OPT_FLOAT, &o.empty_share, "F", "share of empty frames (default 0.12)"},
        {"--photos", OPT_STRING, &o.photo_dir, "DIR", "background photographs, *.jpg (default /usr/share/darknet/data)"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object: counts, objects, sizes"},
    };
    cli_spec spec = {"ecnet dataset compose --out DIR [--seed S] [--train N] [--test N] [--size S] "
                     "[--max-objects K] [--json]",
                     "Compose a Darknet detection set: Fashion-MNIST items pasted by their\n"
                     "silhouettes onto crops of photographs and procedural backgrounds, at random\n"
                     "sizes and counts (train frames from the train split's items, test frames from\n"
                     "the test split's).  Writes DIR/det.data, det.names, train.txt, test.txt,\n"
                     "images/{train,test}/*.png and labels/{train,test}/*.txt (see docs/detection.md).",
                     opts, 11, 0, 0};
    int n_pos, rc = cli_parse(&spec, argc, argv, NULL, &n_pos);
    if (rc >= 0) return rc;
    if (!o.out_dir) {
        fprintf(stderr, "ecnet: dataset compose needs --out DIR\nusage: %s\n", spec.usage);
        return EXIT_USAGE;
    }
    o.seed = (unsigned long long)(unsigned)seed;
    ecn_err err;
    if (ecn_compose_check(&o, &err)) {
        fprintf(stderr, "ecnet: %s\nusage: %s\n", err.msg, spec.usage);
        return EXIT_USAGE;
    }
    progress_state ps = {cli_now()};
    o.progress = on_frame;
    o.user = &ps;
    ecn_compose_stats st;
    if (ecn_compose(&o, &st, &err)) return cli_fail(&err);
    double seconds = cli_now() - ps.start;
    if (json) {
        print_json(&o, &st, seconds);
        return EXIT_OK;
    }
    printf("composed %s (%d x %d frames, seed %llu, %d background photographs) in %.1fs\n", o.out_dir, o.size, o.size,
           o.seed, st.photos, seconds);
    print_split("train", &st.split[0], o.max_objects);
    print_split("test", &st.split[1], o.max_objects);
    printf("data file: %s/det.data\n", o.out_dir);
    return EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ecnet dataset ACTION [ARGS...]   (ecnet dataset ACTION --help for details)\n\n"
               "actions:\n"
               "  compose    a detection set of Fashion-MNIST items on backgrounds\n");
}

int cmd_dataset(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "compose") == 0) return cmd_compose(argc - 1, argv + 1);
    fprintf(stderr, "ecnet: unknown dataset action '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
