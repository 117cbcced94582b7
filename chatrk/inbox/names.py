"""Exact-word search over encrypted contact names.

A profile name is split into words, each NFKC-normalised and case-folded ("Zoë" and "ZOË" are one
word), and each word is stored as a truncated HMAC under the workspace's index key (the blind-index
rule of ``chatrk.crypto.blind``: several words share a value, so the table alone says little). A
search hashes the words typed and confirms the candidates by decrypting their names. It matches whole
words only: "mar" does not find "Maria", which is the price of never storing a name in clear.
"""

from __future__ import annotations

import re
import unicodedata

from chatrk.core.bulk import insert_rows
from chatrk.crypto import blind
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Contact, ContactNameWord

MAX_WORDS = 8  # of a name, and of a search
MAX_CANDIDATES = 500
_BITS = blind.bits_for(10_000_000)
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The distinct words of ``text``, normalised, in order (at most ``MAX_WORDS``)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    found = list(dict.fromkeys(_WORD.findall(folded)))
    return found[:MAX_WORDS]


def token(workspace_id: int, word: str) -> int:
    return blind.index_value(workspace_id, "inbox_contact", "profile_name_word", word, _BITS)


def index_name(contact: Contact, name: str | None) -> None:
    """Replaces the contact's word tokens (call inside the transaction that saves the name)."""
    ContactNameWord.objects.filter(contact=contact).delete()
    tokens = {token(contact.workspace_id, word) for word in words(name or "")}
    ContactNameWord.objects.bulk_create(
        ContactNameWord(workspace_id=contact.workspace_id, contact=contact, token=value) for value in tokens
    )


def index_new_names(named: list[tuple[Contact, str | None]]) -> None:
    """The word tokens of contacts created together (they have none to replace): one INSERT."""
    insert_rows(
        ContactNameWord,
        [
            ContactNameWord(workspace_id=contact.workspace_id, contact=contact, token=value)
            for contact, name in named
            for value in {token(contact.workspace_id, word) for word in words(name or "")}
        ],
    )


def contacts_named(workspace_id: int, text: str) -> list[int]:
    """Ids of contacts whose name holds every word of ``text`` (whole words, any order)."""
    wanted = words(text)
    if not wanted:
        return []
    candidates: set[int] | None = None
    for word in wanted:
        ids = set(
            ContactNameWord.objects.for_workspace(workspace_id)
            .filter(token=token(workspace_id, word))
            .values_list("contact_id", flat=True)[:MAX_CANDIDATES]
        )
        candidates = ids if candidates is None else candidates & ids
        if not candidates:
            return []
    rows = Contact.objects.for_workspace(workspace_id).filter(pk__in=candidates or ())
    return [row.pk for row in rows if set(wanted) <= set(words(open_for_system(row, "profile_name") or ""))]
