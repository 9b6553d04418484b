/* check.h: the unit tests' few macros. Each CHECK prints one line that
 * tests/run.sh counts ("ok - name" or "not ok - name: why"); a test binary
 * exits 1 if any failed, so it also fails loudly when run by hand. */
#ifndef TGS_CHECK_H
#define TGS_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, name)                                                                                         \
    do {                                                                                                          \
        if (cond) printf("ok - %s\n", name);                                                                      \
        else printf("not ok - %s: %s:%d: %s\n", name, __FILE__, __LINE__, #cond), check_failures++;               \
    } while (0)

/* Like CHECK, with a printf-formatted reason on failure. */
#define CHECKF(cond, name, ...)                                                                                   \
    do {                                                                                                          \
        if (cond) printf("ok - %s\n", name);                                                                      \
        else {                                                                                                    \
            printf("not ok - %s: %s:%d: ", name, __FILE__, __LINE__);                                             \
            printf(__VA_ARGS__);                                                                                  \
            putchar('\n');                                                                                        \
            check_failures++;                                                                                     \
        }                                                                                                         \
    } while (0)

#define CHECK_DONE() return check_failures ? 1 : 0

#endif
