/*
 * What libmosquitto's callbacks report, queued in C (the callbacks run
 * inside mosquitto_loop_read/write and never touch the Lua state) and
 * handed to Lua by client:events().
 */
#ifndef ENPHASE_MQTT_EVENTS_H
#define ENPHASE_MQTT_EVENTS_H

#include <stddef.h>

enum mqtt_event_type {
    MQTT_EV_CONNECT,
    MQTT_EV_DISCONNECT,
    MQTT_EV_MESSAGE,
    MQTT_EV_PUBLISH,
    MQTT_EV_SUBSCRIBE
};

typedef struct mqtt_event {
    struct mqtt_event *next;
    enum mqtt_event_type type;
    int rc;  /* connect: the CONNACK code; disconnect: the reason */
    int mid; /* publish, subscribe, message */
    int qos; /* message; subscribe: the QoS granted */
    int retain;
    char *topic;   /* message: owned, NUL-terminated */
    char *payload; /* message: owned, len bytes (plus a NUL) */
    size_t len;
} mqtt_event;

typedef struct mqtt_queue {
    mqtt_event *head, *tail;
    size_t count;
    int lost; /* events dropped: no memory, or the queue was full */
} mqtt_queue;

/* At most this many events wait: a flood of messages between two
 * client:events() calls is dropped (and counted) rather than eating the
 * memory of the process. */
#define MQTT_QUEUE_MAX 10000

/* Appends an event; copies topic and payload (either may be NULL). Returns
 * 0, or -1 when it was dropped (q->lost counts it). */
int mqtt_queue_push(mqtt_queue *q, enum mqtt_event_type type, int rc, int mid,
                    int qos, int retain, const char *topic,
                    const void *payload, size_t len);

/* Takes the first event (the caller frees it with mqtt_event_free), or
 * NULL. */
mqtt_event *mqtt_queue_pop(mqtt_queue *q);

void mqtt_event_free(mqtt_event *ev);

/* Frees every event left. */
void mqtt_queue_clear(mqtt_queue *q);

#endif
