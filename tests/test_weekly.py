"""The weekly roll-up: `digest week`, built from the stored daily editions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from digest_core.models import WEEKLY, Digest, DigestPost, Theme, ThemeLink
from digest_core.questions import Turn
from digest_core.weekly import MAX_WEEK_THEMES, build_week, recurring_loose_posts
from tests.test_continuity import FORECAST, HACKING, PRISONS, SAE, edition, post
from tests.three_days import (
    AFTER_DAY3,
    DAY1,
    DAY2,
    DAY3,
    DAYS,
    POSTS,
    build_days_with_cli,
    cli_folder,
    printed_ids,
    service_with_three_days,
)

__all__ = ["cli_folder"]  # the fixture, for pytest

WEEK_KEYS = {"date", "title", "generated_by", "themes", "connections", "posts"}
THEME_KEYS = {"title", "key_idea", "post_ids", "implications", "continues"}
POST_KEYS = {"id", "title", "authors", "published", "url", "source", "summary"}


pytestmark = pytest.mark.usefixtures("cli_folder")


def test_digest_week_prints_the_daily_keys_exactly_with_every_post_of_the_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dailies = build_days_with_cli(tmp_path, capsys)
    assert main(["week", "--db", "d.db", "--date", DAY3.isoformat(), "--format", "json"]) == 0
    week = json.loads(capsys.readouterr().out)
    assert set(week) == WEEK_KEYS
    assert week["date"] == DAY3.isoformat() and week["generated_by"] == "offline"
    assert week["title"] == f"AI Alignment Weekly Digest - {(DAY3 - timedelta(days=6)).isoformat()} to {DAY3}"
    assert [p["id"] for p in week["posts"]] == [p["id"] for day in DAYS for p in dailies[day]["posts"]]
    assert {k for p in week["posts"] for k in p} == POST_KEYS
    assert all(set(theme) == THEME_KEYS for theme in week["themes"])
    assert 3 <= len(week["themes"]) <= MAX_WEEK_THEMES
    # The week's first theme is the one that ran on two days, holding the posts of both.
    sae = printed_ids(week, "sae")
    assert len(sae) == 4
    assert set(week["themes"][0]["post_ids"]) == sae
    daily_titles = {t["title"] for day in DAYS for t in dailies[day]["themes"]}
    assert {t["title"] for t in week["themes"]} <= daily_titles
    assert any(line.startswith(week["themes"][0]["title"]) and "2 days" in line for line in week["connections"])
    # Summaries are the stored ones: the week writes nothing new.
    stored = {p["id"]: p["summary"] for day in DAYS for p in dailies[day]["posts"]}
    assert {p["id"]: p["summary"] for p in week["posts"]} == stored


def test_digest_week_markdown_and_a_week_with_no_editions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_days_with_cli(tmp_path, capsys)
    assert main(["week", "--db", "d.db", "--date", DAY3.isoformat()]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# AI Alignment Weekly Digest - ")
    assert markdown.count("\nSource: AI Alignment Forum") == len(POSTS)

    later = DAY3 + timedelta(days=30)
    assert main(["week", "--db", "d.db", "--date", later.isoformat()]) == 0
    out, err = capsys.readouterr()
    assert "No new posts" in out and "no stored edition" in err
    assert main(["week", "--db", "missing.db"]) == 2
    assert "no database at missing.db" in capsys.readouterr().err


# --- choosing the week's themes and the most-discussed posts -------------------------------------------------


def test_a_week_without_a_recurring_topic_has_its_three_largest_themes() -> None:
    day1 = edition(
        DAY1,
        ("Timelines", [post(1, DAY1, "Forecasts", FORECAST)]),
        ("Hacking", [post(2, DAY1, "Tests", HACKING), post(3, DAY1, "More tests", HACKING)]),
    )
    day2 = edition(
        DAY2,
        ("Latents", [post(n, DAY2, f"Absorption {n}", SAE) for n in (1, 2, 3)]),
        ("Trade", [post(4, DAY2, "Copies", PRISONS)]),
    )
    week = build_week(DAY3, [day1, day2])
    assert [t.title for t in week.themes] == ["Latents", "Hacking", "Trade"]  # on a tie, the later day
    assert week.kind == WEEKLY and len(week.posts) == 7 and not any("ran on" in c for c in week.connections)


def test_themes_that_ran_on_more_days_come_first_and_there_are_at_most_five() -> None:
    topics = [SAE, HACKING, FORECAST, PRISONS, "Debate lets a weak judge check a strong model's answers by quotes."]
    topics.append("Export controls on chips raise the cost of frontier training runs.")
    days = [DAY3 - timedelta(days=n) for n in range(6, -1, -1)]
    runs_on = {0: range(7), 1: (0, 3, 6), 2: (0, 1), 3: (1, 2), 4: (3, 4), 5: (4, 5)}  # topic -> day indexes
    editions = []
    for index, day in enumerate(days):
        chosen = [topic for topic, indexes in runs_on.items() if index in indexes]
        themes = [(f"Topic {t} on {day}", [post(n, day, f"Post {t}", topics[t])]) for n, t in enumerate(chosen)]
        editions.append(edition(day, *themes))
    week = build_week(DAY3, editions)
    assert [len(t.post_ids) for t in week.themes] == [7, 3, 2, 2, 2]  # six topics ran on several days
    assert week.themes[0].title == f"Topic 0 on {DAY3}"  # named by its latest day among equals
    assert week.connections[0] == f"Topic 0 on {DAY3} ran on 7 days ({', '.join(map(str, days))}) with 7 posts."


def test_two_themes_of_one_day_on_the_same_topic_are_one_theme_of_the_week() -> None:
    day1 = edition(
        DAY1,
        ("Latents", [post(1, DAY1, "Absorption", SAE)]),
        ("Hacking", [post(2, DAY1, "Tests", HACKING)]),
        ("Dictionaries", [post(3, DAY1, "Absorption in wide dictionaries", SAE)]),
    )
    week = build_week(DAY2, [day1])
    assert [(t.title, t.post_ids) for t in week.themes] == [
        ("Dictionaries", (f"{DAY1}-1", f"{DAY1}-3")),
        ("Hacking", (f"{DAY1}-2",)),
    ]


def test_the_most_discussed_posts_are_those_in_the_most_themes_or_with_the_most_questions() -> None:
    star = post(1, DAY1, "A post in two themes", SAE + " " + HACKING)
    asked = post(2, DAY1, "A post people asked about", FORECAST)
    day1 = Digest(
        DAY1,
        "d",
        "offline",
        (
            Theme("Latents", "i", (star.id,), ""),
            Theme("Hacking", "i", (star.id,), ""),
            Theme("T", "i", (asked.id,), ""),
        ),
        (),
        (star, asked),
    )
    week = build_week(DAY2, [day1], question_counts={asked.id: 3})
    lines = [line for line in week.connections if line.startswith("Most discussed")]
    assert lines == [
        "Most discussed: A post people asked about (#2: 3 questions).",
        "Most discussed: A post in two themes (#1: in 2 themes).",
    ]


def test_a_week_theme_carries_on_what_its_first_day_carried_on_from_before_the_week() -> None:
    before_the_week = ThemeLink(DAY1 - timedelta(days=7), "Dictionary learning")
    within_the_week = ThemeLink(DAY1, "Latents")
    day1 = edition(DAY1, ("Latents", [post(1, DAY1, "Absorption", SAE)]))
    day1 = replace(day1, themes=(replace(day1.themes[0], continues=before_the_week),))
    day2 = edition(DAY2, ("SAEs", [post(2, DAY2, "Absorption again", SAE)]))
    day2 = replace(day2, themes=(replace(day2.themes[0], continues=within_the_week),))
    week = build_week(DAY3, [day1, day2])
    assert [t.continues for t in week.themes] == [before_the_week]
    assert build_week(DAY2 + timedelta(days=6), [day2]).themes[0].continues == within_the_week
    assert build_week(DAY3, [day2]).themes[0].continues is None  # Latents' day is in that week: no link out


def test_a_week_of_stored_posts_keeps_their_numbers_in_order() -> None:
    first = edition(DAY1, ("Latents", [post(1, DAY1, "a", SAE), post(2, DAY1, "b", SAE)]))
    second = edition(DAY2, ("Hacking", [post(1, DAY2, "c", HACKING)]))
    week = build_week(DAY2, [second, first])
    assert [(p.number, p.title) for p in week.posts] == [(1, "a"), (2, "b"), (3, "c")]
    assert all(isinstance(p, DigestPost) for p in week.posts)


def test_questions_asked_in_the_daily_threads_make_a_post_most_discussed(tmp_path: Path) -> None:
    service = service_with_three_days(tmp_path / "digest.db")
    debated = next(p for p in POSTS if p.day == DAY2)
    for n in range(3):
        asked = AFTER_DAY3 + timedelta(minutes=n)
        turn = Turn("slack", "C1", "1.0", "slack:U1", f"question {n}", "answer", debated.post_id, DAY2, asked)
        service.store.add_turn(turn)
    service.store.add_turn(Turn("slack", "C1", "1.0", "slack:U1", "which one?", "#1 or #2?", "", DAY2, AFTER_DAY3))
    week = service.week(DAY3)
    number = next(p.number for p in week.posts if p.id == debated.post_id)
    assert week.connections[1] == f"Most discussed: {debated.title} (#{number}: 3 questions)."


def test_lone_posts_of_different_days_on_one_topic_are_a_theme_of_the_week(tmp_path: Path) -> None:
    chosen = {"SaeAbsorb00000001", "HackTests00000003", "SaeTransfer000008", "ChipExport0000009"}
    service = service_with_three_days(tmp_path / "digest.db", keep=chosen)
    week = service.week(DAY3)
    sae = {"SaeAbsorb00000001", "SaeTransfer000008"}
    theme = next(t for t in week.themes if sae <= set(t.post_ids))
    assert set(theme.post_ids) == sae
    assert any(line.startswith(f"{theme.title} ran on 2 days ({DAY1}, {DAY3})") for line in week.connections)
    assert {p.id for p in week.posts} == chosen


def test_only_lone_posts_that_recur_on_another_day_are_grouped_for_the_week() -> None:
    day1 = edition(DAY1)
    day1 = replace(day1, posts=(post(1, DAY1, "Absorption", SAE), post(2, DAY1, "Tests", HACKING)))
    day2 = edition(DAY2, ("Trade", [post(1, DAY2, "Copies", PRISONS), post(2, DAY2, "Copies again", PRISONS)]))
    day2 = replace(day2, posts=(*day2.posts, post(3, DAY2, "Absorption again", SAE)))
    assert recurring_loose_posts([day1, day2]) == [f"{DAY1}-1", f"{DAY2}-3"]
