"""CSV import of consent captured elsewhere, with provenance, and a report that loses no row.

Columns (header row required, any order): ``phone`` (E.164, "+" and country code), ``purposes``
(``marketing``, ``utility``, ``authentication``, separated by ``;`` or ``|``), ``captured_at`` (ISO 8601
with a UTC offset), ``wording_version`` (a published version number), and optionally ``source`` (how it
was captured: a capture method such as ``paper`` or ``web_form``) and ``evidence`` (your own reference,
stored encrypted). Every row is reported: imported, pending (double opt-in), skipped or rejected, with
the reason. A rejected row changes nothing; the others are kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.db import transaction

from chatrk.audit.actions import Actor, Origin, record
from chatrk.consent import actions
from chatrk.consent.errors import ConsentError
from chatrk.consent.models import Kind, Source, Status
from chatrk.consent.queries import states, wording_by_version
from chatrk.core.clock import now
from chatrk.inbox.actions import contact_for

MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024
REQUIRED = ("phone", "purposes", "captured_at", "wording_version")
OPTIONAL = ("source", "evidence")
OUTCOMES = ("imported", "pending", "skipped", "rejected")


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int  # the line in the file (the header is line 1)
    outcome: str  # imported, pending, skipped, rejected
    reason: str = ""
    contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: tuple[RowResult, ...]
    error: str = ""  # the whole file was refused (and nothing imported)

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)


class RowRejected(Exception):
    pass


def e164(raw: str) -> str:
    """The number in E.164, or RowRejected. The number is never echoed in the reason."""
    text = raw.strip()
    if not text.startswith("+"):
        raise RowRejected("bad number: use international format with + and the country code")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise RowRejected("bad number: not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise RowRejected("bad number: not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _when(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise RowRejected("bad captured_at: use ISO 8601, e.g. 2026-05-01T10:00:00Z") from None
    if moment.tzinfo is None:
        raise RowRejected("bad captured_at: give the UTC offset (Z or +00:00)")
    if moment > now():
        raise RowRejected("captured_at is in the future")
    return moment


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConsentError("The file is not UTF-8 text.") from None


def import_consents(
    workspace_id: int, data: bytes | str, *, actor: Actor, origin: Origin | None = None
) -> ImportReport:
    """Imports every valid row (each in its own savepoint) and reports every row."""
    if len(data) > MAX_BYTES:
        return ImportReport((), error=f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = _decode(data)
    except ConsentError as error:
        return ImportReport((), error=error.message)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error:
        return ImportReport((), error="The header row is not valid CSV.")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return ImportReport((), error=f"Missing columns: {', '.join(missing)}.")
    reader.fieldnames = header
    results: list[RowResult] = []
    seen: set[tuple[str, str]] = set()
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            results.append(RowResult(line, "rejected", "not valid CSV"))
            break  # the reader cannot resynchronise after a malformed quote
        line = reader.line_num
        if len(results) >= MAX_ROWS:
            results.append(RowResult(line, "rejected", f"more than {MAX_ROWS} rows: the rest were not read"))
            break
        results.append(_import_row(workspace_id, line, row, seen, actor=actor))
    report = ImportReport(tuple(results))
    record(
        "consent.import",
        actor=actor,
        workspace_id=workspace_id,
        origin=origin,
        details={"rows": len(results), **{k: report.count(k) for k in OUTCOMES}},
    )
    return report


def _import_row(
    workspace_id: int, line: int, row: dict[str, str | None], seen: set[tuple[str, str]], *, actor: Actor
) -> RowResult:
    try:
        if None in row or any(row.get(c) is None for c in REQUIRED):
            raise RowRejected("wrong number of fields")
        number = e164(row["phone"] or "")
        purposes = [
            p.strip().lower() for p in (row["purposes"] or "").replace("|", ";").split(";") if p.strip()
        ]
        if not purposes:
            raise RowRejected("no purposes")
        captured_at = _when(row["captured_at"] or "")
        try:
            version = int((row["wording_version"] or "").strip())
        except ValueError:
            raise RowRejected("unknown wording version") from None
        wording = wording_by_version(workspace_id, version)
        if wording is None:
            raise RowRejected("unknown wording version")
        keys = {(number, p) for p in purposes}
        if keys & seen:
            raise RowRejected("duplicate of an earlier row in this file")
        method = (row.get("source") or "").strip().lower() or "other"
        if method not in actions.CAPTURE_METHODS:
            raise RowRejected(f"unknown source: use one of {', '.join(sorted(actions.CAPTURE_METHODS))}")
        evidence = (row.get("evidence") or "").strip()
        if len(evidence) > 200:
            raise RowRejected("evidence longer than 200 characters")
        with transaction.atomic():
            contact = contact_for(workspace_id, number.removeprefix("+"))
            current = states(workspace_id, contact.pk)
            if all(current.get(p) == Status.ACTIVE for p in purposes):
                seen |= keys
                return RowResult(line, "skipped", "already active", contact.pk)
            proof = actions.Proof(
                source=Source.IMPORT,
                captured_by=actor,
                occurred_at=captured_at,
                wording_id=wording.pk,
                capture_method=method,
                evidence_ref=evidence,
            )
            change = actions.record_consent(workspace_id, contact.pk, purposes, proof)
        seen |= keys
    except RowRejected as rejected:
        return RowResult(line, "rejected", str(rejected))
    except ConsentError as error:
        return RowResult(line, "rejected", error.message)
    if not change.changed:
        return RowResult(line, "skipped", "already active", contact.pk)
    pending = any(e.kind == Kind.PENDING for e in change.events)
    return RowResult(line, "pending" if pending else "imported", "awaits YES" if pending else "", contact.pk)
