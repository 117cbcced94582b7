"""Inbound media: download from Meta with the channel's token, check it, store it encrypted.

A fetch runs as its own task after the message is committed, so a slow download never holds up the
drainer. The Graph client enforces REFERENCE §4 (allowed type, the type's size cap, Meta's hosts only,
an overall deadline); here the file is checked against the sha256 the webhook announced, encrypted
under the contact's key with ``chatrk.crypto.files`` and written to ``CHATRK_MEDIA_DIR`` (default
``<var>/media``). Failures are recorded on the Media row in words and retried with back-off; final
failures (wrong type, too large, checksum mismatch) are not retried.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction

from chatrk.core.clock import now
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.files import FileBinding, decrypt_stream, encrypt_stream
from chatrk.inbox.models import Channel, Media, Message
from chatrk.ingest.models import MediaFetch
from chatrk.whatsapp.client import GraphClient, GraphSettings
from chatrk.whatsapp.errors import GraphError, RetryClass

MAX_ATTEMPTS = 5
PURPOSE = "inbox.media"

type ClientFactory = Callable[[Channel], GraphClient]


def media_dir() -> Path:
    return Path(settings.MEDIA_DIR)


def binding(media: Media) -> FileBinding:
    return FileBinding(media.workspace_id, f"contact:{media.contact_id}", PURPOSE, media.pk)


def path_of(media: Media) -> Path:
    return media_dir() / str(media.workspace_id) / f"{media.pk}.bin"


def default_client(channel: Channel) -> GraphClient:
    token = open_for_system(channel, "access_token") or ""
    return GraphClient(
        token, settings=GraphSettings(base_url=channel.graph_url, api_version=channel.api_version)
    )


def fetch(media_id: int, *, client_factory: ClientFactory = default_client) -> str:
    """Downloads and stores one media file; returns "stored", "retry", "failed" or "skipped"."""
    job = MediaFetch.objects.filter(pk=media_id, done=False).first()
    media = Media.objects.filter(pk=media_id).first()
    if job is None or media is None or media.stored_at is not None:
        return "skipped"
    channel = Channel.objects.get(
        pk=Message.objects.values_list("channel_id", flat=True).get(pk=media.message_id)
    )
    try:
        with client_factory(channel) as client:
            downloaded = client.fetch_media(
                media.meta_media_id,
                expected_mime=media.mime_type or None,
                phone_number_id=channel.phone_number_id,
            )
    except GraphError as exc:
        final = exc.retry_class != RetryClass.RETRY_BACKOFF
        return _failed(
            job, media, exc.reason or "The file could not be downloaded from WhatsApp.", final=final
        )
    if media.sha256 and not _same_digest(media.sha256, downloaded.sha256_hex):
        return _failed(job, media, "The file did not match the checksum WhatsApp announced.", final=True)
    target = path_of(media)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as sink:
            size = encrypt_stream(io.BytesIO(downloaded.content), sink, binding=binding(media))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    with transaction.atomic():
        Media.objects.filter(pk=media.pk).update(
            size=size,
            stored_at=now(),
            error="",
            mime_type=downloaded.mime_type or media.mime_type,
            sha256=media.sha256 or downloaded.sha256_hex,
        )
        MediaFetch.objects.filter(pk=media.pk).update(done=True, attempts=job.attempts + 1)
    return "stored"


def _same_digest(announced: str, actual_hex: str) -> bool:
    """Meta announces sha256 as hex in some payloads and base64 in others."""
    import base64
    import binascii

    if announced.lower() == actual_hex:
        return True
    try:
        return base64.b64decode(announced, validate=True) == bytes.fromhex(actual_hex)
    except (binascii.Error, ValueError):
        return False


def _failed(job: MediaFetch, media: Media, reason: str, *, final: bool) -> str:
    attempts = job.attempts + 1
    final = final or attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        Media.objects.filter(pk=media.pk).update(error=reason[:200])
        MediaFetch.objects.filter(pk=job.pk).update(
            attempts=attempts, done=final, next_attempt_at=now() + timedelta(seconds=30 * 4 ** (attempts - 1))
        )
    return "failed" if final else "retry"


def due(limit: int = 100) -> list[int]:
    """Media whose fetch is due (a retry, or an enqueue that never ran)."""
    return list(
        MediaFetch.objects.filter(done=False, next_attempt_at__lte=now())
        .order_by("next_attempt_at")
        .values_list("media_id", flat=True)[:limit]
    )


def read(media: Media) -> bytes:
    """The plaintext of a stored file (for machine use; display goes through an audited reveal)."""
    out = io.BytesIO()
    with path_of(media).open("rb") as source:
        decrypt_stream(source, out, binding=binding(media))
    return out.getvalue()


def erase_media(message: Message) -> None:
    """A revoked message's files go with its text (after commit, so a rollback keeps them)."""
    files = list(Media.objects.filter(message=message))
    paths = [path_of(media) for media in files]
    Media.objects.filter(pk__in=[media.pk for media in files]).delete()

    def unlink() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    transaction.on_commit(unlink)
