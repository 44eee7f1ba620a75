"""Loading YAML config into pydantic models, with every error reported by its path in the file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


CROSS_CHECK_PREFIX = "cross-check:\n"


def cross_check_error(problems: list[str]) -> ValueError:
    """Raise from a model validator to report problems that already carry their own `path: reason`."""
    return ValueError(CROSS_CHECK_PREFIX + "\n".join(problems))


class ConfigError(Exception):
    """A config that must not start a service; `problems` lists `path: reason` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _clean_message(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        # pydantic puts union / tagged-union member names into loc; they mean nothing to a user.
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tagged-", "kind=")))]
        message = _clean_message(err["msg"])
        if not loc and message.startswith(CROSS_CHECK_PREFIX):
            # A whole-file check that names its own paths: one line per problem, as they were found.
            problems.extend(message.removeprefix(CROSS_CHECK_PREFIX).split("\n"))
            continue
        problems.append(f"{format_loc(loc)}: {message}")
    return problems


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}: invalid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"(top level): must be a mapping, got {type(data).__name__}"])
    return data


ENV_PREFIX = "WANGGE_"
# Read by the command line or as secrets by the code that needs them, never as settings.
PROCESS_VARIABLES = frozenset(
    {
        "WANGGE_LOG_LEVEL",
        "WANGGE_LOG_FORMAT",
        "WANGGE_WEBHOOK_KEYS",
        "WANGGE_SMS_SECRET",
        "WANGGE_S3_ACCESS_KEY",
        "WANGGE_S3_SECRET_KEY",
        "WANGGE_S3_ACCESS_KEY_FILE",
        "WANGGE_S3_SECRET_KEY_FILE",
    }
)


def env_overrides(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> tuple[dict[str, Any], dict[str, str]]:
    """12-factor settings: `WANGGE_MQTT__URL=...` sets mqtt.url (`__` nests; values are YAML scalars or lists),
    and `WANGGE_DATABASE_URL_FILE=/run/secrets/db` reads the value from a file (Docker/Kubernetes secrets).
    Returns the nested overrides and, per dotted path, the variable that set it (for error messages)."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(prefix) or name == prefix or name in PROCESS_VARIABLES:
            continue
        raw = environ[name]
        key = name[len(prefix) :]
        if key.endswith("_FILE"):
            key = key[: -len("_FILE")]
            try:
                raw = Path(raw).read_text("utf-8").rstrip("\n")
            except OSError as exc:
                raise ConfigError(name, [f"{name}: cannot read {raw}: {exc.strerror}"]) from None
            value: Any = raw  # a secret is a string, never reinterpreted
        else:
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
        path = [part.lower() for part in key.split("__") if part]
        if not path:
            continue
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(name, [f"{name}: {'.'.join(path)} conflicts with another variable"])
            node = child
        node[path[-1]] = value
        origin[".".join(path)] = name
    return data, origin


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def validate(model: type[M], data: dict[str, Any], source: str, origin: Mapping[str, str] | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        if origin:
            problems = [_annotate(p, origin) for p in problems]
        raise ConfigError(source, problems) from None


def _annotate(problem: str, origin: Mapping[str, str]) -> str:
    path = problem.split(":", 1)[0]
    for key, name in origin.items():
        if path == key or path.startswith(key + ".") or path.startswith(key + "["):
            return f"{problem} (set by {name})"
    return problem


def load(model: type[M], path: Path | None, environ: Mapping[str, str] | None = None) -> M:
    """The file (if any) with the environment's WANGGE_* settings on top, validated as one."""
    data = read_yaml(path) if path is not None else {}
    overrides, origin = env_overrides(os.environ if environ is None else environ)
    source = str(path) if path is not None else "environment"
    return validate(model, _merge(data, overrides), source, origin)


def _check_host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8080")
    return value


def _check_broker_url(value: str) -> str:
    from wangge.mqtt import parse_broker_url

    parse_broker_url(value)
    return value


HostPort = Annotated[str, AfterValidator(_check_host_port)]
BrokerUrl = Annotated[str, AfterValidator(_check_broker_url)]
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
