"""The central Mosquitto's identities and ACLs for its dynamic-security plugin, written from the registry.

Why not only `password_file` + `acl_file`: Mosquitto's ACL file is checked when a message is delivered, not
when a client subscribes, so an edge could join `$share/<group>/...` and take its turn of every estate's
alerts (they would then be withheld from it, and from the gateway). The plugin checks subscriptions when they
are made: only the gateway's identity may subscribe to alerts at all. Clients use the same PBKDF2-SHA512 hash
as Mosquitto's password file (`$7$`), split into the plugin's fields. Each edge has a role of its own with
literal topics (no pattern substitution to trust).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wangge.gateway.accounts.broker import GATEWAY_USER, edge_identities, hash_password

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn


def _client(username: str, stored: str, role: str) -> dict[str, Any]:
    _, _, iterations, salt, digest = stored.split("$")
    return {
        "username": username,
        "password": digest,
        "salt": salt,
        "iterations": int(iterations),
        "roles": [{"rolename": role}],
    }


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "allow": True}


def gateway_role(shared_group: str | None) -> dict[str, Any]:
    acls = []
    for leaf in ("alerts", "status"):
        topic = f"wangge/edge/+/{leaf}"
        acls += [_acl("subscribePattern", topic), _acl("publishClientReceive", topic)]
        if shared_group:
            acls.append(_acl("subscribePattern", f"$share/{shared_group}/{topic}"))
    acls += [_acl("publishClientSend", f"wangge/edge/+/{leaf}") for leaf in ("confirms", "commands")]
    return {"rolename": "wangge-gateway", "acls": acls}


def edge_role(edge_id: str) -> dict[str, Any]:
    base = f"wangge/edge/{edge_id}"
    acls = [_acl("publishClientSend", f"{base}/{leaf}") for leaf in ("alerts", "status")]
    for leaf in ("confirms", "commands"):
        acls += [_acl("subscribeLiteral", f"{base}/{leaf}"), _acl("publishClientReceive", f"{base}/{leaf}")]
    return {"rolename": f"edge:{edge_id}", "acls": acls}


def dynsec_config(edges: list[tuple[str, str]], gateway_password: str, shared_group: str | None) -> dict[str, Any]:
    """The plugin's whole file: `edges` are (edge id, its `$7$` hash), never the gateway's own name (provisioning
    refuses it); nothing is allowed by default."""
    clients = [_client(GATEWAY_USER, hash_password(gateway_password), "wangge-gateway")]
    roles = [gateway_role(shared_group)]
    for edge_id, stored in edges:
        clients.append(_client(edge_id, stored, f"edge:{edge_id}"))
        roles.append(edge_role(edge_id))
    return {
        "clients": clients,
        "groups": [],
        "roles": roles,
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


async def dynsec_file(conn: Conn, gateway_password: str, shared_group: str | None) -> dict[str, Any]:
    return dynsec_config(await edge_identities(conn), gateway_password, shared_group)
