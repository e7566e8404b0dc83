"""The click-to-dial request channel between `callconnect call` and the server (two SQLite connections)."""

from __future__ import annotations

from pathlib import Path

from storage.click_requests import MAX_AGE, ClickOutcome, ClickRequestQueue, ClickRequestWriter


def test_a_request_is_seen_once_answered_and_read_back(tmp_path: Path) -> None:
    queue = ClickRequestQueue(tmp_path)
    writer = ClickRequestWriter(tmp_path)
    assert [r.user_id for r in queue.pending(100.0)] == []
    assert not queue.changed()
    request_id = writer.request("jean.dupont", "202", 100.0)
    assert queue.changed()
    [request] = queue.pending(100.5)
    assert (request.id, request.user_id, request.number) == (request_id, "jean.dupont", "202")
    assert not queue.changed()  # its own writes do not count as a change
    assert writer.outcome_of(request_id) is None
    queue.answer(request_id, "refused", "no phone of jean.dupont is registered")
    assert writer.outcome_of(request_id) == ClickOutcome("refused", "no phone of jean.dupont is registered")
    assert queue.pending(101.0) == []
    writer.close()
    queue.close()


def test_stale_and_withdrawn_requests_are_never_placed(tmp_path: Path) -> None:
    queue = ClickRequestQueue(tmp_path)
    writer = ClickRequestWriter(tmp_path)
    old = writer.request("jean.dupont", "202", 100.0)
    withdrawn = writer.request("jean.dupont", "203", 100.0 + MAX_AGE)
    assert writer.withdraw(withdrawn) == ClickOutcome("expired", "")
    assert queue.pending(101.0 + MAX_AGE) == []
    assert writer.outcome_of(old) == ClickOutcome("expired", "")
    late = writer.request("jean.dupont", "204", 200.0)
    queue.answer(late, "calling")
    assert writer.withdraw(late) == ClickOutcome("calling", "")  # the server was faster: its outcome stands
    writer.close()
    queue.close()
