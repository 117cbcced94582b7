"""RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.

Pure functions over lists of 32-byte leaf hashes. Proofs are *generated* from the recursive
definitions of RFC 6962 §2.1.1-2.1.2 and *verified* with the iterative algorithms of RFC 9162
§2.1.3.2 and §2.1.4.2, so the two halves check each other in the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# MTH(D[low:high]) of the tree being proved: proofs need only the roots of some ranges of leaves, so
# they can be served from stored subtree roots as well as from the leaves themselves.
type RangeRoot = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify, or was asked for sizes that do not exist."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class Frontier:
    """The compact range of a growing tree: one hash per perfect subtree, largest first.

    Appending a leaf merges equal-sized subtrees like a binary counter, so the root at every size is
    available in O(log n) without keeping the leaves: this is how verification checks every
    checkpoint in one pass, and how a checkpoint extends the previous one.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError("a frontier holds one hash per set bit of its size")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[bytes]:
        """Adds a leaf; returns the roots of the perfect subtrees it completed, of 2, 4, 8, … leaves
        (each ends at the new size)."""
        self.hashes.append(leaf)
        self.size += 1
        merges = (self.size & -self.size).bit_length() - 1  # trailing zeros: subtrees completed
        completed = []
        for _ in range(merges):
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            completed.append(self.hashes[-1])
        return completed

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def pack(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, packed: bytes) -> Frontier:
        hashes = [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)]
        return cls(size, hashes)


def root_hash(leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def perfect_subtrees(low: int, high: int) -> Iterator[tuple[int, int]]:
    """The perfect subtrees ``(start, level)`` of 2**level leaves, largest first, whose roots make
    MTH(D[low:high]) as a frontier of size high - low does (``Frontier(n, roots).root()``)."""
    while low < high:
        level = (high - low).bit_length() - 1
        yield low, level
        low += 1 << level


def range_roots(leaves: Sequence[bytes]) -> RangeRoot:
    """The RangeRoot of a tree whose leaf hashes are all in memory."""
    return lambda low, high: root_hash(leaves[low:high])


def inclusion_proof(index: int, size: int, range_root: RangeRoot) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    low, high = 0, size
    while high - low > 1:
        k = _split(high - low)
        if index - low < k:
            proof.append(range_root(low + k, high))
            high = low + k
        else:
            proof.append(range_root(low, low + k))
            low += k
    proof.reverse()  # collected root-down; the proof lists siblings leaf-up
    return proof


def consistency_proof(old_size: int, size: int, range_root: RangeRoot) -> list[bytes]:
    """PROOF(old_size, D[size]) of RFC 6962 §2.1.2: the old tree is a prefix of this one."""
    if not 0 < old_size <= size:
        raise ProofError(f"no consistency proof from size {old_size} to size {size}")
    return _subproof(range_root, old_size, 0, size, complete=True)


def _subproof(range_root: RangeRoot, m: int, low: int, high: int, *, complete: bool) -> list[bytes]:
    n = high - low
    if m == n:
        return [] if complete else [range_root(low, high)]
    k = _split(n)
    if m <= k:
        return [*_subproof(range_root, m, low, low + k, complete=complete), range_root(low + k, high)]
    return [*_subproof(range_root, m - k, low + k, high, complete=False), range_root(low, low + k)]


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index`` of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise unless the size-``old_size`` tree is a prefix of the new one."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency between sizes {old_size} and {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        raise ProofError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError(f"the tree of size {old_size} is not a prefix of the tree of size {new_size}")
