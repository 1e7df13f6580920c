/*
 * Clocks and sleeping (clock.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "clock.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static int read_clock(clockid_t id, double *t)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    *t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return 0;
}

int clock_wall(double *t)
{
    return read_clock(CLOCK_REALTIME, t);
}

int clock_monotonic(double *t)
{
    return read_clock(CLOCK_MONOTONIC, t);
}

int clock_sleep(double seconds)
{
    struct timespec req, rem;
    req.tv_sec = (time_t)floor(seconds);
    req.tv_nsec = (long)((seconds - floor(seconds)) * 1e9);
    if (req.tv_nsec > 999999999L)
        req.tv_nsec = 999999999L;
    while (nanosleep(&req, &rem) != 0) {
        if (errno != EINTR)
            return -1;
        req = rem;
    }
    return 0;
}
