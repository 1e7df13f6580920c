/*
 * The signals a long-running bridge answers (enphase mqtt): SIGTERM and
 * SIGINT ask it to stop, SIGHUP to reread its configuration. The handlers
 * only set flags; they are installed without SA_RESTART, so a wait in
 * poll() ends at once with EINTR and the loop reads the flags.
 */
#ifndef ENPHASE_MQTT_SIGNALS_H
#define ENPHASE_MQTT_SIGNALS_H

/* Installs the handlers. Returns 0, or -1 (errno set). */
int mqtt_signals_install(void);

/* The signal received since the last call, the most urgent first
 * ("term" before "hup"), and clears it; NULL when none. */
const char *mqtt_signals_take(void);

#endif
