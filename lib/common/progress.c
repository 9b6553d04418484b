#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double tgs_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void tgs_progress_start(tgs_progress *p, const char *label, const char *unit, uint64_t total, int quiet) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start = p->last = tgs_now();
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

static void fmt_time(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(tgs_progress *p, double now) {
    double el = now - p->start, rate = el > 0 ? (double)p->done / el : 0;
    char eta[32] = "", elapsed[32];
    fmt_time(elapsed, sizeof elapsed, el);
    if (p->total && rate > 0 && p->done <= p->total) {
        char t[24];
        fmt_time(t, sizeof t, (double)(p->total - p->done) / rate);
        snprintf(eta, sizeof eta, " eta %s", t);
    }
    if (p->total) {
        char bar[31];
        int fill = (int)(30.0 * (double)(p->done > p->total ? p->total : p->done) / (double)p->total);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %llu/%llu %s %.1f/s %s%s\033[K", p->label, bar, (unsigned long long)p->done,
                (unsigned long long)p->total, p->unit, rate, elapsed, eta);
    } else {
        fprintf(stderr, "\r%s %llu %s %.1f/s %s\033[K", p->label, (unsigned long long)p->done, p->unit, rate, elapsed);
    }
    p->drawn = 1;
}

void tgs_progress_update(tgs_progress *p, uint64_t done) {
    p->done = done;
    if (!p->enabled) return;
    double now = tgs_now();
    if (now - p->last < 0.1) return;
    p->last = now;
    draw(p, now);
}

void tgs_progress_end(tgs_progress *p) {
    if (!p->enabled) return;
    draw(p, tgs_now());
    fputc('\n', stderr);
}
