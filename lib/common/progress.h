/* progress: a one-line progress bar on stderr for long work.
 *
 * Drawn only when stderr is a terminal and the tool is not quiet, at most
 * ten times a second, so it costs nothing in pipes and logs. Shows the
 * count, the rate and, when the total is known, a bar and the ETA. */
#ifndef TGS_PROGRESS_H
#define TGS_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    const char *unit;
    uint64_t total;     /* 0 when unknown */
    uint64_t done;
    double start, last; /* seconds */
    int enabled;
    int drawn;
} tgs_progress;

void tgs_progress_start(tgs_progress *p, const char *label, const char *unit, uint64_t total, int quiet);
void tgs_progress_update(tgs_progress *p, uint64_t done);
/* Draw the final state and end the line. */
void tgs_progress_end(tgs_progress *p);

double tgs_now(void); /* monotonic seconds */

#endif
