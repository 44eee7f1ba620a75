"""The account verbs of `wangge admin`, run as an operator would on the gateway's host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import gateway_yaml, sql
from tests.support import wangge_admin as admin


def test_users_and_tokens_are_run_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    config = gateway_yaml(tmp_path, database_url, "mqtt://127.0.0.1:1")
    secret = tmp_path / "pw"
    secret.write_text("first-password-1\n")
    made = admin(config, "create-user", "--username", "kim", "--role", "admin", "--password-file", str(secret))
    assert made.returncode == 0, made.stderr
    assert admin(config, "create-token", "--user", "kim", "--days", "1").returncode == 0
    listed = admin(config, "list-users").stdout.splitlines()
    assert listed == ["kim\tadmin\t-\tactive\t"]

    # An operator needs a region: refused with a clear message, exit 2.
    demoted = admin(config, "update-user", "--username", "kim", "--role", "operator")
    assert demoted.returncode == 2 and "needs a region" in demoted.stderr

    disabled = admin(config, "update-user", "--username", "kim", "--disable")
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert sql(database_url, "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")[0][0] == 0
    assert admin(config, "update-user", "--username", "kim", "--enable").stdout.strip().endswith("active")

    token_id = sql(database_url, "SELECT max(id) FROM api_tokens")[0][0]
    tokens = admin(config, "list-tokens", "--user", "kim").stdout
    assert tokens.startswith(f"{token_id}\tcli kim\tkim\t") and "revoked" in tokens
    assert admin(config, "list-tokens", "--active").stdout.strip() == "no tokens"
    assert admin(config, "revoke-token", "999999").returncode == 2

    secret.write_text("second-password-2\n")
    reset = admin(config, "reset-password", "--username", "kim", "--password-file", str(secret))
    assert reset.returncode == 0, reset.stderr
    stored = sql(database_url, "SELECT password_hash FROM users WHERE username = 'kim'")[0][0]
    assert stored.startswith("$argon2id$")
    kinds = [r[0] for r in sql(database_url, "SELECT kind FROM audit_log WHERE subject = 'kim' ORDER BY id")]
    assert kinds == ["user.updated", "user.updated", "user.password_reset"]
    actor = sql(database_url, "SELECT DISTINCT actor FROM audit_log WHERE subject = 'kim'")
    assert len(actor) == 1 and actor[0][0].startswith("cli:")

    assert admin(config, "create-edge", "--edge-id", "estate-c").returncode == 0
    rotated = admin(config, "rotate-edge-token", "--edge-id", "estate-c")
    assert rotated.returncode == 0 and "earlier tokens work until" in rotated.stdout
    live = sql(database_url, "SELECT expires_at - created_at FROM api_tokens WHERE edge_id = 'estate-c' ORDER BY id")
    # The first token now ends after the grace day; the new one lives the default 90 days.
    assert [round(d.total_seconds() / 3600) for (d,) in live] == [24, 90 * 24]
    assert admin(config, "rotate-edge-token", "--edge-id", "nobody").returncode == 2


def test_emqx_auth_writes_the_broker_file_with_its_secrets_readable_by_the_owner_only(tmp_path: Path) -> None:
    import stat

    from pyhocon import ConfigFactory

    secret, dashboard, out = tmp_path / "hook", tmp_path / "dash", tmp_path / "emqx_auth.hocon"
    secret.write_text("s" * 32 + "\n")
    dashboard.write_text("a-dashboard-password\n")
    base = [sys.executable, "-m", "wangge", "admin", "emqx-auth", "--out", str(out), "--hooks-secret-file", str(secret)]
    done = subprocess.run([*base, "--dashboard-password-file", str(dashboard)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    config = ConfigFactory.parse_string(out.read_text(), resolve=False)
    assert config["authentication"][0]["url"] == "http://gateway:8080/api/v1/broker/authenticate"
    secret.write_text("short\n")
    refused = subprocess.run(base, capture_output=True, text=True)
    assert refused.returncode == 2 and "at least 24" in refused.stderr
