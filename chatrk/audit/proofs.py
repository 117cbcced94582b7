"""Inclusion and consistency proofs served from the stored leaf hashes.

The server does not need to be trusted: a client checks each proof against a signed checkpoint
with the RFC 9162 algorithms (``merkle.verify_inclusion`` / ``merkle.verify_consistency``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatrk.audit import merkle
from chatrk.audit.entries import ENTRY_COLUMNS, entry_bytes
from chatrk.audit.models import AuditEvent
from chatrk.audit.sequencer import sequenced_size


class ProofRequestError(ValueError):
    """The sizes or the seq asked for are not in the log."""


@dataclass(frozen=True, slots=True)
class InclusionProof:
    seq: int
    tree_size: int
    entry: bytes
    leaf_hash: bytes
    path: list[bytes]
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first_size: int
    second_size: int
    path: list[bytes]
    first_root: bytes
    second_root: bytes


def leaf_hashes(size: int) -> list[bytes]:
    """The stored leaf hashes of the first ``size`` events."""
    if not 0 <= size <= sequenced_size():
        raise ProofRequestError(f"the log has no tree of size {size}")
    hashes = AuditEvent.objects.filter(seq__lt=size).order_by("seq").values_list("leaf_hash", flat=True)
    leaves = [bytes(leaf or b"") for leaf in hashes.iterator(chunk_size=10000)]
    if len(leaves) != size:
        raise ProofRequestError(f"the log is missing events below seq {size}; run `chatrk audit verify`")
    return leaves


def prove_inclusion(event: AuditEvent, tree_size: int) -> InclusionProof:
    if event.seq is None:
        raise ProofRequestError("the event is not sequenced into the tree yet")
    if not event.seq < tree_size:
        raise ProofRequestError(f"seq {event.seq} is not in the tree of size {tree_size}")
    leaves = leaf_hashes(tree_size)
    row = tuple(getattr(event, column) for column in ENTRY_COLUMNS)
    return InclusionProof(
        seq=event.seq,
        tree_size=tree_size,
        entry=entry_bytes(row),
        leaf_hash=leaves[event.seq],
        path=merkle.inclusion_proof(leaves, event.seq),
        root_hash=merkle.root_hash(leaves),
    )


def prove_consistency(first_size: int, second_size: int) -> ConsistencyProof:
    if not 0 < first_size <= second_size:
        raise ProofRequestError("a consistency proof needs 0 < first size <= second size")
    leaves = leaf_hashes(second_size)
    return ConsistencyProof(
        first_size=first_size,
        second_size=second_size,
        path=merkle.consistency_proof(leaves, first_size),
        first_root=merkle.root_hash(leaves[:first_size]),
        second_root=merkle.root_hash(leaves),
    )
