import pytest

from wangge.edge.topics import TopicPattern


def test_named_captures_and_the_plain_subscription() -> None:
    p = TopicPattern("estate/+building/+device/state")
    assert p.subscription == "estate/+/+/state"
    assert p.match("estate/b7/gauge-1/state") == {"building": "b7", "device": "gauge-1"}
    assert p.match("estate/b7/gauge-1/other") is None
    assert p.match("estate/b7/state") is None
    assert p.match("estate/b7/gauge-1/state/extra") is None


def test_hash_captures_the_rest_and_unnamed_wildcards_capture_nothing() -> None:
    p = TopicPattern("zigbee2mqtt/+/#rest")
    assert p.subscription == "zigbee2mqtt/+/#"
    assert p.match("zigbee2mqtt/x/a/b") == {"rest": "a/b"}
    assert TopicPattern("a/+/c").match("a/b/c") == {}


@pytest.mark.parametrize("bad", ["a/#/b", "a/b+/c", "a/+x/+x", "a/+1x", ""])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        TopicPattern(bad)
