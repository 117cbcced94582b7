"""A signed cookie that marks a browser where the user signed in before (for throttling lanes)."""

from __future__ import annotations

import secrets

from django.core import signing
from django.http import HttpRequest, HttpResponse

COOKIE = "__Host-chatrk_device"
MAX_AGE = 180 * 24 * 3600
_SALT = "chatrk.accounts.device"


def device_of(request: HttpRequest) -> tuple[int | None, str]:
    """The user this browser signed in as before and its device id, if the cookie is genuine."""
    try:
        value = signing.loads(request.COOKIES.get(COOKIE, ""), salt=_SALT, max_age=MAX_AGE)
        return int(value["u"]), str(value["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None, ""


def remember_device(response: HttpResponse, user_id: int) -> None:
    value = signing.dumps({"u": user_id, "d": secrets.token_hex(8)}, salt=_SALT)
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, secure=True, httponly=True, samesite="Lax")
