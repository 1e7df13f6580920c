/*
 * Stop and reload signals for the bridge (mqtt_signals.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "mqtt_signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_term = 1;
}

int mqtt_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns EINTR */
    if (sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    return 0;
}

const char *mqtt_signals_take(void)
{
    if (got_term) {
        got_term = 0;
        return "term";
    }
    if (got_hup) {
        got_hup = 0;
        return "hup";
    }
    return NULL;
}
