/* tbevent: TensorBoard event files, by our own code (no TensorFlow, no
 * protobuf library), so that `tensorboard --logdir work/runs` shows the
 * curves of log.csv.
 *
 * An event file is a sequence of TFRecords, each an Event protobuf:
 *
 *   record: uint64 len (LE), uint32 masked_crc32c(len's 8 bytes),
 *           len bytes of data, uint32 masked_crc32c(data)
 *   masked: ((crc >> 15) | (crc << 17)) + 0xa282ead8
 *   Event   { double wall_time = 1; int64 step = 2;
 *             string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 *
 * (tensorboard/compat/proto/event.proto and summary.proto). The first
 * record holds file_version "brain.Event:2"; each one after it a step's
 * scalars. */
#ifndef TGS_TBEVENT_H
#define TGS_TBEVENT_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the CRC of
 * TFRecords; continue a CRC over more bytes, starting with crc = 0. */
uint32_t tgs_crc32c(uint32_t crc, const void *buf, size_t len);
/* The masked CRC-32C a TFRecord stores for len bytes: a CRC of data that
 * holds CRCs is poor, so TensorFlow rotates and offsets it. */
uint32_t tgs_tfrecord_crc(const void *buf, size_t len);

/* Bytes that grow as records are put; zero it to begin, free p after. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} tgs_tbbuf;

/* Each appends to b: 0, or -1 with a message (out of memory). */
/* One TFRecord holding data. */
int tgs_tfrecord_put(tgs_tbbuf *b, const void *data, size_t len);
/* The first record of a file: an Event with file_version. */
int tgs_tbevent_put_version(tgs_tbbuf *b, double wall_time);
/* A record of an Event with n scalars, tags[i] = values[i], at step. */
int tgs_tbevent_put_scalars(tgs_tbbuf *b, double wall_time, int64_t step, const char *const *tags, const float *values,
                            int n);

/* The tag TensorBoard shows for a column of log.csv, grouped as its
 * dashboard groups them (by what comes before the '/'):
 *   X_loss        -> loss/X     the total losses side by side: loss/train, loss/val
 *   train_X, val_X -> train/X, val/X   (train/bce, val/map, val/iou)
 *   img_s, seconds -> speed/img_s, speed/seconds
 *   anything else  -> itself    (lr, stage, step)
 * so a new column of either log needs no change here. */
void tgs_tbevent_tag(const char *column, char *tag, size_t size);

/* The events of a log.csv (a header, then a row per epoch): the version
 * record, then per row an Event at step = its 'epoch' with a scalar per
 * other column whose cell is a number (an empty cell, text or "nan" gives
 * none), tagged by tgs_tbevent_tag. Wall times: the end of epoch anchor_epoch (0: the
 * start, the version record's time) is anchor_wall, and each row is that
 * plus the 'seconds' of the rows between (less, for the rows before);
 * without a 'seconds' column every row is at anchor_wall. */
int tgs_tbevent_from_log(tgs_tbbuf *b, const char *log_path, int64_t anchor_epoch, double anchor_wall);
/* events_path from log_path, as tgs_tbevent_from_log: when the file holds
 * the first bytes of what it should, the rest is appended (a reader that
 * follows it as it grows sees the new records); otherwise it is replaced
 * whole or not at all (outfile.h). */
int tgs_tbevent_write_log(const char *events_path, const char *log_path, int64_t anchor_epoch, double anchor_wall);
/* The wall time of the version record of the events file at path (the
 * start of tgs_tbevent_from_log's anchor 0): 0, or -1 with a message when
 * the file is not there or does not begin with one. */
int tgs_tbevent_read_start(const char *path, double *wall);

#endif
