"""The audit router: scope check, tenancy (404 for another workspace's event), verifiable proofs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer
from ninja.testing import TestClient

from chatrk.accounts.models import ApiToken, User
from chatrk.audit import checkpoints, merkle
from chatrk.audit.api import router
from chatrk.audit.tests.conftest import write_events
from chatrk.core.clock import now
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role

pytestmark = pytest.mark.django_db


class PrefixAuth(HttpBearer):
    """Test-only: the bearer value is the token's prefix."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return ApiToken.objects.filter(prefix=token).first()


api = NinjaAPI(urls_namespace="audit-api-test", auth=PrefixAuth())
api.add_router("/audit/", router)
client = TestClient(api)


def _token(prefix: str, workspace: Workspace, scopes: list[str]) -> str:
    user = User.objects.create(email=f"{prefix}@example.test", name=prefix, created_at=now())
    # A token works only while its creator is a member whose role still allows its scopes.
    Membership.objects.create(workspace=workspace, user=user, role=Role.AUDITOR, created_at=now())
    ApiToken.objects.create(
        workspace=workspace,
        name=prefix,
        prefix=prefix,
        token_hash=prefix * 4,
        scopes=scopes,
        created_by=user,
        created_at=now(),
        expires_at=now() + timedelta(days=1),
    )
    return prefix


def _workspace(slug: str) -> Workspace:
    return Workspace.objects.create(name=slug, slug=slug, created_at=now())


@pytest.fixture
def mine() -> Workspace:
    return _workspace("mine")


@pytest.fixture
def auditor(mine: Workspace) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token('auditor', mine, ['audit:read'])}"}


def test_every_operation_needs_the_audit_read_scope(mine: Workspace) -> None:
    headers = {"Authorization": f"Bearer {_token('agent', mine, ['messages:send'])}"}
    for path in ("/audit/checkpoint", "/audit/events/0/inclusion", "/audit/consistency?first=1"):
        assert client.get(path, headers=headers).status_code == 403
    assert client.get("/audit/checkpoint").status_code == 401


def test_latest_checkpoint(auditor: dict[str, str]) -> None:
    assert client.get("/audit/checkpoint", headers=auditor).status_code == 404
    write_events(3)
    published = checkpoints.publish_checkpoint()
    assert published is not None
    body = client.get("/audit/checkpoint", headers=auditor).json()
    assert body["tree_size"] == 3
    assert body["note"] == published.note
    key = checkpoints.VerifierKey.parse(body["verifier_key"])
    assert checkpoints.open_note(body["note"], [key]).root_hash.hex() == body["root_hash"]


def test_inclusion_proof_of_an_own_event_verifies_against_the_checkpoint(
    mine: Workspace, auditor: dict[str, str]
) -> None:
    write_events(2, workspace_id=mine.pk + 1)
    write_events(5, workspace_id=mine.pk)
    checkpoints.publish_checkpoint()
    body = client.get("/audit/events/4/inclusion", headers=auditor).json()
    assert body["tree_size"] == 7
    assert merkle.leaf_hash(body["entry"].encode()).hex() == body["leaf_hash"]
    merkle.verify_inclusion(
        4,
        7,
        bytes.fromhex(body["leaf_hash"]),
        [bytes.fromhex(node) for node in body["proof"]],
        bytes.fromhex(body["root_hash"]),
    )
    assert body["root_hash"] == client.get("/audit/checkpoint", headers=auditor).json()["root_hash"]
    smaller = client.get("/audit/events/4/inclusion?tree_size=5", headers=auditor).json()
    assert smaller["tree_size"] == 5


def test_another_workspaces_event_is_not_found(mine: Workspace, auditor: dict[str, str]) -> None:
    theirs = _workspace("theirs")
    write_events(1, workspace_id=theirs.pk)
    write_events(1, workspace_id=None)
    checkpoints.publish_checkpoint()
    for seq in (0, 1, 99):
        response = client.get(f"/audit/events/{seq}/inclusion", headers=auditor)
        assert response.status_code == 404
        assert response.json() == {"detail": "no such event"}


def test_inclusion_beyond_the_tree_size_is_a_bad_request(mine: Workspace, auditor: dict[str, str]) -> None:
    write_events(3, workspace_id=mine.pk)
    checkpoints.publish_checkpoint()
    assert client.get("/audit/events/2/inclusion?tree_size=2", headers=auditor).status_code == 400
    assert client.get("/audit/events/2/inclusion?tree_size=9", headers=auditor).status_code == 400


def test_consistency_proof_between_two_checkpoints_verifies(auditor: dict[str, str]) -> None:
    write_events(3)
    first = checkpoints.publish_checkpoint()
    write_events(6)
    second = checkpoints.publish_checkpoint()
    assert first is not None
    assert second is not None
    body = client.get("/audit/consistency?first=3", headers=auditor).json()
    assert (body["first_size"], body["second_size"]) == (3, 9)
    assert (body["first_root"], body["second_root"]) == (
        bytes(first.root_hash).hex(),
        bytes(second.root_hash).hex(),
    )
    merkle.verify_consistency(
        3, 9, bytes(first.root_hash), bytes(second.root_hash), [bytes.fromhex(node) for node in body["proof"]]
    )
    assert client.get("/audit/consistency?first=4&second=3", headers=auditor).status_code == 400
    assert client.get("/audit/consistency?first=1&second=10", headers=auditor).status_code == 400
