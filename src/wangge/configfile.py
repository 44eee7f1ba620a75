"""Loading YAML config into pydantic models, with every error reported by its path in the file."""

from __future__ import annotations

from collections.abc import Sequence
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
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tagged-")))]
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


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from None


def load(model: type[M], path: Path) -> M:
    return validate(model, read_yaml(path), str(path))


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
