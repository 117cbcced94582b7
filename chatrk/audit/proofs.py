"""Inclusion and consistency proofs, served from stored subtree roots and leaf hashes.

A proof needs the roots of O(log n) ranges of leaves. Each range is made of perfect subtrees; those
of ``SUBTREE_MIN_LEVEL`` or more that a checkpoint has stored are read as one row each, the rest are
hashed from the leaf hashes (read a block of 2**SUBTREE_MIN_LEVEL at a time). So a proof reads about
log n rows and at most a few blocks of leaves, whatever the log's size.

The server does not need to be trusted: a client checks each proof against a signed checkpoint
with the RFC 9162 algorithms (``merkle.verify_inclusion`` / ``merkle.verify_consistency``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from chatrk.audit import merkle
from chatrk.audit.entries import ENTRY_COLUMNS, entry_bytes
from chatrk.audit.models import SUBTREE_MIN_LEVEL, AuditEvent, AuditSubtree
from chatrk.audit.sequencer import sequenced_size

BLOCK = 1 << SUBTREE_MIN_LEVEL  # leaf hashes are read in aligned blocks of this many


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


class StoredTree:
    """The tree of the log's first ``size`` leaves, as far as proofs need it."""

    def __init__(self, size: int) -> None:
        if not 0 <= size <= sequenced_size():
            raise ProofRequestError(f"the log has no tree of size {size}")
        self.size = size
        self._blocks: dict[int, list[bytes]] = {}  # block start -> its leaf hashes

    def range_root(self, low: int, high: int) -> bytes:
        """MTH(D[low:high]) (a ``merkle.RangeRoot``)."""
        pieces = list(merkle.perfect_subtrees(low, high))
        stored = self._stored_roots([piece for piece in pieces if piece[1] >= SUBTREE_MIN_LEVEL])
        roots = [stored.get(piece) or self._root_from_leaves(*piece) for piece in pieces]
        return merkle.Frontier(high - low, roots).root()

    def _stored_roots(self, pieces: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not pieces:
            return {}
        wanted = reduce(or_, (Q(start=start, level=level) for start, level in pieces))
        rows = AuditSubtree.objects.filter(wanted).values_list("start", "level", "root_hash")
        return {(start, level): bytes(root) for start, level, root in rows}

    def _root_from_leaves(self, start: int, level: int) -> bytes:
        """A subtree no checkpoint stored: below the minimum level, or past the latest checkpoint."""
        return merkle.root_hash(self._leaves(start, start + (1 << level)))

    def _leaves(self, low: int, high: int) -> list[bytes]:
        first, end = low - low % BLOCK, min(self.size, high + -high % BLOCK)
        missing = [block for block in range(first, end, BLOCK) if block not in self._blocks]
        if missing:
            self._read_blocks(missing[0], min(self.size, missing[-1] + BLOCK))
        leaves = [leaf for block in range(first, end, BLOCK) for leaf in self._blocks[block]]
        return leaves[low - first : high - first]

    def _read_blocks(self, low: int, high: int) -> None:
        rows = AuditEvent.objects.filter(seq__gte=low, seq__lt=high).order_by("seq")
        leaves = [bytes(leaf or b"") for leaf in rows.values_list("leaf_hash", flat=True)]
        if len(leaves) != high - low:
            raise ProofRequestError(f"the log is missing events below seq {high}; run `chatrk audit verify`")
        for block in range(low, high, BLOCK):
            self._blocks[block] = leaves[block - low : block - low + BLOCK]


def prove_inclusion(event: AuditEvent, tree_size: int) -> InclusionProof:
    if event.seq is None:
        raise ProofRequestError("the event is not sequenced into the tree yet")
    if not event.seq < tree_size:
        raise ProofRequestError(f"seq {event.seq} is not in the tree of size {tree_size}")
    tree = StoredTree(tree_size)
    row = tuple(getattr(event, column) for column in ENTRY_COLUMNS)
    return InclusionProof(
        seq=event.seq,
        tree_size=tree_size,
        entry=entry_bytes(row),
        leaf_hash=bytes(event.leaf_hash or b""),
        path=merkle.inclusion_proof(event.seq, tree_size, tree.range_root),
        root_hash=tree.range_root(0, tree_size),
    )


def prove_consistency(first_size: int, second_size: int) -> ConsistencyProof:
    if not 0 < first_size <= second_size:
        raise ProofRequestError("a consistency proof needs 0 < first size <= second size")
    tree = StoredTree(second_size)
    return ConsistencyProof(
        first_size=first_size,
        second_size=second_size,
        path=merkle.consistency_proof(first_size, second_size, tree.range_root),
        first_root=tree.range_root(0, first_size),
        second_root=tree.range_root(0, second_size),
    )
