/*
 * The multi-factor login (mfa.c): after s:login() answered "mfa", the
 * session keeps the pending login's cookies and the login page's CSRF
 * token; these steps ask Enlighten to send a one-time code and validate it.
 */
#ifndef ENPHASE_MFA_H
#define ENPHASE_MFA_H

#include "session.h"

/* s:mfa_send(csrf) -> true: POST /app-api/generate_mfa_login_otp. */
int mfa_send(lua_State *L);

/* s:mfa_validate(csrf, otp) -> true: POST /app-api/validate_login_otp,
 * then the JWT (GET /app-api/jwt_token.json). */
int mfa_validate(lua_State *L);

#endif
