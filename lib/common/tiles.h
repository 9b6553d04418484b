/* tiles: the tile folders and tables of the TGS data as a tool finds them
 * on disk (DIR/<id>.png, depths.csv), and the 2.5D neighbour choice. */
#ifndef TGS_TILES_H
#define TGS_TILES_H

#include <stdint.h>

typedef struct {
    char **id;
    int n, cap;
} tgs_idlist;

/* The ids of the .png files in DIR, sorted bytewise. */
int tgs_ids_from_dir(tgs_idlist *ids, const char *dir);
/* Ids listed in a file, one per line; a CSV with a first column named id
 * (train.csv, a submission) also works. Order is kept; duplicates refused. */
int tgs_ids_from_file(tgs_idlist *ids, const char *path);
void tgs_idlist_free(tgs_idlist *ids);
/* tgs_id_valid, what a tile id may be, is in stream.h: the stream's 'id'
 * record is held to it. */

/* The ids a tool has met, each with where it met it (a sample number or a
 * CSV line), to refuse a repeat naming both places: a tile that comes
 * twice is scored twice, or lands on both sides of a train/val split. */
typedef struct {
    char *id;
    long where;
} tgs_id_at;
typedef struct {
    tgs_id_at *at; /* in the order added */
    long n, cap;
} tgs_id_log;

/* Add a copy of id, met at where. */
int tgs_id_log_add(tgs_id_log *log, const char *id, long where);
/* Refuse the first repeat in the order met, as "PATH: UNIT B: id X repeats
 * UNIT A" (UNIT: "sample" or "line"). 0 when every id is unique. */
int tgs_id_log_check(const tgs_id_log *log, const char *path, const char *unit);
void tgs_id_log_free(tgs_id_log *log);

typedef struct {
    char **id; /* sorted, for lookup by bisection */
    float *z;
    int n;
    float zmin, zmax;
} tgs_depths;

/* Load an "id,z" CSV. Refuses a bad header, a bad number, a repeated id. */
int tgs_depths_load(tgs_depths *d, const char *path);
/* The depth of id, or -1 with a message if the table lacks it. */
int tgs_depths_find(const tgs_depths *d, const char *id, float *z);
void tgs_depths_free(tgs_depths *d);

/* Read DIR/<id>.png as an h x w 8-bit tile. An image keeps its gray
 * values (16-bit files are scaled down by 256); a mask becomes 0/1, salt
 * where the PNG is non-zero. The size must be w x h. */
enum tgs_tile_kind { TGS_TILE_IMAGE, TGS_TILE_MASK };
int tgs_tile_read(const char *dir, const char *id, enum tgs_tile_kind kind, int w, int h, uint8_t *out);

/* How a tile's 2.5D context channels are chosen. New modes (true
 * neighbouring inlines of a survey, tiles matched at their edges) slot in
 * here: each gives, per tile, the index of the tile before and after it. */
enum tgs_neighbors {
    TGS_NEIGHBORS_NONE,  /* 1 channel: the tile alone */
    TGS_NEIGHBORS_DEPTH, /* 3 channels: the tiles before and after in depth order */
};
int tgs_neighbors_parse(const char *name, enum tgs_neighbors *mode);

/* For the n tiles ids[] (with depths d where the mode needs them) fill
 * prev[i] and next[i] with indices into ids; a tile at an end of the order
 * is its own neighbour. */
int tgs_neighbors_find(enum tgs_neighbors mode, const tgs_idlist *ids, const tgs_depths *d, int *prev, int *next);

#endif
