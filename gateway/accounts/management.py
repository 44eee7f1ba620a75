"""Running accounts for years: listing, changing, disabling and re-enabling users, resetting passwords, and
listing and revoking tokens. Every change is audited.

Who may manage whom: an admin anyone; a supervisor only operators and grid workers inside their own area (a
street office runs its grid workers), never moving one out of it; nobody else. An admin cannot disable or
demote themself, so there is always someone who can undo a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.audit import audit
from wangge.gateway.accounts.config import AccountsConfig
from wangge.gateway.accounts.errors import AccountError
from wangge.gateway.accounts.principal import ROLES, Principal
from wangge.gateway.accounts.tokens import rotate_edge_token
from wangge.gateway.accounts.users import (
    check_new_password,
    hash_off_loop,
    missing_region,
    region_of,
    verify_off_loop,
)
from wangge.gateway.storage.pages import keyset_page
from wangge.gateway.storage.paths import subtree

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

MANAGERS = ("admin", "supervisor")
_SUPERVISED = ("operator", "grid_worker")
_USER_COLUMNS = (
    "u.username, u.display_name, u.role, r.code AS region_code, coalesce(r.path, '/') AS scope,"
    " u.created_at, u.disabled_at,"
    " (SELECT max(t.created_at) FROM api_tokens t WHERE t.user_id = u.id AND t.name LIKE 'login %') AS last_login_at"
)


@dataclass(frozen=True)
class UserChange:
    """What a PATCH asks for; None leaves a field as it is."""

    role: str | None = None
    region_code: str | None = None
    display_name: str | None = None
    disabled: bool | None = None


def may_manage(actor: Principal, role: str, scope: str) -> bool:
    """Whether `actor` may manage (or create) a user with this role whose area is `scope`."""
    if actor.role == "admin":
        return True
    return actor.role == "supervisor" and role in _SUPERVISED and scope.startswith(actor.scope)


def _require_manager(actor: Principal) -> None:
    if actor.role not in MANAGERS:
        raise AccountError(403, f"{actor.role or 'an edge'} may not manage accounts")


async def region_scope(conn: Conn, code: str | None) -> tuple[int | None, str]:
    if code is None:
        return None, "/"
    region = await region_of(conn, code)
    if region is None:
        raise AccountError(422, f"no region with code {code!r}")
    return region


async def list_users(
    conn: Conn, actor: Principal, role: str | None, disabled: bool | None, q: str | None, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Users whose area lies inside the caller's (a supervisor: the operators and grid workers there)."""
    _require_manager(actor)
    roles = list(ROLES) if actor.role == "admin" else list(_SUPERVISED)
    rows = await conn.fetch(
        f"SELECT {_USER_COLUMNS} FROM users u LEFT JOIN regions r ON r.id = u.region_id"
        " WHERE coalesce(r.path, '/') LIKE $1 AND u.role = ANY($2) AND ($3::text IS NULL OR u.role = $3)"
        " AND ($4::boolean IS NULL OR (u.disabled_at IS NOT NULL) = $4)"
        " AND ($5::text IS NULL OR strpos(lower(u.username || ' ' || u.display_name), lower($5)) > 0)"
        " AND ($6::text IS NULL OR u.username > $6) ORDER BY u.username LIMIT $7",
        subtree(actor.scope),
        roles,
        role,
        disabled,
        q,
        after,
        limit + 1,
    )
    return keyset_page(rows, limit, "username")


async def _find(conn: Conn, actor: Principal, username: str) -> dict[str, Any]:
    """One user the caller may manage, with its id; anyone else is 'not found' (their existence is not told)."""
    _require_manager(actor)
    row = await conn.fetchrow(
        f"SELECT u.id, {_USER_COLUMNS} FROM users u LEFT JOIN regions r ON r.id = u.region_id WHERE u.username = $1",
        username,
    )
    if row is None or not may_manage(actor, row["role"], row["scope"]):
        raise AccountError(404, f"no user {username!r} in your area")
    return dict(row)


async def get_user(conn: Conn, actor: Principal, username: str) -> dict[str, Any]:
    user = await _find(conn, actor, username)
    del user["id"]
    return user


async def create(
    conn: Conn,
    actor: Principal,
    username: str,
    password: str,
    role: str,
    region_code: str | None,
    display_name: str,
    remote: str | None,
) -> dict[str, Any]:
    _require_manager(actor)
    if problem := missing_region(role, region_code):
        raise AccountError(422, problem)
    region_id, scope = await region_scope(conn, region_code)
    if not may_manage(actor, role, scope):
        raise AccountError(403, f"a {actor.role} may not create a {role} in {region_code or 'the whole city'}")
    try:
        check_new_password(password)
    except ValueError as exc:
        raise AccountError(422, str(exc)) from None
    hashed = await hash_off_loop(password)
    async with conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO users (username, display_name, password_hash, role, region_id) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (username) DO NOTHING RETURNING id",
            username,
            display_name,
            hashed,
            role,
            region_id,
        )
        if created is None:
            raise AccountError(409, f"user {username!r} exists")
        await audit(conn, actor.name, "user.created", username, remote, {"role": role, "region": region_code})
    return await get_user(conn, actor, username)


async def update(conn: Conn, actor: Principal, username: str, change: UserChange, remote: str | None) -> dict[str, Any]:
    """Role, region, name, disabled. Disabling revokes every token of the user; so does moving them to another
    role or region (a token must not keep an area its holder has left)."""
    before = await _find(conn, actor, username)
    role = change.role or before["role"]
    region_code = before["region_code"] if change.region_code is None else change.region_code
    if role == "admin" and change.region_code is None and change.role == "admin":
        region_code = None  # an admin is promoted to the whole city
    if problem := missing_region(role, region_code):
        raise AccountError(422, problem)
    region_id, scope = await region_scope(conn, region_code)
    if not may_manage(actor, role, scope):
        raise AccountError(403, f"a {actor.role} may not make {username} a {role} in {region_code or 'the city'}")
    if actor.user_id == before["id"] and ((role != "admin" and actor.role == "admin") or change.disabled):
        raise AccountError(409, "you cannot disable or demote yourself; ask another admin")
    changed: dict[str, Any] = {}
    if role != before["role"]:
        changed["role"] = [before["role"], role]
    if region_code != before["region_code"]:
        changed["region"] = [before["region_code"], region_code]
    if change.display_name is not None and change.display_name != before["display_name"]:
        changed["display_name"] = [before["display_name"], change.display_name]
    disabled = before["disabled_at"] is not None if change.disabled is None else change.disabled
    if disabled != (before["disabled_at"] is not None):
        changed["disabled"] = [not disabled, disabled]
    if not changed:
        return await get_user(conn, actor, username)
    async with conn.transaction():
        await conn.execute(
            "UPDATE users SET role = $2, region_id = $3, display_name = coalesce($4, display_name),"
            " disabled_at = CASE WHEN $5 THEN coalesce(disabled_at, now()) END WHERE id = $1",
            before["id"],
            role,
            region_id,
            change.display_name,
            disabled,
        )
        if disabled or "role" in changed or "region" in changed:
            await conn.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", before["id"]
            )
        await audit(conn, actor.name, "user.updated", username, remote, changed)
    return await get_user(conn, actor, username)


async def reset_password(
    conn: Conn, actor: Principal, username: str, password: str, current: str | None, remote: str | None
) -> None:
    """A manager sets a new password (the user's tokens are revoked); a user changes their own with the current
    one (their other tokens are revoked, not the one in use)."""
    from_self = actor.name == username and actor.user_id is not None
    if not from_self:
        await _find(conn, actor, username)
    try:
        check_new_password(password)
    except ValueError as exc:
        raise AccountError(422, str(exc)) from None
    row = await conn.fetchrow("SELECT id, password_hash FROM users WHERE username = $1", username)
    if row is None:
        raise AccountError(404, f"no user {username!r} in your area")
    if from_self and (current is None or not await verify_off_loop(row["password_hash"], current)):
        raise AccountError(403, "the current password is wrong")
    hashed = await hash_off_loop(password)
    async with conn.transaction():
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", row["id"], hashed)
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"
            " AND ($2::bigint IS NULL OR id <> $2)",
            row["id"],
            actor.token_id if from_self else None,
        )
        await audit(conn, actor.name, "user.password_changed" if from_self else "user.password_reset", username, remote)


_TOKEN_COLUMNS = "t.id, t.name, u.username, t.edge_id, t.created_at, t.expires_at, t.revoked_at, t.last_used_at"
_TOKEN_OWNER = ", coalesce(r.path, er.path, '/') AS scope, u.role"
_TOKEN_FROM = (
    " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN regions r ON r.id = u.region_id"
    " LEFT JOIN edges e ON e.edge_id = t.edge_id LEFT JOIN regions er ON er.id = e.region_id"
)


def _may_see_token(actor: Principal, row: Any) -> bool:
    if actor.role == "admin":
        return True
    return row["role"] is not None and may_manage(actor, row["role"], row["scope"])


async def list_tokens(
    conn: Conn,
    actor: Principal,
    username: str | None,
    edge_id: str | None,
    active_at: datetime | None,
    after: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Tokens (never their secrets) of users the caller manages; an admin also sees edges' and unowned ones."""
    _require_manager(actor)
    rows = await conn.fetch(
        f"SELECT {_TOKEN_COLUMNS}{_TOKEN_FROM}"
        " WHERE ($1::text IS NULL OR u.username = $1) AND ($2::text IS NULL OR t.edge_id = $2)"
        " AND ($3::timestamptz IS NULL OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $3)))"
        " AND ($4::bigint IS NULL OR t.id < $4)"
        " AND ($5 OR (u.role = ANY($6) AND coalesce(r.path, '/') LIKE $7))"
        " ORDER BY t.id DESC LIMIT $8",
        username,
        edge_id,
        active_at,
        after,
        actor.role == "admin",
        list(_SUPERVISED),
        subtree(actor.scope),
        limit + 1,
    )
    return keyset_page(rows, limit, "id")


async def revoke_token(conn: Conn, actor: Principal, token_id: int, remote: str | None) -> None:
    _require_manager(actor)
    row = await conn.fetchrow(f"SELECT {_TOKEN_COLUMNS}{_TOKEN_OWNER}{_TOKEN_FROM} WHERE t.id = $1", token_id)
    if row is None or not _may_see_token(actor, row):
        raise AccountError(404, f"no token {token_id} among those you manage")
    async with conn.transaction():
        await conn.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", token_id)
        await audit(conn, actor.name, "token.revoked", str(token_id), remote, {"name": row["name"]})


async def rotate_edge(
    conn: Conn, actor: Principal, edge_id: str, now: datetime, config: AccountsConfig, remote: str | None
) -> tuple[str, datetime, datetime]:
    """The edge itself (ahead of expiry) or an admin rotates an edge's token; audited."""
    if actor.edge_id != edge_id and actor.role != "admin":
        raise AccountError(403, f"only edge {edge_id!r} or an admin may rotate its token")
    if await conn.fetchval("SELECT 1 FROM edges WHERE edge_id = $1", edge_id) is None:
        raise AccountError(404, f"no edge {edge_id!r}")
    if actor.is_edge and actor.token_expires_at is not None:
        remaining = actor.token_expires_at - now
        if remaining > config.edge_token_lifetime - config.edge_token_grace / 2:
            # A token rotated again at once is a loop in the edge, not a need: each call adds a row.
            raise AccountError(429, "this token is new; rotate it later")
    token, expires, until = await rotate_edge_token(
        conn, edge_id, now, config.edge_token_lifetime, config.edge_token_grace
    )
    await audit(conn, actor.name, "edge.token_rotated", edge_id, remote)
    return token, expires, until
