"""Media types and size limits of the Cloud API (REFERENCE §4), used on upload and download."""

from __future__ import annotations

MB = 1024 * 1024
KB = 1024

# Base MIME type (no parameters) -> the largest file the Cloud API accepts of that type.
MEDIA_LIMITS: dict[str, int] = {
    "image/jpeg": 5 * MB,
    "image/png": 5 * MB,
    "video/mp4": 16 * MB,
    "video/3gpp": 16 * MB,
    "audio/aac": 16 * MB,
    "audio/amr": 16 * MB,
    "audio/mpeg": 16 * MB,
    "audio/mp4": 16 * MB,
    "audio/ogg": 16 * MB,
    "text/plain": 100 * MB,
    "application/pdf": 100 * MB,
    "application/msword": 100 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
    "application/vnd.ms-excel": 100 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
    "application/vnd.ms-powerpoint": 100 * MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
    # Stickers: 100 KB static, 500 KB animated; the type alone cannot tell them apart.
    "image/webp": 500 * KB,
}


def base_mime(content_type: str) -> str:
    """``"audio/ogg; codecs=opus"`` -> ``"audio/ogg"``."""
    return content_type.split(";", 1)[0].strip().lower()


def media_limit(content_type: str) -> int | None:
    """Largest accepted size for this type, or ``None`` if the Cloud API does not take the type."""
    return MEDIA_LIMITS.get(base_mime(content_type))
