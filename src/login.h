/*
 * The web login and the JWT: the seed's get_jwt_and_login.
 */
#ifndef ENPHASE_LOGIN_H
#define ENPHASE_LOGIN_H

#include "session.h"

/* True when the last response is an HTML page (content-type or body). */
int login_is_html(const session *s);

/* GET /app-api/jwt_token.json into s->jwt and s->exp, as two halves of a
 * step: prepare the request; then, after the transfer, take the JWT: 0, or
 * pushes nil, message, kind and returns 3. */
void login_prepare_jwt(lua_State *L, session *s);
int login_take_jwt(lua_State *L, session *s);

/* Methods s:login(), s:refresh_jwt(). */
int login_login(lua_State *L);
int login_refresh_jwt(lua_State *L);

#endif
