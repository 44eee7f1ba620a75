"""The `wangge` command: edge, gateway, demo, check-config and admin verbs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from wangge import configfile
from wangge.edge.config import EdgeConfig
from wangge.gateway.config import GatewayConfig

EXIT_CONFIG = 2


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
    return configfile.validate(model, data, str(path))


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
        config = configfile.load(EdgeConfig, Path(args.config))
    except configfile.ConfigError as exc:
        return _report(exc)
    run_edge(config)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from wangge.gateway.service import run_gateway

    try:
        config = configfile.load(GatewayConfig, Path(args.config))
    except configfile.ConfigError as exc:
        return _report(exc)
    asyncio.run(run_gateway(config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from wangge.demo.run import run_demo

    asyncio.run(run_demo(Path(args.data_dir), args.http, args.mqtt))
    return 0


async def _create_token(config: GatewayConfig, name: str) -> str:
    from wangge.gateway import db
    from wangge.gateway.auth import create_token

    embedded = db.EmbeddedPostgres(config.data_dir / "pg") if config.database_url is None else None
    url = config.database_url or (embedded.url if embedded else "")
    pool = await db.create_pool(url, max_size=1)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
            return await create_token(conn, name)
    finally:
        await pool.close()


def cmd_create_token(args: argparse.Namespace) -> int:
    try:
        config = configfile.load(GatewayConfig, Path(args.config))
    except configfile.ConfigError as exc:
        return _report(exc)
    print(f"token: {asyncio.run(_create_token(config, args.name))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wangge", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("edge", help="run an edge box")
    p.add_argument("--config", required=True)
    p.set_defaults(func=cmd_edge)

    p = sub.add_parser("gateway", help="run the central gateway")
    p.add_argument("--config", required=True)
    p.set_defaults(func=cmd_gateway)

    p = sub.add_parser("demo", help="everything on one machine on embedded defaults")
    p.add_argument("--data-dir", default="./var/demo")
    p.add_argument("--http", default="127.0.0.1:8080")
    p.add_argument("--mqtt", default="127.0.0.1:1883")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-config", help="validate a config file; exit 2 naming each bad field")
    p.add_argument("file")
    p.add_argument("--kind", choices=["edge", "gateway"])
    p.set_defaults(func=cmd_check_config)

    admin = sub.add_parser("admin", help="operator verbs").add_subparsers(dest="verb", required=True)
    p = admin.add_parser("create-token", help="create an API token and print it once")
    p.add_argument("--config", required=True, help="the gateway config (for its database)")
    p.add_argument("--name", required=True)
    p.set_defaults(func=cmd_create_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except yaml.YAMLError as exc:
        print(f"invalid YAML: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
