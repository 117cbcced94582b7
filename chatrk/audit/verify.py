"""Full verification of the audit log against its signed checkpoints.

One pass over the events in ``seq`` order: every ``seq`` must be the next leaf index, every event
must re-hash to its stored leaf hash, and at each checkpoint's size the recomputed root must equal
the signed one. Together that catches edited, deleted, inserted, reordered and truncated events,
and it proves every checkpoint consistent with every other (they are all prefixes of one tree).
The stored subtree roots that proofs are served from are compared with the ones the pass computes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chatrk.audit.checkpoints import Checkpoint, CheckpointError, VerifierKey, open_note, trusted_verifiers
from chatrk.audit.entries import ENTRY_COLUMNS, row_leaf_hash
from chatrk.audit.merkle import Frontier
from chatrk.audit.models import SUBTREE_MIN_LEVEL, AuditCheckpoint, AuditEvent, AuditSubtree


class VerificationError(Exception):
    """The log is not what its checkpoints say; ``seq`` is the first event known to be bad."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass(frozen=True, slots=True)
class VerifyReport:
    tree_size: int
    checkpoints_checked: int
    latest_checkpoint_size: int | None
    pending: int  # committed events the sequencer has not placed in the tree yet


def verify_log(
    *, exported_notes: Iterable[str] = (), verifiers: list[VerifierKey] | None = None
) -> VerifyReport:
    """Check the whole log; raise VerificationError naming the first bad seq."""
    keys = trusted_verifiers() if verifiers is None else verifiers
    if not keys and (exported_notes or AuditCheckpoint.objects.exists()):
        raise VerificationError("no trusted audit signing key: checkpoints cannot be checked")
    roots = _signed_roots(keys, exported_notes)
    subtrees: dict[tuple[int, int], bytes] = {}
    size = _walk_events(roots, subtrees)
    _check_stored_subtrees(subtrees)
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    return VerifyReport(size, len(roots), max(roots, default=None), pending)


def _signed_roots(keys: list[VerifierKey], exported_notes: Iterable[str]) -> dict[int, bytes]:
    """Tree size → root of every checkpoint, from the database and from exported notes."""
    roots: dict[int, bytes] = {}
    for stored in AuditCheckpoint.objects.order_by("tree_size"):
        checkpoint = _open(stored.note, keys, f"stored checkpoint at size {stored.tree_size}")
        if (checkpoint.tree_size, checkpoint.root_hash) != (stored.tree_size, bytes(stored.root_hash)):
            raise VerificationError(
                f"stored checkpoint at size {stored.tree_size} differs from its signed note"
            )
        roots[checkpoint.tree_size] = checkpoint.root_hash
    for note in exported_notes:
        checkpoint = _open(note, keys, "exported checkpoint")
        known = roots.setdefault(checkpoint.tree_size, checkpoint.root_hash)
        if known != checkpoint.root_hash:
            raise VerificationError(
                f"two signed checkpoints at size {checkpoint.tree_size} disagree: the log was rewritten"
            )
    return roots


def _open(note: str, keys: list[VerifierKey], what: str) -> Checkpoint:
    try:
        return open_note(note, keys)
    except CheckpointError as error:
        raise VerificationError(f"{what}: {error}") from None


def _walk_events(roots: dict[int, bytes], subtrees: dict[tuple[int, int], bytes]) -> int:
    """Checks every event and signed root; fills ``subtrees`` ((start, level) -> root) as it goes."""
    sizes = sorted(roots)
    next_check = 0  # index into sizes
    last_good = 0  # the largest size whose signed root matched
    frontier = Frontier()
    sequenced = AuditEvent.objects.filter(seq__isnull=False).order_by("seq")
    rows = sequenced.values_list(*ENTRY_COLUMNS, "leaf_hash")
    for row in rows.iterator(chunk_size=5000):
        seq = row[0]
        if seq != frontier.size:
            raise VerificationError(
                f"seq {frontier.size} is missing (the next event is seq {seq}): "
                "events were deleted, inserted or reordered",
                seq=frontier.size,
            )
        leaf = _rehash(row[:-1])
        if leaf != bytes(row[-1] or b""):
            raise VerificationError(f"seq {seq} does not match its leaf hash: the event was edited", seq=seq)
        for level, root in enumerate(frontier.append(leaf), start=1):
            if level >= SUBTREE_MIN_LEVEL:
                subtrees[frontier.size - (1 << level), level] = root
        if next_check < len(sizes) and sizes[next_check] == frontier.size:
            _check_root(frontier, roots[frontier.size], last_good)
            last_good = frontier.size
            next_check += 1
    if next_check < len(sizes):
        raise VerificationError(
            f"the log ends at seq {frontier.size - 1} but a signed checkpoint covers {sizes[-1]} events: "
            "the log was truncated",
            seq=frontier.size,
        )
    return frontier.size


def _rehash(row: tuple[Any, ...]) -> bytes:
    try:
        return row_leaf_hash(row)
    except ValueError:  # e.g. a float or a naive time written behind the application's back
        message = f"seq {row[0]} no longer has a canonical form: the event was edited"
        raise VerificationError(message, seq=row[0]) from None


def _check_root(frontier: Frontier, signed_root: bytes, last_good: int) -> None:
    if frontier.root() != signed_root:
        raise VerificationError(
            f"the events up to seq {frontier.size - 1} do not match the checkpoint signed at size "
            f"{frontier.size}: an event from seq {last_good} on was edited, deleted, inserted or reordered "
            "after it was signed",
            seq=last_good,
        )


def _check_stored_subtrees(computed: dict[tuple[int, int], bytes]) -> None:
    for start, level, root in AuditSubtree.objects.order_by("start", "level").values_list(
        "start", "level", "root_hash"
    ):
        if computed.get((start, level)) != bytes(root):
            raise VerificationError(
                f"the stored root of the {1 << level} events from seq {start} does not match them: "
                "it was written behind the application's back, and proofs served from it fail",
                seq=start,
            )
