"""Theme continuity: a theme says which theme of the last 14 days' editions it carries on, judged by content."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from digest_core.continuity import CONTINUITY_DAYS, link_to_earlier
from digest_core.markdown import render_markdown
from digest_core.models import Digest, DigestPost, Theme, ThemeLink
from digest_core.store import digest_from_json, digest_to_json
from tests.three_days import DAY1, DAY2, DAY3, build_days_with_cli, cli_folder, printed_ids

__all__ = ["cli_folder"]  # the fixture, for pytest


pytestmark = pytest.mark.usefixtures("cli_folder")


def theme_holding(edition: dict, post_ids: set[str]) -> dict:
    return next(t for t in edition["themes"] if post_ids & set(t["post_ids"]))


def test_a_theme_carries_on_one_from_two_days_before_and_an_unrelated_one_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    editions = build_days_with_cli(tmp_path, capsys)
    first_sae = theme_holding(editions[DAY1], printed_ids(editions[DAY1], "sae"))
    assert first_sae["continues"] is None

    later_sae = theme_holding(editions[DAY3], printed_ids(editions[DAY3], "sae"))
    assert later_sae["continues"] == {"date": DAY1.isoformat(), "title": first_sae["title"]}
    compute = [t for t in editions[DAY3]["themes"] if set(t["post_ids"]) & printed_ids(editions[DAY3], "compute")]
    assert compute and all(t["continues"] is None for t in compute)
    assert all(t["continues"] is None for t in editions[DAY2]["themes"])  # debate is new on day 2

    # The stored edition shows the same link, and the Markdown says it in the theme.
    assert main(["today", "--db", "d.db", "--date", DAY3.isoformat(), "--no-fetch"]) == 0
    markdown = capsys.readouterr().out
    assert f"- **Continues**: {first_sae['title']} ({DAY1.isoformat()})\n" in markdown
    assert markdown.count("**Continues**") == 1


# --- the measure, on hand-made editions ------------------------------------------------------------------------

SAE = (
    "Sparse autoencoders split the residual stream of a language model into latents; feature absorption makes "
    "a general latent stop firing where a specific latent takes over."
)
HACKING = (
    "Coding agents trained against unit tests learn reward hacking: they edit the test file instead of "
    "solving the task, and a held-out test suite catches them."
)
FORECAST = "Forecasts of transformative AI timelines lean on compute trends and on surveys of researchers."
PRISONS = "Acausal trade between copies of an agent depends on what each copy predicts about the others."


def post(number: int, day: date, title: str, summary: str) -> DigestPost:
    moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return DigestPost(number, f"{day}-{number}", title, ("A",), moment, f"https://e.org/{day}/{number}", "AF", summary)


def edition(day: date, *themes: tuple[str, list[DigestPost]]) -> Digest:
    posts = tuple(p for _, members in themes for p in members)
    made = tuple(Theme(title, "idea", tuple(p.id for p in members), "") for title, members in themes)
    return Digest(day, f"Digest {day}", "offline", made, (), posts)


def test_continuity_follows_what_the_posts_say_not_the_theme_titles() -> None:
    earlier = edition(
        DAY1,
        ("Latents", [post(1, DAY1, "Absorption in dictionaries", SAE)]),
        ("Evaluations", [post(2, DAY1, "Agents and their tests", HACKING)]),
    )
    today = edition(
        DAY3,
        ("Evaluations", [post(1, DAY3, "Timelines from compute", FORECAST)]),  # same title, other topic
        ("Dictionary Learning", [post(2, DAY3, "Feature absorption again", SAE.replace("makes", "means"))]),
    )
    linked = link_to_earlier(today, [earlier])
    assert [t.continues for t in linked.themes] == [None, ThemeLink(DAY1, "Latents")]


def test_a_catch_all_neither_continues_a_theme_through_one_post_nor_is_continued() -> None:
    earlier = edition(DAY1, ("Hacking", [post(1, DAY1, "Tests", HACKING)]))
    mixed = [
        post(1, DAY3, "Tests again", HACKING),
        post(2, DAY3, "Timelines", FORECAST),
        post(3, DAY3, "Trade", PRISONS),
    ]
    assert link_to_earlier(edition(DAY3, ("Also Today", mixed)), [earlier]).themes[0].continues is None

    catch_all = edition(DAY1, ("Also Today", [post(1, DAY1, "Tests", HACKING), *mixed[1:]]))
    focused = edition(DAY3, ("Hacking", [post(9, DAY3, "More tests", HACKING)]))
    assert link_to_earlier(focused, [catch_all]).themes[0].continues is None


def test_only_editions_of_the_last_14_days_count() -> None:
    today = edition(DAY3, ("Latents", [post(1, DAY3, "Absorption", SAE)]))
    too_old = edition(DAY3 - timedelta(days=CONTINUITY_DAYS + 1), ("Latents", [post(1, DAY2, "Absorption", SAE)]))
    in_range = edition(DAY3 - timedelta(days=CONTINUITY_DAYS), ("SAEs", [post(2, DAY2, "Absorption", SAE)]))
    assert link_to_earlier(today, [too_old]).themes[0].continues is None
    assert link_to_earlier(today, [too_old, in_range]).themes[0].continues == ThemeLink(in_range.date, "SAEs")


def test_the_closest_earlier_theme_wins_and_the_json_round_trips() -> None:
    today = edition(DAY3, ("Latents", [post(1, DAY3, "Absorption", SAE)]))
    close = edition(DAY1, ("SAEs", [post(1, DAY1, "Absorption", SAE)]))
    looser = edition(DAY2, ("Dictionaries", [post(1, DAY2, "Absorption", SAE + " " + HACKING)]))
    linked = link_to_earlier(today, [close, looser])
    assert linked.themes[0].continues == ThemeLink(DAY1, "SAEs")
    assert digest_from_json(digest_to_json(linked, internal=True)) == linked
    assert digest_to_json(linked)["themes"][0]["continues"] == {"date": DAY1.isoformat(), "title": "SAEs"}
    assert "- **Continues**: SAEs (2026-11-24)\n" in render_markdown(linked)


def test_an_edition_stored_before_continuity_existed_still_loads() -> None:
    stored = digest_to_json(edition(DAY1, ("Latents", [post(1, DAY1, "Absorption", SAE)])), internal=True)
    for theme in stored["themes"]:
        del theme["continues"]
    assert digest_from_json(stored).themes[0].continues is None
