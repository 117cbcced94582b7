"""The Graph API client: the only code that talks to Meta (or the emulator).

httpx with strict timeouts and no redirects; the base URL and API version are settings so tests
and the embedded demo point it at the emulator. Every failure is a :class:`GraphError` with a retry
class; nothing here logs or raises with a token, phone number or message body in the text.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from chatrk.whatsapp.enums import (
    MessagingLimitTier,
    QualityScore,
    TemplateCategory,
    TemplateStatus,
    ThroughputLevel,
)
from chatrk.whatsapp.errors import (
    ERROR_TABLE,
    PERMISSION_RANGE,
    FailureKind,
    GraphError,
    PayloadError,
    RetryClass,
    describe_error,
)
from chatrk.whatsapp.media import base_mime, media_limit
from chatrk.whatsapp.messages import InvalidRequest, OutboundMessage
from chatrk.whatsapp.payloads import JsonValue
from chatrk.whatsapp.reader import Obj, decode_json
from chatrk.whatsapp.templates import TemplateDefinition, parse_template
from chatrk.whatsapp.transport import GraphTransport

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 5 * 1024 * 1024  # JSON answers; a template page is well under this
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error answer to a download is read only this far
_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MESSAGE_TITLE = re.compile(r"\(#\d+\)\s*(.+)")
TEMPLATE_FIELDS = "id,name,status,category,language,components,parameter_format,quality_score"
PHONE_FIELDS = (
    "id,display_phone_number,verified_name,quality_rating,throughput,messaging_limit_tier,"
    "whatsapp_business_manager_messaging_limit,status,name_status"
)


@dataclass(frozen=True, slots=True)
class GraphSettings:
    base_url: str = "https://graph.facebook.com"
    api_version: str = "v23.0"
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    write_timeout: float = 30.0
    pool_timeout: float = 5.0
    # Hosts that may receive our bearer token when downloading media, besides the base URL's host.
    media_hosts: tuple[str, ...] = ("lookaside.fbsbx.com",)
    max_template_pages: int = 100
    # httpx's read timeout is per chunk; a server dripping bytes must not hold a worker for ever.
    max_download_seconds: float = 120.0

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )


@dataclass(frozen=True, slots=True)
class SendResult:
    wamid: str
    wa_id: str | None  # WhatsApp's normalised id for the recipient; may differ from what we sent
    message_status: str | None  # "accepted" or "held_for_quality_assessment" for templates


@dataclass(frozen=True, slots=True)
class MediaInfo:
    id: str
    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    content: bytes
    mime_type: str
    sha256_hex: str


@dataclass(frozen=True, slots=True)
class CreatedTemplate:
    id: str
    status: TemplateStatus
    category: TemplateCategory | None


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: QualityScore
    throughput: ThroughputLevel
    messaging_limit_tier: MessagingLimitTier
    status: str | None
    name_status: str | None


# --- error mapping ----------------------------------------------------------------------------------


def _status_retry_class(http_status: int) -> RetryClass:
    if http_status == 429 or http_status >= 500:
        return RetryClass.RETRY_BACKOFF
    if http_status in {401, 403}:
        return RetryClass.REAUTHORISE
    return RetryClass.FINAL


def _loose_int(value: JsonValue) -> int | None:
    """Meta's ``code`` is an integer; some relays stringify it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def _loose_str(obj: Mapping[str, JsonValue], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def graph_error_from_response(http_status: int, body: bytes) -> GraphError:
    """A non-2xx answer to a :class:`GraphError`, from Meta's ``{"error": {...}}`` when present."""
    try:
        decoded = decode_json(body, limit=MAX_RESPONSE_BYTES)
    except PayloadError:
        decoded = None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    code = _loose_int(error.get("code")) if isinstance(error, dict) else None
    if not isinstance(error, dict) or code is None:
        return GraphError(
            kind=FailureKind.HTTP, retry_class=_status_retry_class(http_status), http_status=http_status
        )
    known = code in ERROR_TABLE or code in PERMISSION_RANGE
    retry_class = describe_error(code, http_status).retry_class if known else _status_retry_class(http_status)
    error_data = error.get("error_data")
    message = _loose_str(error, "message")
    title_match = _MESSAGE_TITLE.match(message)
    return GraphError(
        kind=FailureKind.API,
        retry_class=retry_class,
        code=code,
        subcode=_loose_int(error.get("error_subcode")),
        title=_loose_str(error, "error_user_title")
        or (title_match.group(1) if title_match else "")
        or describe_error(code).title,
        message=message,
        details=_loose_str(error_data, "details") if isinstance(error_data, dict) else "",
        http_status=http_status,
        fbtrace_id=_loose_str(error, "fbtrace_id"),
    )


def _malformed(http_status: int | None = None) -> GraphError:
    # A 2xx we cannot read: the call may have taken effect. Back off and let the caller reconcile.
    return GraphError(
        kind=FailureKind.MALFORMED, retry_class=RetryClass.RETRY_BACKOFF, http_status=http_status
    )


def _limit() -> GraphError:
    return GraphError(kind=FailureKind.LIMIT, retry_class=RetryClass.FINAL)


def _path_id(value: str) -> str:
    """Ids go into URL paths: refuse anything that could change the path."""
    if _PATH_ID.fullmatch(value) is None:
        raise InvalidRequest("not a valid Graph id")
    return value


# --- the client ------------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process: building one reads the CA bundle (about
    90 ms of CPU), and a sender builds a client per call slot."""
    return httpx.create_ssl_context()


class GraphClient:
    """One WhatsApp Business account's access to the Graph API. Use as a context manager."""

    def __init__(
        self,
        token: str,
        *,
        settings: GraphSettings | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token or token != token.strip() or any(c.isspace() for c in token):
            raise InvalidRequest("the access token is missing or malformed")
        self.settings = settings or GraphSettings()
        base = f"{self.settings.base_url.rstrip('/')}/{self.settings.api_version}/"
        self._base_host = urlsplit(base).hostname or ""
        self._messages_urls: dict[str, httpx.URL] = {}
        self._http = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.settings.timeout(),
            follow_redirects=False,
            transport=transport or GraphTransport(_tls_context()),
            verify=_tls_context(),  # for proxies from the environment, which httpx mounts itself
        )

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.settings.base_url!r}, api_version={self.settings.api_version!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport --

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TimeoutException:
            raise GraphError(kind=FailureKind.TIMEOUT, retry_class=RetryClass.RETRY_BACKOFF) from None
        except httpx.TransportError:
            raise GraphError(kind=FailureKind.TRANSPORT, retry_class=RetryClass.RETRY_BACKOFF) from None
        logger.debug("graph %s %s -> %s", request.method, request.url.path, response.status_code)
        return response

    def _messages_url(self, phone_number_id: str) -> httpx.URL:
        """A number's /messages URL, absolute and parsed once: httpx parses a relative path twice per
        request (joining it to the base, then building the request), a third of the client's own CPU."""
        url = self._messages_urls.get(phone_number_id)
        if url is None:
            url = self._http.base_url.join(f"{_path_id(phone_number_id)}/messages")
            self._messages_urls[phone_number_id] = url
        return url

    def _call(
        self,
        method: str,
        path: str | httpx.URL,
        *,
        json: Mapping[str, JsonValue] | None = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Obj:
        request = self._http.build_request(method, path, json=json, params=params, data=data, files=files)
        response = self._send(request, stream=True)
        try:
            if not response.is_success:
                raise graph_error_from_response(response.status_code, self._error_body(response))
            content = self._read_capped(response, MAX_RESPONSE_BYTES, self.settings.read_timeout)
            return Obj(decode_json(content, limit=MAX_RESPONSE_BYTES), "$")
        except GraphError as error:
            if error.kind is FailureKind.LIMIT:  # a 2xx too big to be Meta's: it may have taken effect
                raise _malformed(response.status_code) from None
            raise
        except PayloadError:
            raise _malformed(response.status_code) from None
        finally:
            response.close()

    def _expect_success(self, answer: Obj) -> None:
        try:
            ok = answer.opt_bool("success")
        except PayloadError:
            ok = None
        if ok is not True:
            raise _malformed()

    # -- messages --

    def send(
        self,
        phone_number_id: str,
        to: str,
        message: OutboundMessage,
        *,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """Send one message; returns the wamid. Acceptance only: delivery comes by status webhook."""
        body: dict[str, JsonValue] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        }
        body.update(message.payload())
        if reply_to is not None:
            body["context"] = {"message_id": reply_to}
        if callback_data is not None:
            if len(callback_data) > 512:
                raise InvalidRequest("callback data is longer than 512 characters")
            body["biz_opaque_callback_data"] = callback_data
        answer = self._call("POST", self._messages_url(phone_number_id), json=body)
        try:
            sent = answer.objs("messages")
            contacts = answer.objs("contacts")
            return SendResult(
                wamid=sent[0].ident("id"),
                wa_id=contacts[0].opt_ident("wa_id") if contacts else None,
                message_status=sent[0].opt_string("message_status"),
            )
        except (PayloadError, IndexError):
            raise _malformed() from None

    def mark_read(self, phone_number_id: str, message_id: str, *, typing: bool = False) -> None:
        """Blue ticks on ``message_id`` (and earlier ones); ``typing`` also shows typing dots."""
        body: dict[str, JsonValue] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self._expect_success(self._call("POST", self._messages_url(phone_number_id), json=body))

    # -- media --

    def upload_media(self, phone_number_id: str, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for sending by id; refuses types and sizes the Cloud API would refuse."""
        limit = media_limit(mime_type)
        if limit is None or len(content) > limit or not content:
            raise _limit()
        answer = self._call(
            "POST",
            f"{_path_id(phone_number_id)}/media",
            data={"messaging_product": "whatsapp", "type": base_mime(mime_type)},
            files={"file": (filename, content, base_mime(mime_type))},
        )
        try:
            return answer.ident("id")
        except PayloadError:
            raise _malformed() from None

    def get_media(self, media_id: str, *, phone_number_id: str | None = None) -> MediaInfo:
        """The short-lived (5 min) download URL and the facts Meta knows about a media id."""
        params = {"phone_number_id": _path_id(phone_number_id)} if phone_number_id else None
        answer = self._call("GET", _path_id(media_id), params=params)
        try:
            return MediaInfo(
                id=answer.ident("id"),
                url=answer.string("url"),
                mime_type=answer.string("mime_type"),
                sha256=answer.opt_string("sha256"),
                file_size=_loose_int(answer.data.get("file_size")),
            )
        except PayloadError:
            raise _malformed() from None

    def download_media(
        self, url: str, *, expected_mime: str | None = None, max_bytes: int | None = None
    ) -> DownloadedMedia:
        """Stream a media URL into memory, stopping as soon as it exceeds the type's size limit.

        The bearer token goes only to Meta's media host (or the configured base URL's host), over
        https unless the base URL itself is plain http (the emulator in tests).
        """
        self._check_media_url(url)
        request = self._http.build_request("GET", url)
        response = self._send(request, stream=True)
        try:
            if not response.is_success:
                raise graph_error_from_response(response.status_code, self._error_body(response))
            content_type = response.headers.get("content-type", "")
            cap = self._download_cap(content_type, expected_mime, max_bytes)
            declared = _loose_int(response.headers.get("content-length", ""))
            if declared is not None and declared > cap:
                raise _limit()
            content = self._read_capped(response, cap, self.settings.max_download_seconds)
        finally:
            response.close()
        return DownloadedMedia(
            content=content, mime_type=base_mime(content_type), sha256_hex=hashlib.sha256(content).hexdigest()
        )

    def fetch_media(
        self,
        media_id: str,
        *,
        expected_mime: str | None = None,
        max_bytes: int | None = None,
        phone_number_id: str | None = None,
    ) -> DownloadedMedia:
        """A webhook's media id to its bytes: look up the short-lived URL, then download it.

        ``expected_mime`` is the type the webhook announced; by default the type Meta reports now.
        A file Meta says is too large is refused before any byte is fetched.
        """
        info = self.get_media(media_id, phone_number_id=phone_number_id)
        expected = expected_mime or info.mime_type
        cap = self._download_cap(expected, None, max_bytes)
        if info.file_size is not None and info.file_size > cap:
            raise _limit()
        return self.download_media(info.url, expected_mime=expected, max_bytes=max_bytes)

    def _check_media_url(self, url: str) -> None:
        parts = urlsplit(url)
        allowed_hosts = {*self.settings.media_hosts, self._base_host}
        base_scheme = urlsplit(self.settings.base_url).scheme
        if parts.hostname not in allowed_hosts or parts.scheme not in {"https", base_scheme}:
            raise _limit()

    @staticmethod
    def _download_cap(content_type: str, expected_mime: str | None, max_bytes: int | None) -> int:
        limit = media_limit(content_type)
        if limit is None:
            raise _limit()
        if expected_mime is not None and base_mime(expected_mime) != base_mime(content_type):
            raise _limit()
        return min(limit, max_bytes) if max_bytes is not None else limit

    def _error_body(self, response: httpx.Response) -> bytes:
        try:
            return self._read_capped(response, MAX_ERROR_BODY_BYTES, self.settings.read_timeout)
        except GraphError:
            return b""  # too big or too slow to be Meta's error object: classify by status alone

    @staticmethod
    def _read_capped(response: httpx.Response, cap: int, max_seconds: float) -> bytes:
        chunks: list[bytes] = []
        received = 0
        deadline = time.monotonic() + max_seconds
        try:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > cap:
                    raise _limit()
                if time.monotonic() > deadline:
                    raise GraphError(kind=FailureKind.TIMEOUT, retry_class=RetryClass.RETRY_BACKOFF)
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise GraphError(kind=FailureKind.TIMEOUT, retry_class=RetryClass.RETRY_BACKOFF) from None
        except httpx.TransportError:
            raise GraphError(kind=FailureKind.TRANSPORT, retry_class=RetryClass.RETRY_BACKOFF) from None
        return b"".join(chunks)

    def delete_media(self, media_id: str, *, phone_number_id: str | None = None) -> None:
        params = {"phone_number_id": _path_id(phone_number_id)} if phone_number_id else None
        self._expect_success(self._call("DELETE", _path_id(media_id), params=params))

    # -- templates --

    def list_templates(
        self, waba_id: str, *, page_size: int = 100, status: str | None = None, name: str | None = None
    ) -> list[TemplateDefinition]:
        """Every template of the account, following ``paging.cursors.after`` to the last page."""
        params = {"fields": TEMPLATE_FIELDS, "limit": str(page_size)}
        if status is not None:
            params["status"] = status
        if name is not None:
            params["name"] = name
        templates: list[TemplateDefinition] = []
        seen_cursors: set[str] = set()
        for _ in range(self.settings.max_template_pages):
            answer = self._call("GET", f"{_path_id(waba_id)}/message_templates", params=params)
            try:
                templates.extend(parse_template(item.data, item.path) for item in answer.objs("data"))
                after = self._next_cursor(answer)
            except PayloadError:
                raise _malformed() from None
            if after is None:
                return templates
            if after in seen_cursors:  # a cursor loop would page forever
                raise _malformed()
            seen_cursors.add(after)
            params["after"] = after
        raise _limit()

    @staticmethod
    def _next_cursor(answer: Obj) -> str | None:
        paging = answer.opt_obj("paging")
        if paging is None or not paging.has("next"):
            return None  # Graph omits "next" on the last page even when cursors are present
        cursors = paging.opt_obj("cursors")
        return cursors.opt_string("after") if cursors else None

    def create_template(self, waba_id: str, definition: Mapping[str, JsonValue]) -> CreatedTemplate:
        """Submit a template for review; Meta may re-categorise it (see ``category``)."""
        answer = self._call("POST", f"{_path_id(waba_id)}/message_templates", json=definition)
        try:
            return CreatedTemplate(
                id=answer.ident("id"),
                status=answer.enum("status", TemplateStatus),
                category=answer.opt_enum("category", TemplateCategory),
            )
        except PayloadError:
            raise _malformed() from None

    def edit_template(
        self,
        template_id: str,
        *,
        components: JsonValue | None = None,
        category: str | None = None,
        message_send_ttl_seconds: int | None = None,
    ) -> None:
        """Edit an APPROVED, REJECTED or PAUSED template; components are replaced wholesale."""
        body: dict[str, JsonValue] = {}
        if components is not None:
            body["components"] = components
        if category is not None:
            body["category"] = category
        if message_send_ttl_seconds is not None:
            body["message_send_ttl_seconds"] = message_send_ttl_seconds
        self._expect_success(self._call("POST", _path_id(template_id), json=body))

    def delete_template(self, waba_id: str, name: str, *, template_id: str | None = None) -> None:
        """Delete a template in every language, or only the one with ``template_id``."""
        params = {"name": name}
        if template_id is not None:
            params["hsm_id"] = _path_id(template_id)
        self._expect_success(self._call("DELETE", f"{_path_id(waba_id)}/message_templates", params=params))

    # -- phone number --

    def phone_number_info(self, phone_number_id: str) -> PhoneNumberInfo:
        """Health of a number: quality rating, throughput level, messaging limit tier, status."""
        answer = self._call("GET", _path_id(phone_number_id), params={"fields": PHONE_FIELDS})
        try:
            throughput = answer.opt_obj("throughput")
            return PhoneNumberInfo(
                id=answer.ident("id"),
                display_phone_number=answer.opt_string("display_phone_number"),
                verified_name=answer.opt_string("verified_name"),
                quality_rating=answer.opt_enum("quality_rating", QualityScore) or QualityScore.UNKNOWN,
                throughput=(throughput.opt_enum("level", ThroughputLevel) if throughput else None)
                or ThroughputLevel.UNKNOWN,
                messaging_limit_tier=_messaging_limit(answer),
                status=answer.opt_string("status"),
                name_status=answer.opt_string("name_status"),
            )
        except PayloadError:
            raise _malformed() from None


def _messaging_limit(answer: Obj) -> MessagingLimitTier:
    """The portfolio-level field (since Oct 2025) wins over the deprecated per-number one."""
    for key in ("whatsapp_business_manager_messaging_limit", "messaging_limit_tier"):
        value = answer.data.get(key)
        if isinstance(value, str):
            return MessagingLimitTier.parse(value)
    return MessagingLimitTier.UNKNOWN
