/*
 * enphase.core: the libcurl half of lua-enphase (doc/internals.md
 * section 1); what needs no session is in enphase.store (store.c). This
 * file only registers things: the session class and the module functions.
 */
#include "battery.h"
#include "codec.h"
#include "discover.h"
#include "engine.h"
#include "http.h"
#include "lifecycle.h"
#include "login.h"
#include "mfa.h"
#include "request.h"
#include "session.h"
#include "state.h"

#include "compat.h"

#define ENPHASE_VERSION "lua-enphase 0.1.0"

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

/* One method a line. */
/* clang-format off */
static const luaL_Reg session_methods[] = {
    {"login", login_login},
    {"refresh_jwt", login_refresh_jwt},
    {"discover_site", discover_site},
    {"discover_user", discover_user},
    {"fetch_xsrf", discover_xsrf},
    {"request", request_call},
    {"plan", request_plan},
    {"send", request_send},
    {"mfa_send", mfa_send},
    {"mfa_validate", mfa_validate},
    {"info", session_info},
    {"generation", state_generation},
    {"secrets", session_secrets},
    {"export_state", state_export},
    {"import_state", state_import},
    {"close", lifecycle_close},
    {NULL, NULL}};
/* clang-format on */

/* The methods that send (http_run): http_wrap_methods wraps them. */
static const char *const sending_methods[] = {
    "login",   "refresh_jwt", "discover_site", "discover_user", "fetch_xsrf",
    "request", "send",        "mfa_send",      "mfa_validate",  NULL};

static const luaL_Reg session_meta[] = {{"__gc", lifecycle_close},
                                        {"__close", lifecycle_close},
                                        {"__tostring", session_tostring},
                                        {"__index", NULL},
                                        {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"new", lifecycle_new},
    {"extract_authenticity_token", codec_extract_authenticity_token},
    {"site_id_from_url", codec_site_id_from_url},
    {"urlencode", codec_urlencode},
    {"poll", engine_poll},
    {"pending", engine_pending},
    {"mark_operation", engine_mark_operation},
    {NULL, NULL}};

ENPHASE_API int luaopen_enphase_core(lua_State *L);

ENPHASE_API int luaopen_enphase_core(lua_State *L)
{
    static int curl_ready = 0;
    if (!curl_ready) {
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK)
            return luaL_error(L, "curl_global_init: %s",
                              curl_easy_strerror(rc));
        curl_ready = 1;
    }
    if (luaL_newmetatable(L, SESSION_MT)) {
        luaL_setfuncs(L, session_meta, 0);
        luaL_newlib(L, session_methods);
        http_wrap_methods(L, -1, sending_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    lua_pushliteral(L, ENPHASE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    battery_push_operations(L);
    lua_setfield(L, -2, "OPERATIONS");
    engine_open(L); /* the shared multi handle, before any session */
    return 1;
}
