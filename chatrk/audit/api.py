"""Audit API (mounted by the API lead at ``/api/v1/audit/``): checkpoints and proofs.

Transport only. Every operation needs an API token with the ``audit:read`` scope. Proofs only
contain hashes; an inclusion proof is only served for an event of the token's own workspace, and
another workspace's event answers 404 exactly like a missing one.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError

from chatrk.accounts.models import ApiToken
from chatrk.accounts.scopes import Scope
from chatrk.api.auth import require_scope
from chatrk.api.schemas import DENIED, Error
from chatrk.audit import checkpoints, queries
from chatrk.audit.proofs import ProofRequestError, prove_consistency, prove_inclusion

router = Router(tags=["audit"])


class CheckpointOut(Schema):
    tree_size: int
    root_hash: str  # hex
    note: str  # the C2SP signed note; verify it with ``verifier_key``
    verifier_key: str
    created_at: str


class InclusionOut(Schema):
    seq: int
    tree_size: int
    entry: str  # the canonical JSON that was hashed into the leaf
    leaf_hash: str
    proof: list[str]
    root_hash: str


class ConsistencyOut(Schema):
    first_size: int
    second_size: int
    proof: list[str]
    first_root: str
    second_root: str


def _audit_token(request: HttpRequest) -> ApiToken:
    return require_scope(request, Scope.AUDIT_READ)


def _latest_size() -> int:
    latest = checkpoints.latest_checkpoint()
    if latest is None:
        raise HttpError(404, "no checkpoint has been published yet")
    return latest.tree_size


@router.get(
    "/checkpoint", response={200: CheckpointOut, 404: Error, **DENIED}, summary="The latest signed checkpoint"
)
def latest_checkpoint(request: HttpRequest) -> CheckpointOut:
    _audit_token(request)
    latest = checkpoints.latest_checkpoint()
    if latest is None:
        raise HttpError(404, "no checkpoint has been published yet")
    return CheckpointOut(
        tree_size=latest.tree_size,
        root_hash=bytes(latest.root_hash).hex(),
        note=latest.note,
        verifier_key=str(checkpoints.verifier_key()),
        created_at=latest.created_at.isoformat(),
    )


@router.get(
    "/events/{seq}/inclusion",
    response={200: InclusionOut, 400: Error, 404: Error, **DENIED},
    summary="Inclusion proof of an event",
)
def inclusion(request: HttpRequest, seq: int, tree_size: int | None = None) -> InclusionOut:
    token = _audit_token(request)
    event = queries.workspace_event(token.workspace_id, seq)
    if event is None:
        raise HttpError(404, "no such event")
    try:
        proof = prove_inclusion(event, tree_size if tree_size is not None else _latest_size())
    except ProofRequestError as error:
        raise HttpError(400, str(error)) from None
    return InclusionOut(
        seq=proof.seq,
        tree_size=proof.tree_size,
        entry=proof.entry.decode(),
        leaf_hash=proof.leaf_hash.hex(),
        proof=[node.hex() for node in proof.path],
        root_hash=proof.root_hash.hex(),
    )


@router.get(
    "/consistency",
    response={200: ConsistencyOut, 400: Error, 404: Error, **DENIED},
    summary="Consistency proof between two tree sizes",
)
def consistency(request: HttpRequest, first: int, second: int | None = None) -> ConsistencyOut:
    _audit_token(request)
    try:
        proof = prove_consistency(first, second if second is not None else _latest_size())
    except ProofRequestError as error:
        raise HttpError(400, str(error)) from None
    return ConsistencyOut(
        first_size=proof.first_size,
        second_size=proof.second_size,
        proof=[node.hex() for node in proof.path],
        first_root=proof.first_root.hex(),
        second_root=proof.second_root.hex(),
    )
