"""Crypto errors. Messages carry ids, tables and versions only, never plaintext or key material."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class: something about keys or ciphertexts is wrong; nothing was revealed."""


class ConfigurationError(CryptoError):
    """The key provider is misconfigured (missing key, wrong length, unsafe file mode)."""


class DecryptionFailed(CryptoError):
    """Authentication failed: the ciphertext was altered, truncated, or moved to another place."""


class UnknownFormat(CryptoError):
    """The ciphertext header names a format this version of Chatrk does not know."""


class KeyUnavailable(CryptoError):
    """The key a ciphertext names does not exist here (never created, or its KEK is not configured)."""


class KeyDestroyed(CryptoError):
    """The key was retired by rotation or destroyed by erasure: what it protected is gone for good."""


class SubjectShredded(KeyDestroyed):
    """The key was a subject's key, destroyed on erasure: its data is gone by design."""


class SubjectErased(CryptoError):
    """The subject's key was destroyed; nothing new is written for it."""


class LegalHoldActive(CryptoError):
    """A legal hold forbids destroying this subject's key."""


class FileTooLarge(CryptoError):
    """A file exceeds the size Chatrk encrypts."""
