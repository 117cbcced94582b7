"""Request-wide policies: the real client address, session lifetimes and no caching of private pages."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from chatrk.accounts import sessions
from chatrk.core.clock import now

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type GetResponse = Callable[[HttpRequest], HttpResponse]


@cache
def _trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _is_trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(remote_addr: str, forwarded_for: str, trusted_cidrs: Sequence[str]) -> str:
    """The first address, walking X-Forwarded-For from the right, that is not one of our proxies.

    Only a configured proxy's X-Forwarded-For is believed, so a client cannot spoof its address.
    """
    networks = _trusted_networks(tuple(trusted_cidrs))
    if not _is_trusted(remote_addr, networks):
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote_addr  # a malformed hop: fall back to the proxy we know
    return remote_addr


class ClientIpMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.client_ip = client_ip(  # type: ignore[attr-defined]
            request.META.get("REMOTE_ADDR", ""),
            request.META.get("HTTP_X_FORWARDED_FOR", ""),
            settings.TRUSTED_PROXIES,
        )
        return self.get_response(request)


class SessionPolicyMiddleware:
    """Ends signed-in sessions past the inactivity or absolute timeout (NIST 800-63B §2.2.3)."""

    SEEN_REFRESH_SECONDS = 60

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            expired = self._expired(request)
            if expired:
                logout(request)
                return redirect(f"{reverse('accounts:login')}?expired={expired}")
        return self.get_response(request)

    def _expired(self, request: HttpRequest) -> str:
        session, moment = request.session, now()
        auth_at = session.get(sessions.AUTH_AT)
        seen_at = session.get(sessions.SEEN_AT)
        if not auth_at or not seen_at:
            return "invalid"
        if moment - datetime.fromisoformat(auth_at) > settings.SESSION_ABSOLUTE_TIMEOUT:
            return "absolute"
        idle = moment - datetime.fromisoformat(seen_at)
        if idle > settings.SESSION_IDLE_TIMEOUT:
            return "idle"
        if idle.total_seconds() >= self.SEEN_REFRESH_SECONDS and not request.path.endswith(
            sessions.PASSIVE_PATH_SUFFIX
        ):
            session[sessions.SEEN_AT] = moment.isoformat()
        return ""


class NoStoreMiddleware:
    """Nothing dynamic is cached by browsers or proxies (ASVS V14.2.2 / V14.3.2)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(settings.STATIC_URL):
            response["Cache-Control"] = "no-store"
        return response
