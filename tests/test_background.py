"""The offline theme finder's background: the shipped table, the archive counted at ingest, and what they judge."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import load_settings
from bot.runner import build_writers
from digest_core.background import shipped_background, shipped_counts
from digest_core.models import Post
from digest_core.store import Store
from tests.conftest import shared_export_rows

REPO = Path(__file__).resolve().parents[1]
WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def post(post_id: str, title: str, text: str) -> Post:
    return Post(post_id, title, f"https://example.org/{post_id}", ("A",), WHEN, "S", text, WHEN)


def test_the_archive_counts_each_term_once_per_post_and_follows_edits(store: Store) -> None:
    store.upsert_posts(
        [
            post("a", "Sandbagging on evaluations", "Models sandbag. Sandbagging hides capability."),
            post("b", "Reward hacking", "Agents hack the reward instead of solving the task."),
        ]
    )
    counts = store.term_document_counts(["sandbagging", "reward hacking", "capability", "unseen"])
    assert counts.documents == 2
    assert counts.document_counts == {"sandbagging": 1, "reward": 1, "hacking": 1, "capability": 1}
    store.upsert_posts([post("a", "Sandbagging on evaluations", "Models underperform on purpose.")])
    counts = store.term_document_counts(["sandbagging", "capability", "underperform"])
    assert counts.document_counts == {"sandbagging": 1, "underperform": 1}
    store.upsert_posts([post("a", "Sandbagging on evaluations", "Models underperform on purpose.")])  # unchanged
    assert store.term_document_counts(["underperform"]).document_counts == {"underperform": 1}


def test_an_older_database_counts_the_posts_it_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "digest.db"
    store = Store(path)
    store.upsert_posts([post("a", "Corrigibility", "Shutdown buttons and corrigibility."), post("b", "Debate", "")])
    store.close()
    # As a database from before the table existed.
    with sqlite3.connect(path) as db:
        db.execute("drop table term_documents")
        db.execute("delete from _sqlite_migrations where name = 'm006_background_terms'")
    store = Store(path)
    counts = store.term_document_counts(["corrigibility", "debate", "shutdown button"])
    store.close()
    assert counts.documents == 2
    assert counts.document_counts == {"corrigibility": 1, "debate": 1, "shutdown": 1, "button": 1}


def test_the_composition_root_gives_the_theme_finder_the_stored_posts_as_background(tmp_path: Path) -> None:
    store = Store(tmp_path / "digest.db")
    store.upsert_posts([post(f"p{i}", f"Sandbagging study {i}", "Sandbagging again.") for i in range(30)])
    finder = build_writers(load_settings({"DIGEST_DB": str(tmp_path / "digest.db")}), store).offline_theme_finder
    background = finder.background(["sandbagging"])  # type: ignore[attr-defined]
    store.close()
    shipped = shipped_counts()
    assert background.documents == shipped.documents + 30
    assert background.document_count("sandbagging") == shipped.document_counts["sandbagging"] + 30


def test_the_table_tells_words_common_to_the_field_and_words_spread_like_chance_from_topics() -> None:
    background = shipped_background(())
    for generic in ("model", "alignment", "ai safety", "test", "direction", "two"):
        assert background.generic(generic), generic
    for topic in ("sandbagging", "corrigibility", "debate", "sparse autoencoder", "reward hacking"):
        assert not background.generic(topic), topic
    assert background.idf("sandbagging") > background.idf("model")


def test_the_shipped_table_is_what_the_script_writes_from_the_export() -> None:
    shared_export_rows()  # skips when the export is absent
    done = subprocess.run(
        [sys.executable, "scripts/background_table.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
