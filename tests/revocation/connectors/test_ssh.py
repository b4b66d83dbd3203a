"""The SSH connector against a real OpenSSH sshd (servers.Sshd): what the contract
does not cover. Sessions ending, the file kept intact, the pinned host key."""

import os
import time

import pytest

from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.ssh import fingerprint, parse_line
from tests.revocation.connectors.servers import credentials

pytestmark = pytest.mark.django_db


def test_parse_line_reads_options_with_quoted_spaces():
    line = 'command="echo a b",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host x'
    assert parse_line(line) == (
        'command="echo a b",no-pty',
        "ssh-ed25519",
        "AAAAC3NzaC1lZDI1NTE5",
        "me@host x",
    )
    assert parse_line("# a comment") is None
    assert parse_line("") is None
    assert fingerprint("not base64!") is None


@pytest.mark.parametrize("mode", ["remove", "krl"])
def test_an_open_session_is_ended_and_counted_until_then(sshd, ssh_system, mode):
    system = ssh_system(on_revoke=mode)
    key = sshd.add_key()
    (credential,) = credentials(system, [key.fingerprint])
    vendor = sshd.connect(key.fingerprint)
    _, out, _ = vendor.exec_command("sleep 120; echo survived")
    time.sleep(0.5)  # the session's processes exist
    with connector_for(system) as connector:
        # Taken out of the file by hand, the open session still has access.
        if mode == "remove":
            text = sshd.authorized_keys.read_text()
            sshd.authorized_keys.write_text(text.replace(key.public + "\n", ""))
            assert connector.still_active([credential]) == {credential.pk}
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert connector.still_active([credential]) == set()
    deadline = time.monotonic() + 10
    while not out.channel.closed and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.channel.closed  # the vendor's session was ended, not left to finish
    assert b"survived" not in out.read()
    vendor.close()
    assert not sshd.can_login(key.fingerprint)


def test_remove_keeps_other_lines_comments_options_owner_and_mode(sshd, ssh_system):
    system = ssh_system()
    keep = sshd.add_key(options='from="127.0.0.1,::1",no-agent-forwarding')
    gone = sshd.add_key(options="no-pty")
    path = sshd.authorized_keys
    path.write_text(path.read_text() + "# trailing note\n")
    owner = path.stat().st_uid
    before = path.read_text()
    (credential,) = credentials(system, [gone.fingerprint])
    with connector_for(system) as connector:
        connector.revoke(credential)
        listed = {a.external_id: a for a in connector.list_accounts()}
    after = path.read_text()
    assert after == before.replace(f"no-pty {gone.public}\n", "")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.stat().st_uid == owner != os.getuid()
    assert not list(path.parent.glob("*.sundown.*"))
    assert gone.fingerprint not in listed
    assert 'from="127.0.0.1,::1"' in listed[keep.fingerprint].detail
    assert sshd.can_login(keep.fingerprint)


def test_krl_mode_leaves_the_key_listed_but_refused(sshd, ssh_system):
    system = ssh_system(on_revoke="krl")
    key = sshd.add_key()
    (credential,) = credentials(system, [key.fingerprint])
    with connector_for(system) as connector:
        connector.revoke(credential)
        (account,) = [a for a in connector.list_accounts() if a.external_id == key.fingerprint]
    assert account.active is False and "KRL" in account.detail
    assert key.public in sshd.authorized_keys.read_text()
    assert not sshd.can_login(key.fingerprint)


def test_a_wrong_pinned_host_key_is_permanent(sshd, ssh_system):
    other = sshd.add_key(authorize=False).public.split()[:2]
    system = ssh_system(host_key=" ".join(other))
    (credential,) = credentials(system, [sshd.add_key().fingerprint])
    with connector_for(system) as connector, pytest.raises(ConnectorError) as exc:
        connector.still_active([credential])
    assert exc.value.permanent and "not the pinned one" in exc.value.message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"host_key": ""}, "trust on first use"),
        ({"on_revoke": "krl", "krl_path": ""}, "krl_path"),
        ({"end_sessions": "account", "account": "root"}, "own login"),
    ],
)
def test_unusable_configs_are_permanent(ssh_system, config, message):
    with pytest.raises(ConnectorError, match=message) as exc:
        connector_for(ssh_system(**config))
    assert exc.value.permanent


def test_a_full_ssh_config_can_be_saved_and_metadata_hosts_are_refused(settings):
    from django.core.exceptions import ValidationError

    from access.system_config import system_config_check

    config = {
        "host": "127.0.0.1",
        "port": 2222,
        "user": "sundown",
        "account": "vendor",
        "authorized_keys": "/home/vendor/.ssh/authorized_keys",
        "timeout": 5,
        "on_revoke": "krl",
        "krl_path": "/etc/ssh/revoked_keys",
        "end_sessions": "key",
        "host_key": "ssh-ed25519 AAAA",
    }
    system_config_check("ssh", config)  # every key the connector reads is allowed
    with pytest.raises(ValidationError) as exc:
        system_config_check("ssh", {**config, "host": "169.254.169.254"})
    assert "config" in exc.value.message_dict
    with pytest.raises(ValidationError):
        system_config_check("ssh", {**config, "password": "hunter2"})
