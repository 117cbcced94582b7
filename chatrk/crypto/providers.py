"""Key-encryption key (KEK) providers: the one place the root of the key hierarchy comes from.

Every provider wraps and unwraps small secrets (data keys) under a KEK that never enters the database.
A wrapped key records the id of the KEK version that wrapped it, so rotation can tell old from new.

* ``file`` (default): a keyring file created at first run with mode 0600, outside the database.
* ``env``: ``CHATRK_KEK`` (base64, 32 bytes) plus ``CHATRK_KEK_PREVIOUS`` (decrypt-only, comma separated).
* ``aws-kms``: a symmetric AWS KMS key; data keys are wrapped by KMS Encrypt with an encryption context.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from chatrk.core.clock import now
from chatrk.crypto.aead import KEY_BYTES, new_key, open_bytes, seal_bytes
from chatrk.crypto.errors import ConfigurationError, DecryptionFailed, KeyDestroyed, KeyUnavailable


@dataclass(frozen=True, slots=True)
class KekVersion:
    id: str
    state: str  # "active", "decrypt-only" or "destroyed"


class KekProvider(Protocol):
    """The small interface every KEK source implements."""

    def primary_id(self) -> str:
        """The KEK version new keys are wrapped under."""
        ...

    def wrap(self, secret: bytes, *, context: str) -> tuple[str, bytes]:
        """Wraps ``secret`` under the primary KEK, bound to ``context``; returns (kek id, blob)."""
        ...

    def unwrap(self, kek_id: str, blob: bytes, *, context: str) -> bytes: ...

    def rotate(self) -> str:
        """Makes a new primary KEK version if the provider can; returns the primary id either way."""
        ...

    def retire(self, kek_id: str) -> bool:
        """Destroys a no-longer-used KEK version if the provider holds it; False if the operator must."""
        ...

    def versions(self) -> list[KekVersion]: ...


# --- local keyring file ------------------------------------------------------------------------------


class FileKekProvider:
    """A JSON keyring: ``{"format": "chatrk-kek/1", "primary": id, "keys": [{id, state, key}]}``."""

    _FORMAT = "chatrk-kek/1"

    def __init__(self, path: Path) -> None:
        self.path = path

    def primary_id(self) -> str:
        return str(self._load()["primary"])

    def wrap(self, secret: bytes, *, context: str) -> tuple[str, bytes]:
        ring = self._load()
        kek_id = str(ring["primary"])
        return kek_id, seal_bytes(self._material(ring, kek_id), secret, context.encode())

    def unwrap(self, kek_id: str, blob: bytes, *, context: str) -> bytes:
        return open_bytes(self._material(self._load(), kek_id), blob, context.encode(), what=f"KEK {kek_id}")

    def rotate(self) -> str:
        ring = self._load()
        for entry in ring["keys"]:
            if entry["state"] == "active":
                entry["state"] = "decrypt-only"
        kek_id = f"file:{len(ring['keys']) + 1}"
        ring["keys"].append(_new_file_entry(kek_id))
        ring["primary"] = kek_id
        self._write(ring)
        return kek_id

    def retire(self, kek_id: str) -> bool:
        ring = self._load()
        if kek_id == ring["primary"]:
            raise ConfigurationError(f"KEK {kek_id} is the primary and cannot be retired")
        entry = _entry(ring, kek_id)
        entry.update(state="destroyed", key=None, destroyed_at=now().isoformat())
        self._write(ring)
        return True

    def versions(self) -> list[KekVersion]:
        return [KekVersion(str(entry["id"]), str(entry["state"])) for entry in self._load()["keys"]]

    def _material(self, ring: dict[str, Any], kek_id: str) -> bytes:
        entry = _entry(ring, kek_id)
        if entry["state"] == "destroyed" or not entry["key"]:
            raise KeyDestroyed(f"KEK {kek_id} was retired and destroyed")
        return base64.b64decode(entry["key"])

    def _load(self) -> dict[str, Any]:
        self._create_once()
        mode = self.path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(f"KEK file {self.path} is readable by others; chmod 600 it")
        ring: dict[str, Any] = json.loads(self.path.read_text())
        if ring.get("format") != self._FORMAT:
            raise ConfigurationError(f"KEK file {self.path} is not a {self._FORMAT} keyring")
        return ring

    def _create_once(self) -> None:
        """Writes a complete keyring under a temporary name, then links it into place: another process
        sees either no file or a whole one, and only one first run wins (link fails if it exists)."""
        if self.path.exists():
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        ring = {"format": self._FORMAT, "primary": "file:1", "keys": [_new_file_entry("file:1")]}
        tmp = self._write_temp(ring)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _write_temp(self, ring: dict[str, Any]) -> str:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".kek-")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(ring, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def _write(self, ring: dict[str, Any]) -> None:
        """Atomic replace: a crash leaves either the old or the new keyring, never half of one."""
        tmp = self._write_temp(ring)
        try:
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _new_file_entry(kek_id: str) -> dict[str, Any]:
    material = base64.b64encode(new_key()).decode()
    return {"id": kek_id, "state": "active", "key": material, "created_at": now().isoformat()}


def _entry(ring: dict[str, Any], kek_id: str) -> dict[str, Any]:
    for entry in ring["keys"]:
        if entry["id"] == kek_id:
            found: dict[str, Any] = entry  # the live dict, so updates to it are written back
            return found
    raise KeyUnavailable(f"KEK {kek_id} is not in the keyring file")


# --- environment variable ----------------------------------------------------------------------------


class EnvKekProvider:
    """Keys from the environment; the operator rotates by moving CHATRK_KEK to CHATRK_KEK_PREVIOUS."""

    def __init__(self, current: str, previous: tuple[str, ...]) -> None:
        if not current:
            raise ConfigurationError("CHATRK_KEK_PROVIDER=env needs CHATRK_KEK (32 bytes, base64)")
        self._primary = _decode_env_key(current, "CHATRK_KEK")
        self._keys = {_env_key_id(self._primary): self._primary}
        for raw in previous:
            key = _decode_env_key(raw, "CHATRK_KEK_PREVIOUS")
            self._keys.setdefault(_env_key_id(key), key)

    def primary_id(self) -> str:
        return _env_key_id(self._primary)

    def wrap(self, secret: bytes, *, context: str) -> tuple[str, bytes]:
        return self.primary_id(), seal_bytes(self._primary, secret, context.encode())

    def unwrap(self, kek_id: str, blob: bytes, *, context: str) -> bytes:
        key = self._keys.get(kek_id)
        if key is None:
            raise KeyUnavailable(
                f"KEK {kek_id} is not configured (retired, or missing from CHATRK_KEK_PREVIOUS)"
            )
        return open_bytes(key, blob, context.encode(), what=f"KEK {kek_id}")

    def rotate(self) -> str:
        return self.primary_id()

    def retire(self, kek_id: str) -> bool:
        return False

    def versions(self) -> list[KekVersion]:
        primary = self.primary_id()
        return [
            KekVersion(kek_id, "active" if kek_id == primary else "decrypt-only") for kek_id in self._keys
        ]


def _decode_env_key(raw: str, name: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{name} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"{name} must decode to {KEY_BYTES} bytes")
    return key


def _env_key_id(key: bytes) -> str:
    """A stable id that reveals nothing about the key: an HMAC under the key of a fixed label."""
    return "env:" + hmac.new(key, b"chatrk-kek-id", hashlib.sha256).hexdigest()[:16]


# --- AWS KMS -----------------------------------------------------------------------------------------


class AwsKmsKekProvider:
    """A symmetric KMS key. KMS keeps its own backing-key versions; switching CHATRK_KMS_KEY_ID to a new
    key and running ``chatrk keys rotate --kek`` moves every data key under it."""

    _PREFIX = "aws-kms:"

    def __init__(self, key_id: str, *, client: Any) -> None:
        if not key_id:
            raise ConfigurationError("CHATRK_KEK_PROVIDER=aws-kms needs CHATRK_KMS_KEY_ID")
        self._key_id = key_id
        self._client = client
        self._primary_arn = ""

    def primary_id(self) -> str:
        if not self._primary_arn:
            metadata = self._call("describe_key", KeyId=self._key_id)["KeyMetadata"]
            self._primary_arn = str(metadata["Arn"])
        return self._PREFIX + self._primary_arn

    def wrap(self, secret: bytes, *, context: str) -> tuple[str, bytes]:
        response = self._call(
            "encrypt", KeyId=self._key_id, Plaintext=secret, EncryptionContext=_kms_context(context)
        )
        return self._PREFIX + str(response["KeyId"]), bytes(response["CiphertextBlob"])

    def unwrap(self, kek_id: str, blob: bytes, *, context: str) -> bytes:
        if not kek_id.startswith(self._PREFIX):
            raise KeyUnavailable(f"KEK {kek_id} is not an AWS KMS key")
        response = self._call(
            "decrypt", KeyId=kek_id.removeprefix(self._PREFIX), CiphertextBlob=blob,
            EncryptionContext=_kms_context(context),
        )  # fmt: skip
        return bytes(response["Plaintext"])

    def rotate(self) -> str:
        return self.primary_id()

    def retire(self, kek_id: str) -> bool:
        return False  # deleting a KMS key is a deliberate act in AWS, with its 7-30 day waiting period

    def versions(self) -> list[KekVersion]:
        return [KekVersion(self.primary_id(), "active")]

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            if code in {"InvalidCiphertextException", "IncorrectKeyException"}:
                raise DecryptionFailed(f"AWS KMS refused to unwrap ({code})") from None
            raise KeyUnavailable(f"AWS KMS {operation} failed ({code})") from None
        except BotoCoreError as error:
            raise KeyUnavailable(f"AWS KMS {operation} failed ({type(error).__name__})") from None
        return result


def _kms_context(context: str) -> dict[str, str]:
    return {"chatrk": context}


def kms_client(*, region: str, endpoint_url: str) -> Any:
    import boto3  # type: ignore[import-untyped]

    return boto3.client("kms", region_name=region, endpoint_url=endpoint_url or None)


# --- selection ---------------------------------------------------------------------------------------


def get_provider() -> KekProvider:
    """The configured provider; rebuilt when settings change (tests override them)."""
    return _provider_for(
        settings.CRYPTO_KEK_PROVIDER, str(settings.CRYPTO_KEK_FILE), settings.CRYPTO_KEK_SECRET,
        tuple(settings.CRYPTO_KEK_PREVIOUS_SECRETS), settings.CRYPTO_KMS_KEY_ID, settings.CRYPTO_KMS_REGION,
        settings.CRYPTO_KMS_ENDPOINT_URL,
    )  # fmt: skip


@cache
def _provider_for(
    kind: str, path: str, secret: str, previous: tuple[str, ...], kms_key: str, region: str, endpoint: str
) -> KekProvider:
    match kind:
        case "file":
            return FileKekProvider(Path(path))
        case "env":
            return EnvKekProvider(secret, previous)
        case "aws-kms":
            return AwsKmsKekProvider(kms_key, client=kms_client(region=region, endpoint_url=endpoint))
        case _:
            raise ConfigurationError("CHATRK_KEK_PROVIDER must be file, env or aws-kms")
