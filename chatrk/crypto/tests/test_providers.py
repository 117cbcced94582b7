"""KEK providers: the local keyring file, the environment, and AWS KMS through moto's server."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from chatrk.crypto.errors import ConfigurationError, DecryptionFailed, KeyDestroyed, KeyUnavailable
from chatrk.crypto.providers import AwsKmsKekProvider, EnvKekProvider, FileKekProvider, get_provider

SECRET = b"k" * 32


def test_file_keyring_is_created_at_first_use_with_mode_0600(key_dir: Path) -> None:
    provider = FileKekProvider(key_dir / "kek.json")
    assert not (key_dir / "kek.json").exists()
    kek_id, blob = provider.wrap(SECRET, context="ctx")
    mode = (key_dir / "kek.json").stat().st_mode
    assert kek_id == "file:1"
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert SECRET not in blob
    assert provider.unwrap(kek_id, blob, context="ctx") == SECRET


def test_file_keyring_is_reused_not_regenerated(key_dir: Path) -> None:
    first = FileKekProvider(key_dir / "kek.json")
    kek_id, blob = first.wrap(SECRET, context="ctx")
    assert FileKekProvider(key_dir / "kek.json").unwrap(kek_id, blob, context="ctx") == SECRET


def test_wrapped_key_is_bound_to_its_context(key_dir: Path) -> None:
    provider = FileKekProvider(key_dir / "kek.json")
    kek_id, blob = provider.wrap(SECRET, context="row 1")
    with pytest.raises(DecryptionFailed):
        provider.unwrap(kek_id, blob, context="row 2")


def test_file_rotation_keeps_old_version_until_retired(key_dir: Path) -> None:
    provider = FileKekProvider(key_dir / "kek.json")
    old_id, old_blob = provider.wrap(SECRET, context="ctx")
    assert provider.rotate() == "file:2"
    assert provider.wrap(SECRET, context="ctx")[0] == "file:2"
    assert [(v.id, v.state) for v in provider.versions()] == [
        ("file:1", "decrypt-only"),
        ("file:2", "active"),
    ]
    assert provider.unwrap(old_id, old_blob, context="ctx") == SECRET
    assert provider.retire(old_id)
    with pytest.raises(KeyDestroyed):
        provider.unwrap(old_id, old_blob, context="ctx")
    ring = json.loads((key_dir / "kek.json").read_text())
    assert ring["keys"][0]["key"] is None
    assert stat.S_IMODE((key_dir / "kek.json").stat().st_mode) == 0o600


def test_primary_cannot_be_retired(key_dir: Path) -> None:
    provider = FileKekProvider(key_dir / "kek.json")
    with pytest.raises(ConfigurationError):
        provider.retire(provider.primary_id())


def test_file_readable_by_others_is_refused(key_dir: Path) -> None:
    provider = FileKekProvider(key_dir / "kek.json")
    provider.primary_id()
    os.chmod(key_dir / "kek.json", 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        provider.wrap(SECRET, context="ctx")


def test_env_provider_round_trip_and_previous_keys() -> None:
    old, new = base64.b64encode(b"\x01" * 32).decode(), base64.urlsafe_b64encode(b"\x02" * 32).decode()
    before = EnvKekProvider(old, ())
    old_id, blob = before.wrap(SECRET, context="ctx")
    after = EnvKekProvider(new, (old,))
    assert after.primary_id() != old_id
    assert after.unwrap(old_id, blob, context="ctx") == SECRET
    with pytest.raises(KeyUnavailable):
        EnvKekProvider(new, ()).unwrap(old_id, blob, context="ctx")


def test_env_key_id_reveals_nothing_of_the_key() -> None:
    key = b"\x07" * 32
    kek_id = EnvKekProvider(base64.b64encode(key).decode(), ()).primary_id()
    assert kek_id.startswith("env:")
    assert key.hex()[:16] not in kek_id


@pytest.mark.parametrize("raw", ["", "bm90IDMyIGJ5dGVz", "%%%"])
def test_env_provider_rejects_bad_keys_without_echoing_them(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        EnvKekProvider(raw, ())
    assert not raw or raw not in str(caught.value)


def test_settings_select_the_provider(key_dir: Path) -> None:
    secret = base64.b64encode(b"\x03" * 32).decode()
    with override_settings(CRYPTO_KEK_PROVIDER="env", CRYPTO_KEK_SECRET=secret):
        assert isinstance(get_provider(), EnvKekProvider)
    assert isinstance(get_provider(), FileKekProvider)
    with override_settings(CRYPTO_KEK_PROVIDER="rot13"), pytest.raises(ConfigurationError):
        get_provider()


def test_kms_wraps_and_unwraps_with_the_real_client(kms: Any) -> None:
    key_id = kms.create_key(Description="chatrk test")["KeyMetadata"]["KeyId"]
    provider = AwsKmsKekProvider(key_id, client=kms)
    kek_id, blob = provider.wrap(SECRET, context="ctx")
    assert kek_id == provider.primary_id()
    assert kek_id.startswith("aws-kms:arn:aws:kms:")
    assert provider.unwrap(kek_id, blob, context="ctx") == SECRET
    with pytest.raises(DecryptionFailed):
        provider.unwrap(kek_id, blob, context="another row")


def test_kms_unknown_key_is_unavailable(kms: Any) -> None:
    provider = AwsKmsKekProvider("alias/does-not-exist", client=kms)
    with pytest.raises(KeyUnavailable):
        provider.wrap(SECRET, context="ctx")
