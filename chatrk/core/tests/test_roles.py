from chatrk.core.roles import ROLE_PERMISSIONS, Perm, Role, assignable_roles, role_allows


def test_auditor_is_read_only() -> None:
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {
        Perm.VIEW_WORKSPACE,
        Perm.VIEW_MEMBERS,
        Perm.READ_AUDIT,
        Perm.READ_CONSENT,
    }


def test_only_owners_make_owners() -> None:
    assert Role.OWNER in assignable_roles(Role.OWNER)
    assert Role.OWNER not in assignable_roles(Role.ADMIN)
    assert assignable_roles(Role.AGENT) == []


def test_unknown_role_grants_nothing() -> None:
    assert not role_allows("superuser", Perm.VIEW_WORKSPACE)
