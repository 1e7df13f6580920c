/*
 * enphase.mqtt: an MQTT client for the bridge (enphase mqtt), over
 * libmosquitto. A module of its own: enphase.core and enphase.store do not
 * link libmosquitto, and only the bridge loads this one.
 *
 * No thread: the caller's loop drives the connection with client:step(t),
 * which waits at most t seconds on the client's socket (poll), then runs
 * mosquitto_loop_read / loop_write / loop_misc as the socket allows. What
 * the callbacks report is queued in C (mqtt_events.c) and taken with
 * client:events(), so no callback ever runs Lua code or raises through
 * libmosquitto's frames.
 *
 *   local mqtt = require("enphase.mqtt")
 *   local c = mqtt.new("bridge-1", false)     -- client id, clean session
 *   c:credentials("user", password)           -- before connect
 *   c:will("enphase/status", "offline", 1, true)
 *   c:tls("/etc/ssl/ca.pem")                  -- mqtts only
 *   c:connect("127.0.0.1", 1883, 60)          -- starts; CONNACK comes later
 *   c:step(1.0); for _, e in ipairs(c:events()) do ... end
 *
 * Every failure is `nil, message, kind` (kinds of lua/enphase/errors.lua:
 * input, network, auth, protocol); misuse of the API (a wrong type)
 * raises as Lua functions do.
 */
#define _POSIX_C_SOURCE 200809L

#include "compat.h"
#include "errors.h"
#include "mqtt_events.h"
#include "mqtt_signals.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

#define MQTT_MT "enphase.mqtt.client"

typedef struct mqtt_client {
    struct mosquitto *mosq; /* NULL once closed */
    mqtt_queue queue;
    int connected; /* a CONNACK 0 came and no disconnect since */
} mqtt_client;

/* libmosquitto's global state: set up once per process, at the first
 * luaopen (never cleaned up: other Lua states may still use it). */
static int lib_ready;

/* ------------------------------------------------------------------ */
/* Callbacks: queue what happened, nothing else                        */
/* ------------------------------------------------------------------ */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mqtt_client *c = obj;
    (void)mosq;
    c->connected = rc == 0;
    (void)mqtt_queue_push(&c->queue, MQTT_EV_CONNECT, rc, 0, 0, 0, NULL, NULL,
                          0);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    mqtt_client *c = obj;
    (void)mosq;
    c->connected = 0;
    (void)mqtt_queue_push(&c->queue, MQTT_EV_DISCONNECT, rc, 0, 0, 0, NULL,
                          NULL, 0);
}

static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *m)
{
    mqtt_client *c = obj;
    (void)mosq;
    (void)mqtt_queue_push(&c->queue, MQTT_EV_MESSAGE, 0, m->mid, m->qos,
                          m->retain, m->topic, m->payload,
                          m->payloadlen > 0 ? (size_t)m->payloadlen : 0);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    mqtt_client *c = obj;
    (void)mosq;
    (void)mqtt_queue_push(&c->queue, MQTT_EV_PUBLISH, 0, mid, 0, 0, NULL, NULL,
                          0);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid,
                         int qos_count, const int *granted_qos)
{
    mqtt_client *c = obj;
    (void)mosq;
    (void)mqtt_queue_push(&c->queue, MQTT_EV_SUBSCRIBE, 0, mid,
                          qos_count > 0 ? granted_qos[0] : -1, 0, NULL, NULL,
                          0);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static mqtt_client *check_client(lua_State *L)
{
    return luaL_checkudata(L, 1, MQTT_MT);
}

/* The open client at index 1, or NULL after pushing the failure. */
static struct mosquitto *open_client(lua_State *L, int *nret)
{
    mqtt_client *c = check_client(L);
    if (c->mosq == NULL) {
        *nret = push_failure(L, KIND_INPUT, "the MQTT client is closed");
        return NULL;
    }
    return c->mosq;
}

/* The kind of a libmosquitto error code. */
static const char *kind_of(int rc)
{
    switch (rc) {
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_NOT_SUPPORTED:
        return KIND_INPUT;
    case MOSQ_ERR_AUTH:
    case MOSQ_ERR_ACL_DENIED:
        return KIND_AUTH;
    case MOSQ_ERR_PROTOCOL:
    case MOSQ_ERR_MALFORMED_PACKET:
    case MOSQ_ERR_CONN_REFUSED:
        return KIND_PROTOCOL;
    default:
        return KIND_NETWORK;
    }
}

/* The end of a method that handed its work to libmosquitto: rc
 * MOSQ_ERR_SUCCESS answers true, or *mid (the message id) when mid is not
 * NULL; another rc answers nil, "<what>: <libmosquitto's words>", kind,
 * with what formatted as lua_pushfstring does and kind NULL for the kind
 * of rc (kind_of). MOSQ_ERR_ERRNO's words are the system's. */
static int finish(lua_State *L, int rc, const char *kind, const int *mid,
                  const char *fmt, ...)
{
    const char *why, *what;
    va_list ap;
    if (rc == MOSQ_ERR_SUCCESS) {
        if (mid != NULL)
            lua_pushinteger(L, *mid);
        else
            lua_pushboolean(L, 1);
        return 1;
    }
    /* before anything may allocate and change errno */
    why = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
    va_start(ap, fmt);
    what = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return push_failure(L, kind != NULL ? kind : kind_of(rc), "%s: %s", what,
                        why);
}

/* The arguments a method of a message takes after the client, in this
 * order from index 2, as many as its `wants` names. */
enum {
    ARG_TOPIC = 1 << 0,   /* a topic, named "topic" */
    ARG_PATTERN = 1 << 1, /* a subscription's pattern, in topic */
    ARG_PAYLOAD = 1 << 2,
    ARG_QOS = 1 << 3, /* 0, 1 or 2; none or nil: 0 */
    ARG_RETAIN = 1 << 4
};

typedef struct mqtt_args {
    struct mosquitto *mosq; /* NULL: the client is closed */
    const char *topic;
    const char *payload;
    int payloadlen; /* INT_MAX for a longer one: libmosquitto refuses it
                       as too large (MQTT's limit is 256 MiB) */
    int qos;
    int retain;
} mqtt_args;

/* The string argument idx, called name in the error: a number is taken
 * as Lua takes it, anything else raises. */
static const char *check_text(lua_State *L, int idx, const char *name,
                              size_t *len)
{
    if (!lua_isstring(L, idx))
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "%s: string expected, got %s", name,
                                      luaL_typename(L, idx)));
    return lua_tolstring(L, idx, len);
}

static int check_qos(lua_State *L, int idx)
{
    int isnum = 0;
    lua_Integer q;
    if (lua_isnoneornil(L, idx))
        return 0;
    q = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "qos: 0, 1 or 2 expected, got %s",
                                      luaL_typename(L, idx)));
    luaL_argcheck(L, q >= 0 && q <= 2, idx, "QoS must be 0, 1 or 2");
    return (int)q;
}

/* Fills a from the client at index 1 and the arguments `wants` names
 * (ARG_*). A wrong argument raises, naming it (misuse, as luaL_check*
 * do). Returns 0 to go on, or after pushing the failure of a closed
 * client, the number of values to return. */
static int read_args(lua_State *L, unsigned wants, mqtt_args *a)
{
    int nret = 0, idx = 2;
    size_t n = 0;
    memset(a, 0, sizeof *a);
    a->mosq = open_client(L, &nret);
    if (wants & (ARG_TOPIC | ARG_PATTERN))
        a->topic = check_text(L, idx++,
                              wants & ARG_PATTERN ? "pattern" : "topic", NULL);
    if (wants & ARG_PAYLOAD) {
        a->payload = check_text(L, idx++, "payload", &n);
        a->payloadlen = n > INT_MAX ? INT_MAX : (int)n;
    }
    if (wants & ARG_QOS)
        a->qos = check_qos(L, idx++);
    if (wants & ARG_RETAIN)
        a->retain = lua_toboolean(L, idx++);
    return a->mosq == NULL ? nret : 0;
}

/* ------------------------------------------------------------------ */
/* The module's functions                                              */
/* ------------------------------------------------------------------ */

/* mqtt.new(client_id [, clean_session]) -> client | nil, msg, kind.
 * A client id is needed for a session the broker keeps (clean_session
 * false: QoS 1 messages wait for the client while it is away). */
static int mqtt_new(lua_State *L)
{
    const char *id = luaL_optstring(L, 1, NULL);
    int clean = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    mqtt_client *c;
    if (!clean && (id == NULL || id[0] == '\0'))
        return push_failure(L, KIND_INPUT,
                            "a kept session (clean_session false) needs a "
                            "client id");
    c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, MQTT_MT);
    c->mosq = mosquitto_new(id, clean != 0, c);
    if (c->mosq == NULL)
        return push_failure(L, errno == EINVAL ? KIND_INPUT : KIND_NETWORK,
                            "mosquitto_new: %s",
                            errno == EINVAL ? "invalid client id"
                                            : strerror(errno));
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_message_callback_set(c->mosq, on_message);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    (void)mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                               MQTT_PROTOCOL_V311);
    return 1;
}

/* mqtt.version() -> "2.0.11": libmosquitto's version. */
static int mqtt_version(lua_State *L)
{
    int major, minor, rev;
    (void)mosquitto_lib_version(&major, &minor, &rev);
    lua_pushfstring(L, "%d.%d.%d", major, minor, rev);
    return 1;
}

/* mqtt.signals() -> true | nil, msg: SIGTERM/SIGINT/SIGHUP set flags (read
 * with mqtt.take_signal()) instead of killing the process. */
static int mqtt_signals(lua_State *L)
{
    if (mqtt_signals_install() != 0)
        return push_failure(L, KIND_INPUT, "sigaction: %s", strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
}

/* mqtt.take_signal() -> "term" | "hup" | nil */
static int mqtt_take_signal(lua_State *L)
{
    const char *s = mqtt_signals_take();
    if (s == NULL)
        return 0;
    lua_pushstring(L, s);
    return 1;
}

/* mqtt.connack_string(code) -> the broker's refusal in words */
static int mqtt_connack_string(lua_State *L)
{
    lua_Integer rc = luaL_checkinteger(L, 1);
    lua_pushstring(
        L, mosquitto_connack_string(rc < 0 || rc > 255 ? 255 : (int)rc));
    return 1;
}

/* mqtt.strerror(code) -> libmosquitto's words for an error code */
static int mqtt_strerror(lua_State *L)
{
    lua_Integer rc = luaL_checkinteger(L, 1);
    lua_pushstring(
        L, mosquitto_strerror(rc < INT_MIN || rc > INT_MAX ? -1 : (int)rc));
    return 1;
}

/* ------------------------------------------------------------------ */
/* Client methods                                                      */
/* ------------------------------------------------------------------ */

/* client:credentials(user [, password]) -> true | nil, msg, kind. The
 * password is copied by libmosquitto; it is never put in an answer. */
static int client_credentials(lua_State *L)
{
    int nret = 0;
    struct mosquitto *m = open_client(L, &nret);
    const char *user = luaL_optstring(L, 2, NULL);
    const char *pw = luaL_optstring(L, 3, NULL);
    if (m == NULL)
        return nret;
    return finish(L, mosquitto_username_pw_set(m, user, pw), NULL, NULL,
                  "broker user name");
}

/* client:will(topic, payload, qos, retain) -> true | nil, msg, kind */
static int client_will(lua_State *L)
{
    mqtt_args a;
    int nret =
        read_args(L, ARG_TOPIC | ARG_PAYLOAD | ARG_QOS | ARG_RETAIN, &a);
    if (nret != 0)
        return nret;
    return finish(L,
                  mosquitto_will_set(a.mosq, a.topic, a.payloadlen, a.payload,
                                     a.qos, a.retain != 0),
                  NULL, NULL, "last will");
}

/* client:tls(ca_file) -> true | nil, msg, kind: TLS with the broker's
 * certificate checked against ca_file (and its host name). Every failure
 * is the CA file's: kind input. */
static int client_tls(lua_State *L)
{
    int nret = 0;
    struct mosquitto *m = open_client(L, &nret);
    const char *ca = luaL_optstring(L, 2, NULL);
    int rc;
    if (m == NULL)
        return nret;
    if (ca == NULL)
        return push_failure(L, KIND_INPUT,
                            "mqtts needs a CA file (--ca-file PEM)");
    rc = mosquitto_tls_set(m, ca, NULL, NULL, NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        (void)mosquitto_tls_insecure_set(m, 0);
    return finish(L, rc, KIND_INPUT, NULL, "CA file %s", ca);
}

/* client:connect(host, port, keepalive) -> true | nil, msg, kind. Starts
 * the connection; the CONNACK arrives as a "connect" event. */
static int client_connect(lua_State *L)
{
    int nret = 0;
    struct mosquitto *m = open_client(L, &nret);
    const char *host = luaL_checkstring(L, 2);
    lua_Integer port = luaL_checkinteger(L, 3);
    lua_Integer keepalive = luaL_optinteger(L, 4, 60);
    int rc;
    if (m == NULL)
        return nret;
    luaL_argcheck(L, port > 0 && port < 65536, 3, "port must be 1-65535");
    luaL_argcheck(L, keepalive >= 5 && keepalive <= 65535, 4,
                  "keepalive must be 5-65535 seconds");
    errno = 0;
    rc = mosquitto_connect_async(m, host, (int)port, (int)keepalive);
    return finish(L, rc, NULL, NULL, "broker %s:%d", host, (int)port);
}

/* client:reconnect() -> true | nil, msg, kind: the same broker again. */
static int client_reconnect(lua_State *L)
{
    mqtt_args a;
    int nret = read_args(L, 0, &a);
    if (nret != 0)
        return nret;
    errno = 0;
    return finish(L, mosquitto_reconnect_async(a.mosq), NULL, NULL,
                  "reconnect");
}

/* client:publish(topic, payload, qos, retain) -> mid | nil, msg, kind */
static int client_publish(lua_State *L)
{
    mqtt_args a;
    int mid = 0;
    int nret =
        read_args(L, ARG_TOPIC | ARG_PAYLOAD | ARG_QOS | ARG_RETAIN, &a);
    if (nret != 0)
        return nret;
    return finish(L,
                  mosquitto_publish(a.mosq, &mid, a.topic, a.payloadlen,
                                    a.payload, a.qos, a.retain != 0),
                  NULL, &mid, "publish %s", a.topic);
}

/* client:subscribe(pattern, qos) -> mid | nil, msg, kind */
static int client_subscribe(lua_State *L)
{
    mqtt_args a;
    int mid = 0;
    int nret = read_args(L, ARG_PATTERN | ARG_QOS, &a);
    if (nret != 0)
        return nret;
    return finish(L, mosquitto_subscribe(a.mosq, &mid, a.topic, a.qos), NULL,
                  &mid, "subscribe %s", a.topic);
}

/* client:disconnect() -> true: a clean DISCONNECT (no last will). */
static int client_disconnect(lua_State *L)
{
    int nret = 0;
    struct mosquitto *m = open_client(L, &nret);
    if (m == NULL)
        return nret;
    (void)mosquitto_disconnect(m);
    lua_pushboolean(L, 1);
    return 1;
}

/* client:socket() -> the connection's descriptor, or nil when none */
static int client_socket(lua_State *L)
{
    mqtt_client *c = check_client(L);
    int fd = c->mosq != NULL ? mosquitto_socket(c->mosq) : -1;
    if (fd < 0)
        return 0;
    lua_pushinteger(L, fd);
    return 1;
}

/* client:connected() -> true while a CONNACK 0 holds */
static int client_connected(lua_State *L)
{
    mqtt_client *c = check_client(L);
    lua_pushboolean(L, c->mosq != NULL && c->connected);
    return 1;
}

/* Waits at most ms on the socket; EINTR (a signal) ends the wait early. */
static int wait_socket(int fd, int want_write, int ms, short *revents)
{
    struct pollfd p;
    int n;
    *revents = 0;
    if (fd < 0) {
        n = poll(NULL, 0, ms);
        return n < 0 && errno != EINTR ? -1 : 0;
    }
    p.fd = fd;
    p.events = (short)(POLLIN | (want_write ? POLLOUT : 0));
    p.revents = 0;
    n = poll(&p, 1, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    *revents = p.revents;
    return 0;
}

/* client:step(seconds) -> true | nil, msg, kind. Waits at most `seconds`
 * for the socket (or a signal), then reads, writes and runs libmosquitto's
 * timers (keepalive PINGREQ, QoS retries). A lost connection is a
 * "disconnect" event as well as this failure. */
static int client_step(lua_State *L)
{
    int nret = 0;
    struct mosquitto *m = open_client(L, &nret);
    lua_Number t = luaL_optnumber(L, 2, 0);
    int ms, fd, rc = MOSQ_ERR_SUCCESS;
    short rev = 0;
    if (m == NULL)
        return nret;
    luaL_argcheck(L, t >= 0 && t == t, 2, "seconds must be >= 0");
    ms = t > 86400 ? 86400000 : (int)ceil(t * 1000);
    fd = mosquitto_socket(m);
    if (wait_socket(fd, mosquitto_want_write(m), ms, &rev) != 0)
        return push_failure(L, KIND_NETWORK, "poll: %s", strerror(errno));
    if (fd >= 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
        rc = mosquitto_loop_read(m, 1);
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(m) >= 0 &&
        (rev & POLLOUT || mosquitto_want_write(m)))
        rc = mosquitto_loop_write(m, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_misc(m);
    /* no connection (yet, or any more) is the events' news, not a failure */
    return finish(L, rc == MOSQ_ERR_NO_CONN ? MOSQ_ERR_SUCCESS : rc, NULL,
                  NULL, "broker");
}

/* Pushes the first event of q as a table; it stays queued until pushed
 * (an out-of-memory raise loses nothing and leaks nothing). */
static void push_event(lua_State *L, const mqtt_event *ev)
{
    static const char *const names[] = {"connect", "disconnect", "message",
                                        "publish", "subscribe"};
    lua_createtable(L, 0, 6);
    lua_pushstring(L, names[ev->type]);
    lua_setfield(L, -2, "type");
    switch (ev->type) {
    case MQTT_EV_CONNECT:
        lua_pushinteger(L, ev->rc);
        lua_setfield(L, -2, "rc");
        lua_pushstring(L, mosquitto_connack_string(ev->rc));
        lua_setfield(L, -2, "reason");
        break;
    case MQTT_EV_DISCONNECT:
        lua_pushinteger(L, ev->rc);
        lua_setfield(L, -2, "rc");
        lua_pushstring(L, ev->rc == 0 ? "disconnected as asked"
                                      : mosquitto_strerror(ev->rc));
        lua_setfield(L, -2, "reason");
        break;
    case MQTT_EV_MESSAGE:
        lua_pushstring(L, ev->topic != NULL ? ev->topic : "");
        lua_setfield(L, -2, "topic");
        lua_pushlstring(L, ev->payload != NULL ? ev->payload : "", ev->len);
        lua_setfield(L, -2, "payload");
        lua_pushinteger(L, ev->qos);
        lua_setfield(L, -2, "qos");
        lua_pushboolean(L, ev->retain);
        lua_setfield(L, -2, "retain");
        lua_pushinteger(L, ev->mid);
        lua_setfield(L, -2, "mid");
        break;
    case MQTT_EV_SUBSCRIBE:
        lua_pushinteger(L, ev->qos);
        lua_setfield(L, -2, "qos");
        lua_pushinteger(L, ev->mid);
        lua_setfield(L, -2, "mid");
        break;
    case MQTT_EV_PUBLISH:
        lua_pushinteger(L, ev->mid);
        lua_setfield(L, -2, "mid");
        break;
    }
}

/* client:events() -> { event, ... } (oldest first), and the number of
 * events dropped since the last call (no memory, or more than
 * MQTT_QUEUE_MAX waiting). */
static int client_events(lua_State *L)
{
    mqtt_client *c = check_client(L);
    lua_Integer i = 0;
    int lost;
    lua_createtable(L, (int)(c->queue.count < 64 ? c->queue.count : 64), 0);
    while (c->queue.head != NULL) {
        push_event(L, c->queue.head);
        lua_rawseti(L, -2, ++i);
        mqtt_event_free(mqtt_queue_pop(&c->queue));
    }
    lost = c->queue.lost;
    c->queue.lost = 0;
    lua_pushinteger(L, lost);
    return 2;
}

/* client:close(): drops the connection (no DISCONNECT: the broker
 * publishes the last will) and frees everything. Idempotent. */
static int client_close(lua_State *L)
{
    mqtt_client *c = check_client(L);
    if (c->mosq != NULL) {
        mosquitto_destroy(c->mosq);
        c->mosq = NULL;
    }
    mqtt_queue_clear(&c->queue);
    c->connected = 0;
    return 0;
}

static int client_tostring(lua_State *L)
{
    mqtt_client *c = check_client(L);
    lua_pushstring(L, c->mosq == NULL ? "enphase.mqtt.client (closed)"
                      : c->connected  ? "enphase.mqtt.client (connected)"
                                      : "enphase.mqtt.client");
    return 1;
}

static const luaL_Reg client_methods[] = {{"credentials", client_credentials},
                                          {"will", client_will},
                                          {"tls", client_tls},
                                          {"connect", client_connect},
                                          {"reconnect", client_reconnect},
                                          {"publish", client_publish},
                                          {"subscribe", client_subscribe},
                                          {"disconnect", client_disconnect},
                                          {"socket", client_socket},
                                          {"connected", client_connected},
                                          {"step", client_step},
                                          {"events", client_events},
                                          {"close", client_close},
                                          {NULL, NULL}};

static const luaL_Reg module_functions[] = {
    {"new", mqtt_new},
    {"version", mqtt_version},
    {"signals", mqtt_signals},
    {"take_signal", mqtt_take_signal},
    {"connack_string", mqtt_connack_string},
    {"strerror", mqtt_strerror},
    {NULL, NULL}};

ENPHASE_API int luaopen_enphase_mqtt(lua_State *L);

ENPHASE_API int luaopen_enphase_mqtt(lua_State *L)
{
    if (!lib_ready) {
        if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS)
            return luaL_error(L, "enphase.mqtt: mosquitto_lib_init failed");
        lib_ready = 1;
    }
    if (luaL_newmetatable(L, MQTT_MT)) {
        luaL_newlib(L, client_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, client_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, client_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, client_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, module_functions);
    return 1;
}
