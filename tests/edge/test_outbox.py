from pathlib import Path

from wangge.edge.outbox import Outbox


def test_events_survive_a_reopen_until_deleted_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(5):
        box.append(f"k{i}", "t", f"m{i}".encode(), float(i))
    rows = box.fetch_after(0, 3)
    assert [r.payload for r in rows] == [b"m0", b"m1", b"m2"]
    assert box.delete_keys(["k0", "k2", "unknown"]) == [rows[0].id, rows[2].id]
    assert [r.payload for r in box.fetch_ids([rows[0].id, rows[1].id])] == [b"m1"]
    box.close()

    reopened = Outbox(tmp_path / "o.sqlite3")
    assert reopened.depth == 3
    assert [r.payload for r in reopened.fetch_after(0, 10)] == [b"m1", b"m3", b"m4"]
    assert [r.payload for r in reopened.fetch_after(rows[1].id, 10)] == [b"m3", b"m4"]


def test_active_alert_state_is_written_with_its_event(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.append("a:0", "t", b"start", 1.0, ("flood", "g1"), {"alert_id": "a", "seq": 0})
    assert box.active_alerts() == {("flood", "g1"): {"alert_id": "a", "seq": 0}}
    box.append("a:1", "t", b"end", 2.0, ("flood", "g1"), None)
    assert box.active_alerts() == {}
    assert box.depth == 2
