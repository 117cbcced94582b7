"""Media store: uploads, 5-minute download URLs, bearer-protected downloads (REFERENCE §4)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import urlsplit

from emulator.errors import GraphError, invalid_parameter, missing_parameter

MB = 1024 * 1024
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
    "image/webp": 500 * 1024,
}
UPLOAD_TTL = 30 * 24 * 3600.0
INBOUND_TTL = 7 * 24 * 3600.0
URL_TTL = 5 * 60.0


# What Meta finds when it fetches a link: a file whose type does not fit the message fails with 131053.
LINK_EXTENSIONS: dict[str, frozenset[str]] = {
    "image": frozenset({"jpg", "jpeg", "png"}),
    "video": frozenset({"mp4", "3gp", "3gpp"}),
    "audio": frozenset({"aac", "amr", "mp3", "m4a", "mp4", "ogg", "opus"}),
    "sticker": frozenset({"webp"}),
    "document": frozenset({"txt", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx"}),
}


def link_extension_fits(message_type: str, link: str) -> bool:
    """Only a recognisable extension is judged; extension-less links (CDNs, signed URLs) pass."""
    path = urlsplit(link).path
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return True
    return name.rsplit(".", 1)[-1].lower() in LINK_EXTENSIONS.get(message_type, frozenset())


@dataclass(slots=True)
class MediaItem:
    id: str
    phone_number_id: str
    mime_type: str
    data: bytes
    sha256: str
    created_at: float
    expires_at: float
    filename: str | None = None
    deleted: bool = False

    @property
    def file_size(self) -> int:
        return len(self.data)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class Upload:
    mime_type: str
    data: bytes
    filename: str | None


def parse_multipart(content_type: str, body: bytes) -> Upload:
    """Parse Meta's upload form: messaging_product=whatsapp, file=@x;type=<mime>, type=<mime>."""
    if not content_type.startswith("multipart/form-data"):
        raise invalid_parameter("Upload must be multipart/form-data.")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    file_part: tuple[bytes, str, str | None] | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "file":
            filename = part.get_filename()
            file_part = (data, part.get_content_type(), filename)
        elif isinstance(name, str):
            fields[name] = data.decode(errors="replace")
    if fields.get("messaging_product") != "whatsapp":
        raise missing_parameter("messaging_product")
    if file_part is None:
        raise missing_parameter("file")
    mime = fields.get("type") or file_part[1]
    if not mime:
        raise missing_parameter("type")
    return Upload(mime_type=mime.split(";")[0].strip().lower(), data=file_part[0], filename=file_part[2])


def check_upload(upload: Upload) -> None:
    limit = MEDIA_LIMITS.get(upload.mime_type)
    if limit is None:
        raise invalid_parameter(
            f"Param file must be a file with one of the following types: {', '.join(MEDIA_LIMITS)}. "
            f"Received file of type '{upload.mime_type}'."
        )
    if not upload.data:
        raise invalid_parameter("Param file must not be empty.")
    if len(upload.data) > limit:
        raise GraphError(
            131053,
            f"Media file size ({len(upload.data)} bytes) exceeds the {limit} byte "
            f"limit for {upload.mime_type}.",
        )
