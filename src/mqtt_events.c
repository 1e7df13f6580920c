/*
 * The queue of libmosquitto's callbacks (mqtt_events.h).
 */
#include "mqtt_events.h"

#include <stdlib.h>
#include <string.h>

static char *copy_bytes(const void *p, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (n > 0)
        memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

int mqtt_queue_push(mqtt_queue *q, enum mqtt_event_type type, int rc, int mid,
                    int qos, int retain, const char *topic,
                    const void *payload, size_t len)
{
    mqtt_event *ev;
    if (q->count >= MQTT_QUEUE_MAX) {
        q->lost++;
        return -1;
    }
    ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        q->lost++;
        return -1;
    }
    ev->type = type;
    ev->rc = rc;
    ev->mid = mid;
    ev->qos = qos;
    ev->retain = retain;
    if (topic != NULL) {
        ev->topic = copy_bytes(topic, strlen(topic));
        if (ev->topic == NULL) {
            mqtt_event_free(ev);
            q->lost++;
            return -1;
        }
    }
    if (payload != NULL || type == MQTT_EV_MESSAGE) {
        ev->payload = copy_bytes(payload, payload != NULL ? len : 0);
        if (ev->payload == NULL) {
            mqtt_event_free(ev);
            q->lost++;
            return -1;
        }
        ev->len = payload != NULL ? len : 0;
    }
    if (q->tail != NULL)
        q->tail->next = ev;
    else
        q->head = ev;
    q->tail = ev;
    q->count++;
    return 0;
}

mqtt_event *mqtt_queue_pop(mqtt_queue *q)
{
    mqtt_event *ev = q->head;
    if (ev == NULL)
        return NULL;
    q->head = ev->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    ev->next = NULL;
    return ev;
}

void mqtt_event_free(mqtt_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->topic);
    free(ev->payload);
    free(ev);
}

void mqtt_queue_clear(mqtt_queue *q)
{
    mqtt_event *ev;
    while ((ev = mqtt_queue_pop(q)) != NULL)
        mqtt_event_free(ev);
    q->lost = 0;
}
