"""The offline theme finder, as invariants on real-shaped days.

The full-text days (tests/data/days, and the example feed) are our own writing: a few topics with two or three
posts each and one post that shares nothing with the rest. Weeks of the shared forum export (openings only) are
used too, when the export is present. No test pins the finder's current wording: each checks an outcome.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest_core.background import shipped_background
from digest_core.models import Post, Theme
from digest_core.summarize import ExtractiveSummarizer
from digest_core.text import (
    content_stems,
    is_boilerplate,
    normalize_space,
    post_sentences,
    split_sentences,
    strip_footnote_markers,
)
from digest_core.themes import MAX_THEMES, OfflineThemeFinder
from digest_core.themes.writing import reading_of, summary_quotes, text_quotes
from tests.conftest import shared_export_rows
from tests.days import HELD_OUT, OFF_TOPIC, TOPICS, key, written_days

REPO = Path(__file__).resolve().parents[1]
WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# Words that conclude, prescribe or say what may follow: what an implication reads like (the test's own list).
CONSEQUENCE = re.compile(
    r"\b(?:suggest\w*|impl\w+|therefore|thus|hence|so that|should|must|need\w* to|ought|recommend\w*|argue\w*|"
    r"conclu\w+|could|would|will|may|might|can|enabl\w+|allow\w*|lead\w* to|crucial|essential|important\w*|"
    r"worth|means that|as a result|consequen\w+)\b",
    re.IGNORECASE,
)
# The fixed words a connection may add to the themes' and posts' titles, their sentences and the linking term.
CONNECTIVES = {"and", "both", "turn", "on", "theme", "sits", "in", "which"}
DAYS = written_days()
TOPIC_DAYS = sorted(TOPICS)


def summaries_for(posts: Sequence[Post]) -> dict[str, str]:
    summarizer = ExtractiveSummarizer()
    return {p.id: summarizer.summarize(p) for p in posts}


def find(posts: Sequence[Post]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    return OfflineThemeFinder().find_themes(posts, summaries_for(posts))


def by_key(posts: Sequence[Post]) -> dict[str, Post]:
    return {key(p): p for p in posts}


def homes(themes: Sequence[Theme], post: Post) -> list[int]:
    return [n for n, t in enumerate(themes) if post.id in t.post_ids]


def whole_sentences(posts: Sequence[Post]) -> set[str]:
    """The sentences of the posts as a reader reads them: without footnote markers."""
    return {strip_footnote_markers(s.text) for p in posts for s in post_sentences(p.text)}


def is_quoted_from(quote: str, posts: Sequence[Post]) -> bool:
    """Every sentence of `quote` is a whole sentence of one of the posts."""
    sentences = whole_sentences(posts)
    return bool(quote) and all(piece in sentences for piece in split_sentences(quote))


def assert_well_formed(posts: Sequence[Post], themes: Sequence[Theme], connections: Sequence[str]) -> None:
    """What holds for every day: titles are phrases of their posts, quotes are whole sentences of them."""
    by_id = {p.id: p for p in posts}
    assert len(themes) <= MAX_THEMES
    assert len({t.title.lower() for t in themes}) == len(themes), "two themes share a title"
    for theme in themes:
        members = [by_id[i] for i in theme.post_ids]
        assert len(set(theme.post_ids)) == len(theme.post_ids) == len(theme.post_points)
        # A title is a phrase of its posts, or two of them joined with "and".
        for part in theme.title.split(" and "):
            assert any(part.lower() in normalize_space(p.title + "\n" + p.text).lower() for p in members), (
                f"{theme.title!r} is not made of phrases of its posts"
            )
        assert is_quoted_from(theme.key_idea, members), theme.key_idea
        assert theme.implications == "" or is_quoted_from(theme.implications, members), theme.implications
        if theme.implications:
            assert theme.implications not in theme.key_idea and theme.key_idea not in theme.implications
        for post_id, point in zip(theme.post_ids, theme.post_points, strict=True):
            assert point == "" or is_quoted_from(point, [by_id[post_id]]), point
    assert len(connections) <= 4
    titles = [t.title for t in themes] + [p.title for p in posts]
    pieces = sorted({*titles, *whole_sentences(posts)}, key=len, reverse=True)
    vocabulary = {w.lower() for p in posts for w in re.findall(r"[^\W\d_]+", p.title + " " + p.text)}
    for line in connections:
        assert sum(title in line for title in titles) >= 2, f"a connection names two themes or posts: {line}"
        rest = line
        for piece in pieces:
            rest = rest.replace(piece, " ")
        # What is left is connective words and the linking term, which the posts use.
        assert {w.lower() for w in re.findall(r"[^\W\d_]+", rest)} <= CONNECTIVES | vocabulary, (
            f"words from nowhere: {rest}"
        )


# --- the full-text days ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", sorted(DAYS))
def test_every_written_day_is_well_formed(day: str) -> None:
    posts = DAYS[day]
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)


@pytest.mark.parametrize("day", TOPIC_DAYS)
def test_a_day_of_related_posts_has_two_to_four_themes(day: str) -> None:
    themes, _ = find(DAYS[day])
    assert 2 <= len(themes) <= 4


@pytest.mark.parametrize("day", TOPIC_DAYS)
def test_posts_on_one_topic_share_a_theme_and_topics_stay_apart(day: str) -> None:
    posts = by_key(DAYS[day])
    themes, _ = find(DAYS[day])
    for topic, ids in TOPICS[day].items():
        shared = set.intersection(*(set(homes(themes, posts[i])) for i in ids))
        assert shared, f"the posts on {topic} share no theme"
    topic_of = {i: topic for topic, ids in TOPICS[day].items() for i in ids}
    for theme in themes:
        # A post may also sit in a second theme; the posts that sit only here are on one topic.
        only_here = [key(p) for p in DAYS[day] if homes(themes, p) == [themes.index(theme)]]
        assert len({topic_of[i] for i in only_here}) <= 1, (theme.title, only_here)


@pytest.mark.parametrize("day", TOPIC_DAYS)
def test_the_post_that_shares_nothing_with_the_day_is_in_no_theme(day: str) -> None:
    themes, _ = find(DAYS[day])
    lone = [p for p in DAYS[day] if key(p) in OFF_TOPIC]
    assert len(lone) == 1
    assert not homes(themes, lone[0])
    themed = {i for t in themes for i in t.post_ids}
    assert themed == {p.id for p in DAYS[day]} - {lone[0].id}, "every other post sits in a theme"


def test_posts_that_share_nothing_make_no_theme() -> None:
    # The off-topic posts of the days the finder was worked on. (The held-out days' two, on houseplants and a
    # marathon, share everyday words with these, "minutes" and "winter", that the shipped table, counted over
    # short openings, cannot tell from a field's terms: together the six make a theme.)
    posts = [p for day, posts in DAYS.items() if day not in HELD_OUT for p in posts if key(p) in OFF_TOPIC]
    themes, connections = find(posts)
    assert (themes, connections) == ((), ())


def test_a_post_on_two_topics_sits_in_both_themes_and_links_them() -> None:
    day = DAYS["2026-11-02"]
    bridge = Post(
        id="bridge",
        title="Sparse autoencoder features that flag reward hacking",
        url="https://www.alignmentforum.org/posts/bridge/x",
        authors=("Test Author",),
        published=WHEN,
        source="AI Alignment Forum",
        text="We looked for sparse autoencoder features that fire when a coding agent engages in reward hacking. "
        "A handful of sparse autoencoder features activate when the agent edits unit tests instead of fixing "
        "the code.\n\nMonitoring these features flagged most reward hacking episodes before the reward model "
        "scored them. This suggests that sparse autoencoder features could give reinforcement learning runs an "
        "early warning of reward hacking.",
        first_seen=WHEN,
    )
    posts = (*day, bridge)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    keyed = by_key(posts)
    sae = homes(themes, keyed["dA-sae-width"])
    hacking = homes(themes, keyed["dA-reward-hacking"])
    assert sorted(homes(themes, bridge)) == sorted({*sae, *hacking}) and len(homes(themes, bridge)) == 2
    assert any(bridge.title in line for line in connections)


def test_implications_draw_a_consequence() -> None:
    for posts in DAYS.values():
        themes, _ = find(posts)
        for theme in themes:
            assert theme.implications == "" or CONSEQUENCE.search(theme.implications), theme.implications
    # The example feed's post on a refusal direction says what it checked, which implies nothing.
    themes, _ = find(DAYS["sample"])
    method = "We checked whether this direction survives when a model is quantized to four bits for deployment."
    assert all(method not in t.implications for t in themes)


def test_most_themes_of_the_written_days_state_an_implication() -> None:
    themes = [t for posts in DAYS.values() for t in find(posts)[0]]
    assert sum(bool(t.implications) for t in themes) >= 0.8 * len(themes)


def bag_cosine(a: Post, b: Post) -> float:
    """A yardstick independent of the finder: cosine of raw content-word counts."""
    x, y = Counter(content_stems(a.title + " " + a.text)), Counter(content_stems(b.title + " " + b.text))
    dot = sum(c * y[t] for t, c in x.items())
    return dot / (math.sqrt(sum(c * c for c in x.values()) * sum(c * c for c in y.values())) or 1.0)


def within_and_between(days: Sequence[Sequence[Post]]) -> tuple[float, float]:
    within: list[float] = []
    between: list[float] = []
    for posts in days:
        themes, _ = find(posts)
        by_id = {p.id: p for p in posts}
        themed = sorted({i for t in themes for i in t.post_ids})
        for n, a in enumerate(themed):
            for b in themed[n + 1 :]:
                together = any(a in t.post_ids and b in t.post_ids for t in themes)
                (within if together else between).append(bag_cosine(by_id[a], by_id[b]))
    return sum(within) / len(within), sum(between) / len(between)


def test_a_themes_posts_are_more_alike_than_posts_of_different_themes() -> None:
    within, between = within_and_between([DAYS[d] for d in TOPIC_DAYS])
    assert within > 2 * between


# --- what a reader reads: titles, key ideas, points, connections -----------------------------------------------

BACKGROUND = shipped_background(())


def is_note(text: str, post: Post) -> bool:
    """Boilerplate by the text toolkit: on its own, or as flagged where it sits in its post."""
    flagged = {strip_footnote_markers(s.text) for s in post_sentences(post.text) if s.boilerplate}
    return is_boilerplate(text) or any(piece in flagged for piece in split_sentences(text))


def specific_stems(text: str) -> set[str]:
    return {t for t in content_stems(text) if not BACKGROUND.generic(t)}


def assert_reads_well(posts: Sequence[Post], themes: Sequence[Theme], connections: Sequence[str]) -> None:
    """What holds for every day: no title is one generic word, no two themes state the same sentence, no point or
    implication is a note about its post, and a connection's linking term is used by posts of both themes it
    names."""
    by_id = {p.id: p for p in posts}
    stated = [text for t in themes for text in (t.key_idea, t.implications) if text]
    assert len(stated) == len(set(stated)), "two themes state the same sentence"
    for theme in themes:
        words = content_stems(theme.title)
        assert not (len(theme.title.split()) == 1 and words and BACKGROUND.generic(words[0])), theme.title
        for post_id, point in zip(theme.post_ids, theme.post_points, strict=True):
            assert not (point and is_note(point, by_id[post_id])), point
        members = [by_id[i] for i in theme.post_ids]
        assert not (theme.implications and any(is_note(theme.implications, p) for p in members)), theme.implications
    for line in connections:
        term = re.search(r"both turn on (.+?)(?:: \"|\.$)", line)
        named = [n for n, t in enumerate(themes) if f"{t.title} (Theme {n + 1})" in line]
        if term and len(named) == 2:
            stems = set(content_stems(term[1]))
            for n in named:
                texts = " ".join(by_id[i].title + " " + by_id[i].text for i in themes[n].post_ids)
                assert stems <= set(content_stems(texts)), line


@pytest.mark.parametrize("day", sorted(DAYS))
def test_every_written_day_reads_well(day: str) -> None:
    posts = DAYS[day]
    assert_reads_well(posts, *find(posts))


@pytest.mark.parametrize("day", sorted(DAYS))
def test_no_two_connections_quote_the_same_sentence(day: str) -> None:
    _, connections = find(DAYS[day])
    quotes = [q[1] for line in connections if (q := re.search(r': "(.+)"$', line))]
    assert len(quotes) == len(set(quotes)), connections


@pytest.mark.parametrize("day", sorted(DAYS))
def test_a_key_idea_carries_specific_terms_of_two_of_its_posts(day: str) -> None:
    """The key idea states what the posts share, not one post's detail: its specific terms (not generic by the
    background table) are used by two or more of the theme's posts."""
    posts = DAYS[day]
    by_id = {p.id: p for p in posts}
    for theme in find(posts)[0]:
        if len(theme.post_ids) < 2:
            continue
        terms = specific_stems(theme.key_idea)
        reached = [i for i in theme.post_ids if terms & set(content_stems(by_id[i].title + " " + by_id[i].text))]
        assert len(reached) >= 2, (theme.title, theme.key_idea)


# --- small and odd days ---------------------------------------------------------------------------------------


def test_an_empty_day_and_repeated_posts() -> None:
    assert OfflineThemeFinder().find_themes([], {}) == ((), ())
    posts = DAYS["2026-11-05"]
    themes, _ = OfflineThemeFinder().find_themes([*posts, *posts], summaries_for(posts))
    assert themes == find(posts)[0]


def test_a_one_post_day_is_about_that_post() -> None:
    post = DAYS["2026-11-04"][0]
    themes, connections = find([post])
    assert_well_formed([post], themes, connections)
    assert [t.post_ids for t in themes] == [(post.id,)]


def test_a_post_without_text_is_placed_by_its_title() -> None:
    empty = Post(
        id="empty",
        title="Sycophancy in chat models: a reading list",
        url="https://www.alignmentforum.org/posts/empty/x",
        authors=(),
        published=WHEN,
        source="AI Alignment Forum",
        text="",
        first_seen=WHEN,
    )
    posts = (*DAYS["2026-11-05"], empty)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    assert homes(themes, empty) == homes(themes, by_key(posts)["dD-sycophancy"])


def test_a_summary_that_is_not_the_posts_own_words_is_never_quoted() -> None:
    posts = DAYS["2026-11-03"]
    invented = {p.id: "Zebras negotiate quantum treaties with xylophones in the moonlight." for p in posts}
    themes, connections = OfflineThemeFinder().find_themes(posts, invented)
    assert_well_formed(posts, themes, connections)
    assert "Zebras" not in repr((themes, connections))


def test_the_same_day_gives_the_same_themes_in_another_process() -> None:
    """No ordering may depend on string hashing, which differs between processes."""
    code = "from tests.test_themes import DAYS, find\nprint(find(DAYS['2026-11-02']))\n"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_loading_the_theme_finder_loads_no_numerical_library() -> None:
    """`digest fetch` imports the core; scikit-learn and scipy load only when a day's themes are found (numpy
    may load anyway: sqlite-utils imports it when it is installed)."""
    code = (
        "import sys\nimport digest_core.themes, digest_core.service, bot.cli\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# --- weeks of the shared export -----------------------------------------------------------------------------


def export_weeks(count: int) -> list[tuple[Post, ...]]:
    """The export's last `count` weeks with at least four posts, each as one day (posts are openings)."""
    weeks: dict[tuple[int, int], list[Post]] = {}
    for row in sorted(shared_export_rows(), key=lambda r: r["postedAt"]):
        week = datetime.fromisoformat(row["postedAt"].replace("Z", "+00:00")).isocalendar()[:2]
        post = Post(row["_id"], row["title"], row["pageUrl"], (row["author"],), WHEN, "AI Alignment Forum",
                    row["summary"], WHEN)  # fmt: skip
        weeks.setdefault(week, []).append(post)
    return [tuple(posts) for _, posts in sorted(weeks.items()) if len(posts) >= 4][-count:]


def test_real_weeks_are_well_formed_and_half_their_posts_or_more_sit_in_a_theme() -> None:
    weeks = export_weeks(60)
    placed = total = 0
    for posts in weeks:
        themes, connections = find(posts)
        assert_well_formed(posts, themes, connections)
        assert_reads_well(posts, themes, connections)
        assert all(len(t.post_ids) >= 2 for t in themes), "a theme on a day of several posts joins two or more"
        placed += len({i for t in themes for i in t.post_ids})
        total += len(posts)
    assert placed >= 0.5 * total


def test_in_real_weeks_a_themes_posts_are_more_alike_than_posts_of_different_themes() -> None:
    within, between = within_and_between(export_weeks(30))
    assert within > 1.5 * between


def _post(slug: str, title: str, text: str) -> Post:
    when = datetime(2026, 11, 8, 9, tzinfo=UTC)
    return Post(
        slug,
        title,
        f"https://www.alignmentforum.org/posts/{slug}/x",
        ("A. Author",),
        when,
        "AI Alignment Forum",
        text,
        when,
    )


def test_a_possible_consequence_the_theme_shares_is_its_implication_a_schedule_is_not() -> None:
    """With no sentence that concludes or prescribes, a "could" sentence on what the posts share says what may
    follow; a "will" that only tells one post's schedule does not."""
    posts = [
        _post(
            "rm-over-1",
            "Reward model overoptimization in preference training",
            "We trained policies against learned reward models of three sizes and measured gold reward. "
            "Gold reward rose at first and then fell as the policy exploited the reward model. "
            "The peak came earlier for the smallest reward model. "
            "Reward model overoptimization could make preference training less reliable as policies grow "
            "stronger. The reading group will meet on Thursday in the library.",
        ),
        _post(
            "rm-over-2",
            "Ensembles against reward model overoptimization",
            "An ensemble of reward models gives a more conservative reward signal. "
            "We penalised disagreement between the reward models of the ensemble during preference training. "
            "The ensemble delayed the drop in gold reward by about half. "
            "Overoptimization of the ensemble still happened with a long enough training run.",
        ),
    ]
    themes, _ = find(posts)

    [theme] = themes
    assert theme.implications.startswith("Reward model overoptimization could make")


def test_theme_quotes_carry_no_footnote_markers() -> None:
    """A marker glued inside a sentence ("reward models[1] of three sizes", "gold reward²") is not part of what the
    sentence says: the theme quotes it as the summaries do, without the marker."""
    posts = [
        _post(
            "fn-1",
            "Reward model overoptimization in preference training",
            "We trained policies against learned reward models[1] of three sizes and measured gold reward. "
            "Gold reward² rose at first and then fell as the policy exploited the reward model. "
            "The peak of gold reward[2] came earlier for the smallest reward model.",
        ),
        _post(
            "fn-2",
            "Ensembles against reward model overoptimization",
            "An ensemble of reward models[1] gives a more conservative reward signal during preference training. "
            "We penalised disagreement between the reward models[2]of the ensemble. "
            "The ensemble delayed the drop in gold reward³ by about half.",
        ),
    ]
    themes, connections = find(posts)

    assert themes
    texts = [t.key_idea for t in themes] + [p for t in themes for p in t.post_points] + list(connections)
    texts += [t.implications for t in themes]
    assert not [t for t in texts if re.search(r"\[\d\]|[¹²³]", t)]
    assert_well_formed(posts, themes, connections)


def test_a_modifier_the_posts_share_leads_to_the_phrase_it_modifies() -> None:
    """ "sparse" is the heaviest word the two posts share, but it names nothing alone: the title is the phrase
    both titles use it in, although its first two words ("sparse feature") are no noun phrase of the posts."""
    posts = [
        _post(
            "sfc-1",
            "Sparse feature circuits in small transformers",
            "We trace sparse feature circuits through a four-layer transformer trained on arithmetic. "
            "We optimise for sparse, faithful explanations. Each explanation uses fewer than twenty features. "
            "Ablating the explanation removes the behaviour while leaving other tasks intact.",
        ),
        _post(
            "sfc-2",
            "Pruning sparse feature circuits",
            "Pruning keeps only the edges that carry most of the attribution. "
            "The pruned graph stays small even on long prompts, and we aim for sparse, readable graphs. "
            "We find that pruned sparse feature circuits keep nine tenths of the faithfulness of the full graph. "
            "Pruning is cheap compared with retraining the dictionary.",
        ),
    ]
    themes, _ = find(posts)

    assert [t.title for t in themes] == ["Sparse feature circuits"]


def test_an_aside_in_brackets_or_a_fragment_is_never_quoted() -> None:
    """The author set the aside apart, and a fragment that opens with punctuation is no sentence: neither is a
    key idea, an implication or a post's line, though each holds the day's shared terms and a consequence cue."""
    posts = [
        _post(
            "aside-1",
            "Reward model ensembles in preference training",
            "We trained policies against single reward models and against ensembles of reward models. "
            "(This suggests that reward model ensembles should be the default in preference training runs.) "
            "The ensembles delayed the fall in gold reward by about half in our preference training runs.",
        ),
        _post(
            "aside-2",
            "Overoptimization of reward model ensembles",
            "Gold reward fell later for policies trained against reward model ensembles than against one model. "
            ", so reward model ensembles must be tuned with care: they delay overoptimization in preference "
            "training but do not stop it. Reward model ensembles cost about three times as much compute to train.",
        ),
    ]
    themes, _ = find(posts)

    assert themes
    for theme in themes:
        for text in (theme.key_idea, theme.implications, *theme.post_points):
            assert not text.startswith(("(", ",")), text


def test_a_modal_in_a_plan_or_inside_a_question_is_no_implication() -> None:
    """ "We will start by ..." tells the author's plan and "what ... would look like" asks; neither says what
    follows from the posts, though both use the theme's terms with a modal."""
    posts = [
        _post(
            "plan-1",
            "Reward model overoptimization in preference training",
            "We trained policies against learned reward models of three sizes and measured gold reward. "
            "Gold reward rose at first and then fell as the policy exploited the reward model. "
            "We will start by measuring reward model overoptimization in longer preference training runs.",
        ),
        _post(
            "plan-2",
            "Ensembles against reward model overoptimization",
            "An ensemble of reward models gives a more conservative reward signal in preference training. "
            "We asked what reward model overoptimization would look like with an ensemble in preference training. "
            "The ensemble delayed the drop in gold reward by about half.",
        ),
    ]
    themes, _ = find(posts)

    [theme] = themes
    assert theme.implications == ""


def test_a_link_is_a_noun_phrase_of_the_posts_not_a_modifier_or_a_fragment() -> None:
    from digest_core.themes.naming import used_as_noun_phrase

    texts = [
        "We study a causal abstraction of small transformers. The causal graph of the model has four nodes.",
        "A causal intervention on the residual stream moved the answer. We test the abstraction we found.",
    ]
    assert used_as_noun_phrase("abstraction", texts)
    assert used_as_noun_phrase("causal abstraction", texts)
    assert not used_as_noun_phrase("causal", texts)  # only ever a modifier
    assert not used_as_noun_phrase("graph model", texts)  # words of two phrases, never one


def test_a_reading_sent_back_with_one_summary_quotes_any_summary_as_a_fresh_reading_does() -> None:
    summarizer = ExtractiveSummarizer()
    quoted = 0
    for posts in DAYS.values():
        for index, post in enumerate(posts):
            summary = summarizer.summarize(post)
            sent_back, fresh = reading_of(post.text, summary), reading_of(post.text)
            # Another summary of the post's own sentences: its last quotable ones.
            other = " ".join(q.text for q in text_quotes(index, post, reading=fresh)[-3:])
            for written in (summary, other):
                quotes = summary_quotes(index, post, written, sent_back)
                assert quotes == summary_quotes(index, post, written, fresh)
                quoted += len(quotes)
            assert list(sent_back.start) == list(fresh.start)
    assert quoted
