/*
 * The token cache's C half (see store.h): private files, a file lock,
 * SHA-256, and the session state in and out of a session.
 *
 * Every buffer a function needs is a Lua userdata or string made before
 * the first system call, so a Lua error can leak nothing; file descriptors
 * are closed (and a temporary file removed) on every path before a failure
 * is pushed.
 */
#define _DEFAULT_SOURCE /* flock */
#define _POSIX_C_SOURCE 200809L

#include "store.h"

#include "compat.h"
#include "http.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KIND_INPUT "input"

/* Most cookies imported from a cache. */
#define COOKIES_MAX 200

static int fail(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushliteral(L, KIND_INPUT);
    return 3;
}

/* The path argument at idx: a non-empty string without NULs. */
static const char *check_path(lua_State *L, int idx, size_t *len)
{
    const char *p = luaL_checklstring(L, idx, len);
    luaL_argcheck(L, *len > 0 && strlen(p) == *len, idx,
                  "a non-empty path without NUL bytes expected");
    return p;
}

/* Pushes the folder of path ("." when it has no '/') and returns it; *base
 * points at the file name inside path. */
static const char *push_dir(lua_State *L, const char *path, size_t n,
                            const char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *base = path;
        lua_pushliteral(L, ".");
    } else {
        *base = slash + 1;
        lua_pushlstring(L, path, slash == path ? 1 : (size_t)(slash - path));
    }
    (void)n;
    return lua_tostring(L, -1);
}

static const char *octal(char *buf, size_t cap, mode_t mode)
{
    (void)snprintf(buf, cap, "%03o", (unsigned)(mode & 07777)); /* fits */
    return buf;
}

/* ------------------------------------------------------------------ */
/* Private files                                                       */
/* ------------------------------------------------------------------ */

/* Best effort: makes a rename in dir durable. Some file systems refuse
 * fsync on a folder; the data itself is already on disk then. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int store_write_private(lua_State *L)
{
    size_t plen, n, off = 0, tcap;
    const char *path = check_path(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &n);
    const char *dir, *base, *step = NULL;
    char *tmp;
    int fd = -1, err = 0, created = 0;

    lua_settop(L, 2);
    dir = push_dir(L, path, plen, &base);
    if (*base == '\0')
        return fail(L, "%s: not a file name (ends with /)", path);
    tcap = strlen(dir) + strlen(base) + sizeof "/..XXXXXX";
    tmp = lua_newuserdatauv(L, tcap, 0);
    (void)snprintf(tmp, tcap, "%s/.%s.XXXXXX", dir, base); /* sized above */

    /* No Lua call from here to done: fd and the temporary file are only
     * released there. */
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = errno;
        step = "cannot create a temporary file in its folder";
        goto done;
    }
    created = 1;
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        err = errno;
        step = "chmod 600";
        goto done;
    }
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            step = "write";
            goto done;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        err = errno;
        step = "fsync";
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = errno;
        step = "close";
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = errno;
        step = "rename";
        goto done;
    }
    sync_dir(dir);

done:
    if (fd >= 0)
        close(fd);
    if (step != NULL) {
        if (created)
            unlink(tmp);
        return fail(L, "%s: %s: %s", path, step, strerror(err));
    }
    lua_pushboolean(L, 1);
    return 1;
}

int store_check_private(lua_State *L)
{
    size_t plen;
    const char *path = check_path(L, 1, &plen);
    const char *dir, *base;
    struct stat st;
    char m[16];
    uid_t me = geteuid();

    lua_settop(L, 1);
    dir = push_dir(L, path, plen, &base);
    if (*base == '\0')
        return fail(L, "%s: not a file name (ends with /)", path);
    if (stat(dir, &st) != 0)
        return fail(L, "folder %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(L, "%s is not a folder", dir);
    if (st.st_uid != me)
        return fail(L, "folder %s belongs to another user (uid %I)", dir,
                    (lua_Integer)st.st_uid);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return fail(L,
                    "folder %s is writable by group or others (mode %s): "
                    "run chmod go-w %s",
                    dir, octal(m, sizeof m, st.st_mode), dir);
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            goto ok;
        return fail(L, "%s: %s", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return fail(L,
                    "%s is a symbolic link (a private regular file "
                    "expected)",
                    path);
    if (!S_ISREG(st.st_mode))
        return fail(L, "%s is not a regular file", path);
    if (st.st_uid != me)
        return fail(L, "%s belongs to another user (uid %I)", path,
                    (lua_Integer)st.st_uid);
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return fail(L,
                    "%s is open to group or others (mode %s): it holds "
                    "session secrets; run chmod 600 %s",
                    path, octal(m, sizeof m, st.st_mode), path);
ok:
    lua_pushboolean(L, 1);
    return 1;
}

int store_make_private_dir(lua_State *L)
{
    size_t n, i;
    const char *dir = check_path(L, 1, &n);
    char *p;

    lua_settop(L, 1);
    p = lua_newuserdatauv(L, n + 1, 0);
    memcpy(p, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        if (i < n)
            p[i] = '\0';
        if (p[i - 1] != '/' && mkdir(p, S_IRWXU) != 0 && errno != EEXIST)
            return fail(L, "cannot create folder %s: %s", p, strerror(errno));
        if (i < n)
            p[i] = '/';
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------------------------ */
/* The lock                                                            */
/* ------------------------------------------------------------------ */

typedef struct file_lock {
    int fd; /* -1: released */
} file_lock;

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int lock_release(lua_State *L)
{
    file_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    if (lk->fd >= 0) {
        close(lk->fd); /* releases the flock */
        lk->fd = -1;
    }
    return 0;
}

static int lock_tostring(lua_State *L)
{
    file_lock *lk = luaL_checkudata(L, 1, LOCK_MT);
    lua_pushstring(L, lk->fd >= 0 ? "enphase.lock (held)"
                                  : "enphase.lock (released)");
    return 1;
}

int store_lock(lua_State *L)
{
    size_t plen;
    const char *path = check_path(L, 1, &plen), *lpath;
    lua_Number timeout = luaL_optnumber(L, 2, 30);
    double deadline, wait = 0.001;
    struct stat st;
    file_lock *lk;
    int err;

    luaL_argcheck(L, timeout >= 0 && timeout <= 86400, 2,
                  "timeout must be between 0 and 86400 seconds");
    lua_settop(L, 2);
    lk = lua_newuserdatauv(L, sizeof *lk, 0); /* at 3 */
    lk->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    lpath = lua_pushfstring(L, "%s.lock", path);
    lk->fd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  S_IRUSR | S_IWUSR);
    if (lk->fd < 0)
        return fail(L, "%s: %s", lpath, strerror(errno));
    if (fstat(lk->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(lk->fd);
        lk->fd = -1;
        return fail(L, "%s is not a regular file", lpath);
    }
    deadline = monotonic() + (double)timeout;
    while (flock(lk->fd, LOCK_EX | LOCK_NB) != 0) {
        double left;
        err = errno;
        if (err == EINTR)
            continue;
        left = deadline - monotonic();
        if (err != EWOULDBLOCK || left <= 0) {
            close(lk->fd);
            lk->fd = -1;
            if (err != EWOULDBLOCK)
                return fail(L, "%s: %s", lpath, strerror(err));
            return fail(L,
                        "%s: still locked after %f s (another process or "
                        "client holds it)",
                        lpath, (double)timeout);
        }
        nap(wait < left ? wait : left);
        if (wait < 0.05)
            wait *= 2;
    }
    lua_pushvalue(L, 3);
    return 1;
}

void store_register(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", lock_release},
                                    {"__close", lock_release},
                                    {"__tostring", lock_tostring},
                                    {"__index", NULL},
                                    {NULL, NULL}};
    static const luaL_Reg methods[] = {{"unlock", lock_release}, {NULL, NULL}};
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

/* ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4)                                                */
/* ------------------------------------------------------------------ */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    size_t i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3];
    e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
             K256[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
             ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1;
        d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

int store_sha256(lua_State *L)
{
    size_t n, i, rest;
    const unsigned char *s =
        (const unsigned char *)luaL_checklstring(L, 1, &n);
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char tail[128];
    uint64_t bits = (uint64_t)n * 8;
    char hex[65];
    for (i = 0; i + 64 <= n; i += 64)
        sha256_block(h, s + i);
    rest = n - i;
    memset(tail, 0, sizeof tail);
    memcpy(tail, s + i, rest);
    tail[rest] = 0x80;
    rest = rest < 56 ? 64 : 128;
    for (i = 0; i < 8; i++)
        tail[rest - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha256_block(h, tail);
    if (rest == 128)
        sha256_block(h, tail + 64);
    for (i = 0; i < 8; i++)
        (void)snprintf(hex + 8 * i, 9, "%08lx", (unsigned long)h[i]);
    lua_pushlstring(L, hex, 64);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Session state                                                       */
/* ------------------------------------------------------------------ */

/* Overwrites then frees a cookie list (it holds cookie values). */
static void wipe_list(struct curl_slist *l)
{
    struct curl_slist *it;
    for (it = l; it != NULL; it = it->next) {
        volatile char *p = it->data;
        while (p != NULL && *p != '\0')
            *p++ = '\0';
    }
    curl_slist_free_all(l);
}

static void secret_wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n-- > 0)
        *v++ = '\0';
}

static struct curl_slist *cookie_list(session *s)
{
    struct curl_slist *list = NULL;
    if (curl_easy_getinfo(s->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
        return NULL;
    return list;
}

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static unsigned long long fnv(unsigned long long h, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n-- > 0)
        h = (h ^ *b++) * FNV_PRIME;
    return h;
}

static unsigned long long fnv_str(unsigned long long h, const char *s)
{
    if (s != NULL)
        h = fnv(h, s, strlen(s));
    return fnv(h, "", 1);
}

lua_Integer store_generation(session *s)
{
    struct curl_slist *list = cookie_list(s), *it;
    unsigned long long h = FNV_OFFSET;
    h = fnv_str(h, s->jwt);
    h = fnv_str(h, s->xsrf);
    h = fnv(h, &s->site_id, sizeof s->site_id);
    h = fnv(h, &s->user_id, sizeof s->user_id);
    for (it = list; it != NULL; it = it->next)
        h = fnv_str(h, it->data);
    wipe_list(list);
    if (h != s->state_hash) {
        s->state_hash = h;
        s->generation++;
    }
    return s->generation;
}

/* Copies the cookie engine's lines into buf (NUL-separated, at most cap
 * bytes); returns the bytes they need, so a first call with cap 0 sizes
 * the buffer. No Lua call while the list is held. */
static size_t copy_cookies(session *s, char *buf, size_t cap)
{
    struct curl_slist *list = cookie_list(s), *it;
    size_t need = 0;
    for (it = list; it != NULL; it = it->next) {
        size_t n = strlen(it->data) + 1;
        if (need + n <= cap)
            memcpy(buf + need, it->data, n);
        need += n;
    }
    wipe_list(list);
    return need;
}

int store_export_state(lua_State *L)
{
    session *s = session_check(L, 1);
    size_t need, got, off;
    lua_Integer i = 0;
    char *buf;
    lua_settop(L, 1);
    lua_createtable(L, 0, 6); /* 2 */
    if (s->jwt != NULL) {
        lua_pushstring(L, s->jwt);
        lua_setfield(L, 2, "token");
        lua_pushinteger(L, s->exp);
        lua_setfield(L, 2, "exp");
    }
    if (s->xsrf != NULL) {
        lua_pushstring(L, s->xsrf);
        lua_setfield(L, 2, "xsrf");
    }
    if (s->site_id > 0) {
        lua_pushinteger(L, s->site_id);
        lua_setfield(L, 2, "site_id");
    }
    if (s->user_id > 0) {
        lua_pushinteger(L, s->user_id);
        lua_setfield(L, 2, "user_id");
    }
    lua_newtable(L); /* 3: cookies */
    need = copy_cookies(s, NULL, 0);
    buf = lua_newuserdatauv(L, need + 1, 0); /* 4 */
    got = copy_cookies(s, buf, need);
    for (off = 0; got <= need && off < got; off += strlen(buf + off) + 1) {
        lua_pushstring(L, buf + off);
        lua_rawseti(L, 3, ++i);
    }
    secret_wipe(buf, need);
    lua_pop(L, 1);
    lua_setfield(L, 2, "cookies");
    return 1;
}

/* The XSRF token goes into a header too: printable ASCII, no spaces. */
static int header_safe_token(const char *p, size_t n)
{
    size_t i;
    if (n == 0 || n > 4096)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7F)
            return 0;
    return 1;
}

static int same_host_n(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i;
    if (an != bn)
        return 0;
    for (i = 0; i < an; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return 0;
    }
    return 1;
}

/* Does a cookie for domain d[0..dn) go to host h? Its own host, or a
 * parent domain of it. */
static int domain_matches(const char *d, size_t dn, const char *h)
{
    size_t hn = strlen(h);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
        h++;
        hn -= 2;
    }
    if (dn > 0 && d[0] == '.') {
        d++;
        dn--;
    }
    if (dn == 0)
        return 0;
    if (same_host_n(d, dn, h, hn))
        return 1;
    return hn > dn && h[hn - dn - 1] == '.' &&
           same_host_n(d, dn, h + hn - dn, dn);
}

/* A cookie line as CURLINFO_COOKIELIST gives it: seven tab-separated
 * fields (domain, tailmatch, path, secure, expires, name, value), no other
 * control character. Returns -1 when malformed, 0 when it is for another
 * host, 1 when it may be imported. */
static int cookie_line_ok(const session *s, const char *p, size_t n)
{
    size_t i, tabs = 0, dn;
    const char *d = p;
    if (n == 0 || n > 8192 || strlen(p) != n)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\t')
            tabs++;
        else if (c < 0x20 || c == 0x7F)
            return -1;
    }
    if (tabs != 6)
        return -1;
    if (strncmp(d, "#HttpOnly_", 10) == 0)
        d += 10;
    else if (d[0] == '#')
        return -1;
    dn = strcspn(d, "\t");
    return domain_matches(d, dn, s->base_host) ? 1 : 0;
}

/* t[field] as an id >= 1 into *out; 0 when absent, -1 when invalid. */
static int id_field(lua_State *L, const char *field, lua_Integer *out)
{
    int ok = 0, rc = 0;
    lua_getfield(L, 2, field);
    if (!lua_isnil(L, -1)) {
        *out = lua_tointegerx(L, -1, &ok);
        rc = ok && *out >= 1 ? 1 : -1;
    }
    lua_pop(L, 1);
    return rc;
}

int store_import_state(lua_State *L)
{
    session *s = session_check(L, 1);
    const char *token, *xsrf = NULL, *why = NULL;
    size_t tlen, xlen = 0, i, ncookies = 0;
    int64_t exp = 0;
    lua_Integer site = 0, user = 0;
    int has_site, has_user;
    char *jwt_copy = NULL, *xsrf_copy = NULL;

    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    /* Check everything first: a bad field changes nothing. */
    lua_getfield(L, 2, "token"); /* 3: absent for a login under way */
    token = luaL_optlstring(L, 3, NULL, &tlen);
    if (token != NULL && !jwt_is_header_safe(token, tlen))
        return fail(L, "import_state: the token is not a JWT");
    if (token != NULL && jwt_exp(token, tlen, &exp, &why) != 0)
        return fail(L, "import_state: the token: %s", why);
    lua_getfield(L, 2, "xsrf"); /* 4 */
    if (!lua_isnil(L, 4)) {
        xsrf = luaL_checklstring(L, 4, &xlen);
        if (!header_safe_token(xsrf, xlen))
            return fail(L, "import_state: the XSRF token is not header-safe");
    }
    has_site = id_field(L, "site_id", &site);
    has_user = id_field(L, "user_id", &user);
    if (has_site < 0 || has_user < 0)
        return fail(L, "import_state: site_id and user_id must be integers "
                       ">= 1");
    lua_getfield(L, 2, "cookies"); /* 5 */
    if (!lua_isnil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        ncookies = (size_t)lua_rawlen(L, 5);
        if (ncookies > COOKIES_MAX)
            return fail(L, "import_state: more than %d cookies", COOKIES_MAX);
        for (i = 1; i <= ncookies; i++) {
            size_t n;
            const char *line;
            lua_rawgeti(L, 5, (lua_Integer)i);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L,
                                  "import_state: cookies[%I] is not a "
                                  "string",
                                  (lua_Integer)i);
            line = lua_tolstring(L, -1, &n);
            if (cookie_line_ok(s, line, n) < 0)
                return fail(L,
                            "import_state: cookies[%I] is not a cookie "
                            "line",
                            (lua_Integer)i);
            lua_pop(L, 1);
        }
    }
    if ((token != NULL && secret_set(&jwt_copy, token, tlen) != 0) ||
        (xsrf != NULL && secret_set(&xsrf_copy, xsrf, xlen) != 0)) {
        secret_free(&jwt_copy);
        return luaL_error(L, "not enough memory");
    }

    /* Apply. */
    session_forget_tokens(s);
    s->jwt = jwt_copy;
    s->exp = (lua_Integer)exp;
    s->xsrf = xsrf_copy;
    if (has_site > 0)
        s->site_id = site;
    if (has_user > 0)
        s->user_id = user;
    http_clear_cookies(s);
    for (i = 1; i <= ncookies; i++) {
        size_t n;
        const char *line;
        lua_rawgeti(L, 5, (lua_Integer)i);
        line = lua_tolstring(L, -1, &n);
        if (cookie_line_ok(s, line, n) == 1)
            curl_easy_setopt(s->curl, CURLOPT_COOKIELIST, line);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, 1);
    return 1;
}
