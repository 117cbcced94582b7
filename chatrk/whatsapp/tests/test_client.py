"""The Graph client against a fake transport: every method, every error shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chatrk.whatsapp.client import MAX_RESPONSE_BYTES, GraphClient, GraphSettings
from chatrk.whatsapp.enums import (
    MessagingLimitTier,
    ParameterFormat,
    QualityScore,
    TemplateCategory,
    TemplateStatus,
    ThroughputLevel,
)
from chatrk.whatsapp.errors import FailureKind, GraphError, RetryClass
from chatrk.whatsapp.messages import InvalidRequest, TextMessage

TOKEN = "EAAG-secret-token"
PHONE_ID = "106540352242922"
WABA = "102290129340398"
CUSTOMER = "+16505551234"
BODY = "Your test results are ready"

type Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that answers from a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


def answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=payload, headers=headers)


@pytest.fixture
def make_client() -> Iterator[Callable[[Handler], tuple[GraphClient, Recorder]]]:
    clients: list[GraphClient] = []

    def make(handler: Handler, settings: GraphSettings | None = None) -> tuple[GraphClient, Recorder]:
        recorder = Recorder(handler)
        client = GraphClient(TOKEN, settings=settings, transport=httpx.MockTransport(recorder))
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.close()


SENT = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": CUSTOMER, "wa_id": "16505551234"}],
    "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"}],
}


def graph_error(code: Any, message: str = "(#131056) pair rate limit hit", **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "details here"},
            "fbtrace_id": "A4O5a8RAgePwbcGSu",
            **extra,
        }
    }


# --- configuration -----------------------------------------------------------------------------


def test_settings_give_strict_timeouts_no_redirects_and_a_configurable_base() -> None:
    settings = GraphSettings(base_url="http://127.0.0.1:8090/", api_version="v24.0", read_timeout=7.0)
    with GraphClient(TOKEN, settings=settings) as client:
        http = client._http
        assert str(http.base_url) == "http://127.0.0.1:8090/v24.0/"
        assert http.follow_redirects is False
        assert http.timeout == httpx.Timeout(connect=5.0, read=7.0, write=30.0, pool=5.0)
        assert TOKEN not in repr(client)


# --- send ---------------------------------------------------------------------------------------


def test_send_posts_the_envelope_with_the_bearer_token_and_returns_the_wamid(make_client: Any) -> None:
    client, seen = make_client(answer(SENT))
    result = client.send(PHONE_ID, CUSTOMER, TextMessage(BODY))
    assert result.wamid == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"
    assert result.wa_id == "16505551234"
    assert result.message_status is None
    assert seen.last.method == "POST"
    assert seen.last.url == f"https://graph.facebook.com/v23.0/{PHONE_ID}/messages"
    assert seen.last.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.last.headers["content-type"] == "application/json"
    assert seen.last_json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": BODY, "preview_url": False},
    }


def test_send_as_a_reply_with_callback_data(make_client: Any) -> None:
    held = {**SENT, "messages": [{"id": "wamid.X", "message_status": "held_for_quality_assessment"}]}
    client, seen = make_client(answer(held))
    result = client.send(PHONE_ID, CUSTOMER, TextMessage(BODY), reply_to="wamid.IN", callback_data="row-42")
    assert result.message_status == "held_for_quality_assessment"
    sent = seen.last_json()
    assert sent["context"] == {"message_id": "wamid.IN"}
    assert sent["biz_opaque_callback_data"] == "row-42"


def test_send_refuses_oversized_callback_data_locally(make_client: Any) -> None:
    client, seen = make_client(answer(SENT))
    with pytest.raises(InvalidRequest):
        client.send(PHONE_ID, CUSTOMER, TextMessage(BODY), callback_data="x" * 513)
    assert seen.requests == []


@pytest.mark.parametrize("bad_id", ["../me", "123/messages", "", "a b", "1?x=2"])
def test_ids_that_would_change_the_path_are_refused(make_client: Any, bad_id: str) -> None:
    client, seen = make_client(answer(SENT))
    with pytest.raises(InvalidRequest):
        client.send(bad_id, CUSTOMER, TextMessage(BODY))
    assert seen.requests == []


def test_mark_read_with_typing_indicator(make_client: Any) -> None:
    client, seen = make_client(answer({"success": True}))
    client.mark_read(PHONE_ID, "wamid.IN", typing=True)
    assert seen.last_json() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }
    client.mark_read(PHONE_ID, "wamid.IN")
    assert "typing_indicator" not in seen.last_json()


def test_mark_read_without_success_is_malformed(make_client: Any) -> None:
    client, _ = make_client(answer({"success": False}))
    with pytest.raises(GraphError) as raised:
        client.mark_read(PHONE_ID, "wamid.IN")
    assert raised.value.kind is FailureKind.MALFORMED


# --- error shapes ---------------------------------------------------------------------------------


def send_error(make_client: Any, handler: Handler) -> GraphError:
    client, _ = make_client(handler)
    with pytest.raises(GraphError) as raised:
        client.send(PHONE_ID, CUSTOMER, TextMessage(BODY))
    return raised.value


def test_meta_error_object_becomes_a_graph_error(make_client: Any) -> None:
    error = send_error(make_client, answer(graph_error(131056), status=400))
    assert error.kind is FailureKind.API
    assert (error.code, error.subcode, error.http_status) == (131056, None, 400)
    assert error.title == "pair rate limit hit"
    assert error.details == "details here"
    assert error.fbtrace_id == "A4O5a8RAgePwbcGSu"
    assert error.retry_class is RetryClass.RETRY_BACKOFF
    assert "Too many messages to this customer" in error.reason


def test_expired_token_needs_reauthorisation(make_client: Any) -> None:
    body = graph_error(190, message="Error validating access token: Session has expired", error_subcode=463)
    error = send_error(make_client, answer(body, status=401))
    assert (error.code, error.subcode) == (190, 463)
    assert error.retry_class is RetryClass.REAUTHORISE


def test_stringified_code_is_read(make_client: Any) -> None:
    error = send_error(make_client, answer(graph_error("131047"), status=400))
    assert error.code == 131047
    assert error.retry_class is RetryClass.FINAL


def test_permission_codes_in_the_200_range(make_client: Any) -> None:
    error = send_error(make_client, answer(graph_error(230, message="(#230) perm"), status=403))
    assert error.retry_class is RetryClass.REAUTHORISE


@pytest.mark.parametrize(
    ("status", "retry_class"),
    [(400, RetryClass.FINAL), (429, RetryClass.RETRY_BACKOFF), (503, RetryClass.RETRY_BACKOFF)],
)
def test_unknown_codes_fall_back_on_the_http_status(
    make_client: Any, status: int, retry_class: RetryClass
) -> None:
    error = send_error(make_client, answer(graph_error(987654, message="new"), status=status))
    assert (error.code, error.retry_class) == (987654, retry_class)
    assert error.title == "Unknown error"


@pytest.mark.parametrize(
    ("status", "retry_class"),
    [
        (500, RetryClass.RETRY_BACKOFF),
        (502, RetryClass.RETRY_BACKOFF),
        (429, RetryClass.RETRY_BACKOFF),
        (401, RetryClass.REAUTHORISE),
        (404, RetryClass.FINAL),
        (302, RetryClass.FINAL),  # redirects are never followed
    ],
)
def test_error_statuses_without_an_error_object(
    make_client: Any, status: int, retry_class: RetryClass
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>oops</html>", headers={"location": "https://evil.example/"})

    client, seen = make_client(handler)
    with pytest.raises(GraphError) as raised:
        client.send(PHONE_ID, CUSTOMER, TextMessage(BODY))
    assert raised.value.kind is FailureKind.HTTP
    assert (raised.value.http_status, raised.value.retry_class) == (status, retry_class)
    assert len(seen.requests) == 1


def test_timeouts_back_off(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    error = send_error(make_client, handler)
    assert (error.kind, error.retry_class, error.code) == (
        FailureKind.TIMEOUT,
        RetryClass.RETRY_BACKOFF,
        None,
    )
    assert "retried" in error.reason


def test_connection_failures_back_off(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    error = send_error(make_client, handler)
    assert (error.kind, error.retry_class) == (FailureKind.TRANSPORT, RetryClass.RETRY_BACKOFF)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"messages": []}),
        httpx.Response(200, json={"messages": [{"id": 5}]}),
        httpx.Response(200, json={"contacts": []}),
    ],
)
def test_unreadable_success_is_malformed(make_client: Any, response: httpx.Response) -> None:
    error = send_error(make_client, lambda request: response)
    assert (error.kind, error.retry_class) == (FailureKind.MALFORMED, RetryClass.RETRY_BACKOFF)


def test_error_text_never_holds_token_number_or_body(make_client: Any) -> None:
    echoing = graph_error(131026, message=f"(#131026) {CUSTOMER} {BODY} {TOKEN}")
    error = send_error(make_client, answer(echoing, status=400))
    for text in (str(error), repr(error), error.reason):
        for secret in (TOKEN, CUSTOMER, "16505551234", BODY):
            assert secret not in text


# --- media --------------------------------------------------------------------------------------


def test_upload_media_is_multipart_with_the_type_field(make_client: Any) -> None:
    client, seen = make_client(answer({"id": "1037543291543636"}))
    media_id = client.upload_media(PHONE_ID, b"%PDF-1.7 ...", "application/pdf", "report.pdf")
    assert media_id == "1037543291543636"
    request = seen.last
    assert request.url.path == f"/v23.0/{PHONE_ID}/media"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    content = request.content
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in content
    assert b'name="type"\r\n\r\napplication/pdf' in content
    assert b'name="file"; filename="report.pdf"' in content
    assert b"%PDF-1.7 ..." in content


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (b"x" * (5 * 1024 * 1024 + 1), "image/jpeg"),  # over the 5 MB image limit
        (b"MZ...", "application/x-msdownload"),  # a type the Cloud API does not take
        (b"", "image/png"),
    ],
)
def test_upload_media_refuses_locally(make_client: Any, content: bytes, mime: str) -> None:
    client, seen = make_client(answer({"id": "1"}))
    with pytest.raises(GraphError) as raised:
        client.upload_media(PHONE_ID, content, mime, "f")
    assert (raised.value.kind, raised.value.retry_class) == (FailureKind.LIMIT, RetryClass.FINAL)
    assert seen.requests == []


def test_get_media(make_client: Any) -> None:
    info = {
        "messaging_product": "whatsapp",
        "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        "mime_type": "image/jpeg",
        "sha256": "abc",
        "file_size": 303833,
        "id": "1037543291543636",
    }
    client, seen = make_client(answer(info))
    media = client.get_media("1037543291543636", phone_number_id=PHONE_ID)
    assert (media.id, media.mime_type, media.file_size) == ("1037543291543636", "image/jpeg", 303833)
    assert media.url.startswith("https://lookaside.fbsbx.com/")
    assert seen.last.url.params["phone_number_id"] == PHONE_ID


def test_delete_media(make_client: Any) -> None:
    client, seen = make_client(answer({"success": True}))
    client.delete_media("1037543291543636")
    assert (seen.last.method, seen.last.url.path) == ("DELETE", "/v23.0/1037543291543636")


MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"


def media_response(content: bytes, content_type: str, *, declare_length: bool = True) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if declare_length:
            return httpx.Response(200, content=content, headers={"content-type": content_type})
        return httpx.Response(200, stream=httpx.ByteStream(content), headers={"content-type": content_type})

    return handler


def test_download_media_streams_with_the_token(make_client: Any) -> None:
    client, seen = make_client(media_response(b"\xff\xd8jpeg", "image/jpeg"))
    media = client.download_media(MEDIA_URL, expected_mime="image/jpeg")
    assert media.content == b"\xff\xd8jpeg"
    assert media.mime_type == "image/jpeg"
    assert len(media.sha256_hex) == 64
    assert seen.last.headers["authorization"] == f"Bearer {TOKEN}"


def test_download_media_accepts_type_parameters(make_client: Any) -> None:
    client, _ = make_client(media_response(b"OggS", "audio/ogg; codecs=opus"))
    assert client.download_media(MEDIA_URL, expected_mime="audio/ogg; codecs=opus").mime_type == "audio/ogg"


@pytest.mark.parametrize(
    ("content", "content_type", "declare_length", "expected_mime", "max_bytes"),
    [
        (b"x" * (5 * 1024 * 1024 + 1), "image/jpeg", True, None, None),  # declared size over the limit
        (b"x" * (5 * 1024 * 1024 + 1), "image/jpeg", False, None, None),  # stream runs over the limit
        (b"x" * 11, "image/jpeg", False, None, 10),  # over the caller's own cap
        (b"<html>", "text/html", True, None, None),  # not a Cloud API media type
        (b"\xff\xd8", "image/jpeg", True, "image/png", None),  # not what the webhook announced
        (b"\xff\xd8", "", True, None, None),
    ],
)
def test_download_media_refuses(
    make_client: Any,
    content: bytes,
    content_type: str,
    declare_length: bool,
    expected_mime: str | None,
    max_bytes: int | None,
) -> None:
    client, _ = make_client(media_response(content, content_type, declare_length=declare_length))
    with pytest.raises(GraphError) as raised:
        client.download_media(MEDIA_URL, expected_mime=expected_mime, max_bytes=max_bytes)
    assert (raised.value.kind, raised.value.retry_class) == (FailureKind.LIMIT, RetryClass.FINAL)


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/steal",
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",  # plain http
        "https://lookaside.fbsbx.com.attacker.example/x",
        "file:///etc/passwd",
    ],
)
def test_download_media_never_sends_the_token_elsewhere(make_client: Any, url: str) -> None:
    client, seen = make_client(media_response(b"x", "image/jpeg"))
    with pytest.raises(GraphError):
        client.download_media(url)
    assert seen.requests == []


def test_download_media_from_the_emulator_base_host(make_client: Any) -> None:
    settings = GraphSettings(base_url="http://127.0.0.1:8090")
    client, seen = make_client(media_response(b"%PDF", "application/pdf"), settings)
    assert client.download_media("http://127.0.0.1:8090/media/1?sig=x").content == b"%PDF"
    assert seen.last.url.host == "127.0.0.1"


def test_download_media_expired_url(make_client: Any) -> None:
    client, _ = make_client(lambda request: httpx.Response(404))
    with pytest.raises(GraphError) as raised:
        client.download_media(MEDIA_URL)
    assert (raised.value.kind, raised.value.http_status) == (FailureKind.HTTP, 404)


# --- templates ----------------------------------------------------------------------------------


def template_json(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{first_name}}"}, {"type": "BUTTONS", "buttons": []}],
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": f"id{name}",
    }


def paged(pages: dict[str | None, tuple[list[str], str | None]]) -> Handler:
    """Serve pages keyed by the ``after`` cursor the request carries."""

    def handler(request: httpx.Request) -> httpx.Response:
        names, after = pages[request.url.params.get("after")]
        paging: dict[str, Any] = {"cursors": {"before": "b", "after": after or "last"}}
        if after is not None:
            paging["next"] = f"https://graph.facebook.com/v23.0/{WABA}/message_templates?after={after}"
        return httpx.Response(200, json={"data": [template_json(n) for n in names], "paging": paging})

    return handler


def test_list_templates_follows_the_after_cursor(make_client: Any) -> None:
    client, seen = make_client(paged({None: (["a", "b"], "c1"), "c1": (["c"], "c2"), "c2": (["d"], None)}))
    templates = client.list_templates(WABA, page_size=2, status="APPROVED")
    assert [t.name for t in templates] == ["a", "b", "c", "d"]
    assert len(seen.requests) == 3
    first = seen.requests[0].url.params
    assert (first["limit"], first["status"], first.get("after")) == ("2", "APPROVED", None)
    assert "components" in first["fields"]
    assert seen.requests[2].url.params["after"] == "c2"
    template = templates[0]
    assert (template.id, template.status, template.category) == (
        "ida",
        TemplateStatus.APPROVED,
        TemplateCategory.UTILITY,
    )
    assert template.parameter_format is ParameterFormat.NAMED
    assert template.components[0].variables == ("first_name",)
    assert template.components[1].buttons == ()


def test_list_templates_detects_a_cursor_loop(make_client: Any) -> None:
    client, _ = make_client(paged({None: (["a"], "c1"), "c1": (["b"], "c1")}))
    with pytest.raises(GraphError) as raised:
        client.list_templates(WABA)
    assert raised.value.kind is FailureKind.MALFORMED


def test_list_templates_stops_at_the_page_cap(make_client: Any) -> None:
    counter = iter(range(1000))

    def endless(request: httpx.Request) -> httpx.Response:
        after = f"c{next(counter)}"
        paging = {"cursors": {"after": after}, "next": "https://graph.facebook.com/next"}
        return httpx.Response(200, json={"data": [], "paging": paging})

    client, seen = make_client(endless, GraphSettings(max_template_pages=3))
    with pytest.raises(GraphError) as raised:
        client.list_templates(WABA)
    assert raised.value.kind is FailureKind.LIMIT
    assert len(seen.requests) == 3


def test_list_templates_with_a_broken_template_is_malformed(make_client: Any) -> None:
    client, _ = make_client(answer({"data": [{"name": 5}]}))
    with pytest.raises(GraphError) as raised:
        client.list_templates(WABA)
    assert raised.value.kind is FailureKind.MALFORMED


def test_create_template(make_client: Any) -> None:
    client, seen = make_client(
        answer({"id": "594425479261596", "status": "PENDING", "category": "MARKETING"})
    )
    definition = {"name": "summer", "language": "en_US", "category": "UTILITY", "components": []}
    created = client.create_template(WABA, definition)
    assert (created.id, created.status, created.category) == (
        "594425479261596",
        TemplateStatus.PENDING,
        TemplateCategory.MARKETING,  # Meta re-categorised it
    )
    assert seen.last.url.path == f"/v23.0/{WABA}/message_templates"
    assert seen.last_json() == definition


def test_create_template_rejected_with_a_subcode(make_client: Any) -> None:
    body = graph_error(100, message="Invalid parameter", error_subcode=2388299)
    client, _ = make_client(answer(body, status=400))
    with pytest.raises(GraphError) as raised:
        client.create_template(WABA, {"name": "x"})
    assert (raised.value.code, raised.value.subcode, raised.value.retry_class) == (
        100,
        2388299,
        RetryClass.FINAL,
    )


def test_delete_template_by_name_or_one_language(make_client: Any) -> None:
    client, seen = make_client(answer({"success": True}))
    client.delete_template(WABA, "summer")
    assert seen.last.method == "DELETE"
    assert dict(seen.last.url.params) == {"name": "summer"}
    client.delete_template(WABA, "summer", template_id="1407680676729941")
    assert dict(seen.last.url.params) == {"name": "summer", "hsm_id": "1407680676729941"}


# --- phone number ----------------------------------------------------------------------------------


def test_phone_number_info(make_client: Any) -> None:
    info = {
        "id": PHONE_ID,
        "display_phone_number": "15550783881",
        "verified_name": "Lucky Shrub",
        "quality_rating": "GREEN",
        "throughput": {"level": "STANDARD"},
        "messaging_limit_tier": "TIER_1K",
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
        "status": "CONNECTED",
        "name_status": "APPROVED",
    }
    client, seen = make_client(answer(info))
    number = client.phone_number_info(PHONE_ID)
    assert number.quality_rating is QualityScore.GREEN
    assert number.throughput is ThroughputLevel.STANDARD
    assert number.messaging_limit_tier is MessagingLimitTier.TIER_2K  # portfolio-level field wins
    assert (number.status, number.verified_name) == ("CONNECTED", "Lucky Shrub")
    assert "quality_rating" in seen.last.url.params["fields"]


def test_phone_number_info_with_new_values(make_client: Any) -> None:
    client, _ = make_client(
        answer({"id": PHONE_ID, "quality_rating": "PURPLE", "throughput": {"level": "MAX"}})
    )
    number = client.phone_number_info(PHONE_ID)
    assert number.quality_rating is QualityScore.UNKNOWN
    assert number.throughput is ThroughputLevel.UNKNOWN
    assert number.messaging_limit_tier is MessagingLimitTier.UNKNOWN


def media_api(info: dict[str, Any], content: bytes, content_type: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "lookaside.fbsbx.com":
            return httpx.Response(200, content=content, headers={"content-type": content_type})
        return httpx.Response(200, json=info)

    return handler


MEDIA_INFO = {"url": MEDIA_URL, "mime_type": "audio/ogg", "sha256": "x", "file_size": 4, "id": "55"}


def test_fetch_media_looks_up_the_url_then_downloads(make_client: Any) -> None:
    client, seen = make_client(media_api(MEDIA_INFO, b"OggS", "audio/ogg"))
    media = client.fetch_media("55", expected_mime="audio/ogg; codecs=opus")
    assert media.content == b"OggS"
    assert [r.url.host for r in seen.requests] == ["graph.facebook.com", "lookaside.fbsbx.com"]


def test_fetch_media_refuses_what_meta_says_is_too_large(make_client: Any) -> None:
    huge = {**MEDIA_INFO, "mime_type": "image/jpeg", "file_size": 200 * 1024 * 1024}
    client, seen = make_client(media_api(huge, b"", "image/jpeg"))
    with pytest.raises(GraphError) as raised:
        client.fetch_media("55")
    assert raised.value.kind is FailureKind.LIMIT
    assert len(seen.requests) == 1  # the file itself was never requested


def test_fetch_media_refuses_a_type_swap(make_client: Any) -> None:
    client, _ = make_client(media_api(MEDIA_INFO, b"<html>", "application/pdf"))
    with pytest.raises(GraphError) as raised:
        client.fetch_media("55", expected_mime="audio/ogg")
    assert raised.value.kind is FailureKind.LIMIT


@pytest.mark.parametrize("token", ["", " padded", "two words", "line\nbreak"])
def test_a_missing_or_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidRequest):
        GraphClient(token)


def test_download_media_stops_a_server_that_drips(make_client: Any) -> None:
    def dripping() -> Iterator[bytes]:
        yield b"\xff\xd8"
        yield b"more"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=dripping(), headers={"content-type": "image/jpeg"})

    client, _ = make_client(handler, GraphSettings(max_download_seconds=-1.0))
    with pytest.raises(GraphError) as raised:
        client.download_media(MEDIA_URL)
    assert (raised.value.kind, raised.value.retry_class) == (FailureKind.TIMEOUT, RetryClass.RETRY_BACKOFF)


def test_download_error_bodies_are_read_only_so_far(make_client: Any) -> None:
    huge = json.dumps(graph_error(131052)).encode() + b" " * (128 * 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, stream=httpx.ByteStream(huge))

    client, _ = make_client(handler)
    with pytest.raises(GraphError) as raised:
        client.download_media(MEDIA_URL)
    assert raised.value.kind is FailureKind.HTTP  # the oversized body was not parsed
    assert raised.value.retry_class is RetryClass.REAUTHORISE


def test_download_error_object_is_read_when_small(make_client: Any) -> None:
    client, _ = make_client(answer(graph_error(131052, message="(#131052) Media download error"), status=400))
    with pytest.raises(GraphError) as raised:
        client.download_media(MEDIA_URL)
    assert (raised.value.code, raised.value.retry_class) == (131052, RetryClass.FINAL)


def test_an_answer_too_big_to_be_metas_is_read_only_so_far(make_client: Any) -> None:
    read: list[int] = []

    class Endless(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                read.append(1)
                yield b" " * 65536

    client, _ = make_client(lambda request: httpx.Response(200, stream=Endless()))
    with pytest.raises(GraphError) as raised:
        client.send(PHONE_ID, CUSTOMER, TextMessage(BODY))
    # A success we cannot read: the message may have been accepted (the sender does not send it again).
    assert raised.value.kind is FailureKind.MALFORMED
    assert len(read) <= MAX_RESPONSE_BYTES // 65536 + 1


def test_an_error_answer_too_big_to_be_metas_is_classified_by_its_status(make_client: Any) -> None:
    huge = json.dumps(graph_error(131047)).encode() + b" " * (128 * 1024)
    client, _ = make_client(lambda request: httpx.Response(400, stream=httpx.ByteStream(huge)))
    with pytest.raises(GraphError) as raised:
        client.send(PHONE_ID, CUSTOMER, TextMessage(BODY))
    assert (raised.value.kind, raised.value.code) == (FailureKind.HTTP, None)
