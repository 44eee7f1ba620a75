"""The ticket workflow of digital city management: 立案 → 派遣 → 签收 → 处置 → 核查 → 结案, with returns,
reopening, false alarms and extensions (延期). One table says which action moves which state to which, and who
may do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wangge.gateway.accounts.principal import Role

STATES = (
    "reported",
    "registered",
    "dispatched",
    "accepted",
    "in_progress",
    "handled",
    "verified",
    "closed",
    "returned",
    "reopened",
    "cancelled",
)
CLOSED_STATES = frozenset({"closed", "cancelled"})
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)

# Which SLA stage clock runs while a ticket is in a state (None: no clock).
STAGE_OF_STATE: dict[str, str | None] = {
    "reported": "register",
    "registered": "dispatch",
    "returned": "dispatch",
    "reopened": "dispatch",
    "dispatched": "accept",
    "accepted": "handle",
    "in_progress": "handle",
    "handled": "verify",
    "verified": "close",
    "closed": None,
    "cancelled": None,
}

_OFFICE: frozenset[Role] = frozenset({"admin", "supervisor", "operator"})
_FIELD: frozenset[Role] = frozenset({"admin", "supervisor", "operator", "grid_worker"})
_SUPERVISOR: frozenset[Role] = frozenset({"admin", "supervisor"})
# 延期: the field asks for more time while the handling clock runs; a supervisor grants or refuses it.
_HANDLING = frozenset({"dispatched", "accepted", "in_progress"})
EXTENSION_ACTIONS = ("request_extension", "approve_extension", "reject_extension")


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[str]
    target: str | None  # None: the state stays (comment, escalate, supervise)
    roles: frozenset[Role]
    needs_note: bool = False
    label_zh: str = ""


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("register", frozenset({"reported"}), "registered", _OFFICE, label_zh="立案"),
        Action("dispatch", frozenset({"registered", "returned", "reopened"}), "dispatched", _OFFICE, label_zh="派遣"),
        Action("accept", frozenset({"dispatched"}), "accepted", _FIELD, label_zh="签收"),
        Action("start", frozenset({"accepted"}), "in_progress", _FIELD, label_zh="开始处置"),
        Action("handle", frozenset({"accepted", "in_progress"}), "handled", _FIELD, label_zh="处置完成"),
        Action("verify", frozenset({"handled"}), "verified", _OFFICE, label_zh="核查通过"),
        Action("rework", frozenset({"handled"}), "in_progress", _OFFICE, needs_note=True, label_zh="核查不通过"),
        Action("close", frozenset({"verified"}), "closed", _OFFICE, label_zh="结案"),
        Action("return", frozenset({"dispatched", "accepted"}), "returned", _FIELD, needs_note=True, label_zh="退回"),
        Action("reopen", frozenset({"closed"}), "reopened", _SUPERVISOR, needs_note=True, label_zh="重新打开"),
        Action("false_alarm", frozenset(OPEN_STATES), "cancelled", _OFFICE, needs_note=True, label_zh="误报"),
        Action("comment", frozenset(STATES), None, _FIELD, needs_note=True, label_zh="备注"),
        Action("escalate", frozenset(OPEN_STATES), None, _SUPERVISOR, needs_note=True, label_zh="上报"),
        Action("supervise", frozenset(OPEN_STATES), None, _SUPERVISOR, label_zh="督办"),
        Action("request_extension", _HANDLING, None, _FIELD, needs_note=True, label_zh="申请延期"),
        Action("approve_extension", _HANDLING, None, _SUPERVISOR, label_zh="批准延期"),
        Action("reject_extension", _HANDLING, None, _SUPERVISOR, needs_note=True, label_zh="驳回延期"),
    )
}


class TransitionError(Exception):
    def __init__(self, status: int, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.allowed = allowed


def allowed_actions(state: str, role: Role, extension_pending: bool = False) -> list[str]:
    """What `role` may do now: an extension is asked for once at a time, and only a pending one is decided."""
    return [
        a.name
        for a in ACTIONS.values()
        if state in a.sources and role in a.roles and _extension_fits(a.name, extension_pending)
    ]


def _extension_fits(name: str, pending: bool) -> bool:
    if name == "request_extension":
        return not pending
    return pending if name in EXTENSION_ACTIONS else True


def check(action_name: str, state: str, role: Role, note: str | None, extension_pending: bool = False) -> Action:
    """The action if `role` may take it from `state`; else TransitionError (404/403/409/422)."""
    action = ACTIONS.get(action_name)
    allowed = allowed_actions(state, role, extension_pending)
    if action is None:
        raise TransitionError(404, f"no action {action_name!r}", allowed)
    if role not in action.roles:
        raise TransitionError(403, f"a {role} may not {action_name}", allowed)
    if state not in action.sources:
        raise TransitionError(409, f"cannot {action_name} a ticket that is {state}", allowed)
    if not _extension_fits(action_name, extension_pending):
        said = "an extension is already waiting for a decision" if extension_pending else "no extension is pending"
        raise TransitionError(409, f"cannot {action_name}: {said}", allowed)
    if action.needs_note and not (note and note.strip()):
        raise TransitionError(422, f"{action_name} needs a note saying why", allowed)
    return action
