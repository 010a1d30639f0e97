"""The question flow's memory in SQLite: what survives a restart, and what a second delivery of an event does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest_core.questions import Turn
from digest_core.store import Store

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_an_event_is_answered_once_unless_the_process_that_took_it_died_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.db")
    assert store.claim_question_event("slack", "C1:1.0", "process-a", now=NOW)
    assert not store.claim_question_event("slack", "C1:1.0", "process-a", now=NOW)  # a twin, in progress
    store.close()

    reopened = Store(tmp_path / "d.db")  # process-a died before answering: its successor may answer the retry
    assert reopened.claim_question_event("slack", "C1:1.0", "process-b", now=NOW)
    reopened.mark_question_answered("slack", "C1:1.0", now=NOW)
    assert not reopened.claim_question_event("slack", "C1:1.0", "process-c", now=NOW)
    assert reopened.claim_question_event("discord", "C1:1.0", "process-c", now=NOW)  # per platform
    reopened.close()


def test_thread_turns_and_pending_clarifications_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.db")
    for n in range(6):
        turn = Turn("slack", "C1", "9.0", "slack:U1", f"q{n}", f"a{n}", "post-2", date(2026, 11, 27), NOW)
        turn_id = store.add_turn(turn)
    store.set_turn_reply(turn_id, "9.9")
    store.set_clarification("slack", "C1", "9.0", "slack:U1", pending=True, now=NOW)
    store.close()

    reopened = Store(tmp_path / "d.db")
    assert [t.question for t in reopened.thread_turns("slack", "C1", "9.0", 4)] == ["q2", "q3", "q4", "q5"]
    assert reopened.turn_by_reply("slack", "C1", "9.9") is not None
    assert reopened.clarification_pending("slack", "C1", "9.0", "slack:U1")
    reopened.set_clarification("slack", "C1", "9.0", "slack:U1", pending=False, now=NOW)
    assert not reopened.clarification_pending("slack", "C1", "9.0", "slack:U1")
    reopened.close()


def test_a_rate_limited_user_is_told_once_an_hour(store: Store) -> None:
    hour = timedelta(hours=1)
    assert store.should_note_rate_limit("discord:7", now=NOW, interval=hour)
    assert not store.should_note_rate_limit("discord:7", now=NOW + timedelta(minutes=30), interval=hour)
    assert store.should_note_rate_limit("discord:8", now=NOW, interval=hour)
    assert store.should_note_rate_limit("discord:7", now=NOW + timedelta(minutes=61), interval=hour)
