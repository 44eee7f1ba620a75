"""Topic patterns with named captures (`estate/+building/+device/state`), as Telegraf's mqtt_consumer does."""

from __future__ import annotations


class TopicPattern:
    """An MQTT filter whose `+name` / `#name` levels also capture the matched text under `name`."""

    __slots__ = ("_levels", "names", "pattern", "subscription")

    def __init__(self, pattern: str) -> None:
        if not pattern or len(pattern) > 1024:
            raise ValueError("topic must be 1 to 1024 characters")
        levels = pattern.split("/")
        parsed: list[tuple[str, str | None]] = []
        names: list[str] = []
        for i, level in enumerate(levels):
            if level.startswith(("+", "#")):
                wild, name = level[0], level[1:] or None
                if wild == "#" and i != len(levels) - 1:
                    raise ValueError(f"'#' must be the last level in {pattern!r}")
                if name is not None:
                    if not name.isidentifier():
                        raise ValueError(f"capture name {name!r} in {pattern!r} must be a plain word")
                    if name in names:
                        raise ValueError(f"capture name {name!r} used twice in {pattern!r}")
                    names.append(name)
                parsed.append((wild, name))
            elif "+" in level or "#" in level:
                raise ValueError(f"wildcards must fill a whole level: {level!r} in {pattern!r}")
            else:
                parsed.append((level, None))
        self.pattern = pattern
        self.names = tuple(names)
        self._levels = tuple(parsed)
        self.subscription = "/".join(lit for lit, _ in parsed)

    def match(self, topic: str) -> dict[str, str] | None:
        """The captures if `topic` matches, else None."""
        parts = topic.split("/")
        captures: dict[str, str] = {}
        levels = self._levels
        for i, (lit, name) in enumerate(levels):
            if lit == "#":
                if name is not None:
                    captures[name] = "/".join(parts[i:])
                return captures
            if i >= len(parts):
                return None
            if lit == "+":
                if name is not None:
                    captures[name] = parts[i]
            elif lit != parts[i]:
                return None
        return captures if len(parts) == len(levels) else None

    def __repr__(self) -> str:
        return f"TopicPattern({self.pattern!r})"
