"""Proofs served from stored subtree roots: the same proofs as from all the leaves, at O(log n) reads."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from chatrk.audit import checkpoints, merkle, proofs
from chatrk.audit.actions import Actor, Origin, record
from chatrk.audit.models import AuditCheckpoint, AuditEvent, AuditSubtree
from chatrk.audit.sequencer import sequence_pending
from chatrk.audit.verify import VerificationError, verify_log

pytestmark = pytest.mark.django_db

CHECKPOINTS = (300, 700, 1100)
SIZE = 1140  # 40 events past the latest checkpoint: their subtrees are not stored yet


@pytest.fixture
def log() -> list[bytes]:
    """The leaf hashes of a log of SIZE events, checkpointed at CHECKPOINTS."""
    origin = Origin(ip="203.0.113.9", user_agent="Firefox")
    for size in (*CHECKPOINTS, SIZE):
        for _ in range(size - AuditEvent.objects.count()):
            record("authn_login_success", actor=Actor.user(1), workspace_id=1, origin=origin)
        sequence_pending()
        if size in CHECKPOINTS:
            checkpoints.publish_checkpoint()
    leaves = AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)
    return [bytes(leaf or b"") for leaf in leaves]


def _event(seq: int) -> AuditEvent:
    return AuditEvent.objects.get(seq=seq)


def _assert_served_proofs_are_the_reference_ones(leaves: list[bytes]) -> None:
    reference = merkle.range_roots(leaves)
    for size in (1, 255, 256, 257, 300, 511, 512, 700, 1024, 1100, SIZE):
        for seq in sorted({0, size // 3, size - 1}):
            proof = proofs.prove_inclusion(_event(seq), size)
            assert proof.path == merkle.inclusion_proof(seq, size, reference)
            assert proof.root_hash == merkle.root_hash(leaves[:size])
            merkle.verify_inclusion(seq, size, proof.leaf_hash, proof.path, proof.root_hash)
    for first, second in ((1, SIZE), (256, 1024), (300, 700), (513, 1100), (1100, SIZE), (700, 700)):
        consistency = proofs.prove_consistency(first, second)
        assert consistency.path == merkle.consistency_proof(first, second, reference)
        assert consistency.first_root == merkle.root_hash(leaves[:first])
        merkle.verify_consistency(
            first, second, consistency.first_root, consistency.second_root, consistency.path
        )


def _stored() -> set[tuple[int, int]]:
    return set(AuditSubtree.objects.values_list("start", "level"))


def test_checkpoints_store_every_subtree_of_256_leaves_or_more_they_cover(log: list[bytes]) -> None:
    # Within the first 1,100 leaves: four of 256, two of 512, one of 1,024.
    assert _stored() == {(0, 8), (256, 8), (512, 8), (768, 8), (0, 9), (512, 9), (0, 10)}
    for subtree in AuditSubtree.objects.all():
        assert bytes(subtree.root_hash) == merkle.root_hash(
            log[subtree.start : subtree.start + (1 << subtree.level)]
        )


def test_served_proofs_are_those_computed_from_all_the_leaves(log: list[bytes]) -> None:
    _assert_served_proofs_are_the_reference_ones(log)


def test_without_stored_subtrees_proofs_are_still_right(log: list[bytes]) -> None:
    AuditSubtree.objects.all().delete()  # a log from before subtrees were stored
    _assert_served_proofs_are_the_reference_ones(log)


def test_a_proof_reads_a_few_blocks_of_leaves_not_the_log(
    log: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    original = proofs.StoredTree._read_blocks

    def counting(tree: proofs.StoredTree, low: int, high: int) -> None:
        read.append(high - low)
        original(tree, low, high)

    monkeypatch.setattr(proofs.StoredTree, "_read_blocks", counting)
    proofs.prove_inclusion(_event(300), 1100)
    proofs.prove_consistency(300, 1100)
    assert sum(read) <= 4 * proofs.BLOCK < len(log)


def test_a_forged_subtree_root_gives_proofs_that_fail_and_verify_names_it(log: list[bytes]) -> None:
    AuditSubtree.objects.filter(start=512, level=9).update(root_hash=b"\x00" * 32)  # on 300's path
    signed = AuditCheckpoint.objects.get(tree_size=1100)
    proof = proofs.prove_inclusion(_event(300), 1100)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(300, 1100, proof.leaf_hash, proof.path, bytes(signed.root_hash))
    with pytest.raises(VerificationError, match="512 events from seq 512") as error:
        verify_log()
    assert error.value.seq == 512


def test_a_stored_subtree_past_the_end_of_the_log_fails_verification(log: list[bytes]) -> None:
    AuditSubtree.objects.create(start=1024, level=8, root_hash=b"\x01" * 32)
    with pytest.raises(VerificationError, match="256 events from seq 1024"):
        verify_log()


def test_the_migration_stores_the_subtrees_of_an_existing_log(log: list[bytes]) -> None:
    before = _stored()
    AuditSubtree.objects.all().delete()
    migration = importlib.import_module("chatrk.audit.migrations.0003_subtrees")
    migration.store_subtrees_of_the_signed_log(apps, None)
    assert _stored() == before
    assert verify_log().tree_size == SIZE


def test_proofs_of_sizes_the_log_does_not_have_are_refused(log: list[bytes]) -> None:
    with pytest.raises(proofs.ProofRequestError):
        proofs.prove_inclusion(_event(3), SIZE + 1)
    with pytest.raises(proofs.ProofRequestError):
        proofs.prove_consistency(5, SIZE + 1)
    with pytest.raises(proofs.ProofRequestError):
        proofs.prove_consistency(0, 10)
