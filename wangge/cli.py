"""The `wangge` command: edge, gateway, demo, check-config and admin verbs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wangge import configfile, logs
from wangge.edge.config import EdgeConfig
from wangge.files import write_private
from wangge.gateway.config import GatewayConfig

if TYPE_CHECKING:
    from wangge.gateway.accounts.principal import Principal
    from wangge.gateway.storage.pool import Conn

EXIT_CONFIG = 2


def config_kind(data: dict[str, Any]) -> str | None:
    """Tell an edge config from a gateway config by their required top-level keys."""
    if "edge_id" in data or "sensors" in data or "uplink" in data:
        return "edge"
    if "database_url" in data or "mqtt" in data or "http" in data:
        return "gateway"
    return None


def load_config(path: Path, kind: str | None = None) -> EdgeConfig | GatewayConfig:
    data = configfile.read_yaml(path)
    kind = kind or config_kind(data)
    if kind is None:
        raise configfile.ConfigError(
            str(path), ["(top level): cannot tell an edge config from a gateway config; pass --kind"]
        )
    model: type[EdgeConfig] | type[GatewayConfig] = EdgeConfig if kind == "edge" else GatewayConfig
    return configfile.load(model, path)  # the file with the environment's WANGGE_* settings, as a service sees it


def _report(exc: configfile.ConfigError) -> int:
    print(f"{exc.source}: invalid configuration", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.file), args.kind)
    except configfile.ConfigError as exc:
        return _report(exc)
    kind = "edge" if isinstance(config, EdgeConfig) else "gateway"
    print(f"{args.file}: valid {kind} configuration")
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    from wangge.edge.service import run_edge

    try:
        config = configfile.load(EdgeConfig, Path(args.config) if args.config else None)
    except configfile.ConfigError as exc:
        return _report(exc)
    run_edge(config)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from wangge.gateway.intake.phone import SmsKeyMissing, sender_for
    from wangge.gateway.service import run_gateway

    try:
        config = configfile.load(GatewayConfig, Path(args.config) if args.config else None)
        sender_for(config.intake.phone)  # a secret the environment must hold: said before anything starts
    except configfile.ConfigError as exc:
        return _report(exc)
    except SmsKeyMissing as exc:
        print(f"wangge gateway: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    asyncio.run(run_gateway(config))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """The demo's estate sensors against any broker (compose uses it to feed the edge)."""
    import signal
    import threading

    from wangge.demo.simulator import SensorSimulator
    from wangge.mqtt import parse_broker_url

    try:
        broker = parse_broker_url(args.broker)
    except ValueError as exc:
        print(f"--broker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    simulator = SensorSimulator(broker, interval_s=args.interval)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    simulator.start()
    done.wait()
    simulator.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from wangge.demo.run import run_demo

    asyncio.run(run_demo(Path(args.data_dir), args.http, args.mqtt))
    return 0


async def _with_database(config_path: str, work: Callable[[Conn, GatewayConfig], Awaitable[str]]) -> str:
    """Run one admin job against the gateway's database (migrated first)."""
    from wangge.gateway.storage.embedded import EmbeddedPostgres
    from wangge.gateway.storage.migrations import migrate
    from wangge.gateway.storage.pool import create_pool

    config = configfile.load(GatewayConfig, Path(config_path))
    embedded = EmbeddedPostgres(config.data_dir / "pg") if config.database_url is None else None
    url = config.database_url or (embedded.url if embedded else "")
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            return await work(conn, config)
    finally:
        await pool.close()


def _admin(args: argparse.Namespace, work: Callable[[Conn, GatewayConfig], Awaitable[str]]) -> int:
    from wangge.gateway.accounts.errors import AccountError
    from wangge.gateway.cases.registry import RegistryError

    try:
        print(asyncio.run(_with_database(args.config, work)))
    except configfile.ConfigError as exc:
        return _report(exc)
    except RegistryError as exc:
        print(f"{getattr(args, 'file', '')}: nothing imported, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except (ValueError, AccountError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.users import create_user

    password = Path(args.password_file).read_text().strip() if args.password_file else getpass.getpass()

    async def work(conn: Conn, config: GatewayConfig) -> str:
        user_id = await create_user(conn, args.username, password, args.role, args.region, args.display_name)
        return f"user {args.username} (id {user_id}) created"

    return _admin(args, work)


def cmd_create_token(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.tokens import issue_token

    async def work(conn: Conn, config: GatewayConfig) -> str:
        user_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", args.user)
        if user_id is None:
            raise ValueError(f"no user {args.user!r} (wangge admin create-user)")
        expires = datetime.now(UTC) + timedelta(days=args.days) if args.days else None
        token = await issue_token(conn, f"cli {args.user}", user_id=user_id, expires_at=expires)
        return f"token: {token}"

    return _admin(args, work)


def cmd_rotate_edge_token(args: argparse.Namespace) -> int:
    """A new HTTPS token for an edge; its earlier ones keep working for the grace period (no downtime)."""
    from wangge.gateway.accounts.tokens import rotate_edge_token

    async def work(conn: Conn, config: GatewayConfig) -> str:
        if await conn.fetchval("SELECT 1 FROM edges WHERE edge_id = $1", args.edge_id) is None:
            raise ValueError(f"no edge {args.edge_id!r} (wangge admin create-edge)")
        token, expires, until = await rotate_edge_token(
            conn,
            args.edge_id,
            datetime.now(UTC),
            config.accounts.edge_token_lifetime,
            config.accounts.edge_token_grace,
        )
        return f"token: {token}\nexpires: {expires.isoformat()}\nearlier tokens work until: {until.isoformat()}"

    return _admin(args, work)


def _cli_admin() -> Principal:
    """Whoever runs `wangge admin` on the gateway's host holds its database: they act as an admin."""
    from wangge.gateway.accounts.principal import Principal

    return Principal(name=f"cli:{getpass.getuser()}", role="admin", scope="/")


def cmd_list_users(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.management import list_users

    async def work(conn: Conn, config: GatewayConfig) -> str:
        rows, after, lines = [], None, []
        while True:
            page, after = await list_users(conn, _cli_admin(), args.role, None, None, after, 500)
            rows += page
            if after is None:
                break
        for r in rows:
            state = "disabled" if r["disabled_at"] else "active"
            lines.append(f"{r['username']}\t{r['role']}\t{r['region_code'] or '-'}\t{state}\t{r['display_name']}")
        return "\n".join(lines) or "no users"

    return _admin(args, work)


def cmd_update_user(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.management import UserChange, update

    change = UserChange(
        role=args.role,
        region_code=args.region,
        display_name=args.display_name,
        disabled=True if args.disable else False if args.enable else None,
    )

    async def work(conn: Conn, config: GatewayConfig) -> str:
        user = await update(conn, _cli_admin(), args.username, change, None)
        state = "disabled" if user["disabled_at"] else "active"
        return f"user {user['username']}: {user['role']} in {user['region_code'] or 'the whole city'}, {state}"

    return _admin(args, work)


def cmd_reset_password(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.management import reset_password

    password = Path(args.password_file).read_text().strip() if args.password_file else getpass.getpass()

    async def work(conn: Conn, config: GatewayConfig) -> str:
        await reset_password(conn, _cli_admin(), args.username, password, None, None)
        return f"password of {args.username} reset; their tokens are revoked"

    return _admin(args, work)


def cmd_list_tokens(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.management import list_tokens

    async def work(conn: Conn, config: GatewayConfig) -> str:
        active = datetime.now(UTC) if args.active else None
        page, _ = await list_tokens(conn, _cli_admin(), args.user, args.edge_id, active, None, 1000)
        lines = [
            f"{t['id']}\t{t['name']}\t{t['username'] or t['edge_id'] or '-'}\tcreated {t['created_at']:%Y-%m-%d}"
            f"\texpires {t['expires_at'] or 'never'}\t{'revoked' if t['revoked_at'] else 'live'}"
            for t in page
        ]
        return "\n".join(lines) or "no tokens"

    return _admin(args, work)


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from wangge.gateway.accounts.management import revoke_token

    async def work(conn: Conn, config: GatewayConfig) -> str:
        await revoke_token(conn, _cli_admin(), args.id, None)
        return f"token {args.id} revoked"

    return _admin(args, work)


def cmd_models(args: argparse.Namespace) -> int:
    """The detection models wangge knows (its manifests), whether each is in place, and how to put it there."""
    from importlib import resources

    from wangge.models.manifests import ModelError, load_manifest, locate_weights

    model_dir = Path(args.model_dir)
    names = sorted(
        p.name.removesuffix(".yaml") for p in resources.files("wangge.models").iterdir() if p.name.endswith(".yaml")
    )
    missing = 0
    for name in names:
        manifest = load_manifest(name, [model_dir])
        try:
            found = locate_weights(manifest, model_dir)
        except ModelError as exc:
            print(f"{name}: {exc}")
            missing += 1
            continue
        if found is not None:
            print(f"{name}: in place at {found} (sha256 verified)")
            continue
        missing += 1
        print(
            f"{name}: not in {model_dir} — until it is, cameras detect people with OpenCV's HOG.\n"
            f"  put it in place (licence {manifest.licence}):\n"
            f"    curl -L -o {model_dir / manifest.file} {manifest.url}\n"
            f"    echo '{manifest.sha256}  {model_dir / manifest.file}' | sha256sum -c\n"
            f"  (the edge checks this sha256 before it runs the file; set video.model_dir to {model_dir})"
        )
    return 1 if missing and args.check else 0


def cmd_migrate_media(args: argparse.Namespace) -> int:
    """Move attachments whose bytes are still in PostgreSQL into the object store, checking every sha256."""
    from wangge.gateway.media.objects import offload
    from wangge.gateway.service import object_store

    async def work(conn: Conn, config: GatewayConfig) -> str:
        store, embedded = await asyncio.to_thread(object_store, config)
        try:
            await store.ensure_bucket()
            moved, mismatched = 0, list[int]()
            while True:  # in batches, printing progress; an interrupted run resumes where it stopped
                report = await offload(conn, store, batch=args.batch, limit=args.batch * 20)
                moved += report.moved
                mismatched = sorted(set(mismatched) | set(report.mismatched))
                print(f"moved {moved}, {report.left} left", flush=True)
                if report.moved == 0 or report.left <= len(mismatched):
                    break
        finally:
            if embedded is not None:
                embedded.stop()
        kept = f"; kept in PostgreSQL, their bytes do not match their sha256: {mismatched}" if mismatched else ""
        return f"{moved} attachments moved to {store.url}/{store.bucket}, each read back and checked{kept}"

    return _admin(args, work)


def cmd_create_edge(args: argparse.Namespace) -> int:
    """Provision an edge: registry entry, broker identity and HTTPS token; the secrets are shown once."""
    from wangge.gateway.accounts.broker import provision_edge

    async def work(conn: Conn, config: GatewayConfig) -> str:
        password, token = await provision_edge(
            conn, args.edge_id, args.region, datetime.now(UTC), config.accounts.edge_token_lifetime
        )
        secrets = {
            "edge_id": args.edge_id,
            "broker_username": args.edge_id,
            "broker_password": password,
            "token": token,
        }
        text = "".join(f"{k}: {v}\n" for k, v in secrets.items())
        if args.secrets_file:
            path = Path(args.secrets_file)
            path.touch(mode=0o600, exist_ok=False)
            path.write_text(text)
            return f"edge {args.edge_id} provisioned; its secrets are in {path} (mode 600). Now run broker-passwords."
        return f"edge {args.edge_id} provisioned (shown once, store them on the edge):\n{text.rstrip()}"

    return _admin(args, work)


def cmd_broker_passwords(args: argparse.Namespace) -> int:
    """Write the central broker's password file: the gateway identity and every provisioned edge."""
    from wangge.gateway.accounts.broker import password_file

    gateway_password = Path(args.gateway_password_file).read_text().strip()

    async def work(conn: Conn, config: GatewayConfig) -> str:
        text = await password_file(conn, gateway_password)
        out = Path(args.out)
        write_private(out, text)  # the broker never reads a half-written file
        return f"{out}: {len(text.splitlines())} identities (send the broker SIGHUP to load them)"

    return _admin(args, work)


def cmd_emqx_auth(args: argparse.Namespace) -> int:
    """EMQX's HTTP authentication and authorisation against the gateway, with the hook secret in it."""
    from wangge.gateway.accounts.emqx import emqx_auth_hocon

    secret = Path(args.hooks_secret_file).read_text().strip()
    if len(secret) < 24:
        print(f"error: {args.hooks_secret_file}: the hook secret needs at least 24 characters", file=sys.stderr)
        return EXIT_CONFIG
    out = Path(args.out)
    dashboard = Path(args.dashboard_password_file).read_text().strip() if args.dashboard_password_file else None
    if dashboard is not None and len(dashboard) < 12:
        print("error: the EMQX dashboard password needs at least 12 characters", file=sys.stderr)
        return EXIT_CONFIG
    write_private(out, emqx_auth_hocon(args.gateway_url, secret, dashboard))
    print(f"{out} written: EMQX asks {args.gateway_url} about every login and topic")
    return 0


def cmd_broker_dynsec(args: argparse.Namespace) -> int:
    """The central Mosquitto's dynamic-security file: identities and per-edge roles, checked at subscribe."""
    from wangge.gateway.accounts.dynsec import dynsec_file

    gateway_password = Path(args.gateway_password_file).read_text().strip()

    async def work(conn: Conn, config: GatewayConfig) -> str:
        data = await dynsec_file(conn, gateway_password, args.shared_group)
        out = Path(args.out)
        write_private(out, json.dumps(data, indent=1))
        return f"{out}: {len(data['clients'])} identities; restart the broker to load it"

    return _admin(args, work)


def cmd_import_regions(args: argparse.Namespace) -> int:
    from wangge.gateway.cases import registry

    async def work(conn: Conn, config: GatewayConfig) -> str:
        count = await registry.import_regions(conn, Path(args.file).read_text("utf-8"), args.file)
        return f"{args.file}: {count} regions imported"

    return _admin(args, work)


def cmd_export_regions(args: argparse.Namespace) -> int:
    from wangge.gateway.cases import registry

    async def work(conn: Conn, config: GatewayConfig) -> str:
        return await registry.export_regions(conn, args.format)

    return _admin(args, work)


def cmd_import_devices(args: argparse.Namespace) -> int:
    from wangge.gateway.cases import registry

    async def work(conn: Conn, config: GatewayConfig) -> str:
        count = await registry.import_devices(conn, Path(args.file).read_text("utf-8"))
        return f"{args.file}: {count} edges and devices imported"

    return _admin(args, work)


def cmd_add_webhook(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from wangge.gateway.webhooks import subscriptions
    from wangge.gateway.webhooks.sealing import SecretBox

    try:
        data = subscriptions.SubscriptionIn(
            name=args.name,
            url=args.url,
            format=args.format,
            secret=args.secret,
            region=args.region,
            categories=args.category or [],
            severities=args.severity or [],
            event_types=args.event or [],
        )
    except ValidationError as exc:
        return _report(configfile.ConfigError("add-webhook", configfile.validation_problems(exc)))

    async def work(conn: Conn, config: GatewayConfig) -> str:
        path = "/"
        if args.region:
            path = await conn.fetchval("SELECT path FROM regions WHERE code = $1", args.region)
            if path is None:
                raise ValueError(f"no region {args.region!r}")
        box = SecretBox.from_environment(config.webhook_keys_file())
        sub_id, secret = await subscriptions.create(conn, box, data, path, "cli")
        return f"subscription {sub_id} created" + (f"\nsecret: {secret}" if secret else "")

    return _admin(args, work)


def cmd_new_webhook_key(args: argparse.Namespace) -> int:
    """Step 1 of a key rotation: a new key first in the key file (every replica re-reads the file)."""
    from wangge.gateway.webhooks.sealing import ENV_KEYS, add_key

    try:
        config = configfile.load(GatewayConfig, Path(args.config))
    except configfile.ConfigError as exc:
        return _report(exc)
    if os.environ.get(ENV_KEYS):
        print(f"error: the keys come from {ENV_KEYS}: put a new Fernet key first there, then reseal", file=sys.stderr)
        return EXIT_CONFIG
    add_key(config.webhook_keys_file())
    print(
        f"a new key is first in {config.webhook_keys_file()}; now run reseal-webhook-secrets, then remove the old"
        " key lines once no backup needs them"
    )
    return 0


def cmd_reseal_webhook_secrets(args: argparse.Namespace) -> int:
    """Step 2: every URL and secret sealed again with the first key."""
    from wangge.gateway.webhooks.sealing import SecretBox
    from wangge.gateway.webhooks.subscriptions import reseal_all

    async def work(conn: Conn, config: GatewayConfig) -> str:
        done = await reseal_all(conn, SecretBox.from_environment(config.webhook_keys_file()))
        return f"{done} subscription(s) sealed with the first key"

    return _admin(args, work)


def cmd_list_webhooks(args: argparse.Namespace) -> int:
    async def work(conn: Conn, config: GatewayConfig) -> str:
        rows = await conn.fetch(
            "SELECT s.id, s.name, s.format, s.url, s.enabled, s.disabled_reason,"
            " count(d.*) FILTER (WHERE d.state = 'pending') AS pending,"
            " count(d.*) FILTER (WHERE d.state = 'dead') AS dead FROM webhook_subscriptions s"
            " LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id GROUP BY s.id ORDER BY s.id"
        )
        lines = [
            f"{r['id']:>4} {r['format']:<9} {'on ' if r['enabled'] else 'off'} pending={r['pending']}"
            f" dead={r['dead']} {r['name']} {r['url']}" + (f" ({r['disabled_reason']})" if r["disabled_reason"] else "")
            for r in rows
        ]
        return "\n".join(lines) or "no subscriptions"

    return _admin(args, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wangge", description=__doc__)
    parser.add_argument(
        "--log-level", default=os.environ.get("WANGGE_LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        default=os.environ.get("WANGGE_LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="json: one object per line with request and alert ids (WANGGE_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("edge", help="run an edge box")
    p.add_argument("--config", help="edge.yaml; WANGGE_* environment variables override it (or replace it)")
    p.set_defaults(func=cmd_edge)

    p = sub.add_parser("gateway", help="run the central gateway")
    p.add_argument("--config", help="gateway.yaml; WANGGE_* environment variables override it (or replace it)")
    p.set_defaults(func=cmd_gateway)

    p = sub.add_parser("demo", help="everything on one machine on embedded defaults")
    p.add_argument("--data-dir", default="./var/demo")
    p.add_argument("--http", default="127.0.0.1:8080")
    p.add_argument("--mqtt", default="127.0.0.1:1883")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="publish the demo estate's simulated sensor readings to a broker")
    p.add_argument("--broker", default=os.environ.get("WANGGE_SIMULATE_BROKER", "mqtt://127.0.0.1:1883"))
    p.add_argument("--interval", type=float, default=2.0, help="seconds between readings")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("models", help="the detection models: which are in place, and how to put one there")
    p.add_argument("--model-dir", default="models", help="the edge's video.model_dir (default ./models)")
    p.add_argument("--check", action="store_true", help="exit 1 when a model is missing")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("check-config", help="validate a config file; exit 2 naming each bad field")
    p.add_argument("file")
    p.add_argument("--kind", choices=["edge", "gateway"])
    p.set_defaults(func=cmd_check_config)

    admin = sub.add_parser("admin", help="operator verbs").add_subparsers(dest="verb", required=True)

    def verb(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = admin.add_parser(name, help=help_text)
        p.add_argument("--config", required=True, help="the gateway config (for its database)")
        p.set_defaults(func=func)
        return p

    p = verb("create-user", "create a user (password asked, or read from --password-file)", cmd_create_user)
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "operator", "grid_worker"])
    p.add_argument("--region", help="region code the user works in (all regions when absent)")
    p.add_argument("--display-name", default="")
    p.add_argument("--password-file")
    p = verb("create-token", "an API token for a user, printed once", cmd_create_token)
    p.add_argument("--user", required=True)
    p.add_argument("--days", type=float, default=0, help="expires after this many days (0: never)")
    p = verb(
        "rotate-edge-token", "a new HTTPS token for an edge; earlier ones work for the grace", cmd_rotate_edge_token
    )
    p.add_argument("--edge-id", required=True)
    p = verb("list-users", "users, their roles, regions and whether they are disabled", cmd_list_users)
    p.add_argument("--role", choices=["admin", "supervisor", "operator", "grid_worker"])
    p = verb("update-user", "change a user's role, region or name; disable or enable them", cmd_update_user)
    p.add_argument("--username", required=True)
    p.add_argument("--role", choices=["admin", "supervisor", "operator", "grid_worker"])
    p.add_argument("--region", help="region code")
    p.add_argument("--display-name")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true", help="sign them out everywhere and refuse sign-in")
    state.add_argument("--enable", action="store_true")
    p = verb(
        "reset-password", "set a user's password (asked, or --password-file); revokes their tokens", cmd_reset_password
    )
    p.add_argument("--username", required=True)
    p.add_argument("--password-file")
    p = verb("list-tokens", "tokens of users and edges (never their secrets)", cmd_list_tokens)
    p.add_argument("--user")
    p.add_argument("--edge-id")
    p.add_argument("--active", action="store_true", help="only tokens neither revoked nor expired")
    p = verb("revoke-token", "revoke a token by its id (list-tokens)", cmd_revoke_token)
    p.add_argument("id", type=int)
    p = verb(
        "migrate-media",
        "move photos and snapshots kept in PostgreSQL into the object store (resumable)",
        cmd_migrate_media,
    )
    p.add_argument("--batch", type=int, default=50, help="attachments per committed batch")
    p = verb(
        "create-edge", "provision an edge: registry, broker identity and HTTPS token (shown once)", cmd_create_edge
    )
    p.add_argument("--edge-id", required=True)
    p.add_argument("--region", help="region code the edge's estate is in")
    p.add_argument("--secrets-file", help="write the secrets to this new file (mode 600) instead of printing them")
    p = verb("broker-passwords", "write the central Mosquitto's password file from the registry", cmd_broker_passwords)
    p.add_argument("--out", required=True, help="the password file the broker reads")
    p.add_argument("--gateway-password-file", required=True, help="file holding the gateway identity's password")
    p = admin.add_parser("emqx-auth", help="write EMQX's authentication and authorisation (HTTP, to the gateways)")
    p.add_argument("--out", required=True, help="the HOCON file EMQX reads as etc/base.hocon")
    p.add_argument("--hooks-secret-file", required=True, help="the secret EMQX calls the gateway with")
    p.add_argument("--gateway-url", default="http://gateway:8080", help="a name that reaches every replica")
    p.add_argument("--dashboard-password-file", help="the EMQX dashboard's first admin password (no default)")
    p.set_defaults(func=cmd_emqx_auth)
    p = verb(
        "broker-dynsec", "write the central Mosquitto's dynamic-security file from the registry", cmd_broker_dynsec
    )
    p.add_argument("--out", required=True, help="the plugin's JSON file (plugin_opt_config_file)")
    p.add_argument("--gateway-password-file", required=True, help="file holding the gateway identity's password")
    p.add_argument("--shared-group", default="gateway", help="the gateways' mqtt.shared_group ('' for none)")
    p = verb("import-regions", "import regions from GeoJSON or CSV: all rows or none", cmd_import_regions)
    p.add_argument("file")
    p = verb("export-regions", "print the regions as GeoJSON or CSV", cmd_export_regions)
    p.add_argument("--format", choices=["geojson", "csv"], default="geojson")
    p = verb("import-devices", "import edges, cameras and sensors from CSV: all rows or none", cmd_import_devices)
    p.add_argument("file")
    p = verb("add-webhook", "subscribe a URL to ticket events (the secret is printed once)", cmd_add_webhook)
    p.add_argument("--name", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--format", choices=["standard", "dingtalk", "wecom", "feishu"], default="standard")
    p.add_argument("--secret", help="default: generated (whsec_... for standard)")
    p.add_argument("--region", help="region code: only its subtree")
    p.add_argument("--category", action="append", help="category prefix (repeatable)")
    p.add_argument("--severity", action="append", choices=["info", "minor", "major", "critical"])
    p.add_argument("--event", action="append", help="event type (repeatable), e.g. ticket.created")
    verb("list-webhooks", "subscriptions with pending and dead deliveries", cmd_list_webhooks)
    verb("new-webhook-key", "put a new key first in the webhook key file (rotation step 1)", cmd_new_webhook_key)
    verb(
        "reseal-webhook-secrets",
        "seal every webhook URL and secret with the first key (step 2)",
        cmd_reseal_webhook_secrets,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except yaml.YAMLError as exc:
        print(f"invalid YAML: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
