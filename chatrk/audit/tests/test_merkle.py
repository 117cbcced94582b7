"""RFC 6962 hashing and proofs against the vectors of STANDARDS.md §4 (transparency-dev/merkle)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatrk.audit import merkle

# The reference leaves and roots of transparency-dev/merkle testonly/constants.go (CT's test data).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CONSISTENCY = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}  # fmt: skip

LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_hash_vectors() -> None:
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert (
        merkle.leaf_hash(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert (
        merkle.node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(9))
def test_roots_of_reference_trees(size: int) -> None:
    assert merkle.root_hash(LEAF_HASHES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_inclusion_vectors(index: int, size: int) -> None:
    expected = [bytes.fromhex(node) for node in INCLUSION[index, size]]
    assert merkle.inclusion_proof(index, size, merkle.range_roots(LEAF_HASHES)) == expected
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], expected, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), list(CONSISTENCY))
def test_consistency_vectors(old: int, new: int) -> None:
    expected = [bytes.fromhex(node) for node in CONSISTENCY[old, new]]
    assert merkle.consistency_proof(old, new, merkle.range_roots(LEAF_HASHES)) == expected
    merkle.verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), expected)


def _flip(proof: list[bytes], position: int, bit: int) -> list[bytes]:
    node = bytearray(proof[position])
    node[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:position], bytes(node), *proof[position + 1 :]]


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_bit_flipped_or_truncated_inclusion_proofs_fail(index: int, size: int) -> None:
    proof = [bytes.fromhex(node) for node in INCLUSION[index, size]]
    root = bytes.fromhex(ROOTS[size])
    for position in range(len(proof)):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, LEAF_HASHES[index], _flip(proof, position, 7), root)
    for wrong in (proof[:-1], [*proof, proof[0]]):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, LEAF_HASHES[index], wrong, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index + 1, size, LEAF_HASHES[index], proof, root)


@pytest.mark.parametrize(("old", "new"), list(CONSISTENCY))
def test_bit_flipped_or_truncated_consistency_proofs_fail(old: int, new: int) -> None:
    proof = [bytes.fromhex(node) for node in CONSISTENCY[old, new]]
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    for position in range(len(proof)):
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, _flip(proof, position, 0))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, new, new_root, old_root, proof)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_generated_proofs_verify_for_any_size(size: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(size)]
    root = merkle.root_hash(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    merkle.verify_inclusion(
        index, size, leaves[index], merkle.inclusion_proof(index, size, merkle.range_roots(leaves)), root
    )
    old = data.draw(st.integers(min_value=1, max_value=size))
    old_root = merkle.root_hash(leaves[:old])
    merkle.verify_consistency(
        old, size, old_root, root, merkle.consistency_proof(old, size, merkle.range_roots(leaves))
    )


@given(st.integers(min_value=2, max_value=40), st.data())
def test_consistency_fails_when_history_was_rewritten(size: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(size)]
    old = data.draw(st.integers(min_value=1, max_value=size - 1))
    changed = data.draw(st.integers(min_value=0, max_value=old - 1))
    rewritten = [*leaves[:changed], merkle.leaf_hash(b"forged"), *leaves[changed + 1 :]]
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            old,
            size,
            merkle.root_hash(leaves[:old]),
            merkle.root_hash(rewritten),
            merkle.consistency_proof(old, size, merkle.range_roots(rewritten)),
        )


@given(st.integers(min_value=0, max_value=300))
def test_frontier_gives_the_root_at_every_size_and_round_trips(size: int) -> None:
    leaves = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(size)]
    frontier = merkle.Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == _recursive_root(leaves)
    restored = merkle.Frontier.unpack(size, frontier.pack())
    restored.append(merkle.leaf_hash(b"next"))
    assert restored.root() == _recursive_root([*leaves, merkle.leaf_hash(b"next")])


def _recursive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 §2.1, as an independent check of the iterative code."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_recursive_root(leaves[:k]), _recursive_root(leaves[k:]))


@given(st.integers(min_value=1, max_value=300))
def test_append_returns_the_roots_of_the_subtrees_it_completes(size: int) -> None:
    leaves = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(size)]
    frontier = merkle.Frontier()
    for leaf in leaves:
        completed = frontier.append(leaf)
        expected = []
        level = 1
        while frontier.size % (1 << level) == 0:
            expected.append(_recursive_root(leaves[frontier.size - (1 << level) : frontier.size]))
            level += 1
        assert completed == expected


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_perfect_subtrees_make_the_root_of_any_range(low: int, length: int) -> None:
    leaves = [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(low + length)]
    pieces = list(merkle.perfect_subtrees(low, low + length))
    assert [level for _, level in pieces] == sorted((level for _, level in pieces), reverse=True)
    roots = [_recursive_root(leaves[start : start + (1 << level)]) for start, level in pieces]
    assert merkle.Frontier(length, roots).root() == _recursive_root(leaves[low:])
