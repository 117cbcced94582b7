"""Media: multipart upload with type/size limits, 5-minute URLs, bearer-only download, delete, expiry."""

from __future__ import annotations

import base64
import hashlib

import httpx

from emulator.testing import EmulatorServer
from emulator.tests.conftest import CUSTOMER, PHONE, error_code, send

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 100


def upload(graph: httpx.Client, data: bytes = JPEG, mime: str = "image/jpeg") -> httpx.Response:
    return graph.post(
        f"/{PHONE}/media",
        data={"messaging_product": "whatsapp", "type": mime},
        files={"file": ("photo.jpg", data, mime)},
    )


def test_upload_get_url_download_and_delete(server: EmulatorServer, graph: httpx.Client) -> None:
    media_id = upload(graph).json()["id"]
    info = graph.get(f"/{media_id}", params={"phone_number_id": PHONE}).json()
    assert info["mime_type"] == "image/jpeg"
    assert info["file_size"] == len(JPEG)
    assert info["sha256"] == base64.b64encode(hashlib.sha256(JPEG).digest()).decode()
    assert info["messaging_product"] == "whatsapp"
    assert info["id"] == media_id
    downloaded = graph.get(info["url"])
    assert downloaded.status_code == 200
    assert downloaded.content == JPEG
    assert downloaded.headers["content-type"] == "image/jpeg"
    with server.graph_client(token="") as anonymous:
        assert anonymous.get(info["url"]).status_code == 401
    assert graph.delete(f"/{media_id}").json() == {"success": True}
    assert graph.get(f"/{media_id}").status_code == 400
    assert graph.get(info["url"]).status_code == 404


def test_url_expires_after_five_minutes(server: EmulatorServer, graph: httpx.Client) -> None:
    media_id = upload(graph).json()["id"]
    url = graph.get(f"/{media_id}").json()["url"]
    server.advance(5 * 60)
    assert graph.get(url).status_code == 404
    fresh = graph.get(f"/{media_id}").json()["url"]  # re-fetching the URL is Meta's remedy
    assert graph.get(fresh).status_code == 200


def test_uploaded_ids_expire_after_30_days(server: EmulatorServer, graph: httpx.Client) -> None:
    media_id = upload(graph).json()["id"]
    server.advance(30 * 24 * 3600)
    assert graph.get(f"/{media_id}").status_code == 400


def test_type_and_size_limits(graph: httpx.Client) -> None:
    assert error_code(upload(graph, b"MZ...", "application/x-msdownload")) == 100
    assert error_code(upload(graph, b"RIFF" + b"0" * (500 * 1024), "image/webp")) == 131053
    assert upload(graph, b"RIFF" + b"0" * 1000, "image/webp").status_code == 200
    missing_product = graph.post(
        f"/{PHONE}/media", data={"type": "image/jpeg"}, files={"file": ("a.jpg", JPEG, "image/jpeg")}
    )
    assert error_code(missing_product) == 131008


def test_phone_number_filter_must_match_the_uploader(graph: httpx.Client) -> None:
    media_id = upload(graph).json()["id"]
    assert error_code(graph.get(f"/{media_id}", params={"phone_number_id": "1"})) == 100


def test_uploaded_media_can_be_sent_by_id(server: EmulatorServer, graph: httpx.Client) -> None:
    server.control.text(CUSTOMER, "hi")
    media_id = upload(graph).json()["id"]
    assert send(graph, "image", {"id": media_id, "caption": "look"}).status_code == 200
    server.advance(5)
    assert server.control.received(CUSTOMER)[-1]["image"] == {"id": media_id, "caption": "look"}


def test_inbound_media_is_downloadable_by_the_business(server: EmulatorServer, graph: httpx.Client) -> None:
    item = server.control.customer_sends(CUSTOMER, "document", data="hello pdf", filename="f.pdf")
    media_id = item["document"]["id"]
    url = graph.get(f"/{media_id}").json()["url"]
    assert graph.get(url).content == b"hello pdf"
    server.advance(7 * 24 * 3600)  # webhook media ids live 7 days
    assert graph.get(f"/{media_id}").status_code == 400
