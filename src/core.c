/*
 * enphase.core: the C half of lua-enphase (doc/internals.md section 1).
 * This file only registers things: the session class and the module
 * functions.
 */
#include "battery.h"
#include "login.h"
#include "mfa.h"
#include "request.h"
#include "session.h"
#include "store.h"
#include "util.h"

#include <lauxlib.h>

#define ENPHASE_VERSION "lua-enphase 0.1.0"

#if defined(_WIN32)
#define ENPHASE_API __declspec(dllexport)
#else
#define ENPHASE_API __attribute__((visibility("default")))
#endif

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
    {"set_ids", session_set_ids},
    {"info", session_info},
    {"generation", session_generation},
    {"secrets", session_secrets},
    {"export_state", store_export_state},
    {"import_state", store_import_state},
    {"close", session_close},
    {NULL, NULL}};

static const luaL_Reg session_meta[] = {{"__gc", session_close},
                                        {"__close", session_close},
                                        {"__tostring", session_tostring},
                                        {"__index", NULL},
                                        {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"new", session_new},
    {"jwt_exp", codec_jwt_exp},
    {"extract_authenticity_token", codec_extract_authenticity_token},
    {"site_id_from_url", codec_site_id_from_url},
    {"urlencode", codec_urlencode},
    {"now", util_now},
    {"monotonic", util_monotonic},
    {"sleep", util_sleep},
    {"file_mode", util_file_mode},
    {"write_private", store_write_private},
    {"check_private", store_check_private},
    {"make_private_dir", store_make_private_dir},
    {"lock", store_lock},
    {"sha256", store_sha256},
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
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    store_register(L);
    luaL_newlib(L, functions);
    lua_pushliteral(L, ENPHASE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    battery_push_operations(L);
    lua_setfield(L, -2, "OPERATIONS");
    engine_open(L); /* the shared multi handle, before any session */
    return 1;
}
