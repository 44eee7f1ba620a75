import pytest

from wangge.gateway.cases import workflow
from wangge.gateway.cases.workflow import ACTIONS, STATES, TransitionError, check

HAPPY_PATH = [
    ("register", "registered"),
    ("dispatch", "dispatched"),
    ("accept", "accepted"),
    ("start", "in_progress"),
    ("handle", "handled"),
    ("verify", "verified"),
    ("close", "closed"),
]


def test_the_happy_path_walks_every_stage() -> None:
    state = "reported"
    for action, target in HAPPY_PATH:
        assert check(action, state, "supervisor", None).target == target
        state = target
    assert state == "closed"


def test_every_state_has_a_clock_or_is_closed_and_every_action_targets_a_state() -> None:
    assert set(workflow.STAGE_OF_STATE) == set(STATES)
    for state, stage in workflow.STAGE_OF_STATE.items():
        assert (stage is None) == (state in workflow.CLOSED_STATES)
    for action in ACTIONS.values():
        assert action.target is None or action.target in STATES
        assert action.sources <= set(STATES)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_refused_transition_is_409_with_the_allowed_list(state: str, action: str) -> None:
    allowed = workflow.allowed_actions(state, "admin")
    if action in allowed:
        assert check(action, state, "admin", "because").name == action
        return
    with pytest.raises(TransitionError) as info:
        check(action, state, "admin", "because")
    assert info.value.status == 409
    assert info.value.allowed == allowed


def test_roles_notes_and_unknown_actions() -> None:
    with pytest.raises(TransitionError) as info:
        check("register", "reported", "grid_worker", None)
    assert info.value.status == 403
    with pytest.raises(TransitionError) as info:
        check("false_alarm", "reported", "operator", " ")
    assert info.value.status == 422
    with pytest.raises(TransitionError) as info:
        check("teleport", "reported", "admin", None)
    assert info.value.status == 404
    assert workflow.allowed_actions("closed", "operator") == ["comment"]
    assert "reopen" in workflow.allowed_actions("closed", "supervisor")
    assert workflow.allowed_actions("handled", "grid_worker") == ["comment"]
