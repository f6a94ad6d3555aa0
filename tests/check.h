/* A tiny test harness: CHECK(cond, fmt, ...) records a failure with its
 * location and a message, and the program's exit status is the verdict
 * (0 pass, 1 fail, 77 skip as automake expects). */
#ifndef WG_CHECK_H
#define WG_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        check_count++;                                                                    \
        if (!(cond)) {                                                                    \
            check_failures++;                                                             \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* |a - b| <= atol + rtol * max(|a|, |b|) */
#define CHECK_CLOSE(a, b, rtol, atol, ...)                                                \
    do {                                                                                  \
        double ca_ = (double)(a), cb_ = (double)(b);                                      \
        double tol_ = (atol) + (rtol) * fmax(fabs(ca_), fabs(cb_));                       \
        check_count++;                                                                    \
        if (!(fabs(ca_ - cb_) <= tol_)) {                                                 \
            check_failures++;                                                             \
            fprintf(stderr, "%s:%d: FAIL: %s = %.9g vs %s = %.9g (tol %.3g): ", __FILE__, \
                    __LINE__, #a, ca_, #b, cb_, tol_);                                    \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* Ends main: prints the tally and returns the exit status. */
static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
