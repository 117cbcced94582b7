"""Outbound files: stored encrypted under the contact's key, uploaded to Meta's /media at send time.

Never sent by ``link``: a public URL to a customer's file would be readable by anyone who has it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from django.conf import settings

from chatrk.crypto.files import FileBinding, decrypt_stream, encrypt_stream
from chatrk.inbox.models import Media

PURPOSE = "outbound.media"


def media_dir() -> Path:
    path = Path(settings.MEDIA_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def path_of(media: Media) -> Path:
    return media_dir() / f"{media.workspace_id}" / f"{media.pk}.out"


def binding_of(media: Media) -> FileBinding:
    return FileBinding(
        workspace_id=media.workspace_id,
        subject=f"contact:{media.contact_id}",
        purpose=PURPOSE,
        file_id=media.pk,
    )


def store(media: Media, content: bytes) -> int:
    """Encrypts ``content`` to the media's file (written whole, then renamed); returns the size."""
    target = path_of(media)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as sink:
        size = encrypt_stream(io.BytesIO(content), sink, binding=binding_of(media))
    os.replace(partial, target)
    return size


def load(media: Media) -> bytes:
    sink = io.BytesIO()
    with path_of(media).open("rb") as source:
        decrypt_stream(source, sink, binding=binding_of(media))
    return sink.getvalue()


def discard(media: Media) -> None:
    path_of(media).unlink(missing_ok=True)
