"""htpasswd connector: what only a local password file has.

The shared cases (idempotence, missing, verify, vendor refused, transient and permanent
errors) are in test_contract.py. Here: the rewrite keeps every other line, the owner
and the mode and replaces the file in one rename; a real nginx (not only Apache's
check) refuses the vendor; a batch is one read and one rewrite; an edit by someone
else in between is a retry; and the path rules: below SUNDOWN_LOCAL_TARGET_ROOTS, no
links or extra hard links, refused when saved and again when opened.
"""

import os

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from access.system_config import system_config_check
from revocation.connectors import htpasswd as htpasswd_module
from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.connectors.servers import CallCounter, credentials

pytestmark = pytest.mark.django_db


def test_disable_keeps_every_other_line_owner_and_mode_and_renames(htpasswd_file, htpasswd_system):
    vendor = htpasswd_file.add_user()
    path = htpasswd_file.path
    before = path.read_bytes()
    inode = path.stat().st_ino
    (credential,) = credentials(htpasswd_system(), [vendor])
    with connector_for(credential.system) as connector:
        assert connector.revoke_many([credential]) == {credential.pk: None}
    after = path.read_bytes()
    expected = before.replace(f"\n{vendor}:".encode(), f"\n{vendor}:!".encode())
    assert after == expected and after != before  # CRLF lines, comments, blanks untouched
    info = path.stat()
    assert (info.st_uid, info.st_gid) == htpasswd_file.OWNER
    assert info.st_mode & 0o7777 == htpasswd_file.MODE
    assert info.st_ino != inode  # a new file renamed into place, never edited in place
    assert sorted(os.listdir(htpasswd_file.dir)) == ["users.htpasswd"]  # no temp file left
    assert htpasswd_file.can_login("ops", "ops-pass")
    assert not htpasswd_file.can_login(vendor)


def test_delete_removes_every_line_of_the_user(htpasswd_file, htpasswd_system):
    vendor = htpasswd_file.add_user()
    with htpasswd_file.path.open("ab") as f:  # a second line for the same user
        f.write(f"{vendor}:$apr1$abc$def\n".encode())
    before = htpasswd_file.path.read_bytes()
    (credential,) = credentials(htpasswd_system(on_revoke="delete"), [vendor])
    with connector_for(credential.system) as connector:
        assert [a.external_id for a in connector.list_accounts()].count(vendor) == 1
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert connector.still_active([credential]) == set()
        assert vendor not in {a.external_id for a in connector.list_accounts()}
    lines = before.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"{vendor}:".encode())]
    assert len(kept) == len(lines) - 2
    assert htpasswd_file.path.read_bytes() == b"".join(kept)


def test_a_real_nginx_lets_the_vendor_in_before_and_refuses_after(
    nginx, htpasswd_file, htpasswd_system
):
    disabled, deleted = htpasswd_file.add_user(), htpasswd_file.add_user()
    assert nginx.status(htpasswd_file, disabled) == 200
    assert nginx.status(htpasswd_file, deleted) == 200
    assert nginx.status(htpasswd_file, deleted, "wrong") == 401
    for mode, name in (("disable", disabled), ("delete", deleted)):
        (credential,) = credentials(htpasswd_system(on_revoke=mode), [name])
        with connector_for(credential.system) as connector:
            assert connector.revoke_many([credential]) == {credential.pk: None}
            assert connector.still_active([credential]) == set()
    # nginx reads the file on every request: the next one is refused.
    assert nginx.status(htpasswd_file, disabled) == 401
    assert nginx.status(htpasswd_file, deleted) == 401
    assert nginx.status(htpasswd_file, "ops", "ops-pass") == 200
    assert nginx.status(htpasswd_file, "build", "build-pass") == 200  # {SHA} line kept


def test_a_batch_is_one_read_and_one_rewrite(htpasswd_file, htpasswd_system, monkeypatch):
    names = [htpasswd_file.add_user() for _ in range(20)]
    rows = credentials(htpasswd_system(), names)
    rewrites = CallCounter(monkeypatch, htpasswd_module.HtpasswdConnector, "_replace")
    with connector_for(rows[0].system) as connector:
        assert connector.revoke_many(rows) == {row.pk: None for row in rows}
        assert connector.still_active(rows) == set()
        # Again: nothing left to change, so nothing is written.
        assert connector.revoke_many(rows) == {row.pk: None for row in rows}
    assert rewrites.calls == 1
    assert not any(htpasswd_file.can_login(name) for name in names)


def test_an_edit_by_someone_else_meanwhile_is_a_retry_and_changes_nothing(
    htpasswd_file, htpasswd_system, monkeypatch
):
    vendor = htpasswd_file.add_user()
    (credential,) = credentials(htpasswd_system(), [vendor])
    original = htpasswd_module.HtpasswdConnector._read
    reads = []

    def read_then_someone_edits(self, dir_fd, name):
        result = original(self, dir_fd, name)
        reads.append(1)
        if len(reads) == 1:  # after Sundown's read, before its rename
            htpasswd_file.add_user(name="late")
        return result

    monkeypatch.setattr(htpasswd_module.HtpasswdConnector, "_read", read_then_someone_edits)
    with (
        connector_for(credential.system) as connector,
        pytest.raises(ConnectorError, match="changed while Sundown edited it") as exc,
    ):
        connector.revoke_many([credential])
    assert exc.value.permanent is False
    assert htpasswd_file.can_login(vendor) and htpasswd_file.can_login("late", "vendor-pass-1")
    assert sorted(os.listdir(htpasswd_file.dir)) == ["users.htpasswd"]


def test_an_owner_the_worker_cannot_keep_is_permanent_and_changes_nothing(
    htpasswd_file, htpasswd_system, monkeypatch
):
    vendor = htpasswd_file.add_user()
    (credential,) = credentials(htpasswd_system(), [vendor])

    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    # What fchown does for a worker that is neither root nor the file's owner.
    monkeypatch.setattr(htpasswd_module.os, "fchown", refused)
    before = htpasswd_file.path.read_bytes()
    with (
        connector_for(credential.system) as connector,
        pytest.raises(ConnectorError, match="Cannot keep the owner") as exc,
    ):
        connector.revoke_many([credential])
    assert exc.value.permanent
    assert htpasswd_file.path.read_bytes() == before
    assert sorted(os.listdir(htpasswd_file.dir)) == ["users.htpasswd"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("relative/users", "absolute"),
        ("{root}/../etc/passwd", "plain"),
        ("{root}/./users", "plain"),
        ("{root}//users", "plain"),
        ("{root}/dir/", "plain"),
        ("{root}", "not below"),
        ("/etc/nginx/htpasswd", "not below"),
        ("{root}/a\nb", "control characters"),
    ],
)
def test_saving_refuses_a_path_outside_the_roots(settings, path, message):
    root = settings.SUNDOWN_LOCAL_TARGET_ROOTS[0]
    with pytest.raises(ValidationError, match=message):
        system_config_check("htpasswd", {"path": path.format(root=root)})
    system_config_check("htpasswd", {"path": f"{root}/site/users.htpasswd"})


def test_no_local_file_is_allowed_by_default(settings):
    root = settings.SUNDOWN_LOCAL_TARGET_ROOTS[0]
    with (
        override_settings(SUNDOWN_LOCAL_TARGET_ROOTS=[]),
        pytest.raises(ValidationError, match="not allowed in this deployment"),
    ):
        system_config_check("htpasswd", {"path": f"{root}/users"})


def _refused(system, credential, match):
    for call in ("revoke_many", "still_active", "list_accounts"):
        with connector_for(system) as connector:
            args = () if call == "list_accounts" else ([credential],)
            with pytest.raises(ConnectorError, match=match) as exc:
                getattr(connector, call)(*args)
        assert exc.value.permanent, call


def test_opening_refuses_links_hard_links_and_a_root_no_longer_listed(
    htpasswd_file, htpasswd_system, tmp_path
):
    vendor = htpasswd_file.add_user()
    (credential,) = credentials(htpasswd_system(), [vendor])
    # A directory below the root that is a link to one outside it.
    (tmp_path / "users.htpasswd").write_bytes(htpasswd_file.path.read_bytes())
    (htpasswd_file.dir / "linked").symlink_to(tmp_path)
    _refused(
        htpasswd_system(path=str(htpasswd_file.dir / "linked" / "users.htpasswd")),
        credential,
        "not a plain directory",
    )
    # A second name for the file (it could be a file outside the root).
    os.link(tmp_path / "users.htpasswd", htpasswd_file.dir / "hard.htpasswd")
    _refused(
        htpasswd_system(path=str(htpasswd_file.dir / "hard.htpasswd")), credential, "hard links"
    )
    # Saved while allowed; the deployment no longer lists the root when it is opened.
    with override_settings(SUNDOWN_LOCAL_TARGET_ROOTS=[str(tmp_path)]):
        _refused(htpasswd_system(), credential, "not below")
    assert htpasswd_file.can_login(vendor)
    assert (tmp_path / "users.htpasswd").read_bytes() == htpasswd_file.path.read_bytes()


def test_a_user_name_no_file_can_hold_is_a_permanent_error(htpasswd_file, htpasswd_system):
    vendor = htpasswd_file.add_user()
    bad, good = credentials(htpasswd_system(), ["a:b", vendor])
    with connector_for(good.system) as connector:
        results = connector.revoke_many([bad, good])
    assert results[good.pk] is None
    assert results[bad.pk] is not None and results[bad.pk].permanent
    assert not htpasswd_file.can_login(vendor)


def test_list_accounts_says_which_can_log_in(htpasswd_file, htpasswd_system):
    vendor = htpasswd_file.add_user()
    (credential,) = credentials(htpasswd_system(), [vendor])
    with connector_for(credential.system) as connector:
        connector.revoke(credential)
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert set(accounts) == {"ops", "build", vendor}
    assert accounts["ops"].active and accounts["ops"].detail == "bcrypt"
    assert accounts["build"].detail == "SHA-1, unsalted"
    assert not accounts[vendor].active and accounts[vendor].detail == "bcrypt, disabled"
