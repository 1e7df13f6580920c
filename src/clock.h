/*
 * Clocks and sleeping. Pure C: the lock's wait (lock.c), the engine's idle
 * poll (engine.c) and the Lua faces of enphase.store share them.
 */
#ifndef ENPHASE_CLOCK_H
#define ENPHASE_CLOCK_H

/* Seconds since the epoch into *t; 0, or -1 with errno set. */
int clock_wall(double *t);

/* Seconds of a clock that never goes back into *t; 0, or -1 with errno. */
int clock_monotonic(double *t);

/* Sleeps the whole time (seconds >= 0), even when signals arrive; 0, or -1
 * with errno set when nanosleep fails for another reason. */
int clock_sleep(double seconds);

#endif
