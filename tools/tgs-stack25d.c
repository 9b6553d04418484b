/* tgs-stack25d: PNG tiles in, a sample stream out.
 *
 * Per tile it writes one sample: id (str), image (u8, C x H x W: the tile,
 * or its depth-order neighbours around it as 2.5D context, and optionally a
 * depth channel), depth (f32 scalar) and mask (u8 1 x H x W, 0/1). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "progress.h"
#include "stream.h"
#include "tiles.h"

static const char usage[] =
    "usage: tgs-stack25d --images DIR [--masks DIR] [--depths CSV] [--ids FILE]\n"
    "                    [--neighbors none|depth] [--depth-channel] [--size S]\n"
    "                    [-o FILE] [-q]\n"
    "Read DIR/<id>.png tiles and write one sample per tile (id, image, depth,\n"
    "mask) as a tensor stream to stdout or FILE.\n"
    "\n"
    "  --images DIR      tile images (8/16-bit gray, or RGB with R=G=B)\n"
    "  --masks DIR       salt masks with the same names (non-zero = salt)\n"
    "  --depths CSV      id,z table; adds a 'depth' record to each sample\n"
    "  --ids FILE        only these tiles, in this order (one per line, or a CSV\n"
    "                    whose first column is id); default: every DIR/*.png\n"
    "  --neighbors MODE  none: 1 channel (default); depth: 3 channels, the tiles\n"
    "                    before and after in depth order among DIR's tiles\n"
    "  --depth-channel   add a channel holding the depth scaled to 0..255 over\n"
    "                    the depths table's range (needs --depths)\n"
    "  --size S          tile side to expect (default 101; WxH for other shapes)\n"
    "  -o, --output FILE write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

typedef struct {
    const char *images, *masks, *depths, *ids, *output;
    enum tgs_neighbors neighbors;
    int depth_channel, quiet, w, h;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.neighbors = TGS_NEIGHBORS_NONE, .w = 101, .h = 101};
    enum { OPT_IMAGES = 256, OPT_MASKS, OPT_DEPTHS, OPT_IDS, OPT_NEIGHBORS, OPT_DEPTH_CHANNEL, OPT_SIZE };
    static const struct option longopts[] = {
        {"images", required_argument, 0, OPT_IMAGES},   {"masks", required_argument, 0, OPT_MASKS},
        {"depths", required_argument, 0, OPT_DEPTHS},   {"ids", required_argument, 0, OPT_IDS},
        {"neighbors", required_argument, 0, OPT_NEIGHBORS}, {"depth-channel", no_argument, 0, OPT_DEPTH_CHANNEL},
        {"size", required_argument, 0, OPT_SIZE},       TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_IMAGES: o.images = optarg; break;
        case OPT_MASKS: o.masks = optarg; break;
        case OPT_DEPTHS: o.depths = optarg; break;
        case OPT_IDS: o.ids = optarg; break;
        case OPT_NEIGHBORS:
            if (tgs_neighbors_parse(optarg, &o.neighbors) < 0) die_usage("--neighbors: %s", tgs_errmsg());
            break;
        case OPT_DEPTH_CHANNEL: o.depth_channel = 1; break;
        case OPT_SIZE: tgs_parse_size(optarg, "--size", &o.w, &o.h); break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.images) die_usage("--images DIR is required");
    if (o.neighbors == TGS_NEIGHBORS_DEPTH && !o.depths) die_usage("--neighbors depth needs --depths CSV");
    if (o.depth_channel && !o.depths) die_usage("--depth-channel needs --depths CSV");
    return o;
}

/* Index of id in the sorted list, or -1. */
static int find_id(const tgs_idlist *ids, const char *id) {
    int lo = 0, hi = ids->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(ids->id[mid], id);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = parse_args(argc, argv);

    /* The universe is every tile in the folder: neighbours are looked up
     * among all of them even when --ids picks a few to write. */
    tgs_idlist all, want;
    if (tgs_ids_from_dir(&all, o.images) < 0) die("%s", tgs_errmsg());
    if (o.ids) {
        if (tgs_ids_from_file(&want, o.ids) < 0) die("%s", tgs_errmsg());
    } else {
        want = all;
    }
    tgs_depths depths = {0};
    if (o.depths && tgs_depths_load(&depths, o.depths) < 0) die("%s", tgs_errmsg());

    int *prev = malloc(sizeof(int) * (size_t)all.n), *next = malloc(sizeof(int) * (size_t)all.n);
    if (!prev || !next) die("out of memory");
    if (tgs_neighbors_find(o.neighbors, &all, o.depths ? &depths : NULL, prev, next) < 0)
        die("%s: %s", o.depths ? o.depths : o.images, tgs_errmsg());

    /* With neighbours each tile is read up to three times: keep them all
     * (10 KB each for the TGS tiles) and read each file once. */
    size_t npx = (size_t)o.w * (size_t)o.h;
    int nctx = o.neighbors == TGS_NEIGHBORS_NONE ? 1 : 3;
    uint8_t *cache = NULL, *loaded = NULL;
    if (nctx > 1) {
        cache = malloc(npx * (size_t)all.n);
        loaded = calloc((size_t)all.n, 1);
        if (!cache || !loaded) die("out of memory for %d tiles", all.n);
    }

    tgs_outfile out;
    if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
    if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
    tgs_writer wr;
    tgs_writer_init(&wr, out.fp);
    tgs_sample s = {0};
    tgs_progress bar;
    tgs_progress_start(&bar, "stack", "tiles", (uint64_t)want.n, o.quiet);

    for (int k = 0; k < want.n; k++) {
        const char *id = want.id[k];
        tgs_sample_clear(&s);
        if (tgs_sample_put_str(&s, "id", id) < 0) die("%s", tgs_errmsg());
        int nch = nctx + o.depth_channel;
        uint32_t dims[3] = {(uint32_t)nch, (uint32_t)o.h, (uint32_t)o.w};
        tgs_record *img = tgs_sample_put(&s, "image", TGS_U8, 3, dims);
        if (!img) die("%s", tgs_errmsg());
        uint8_t *px = img->data;
        if (nctx == 1) {
            if (tgs_tile_read(o.images, id, TGS_TILE_IMAGE, o.w, o.h, px) < 0) die("%s", tgs_errmsg());
        } else {
            int i = find_id(&all, id);
            if (i < 0) die("%s/%s.png: no such tile", o.images, id);
            int ctx[3] = {prev[i], i, next[i]};
            for (int c = 0; c < 3; c++) {
                int j = ctx[c];
                if (!loaded[j]) {
                    if (tgs_tile_read(o.images, all.id[j], TGS_TILE_IMAGE, o.w, o.h, cache + npx * (size_t)j) < 0)
                        die("%s", tgs_errmsg());
                    loaded[j] = 1;
                }
                memcpy(px + npx * (size_t)c, cache + npx * (size_t)j, npx);
            }
        }
        float z = 0;
        if (o.depths) {
            if (tgs_depths_find(&depths, id, &z) < 0) die("%s: %s", o.depths, tgs_errmsg());
            if (tgs_sample_put_f32(&s, "depth", z) < 0) die("%s", tgs_errmsg());
        }
        if (o.depth_channel) {
            float span = depths.zmax - depths.zmin;
            int v = span > 0 ? (int)(255.0f * (z - depths.zmin) / span + 0.5f) : 0;
            memset(px + npx * (size_t)nctx, v, npx);
        }
        if (o.masks) {
            uint32_t mdims[3] = {1, (uint32_t)o.h, (uint32_t)o.w};
            tgs_record *m = tgs_sample_put(&s, "mask", TGS_U8, 3, mdims);
            if (!m || tgs_tile_read(o.masks, id, TGS_TILE_MASK, o.w, o.h, m->data) < 0) die("%s", tgs_errmsg());
        }
        if (tgs_write_sample(&wr, &s) < 0) die("%s: %s", out.path, tgs_errmsg());
        tgs_progress_update(&bar, (uint64_t)k + 1);
    }
    tgs_progress_end(&bar);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
    tgs_sample_free(&s);
    free(cache), free(loaded), free(prev), free(next);
    if (want.id != all.id) tgs_idlist_free(&want);
    tgs_idlist_free(&all);
    tgs_depths_free(&depths);
    return 0;
}
