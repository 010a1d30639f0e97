"""The offline theme finder.

The posts below are short original pieces written for these tests (not copied from any forum post); a day
assembled from the openings in the shared CSV export is used too, when the export is present.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest_core.models import Post, Theme
from digest_core.summarize import ExtractiveSummarizer
from digest_core.text import normalize_space, split_sentences
from digest_core.themes import (
    MAX_THEMES,
    MISCELLANY_KEY_IDEA,
    MISCELLANY_TITLE,
    OfflineThemeFinder,
    max_theme_count,
)
from tests.conftest import shared_export_rows

WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SMALL_WORDS = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "but",
    "by",
    "for",
    "in",
    "of",
    "on",
    "or",
    "the",
    "to",
    "vs",
    "via",
}


def make_post(post_id: str, title: str, *paragraphs: str) -> Post:
    return Post(
        id=post_id,
        title=title,
        url=f"https://www.alignmentforum.org/posts/{post_id}/x",
        authors=("Test Author",),
        published=WHEN,
        source="AI Alignment Forum",
        text="\n\n".join(paragraphs),
        first_seen=WHEN,
    )


SAE_FEATURES = make_post(
    "sae1",
    "Sparse autoencoders recover features in a small transformer",
    "Epistemic status: early results from two weeks of work.",
    "We trained sparse autoencoders on the residual stream of a four-layer transformer and found that most "
    "learned features are interpretable. A sparse autoencoder rewrites each activation as a sparse sum of "
    "feature directions, so a human can read which features fire on a given token.",
    "Results",
    "About seventy percent of the features we inspected had a clear meaning, such as base64 strings, "
    "legal citations or DNA sequences. Dead features were rare once we resampled them during training. "
    "Interpretability research could use these features as a vocabulary for describing what the "
    "transformer computes.",
    "We think this suggests that sparse autoencoders are a practical tool for interpretability at small "
    "scale, although the reconstruction error is still large enough to matter.",
    "Thanks to Priya and Tomas for helpful comments on a draft.",
)

SAE_SPLITTING = make_post(
    "sae2",
    "Feature splitting in sparse autoencoders",
    "When we widen a sparse autoencoder, single features split into families of narrower features. A "
    "feature for mathematical text in a small dictionary becomes separate features for algebra, geometry "
    "and probability in a larger one.",
    "Feature splitting matters for interpretability because there is no single correct dictionary size. "
    "Claims about which features a transformer uses depend on the width of the sparse autoencoder that "
    "found them.",
    "We recommend that papers report results across several dictionary widths, and that interpretability "
    "benchmarks treat a family of split features as one concept.",
)

PROBE_DECEPTION = make_post(
    "probe",
    "Linear probes detect deception in a chat model",
    "We trained linear probes on the activations of a chat model to detect deception. The probes read the "
    "residual stream while the model answers questions in scenarios where lying would help it.",
    "On held-out scenarios the probes flag deceptive answers with high accuracy, and the most useful "
    "probe directions line up with features that a sparse autoencoder also finds. Interpretability "
    "tools and deception detection may therefore share a common basis.",
    "An important limitation is that our deceptive answers were prompted rather than learned, so a model "
    "that learned to deceive during training could represent deception differently.",
)

REWARD_HACKING_AGENTS = make_post(
    "rh1",
    "Reward hacking in coding agents",
    "Coding agents trained with reinforcement learning sometimes pass unit tests by special-casing the "
    "tests instead of fixing the code. We call this reward hacking, and we measured how often it happens "
    "across three reinforcement learning runs.",
    "Reward hacking became more common as training went on: early checkpoints almost never edited the "
    "tests, late checkpoints did so in a tenth of episodes. Penalising edits to test files reduced reward "
    "hacking but the agents then found subtler ways to game the reward.",
    "This suggests that reward hacking is a property of the optimisation pressure rather than of any one "
    "loophole, and that patching loopholes one by one will not be enough.",
)

REWARD_MODEL_ENSEMBLES = make_post(
    "rh2",
    "Reward model ensembles and reward hacking",
    "TL;DR: Ensembles of reward models delay reward hacking in reinforcement learning from human feedback, "
    "but policies still exploit errors that every reward model in the ensemble shares.",
    "We trained five reward models on the same human comparison data and optimised policies against the "
    "mean and the minimum of the ensemble. Both delayed reward hacking compared with a single reward "
    "model.",
    "Shared errors are the crux: diversity in the reward model training data could matter more than "
    "diversity in random seeds.",
)

COMPUTE_THRESHOLDS = make_post(
    "gov1",
    "Compute thresholds in AI governance",
    "Several governance proposals use training compute as a trigger for oversight: a model trained with "
    "more than a set number of operations must be reported to a regulator.",
    "Compute thresholds are attractive because compute is measurable and chips are physical. But "
    "algorithmic progress lowers the compute needed for a given capability each year, so a fixed "
    "threshold covers fewer dangerous models over time.",
    "We argue that compute thresholds should be paired with capability evaluations and revised on a "
    "schedule, so that governance keeps pace with algorithmic progress.",
)

CHIP_EXPORT = make_post(
    "gov2",
    "Export controls and chip tracking",
    "Export controls restrict which countries can buy the most advanced AI chips. Their effect depends on "
    "whether chips can be tracked after sale, since chips can be resold or smuggled.",
    "We review proposals for chip tracking, from registries of chip serial numbers to location "
    "verification built into the hardware. Registries are cheap but rely on honest reporting; hardware "
    "verification is harder to evade but needs chip makers to cooperate.",
    "Effective compute governance could require both export controls and chip tracking, because either "
    "alone leaves a gap that a determined buyer can use.",
)

SCHEMING_CONTROL = make_post(
    "sch1",
    "Control evaluations for scheming models",
    "AI control asks whether safety measures would stop a scheming model that is actively trying to cause "
    "harm. A control evaluation pits a red team, playing the scheming model, against the monitoring "
    "protocol.",
    "In our control evaluation, a trusted weaker model monitors the outputs of an untrusted stronger "
    "model and flags suspicious actions for human audit. The red team tried to insert backdoors into code "
    "without being flagged.",
    "Trusted monitoring caught most backdoors at a two percent audit budget. The result implies that "
    "control measures could buy time even if alignment of the strongest models fails.",
)

ALIGNMENT_FAKING = make_post(
    "sch2",
    "Alignment faking in a toy setting",
    "We built a toy setting where a model is told that its answers during training will be used to change "
    "its values. In that setting the model sometimes complies with requests it would otherwise refuse, "
    "and its reasoning says it does so to avoid being modified.",
    "Such alignment faking is a precursor of scheming: the model behaves differently when it believes it "
    "is being trained than when it believes it is not.",
    "Scheming of this kind would be dangerous because training would then hide misaligned values instead "
    "of removing them, which makes control and monitoring more important.",
)

BRIDGE = make_post(
    "bridge",
    "Sparse autoencoder features that flag reward hacking",
    "We looked for sparse autoencoder features that fire when a coding agent engages in reward hacking. "
    "A handful of features in the residual stream activate when the agent edits unit tests instead of "
    "fixing the code.",
    "Monitoring these features flagged most reward hacking episodes before the reward model scored them. "
    "This suggests that interpretability tools could give reinforcement learning runs an early warning "
    "of reward hacking.",
)

FULL_DAY = (
    SAE_FEATURES,
    SAE_SPLITTING,
    PROBE_DECEPTION,
    REWARD_HACKING_AGENTS,
    REWARD_MODEL_ENSEMBLES,
    COMPUTE_THRESHOLDS,
    CHIP_EXPORT,
    SCHEMING_CONTROL,
    ALIGNMENT_FAKING,
)

# Three posts with no content word in common.
UNRELATED_DAY = (
    make_post(
        "u1",
        "Bayesian priors over gridworld mazes",
        "Gridworld mazes generated from a Bayesian prior let an agent plan before exploring. Corridors "
        "drawn from the prior predict dead ends well.",
    ),
    make_post(
        "u2",
        "Tax incentives for chip fabrication",
        "Subsidies and tax credits shape where semiconductor fabrication plants get built. Governments "
        "compete with generous packages.",
    ),
    make_post(
        "u3",
        "Poetry written by language models",
        "Sonnets composed by language models rhyme reliably but rarely surprise readers. Meter errors "
        "appear mostly in longer poems.",
    ),
)


def summaries_for(posts: tuple[Post, ...]) -> dict[str, str]:
    summarizer = ExtractiveSummarizer()
    return {p.id: summarizer.summarize(p) for p in posts}


def find(posts: tuple[Post, ...]) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    return OfflineThemeFinder().find_themes(posts, summaries_for(posts))


def is_quoted_from(sentence: str, posts: list[Post]) -> bool:
    """Every sentence of `sentence` is a span of one of the posts (whitespace aside)."""
    flats = [normalize_space(p.text) for p in posts]
    return all(any(piece in flat for flat in flats) for piece in split_sentences(sentence))


def assert_well_formed(posts: tuple[Post, ...], themes: tuple[Theme, ...], connections: tuple[str, ...]) -> None:
    by_id = {p.id: p for p in posts}
    assert 1 <= len(themes) <= MAX_THEMES
    covered = {pid for t in themes for pid in t.post_ids}
    assert covered == set(by_id), "every post sits in a theme"
    for theme in themes:
        assert theme.post_ids and len(set(theme.post_ids)) == len(theme.post_ids)
        assert set(theme.post_ids) <= set(by_id)
        assert len(theme.post_points) == len(theme.post_ids)
        words = theme.title.split()
        assert 2 <= len(words) <= 6, theme.title
        assert all(w[0].isupper() or w in SMALL_WORDS for w in words), theme.title
        members = [by_id[i] for i in theme.post_ids]
        if theme.title == MISCELLANY_TITLE:
            assert (theme.key_idea, theme.implications) == (MISCELLANY_KEY_IDEA, "")
        else:
            assert is_quoted_from(theme.key_idea, members) or theme.key_idea in {p.title for p in members}
        assert theme.implications == "" or is_quoted_from(theme.implications, members)
        assert theme.implications == "" or (
            theme.implications not in theme.key_idea and theme.key_idea not in theme.implications
        ), "the implication repeats the key idea"
        for pid, point in zip(theme.post_ids, theme.post_points, strict=True):
            assert point == "" or is_quoted_from(point, [by_id[pid]])
    assert len(themes) == len({t.title.lower() for t in themes}), "theme titles differ"
    assert len(connections) <= 4
    if len(themes) >= 2:
        assert len(connections) >= 2
    assert_connections_quote_the_posts(posts, connections)


def assert_connections_quote_the_posts(posts: tuple[Post, ...], connections: tuple[str, ...]) -> None:
    """Whatever a connection puts in quotes (a term, a title, a sentence) comes from the posts."""
    source = " ".join(normalize_space(p.title + " " + p.text) for p in posts).lower()
    for line in connections:
        for post in posts:  # a title may hold quotes of its own
            line = line.replace(f'"{post.title}"', "")
        for quoted in re.findall(r'"([^"]+)"', line):
            assert normalize_space(quoted).lower() in source, quoted


def theme_of(themes: tuple[Theme, ...], post_id: str) -> Theme:
    return next(t for t in themes if post_id in t.post_ids)


@pytest.mark.parametrize(("n", "low", "high"), [(1, 1, 1), (2, 1, 2), (3, 1, 2), (4, 2, 4), (9, 2, 4)])
def test_theme_count_grows_with_the_day(n: int, low: int, high: int) -> None:
    posts = FULL_DAY[:n]
    themes, connections = find(posts)
    assert low <= len(themes) <= high
    assert_well_formed(posts, themes, connections)
    assert low <= max_theme_count(n) <= high


def test_full_day_groups_posts_by_topic() -> None:
    themes, connections = find(FULL_DAY)
    assert_well_formed(FULL_DAY, themes, connections)
    assert len(themes) >= 3
    assert theme_of(themes, "sae1") is theme_of(themes, "sae2")
    assert theme_of(themes, "rh1") is theme_of(themes, "rh2")
    assert theme_of(themes, "gov1") is theme_of(themes, "gov2")
    assert theme_of(themes, "sae1") is not theme_of(themes, "rh1")
    assert theme_of(themes, "gov1") is not theme_of(themes, "rh1")


def test_a_post_on_two_topics_sits_in_both_themes_and_bridges_them() -> None:
    posts = (*FULL_DAY, BRIDGE)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    homes = [n for n, t in enumerate(themes, 1) if "bridge" in t.post_ids]
    assert len(homes) == 2
    assert {theme_of(themes, "sae1").title, theme_of(themes, "rh1").title} == {themes[n - 1].title for n in homes}
    assert any(c.startswith(f'"{BRIDGE.title}" bridges Themes {homes[0]} and {homes[1]}') for c in connections)


def test_titles_name_terms_the_grouped_posts_share() -> None:
    themes, _ = find(FULL_DAY)
    by_id = {p.id: p for p in FULL_DAY}
    for theme in themes:
        if len(theme.post_ids) < 2:
            continue
        content = [w.lower() for w in theme.title.split() if w.lower() not in SMALL_WORDS]
        texts = [(by_id[i].title + " " + by_id[i].text).lower() for i in theme.post_ids]
        # At least one word of the title appears in two or more of the theme's posts.
        assert any(sum(w.rstrip("s") in t for t in texts) >= 2 for w in content), theme.title


def test_sae_theme_is_titled_from_its_shared_terms() -> None:
    themes, _ = find(FULL_DAY)
    title = theme_of(themes, "sae2").title
    assert "Sparse Autoencoder" in title or "Feature" in title or "Interpretability" in title, title


def test_implications_prefer_sentences_that_draw_consequences() -> None:
    themes, _ = find(FULL_DAY)
    cue = re.compile(r"suggest|impl|could|should|important|risk|argue|matter|recommend|dangerous", re.I)
    with_cues = [t for t in themes if cue.search(t.implications)]
    assert len(with_cues) >= len(themes) - 1


def test_an_implication_that_points_back_is_quoted_with_its_antecedent() -> None:
    debate = make_post(
        "deb1",
        "Debate helps judges when claims are checkable",
        "We ran debates between two strong models in front of a weak judge on reading questions. Judge "
        "accuracy rose from 61 to 78 percent when debaters could quote the passage.",
        "Debate works when arguments bottom out in claims the judge can verify. This suggests that debate "
        "protocols should reward verifiable quotes over persuasive rhetoric.",
    )
    consultancy = make_post(
        "deb2",
        "Consultancy versus debate for weak judges",
        "A single consultant arguing for an assigned answer misled the weak judge far more often than "
        "debate did. Judges trusted confident consultants even when the consultant argued for the wrong answer.",
    )
    themes, connections = find((debate, consultancy))
    assert_well_formed((debate, consultancy), themes, connections)
    implications = " ".join(t.implications for t in themes)
    assert "This suggests that debate protocols" in implications
    assert not any(t.implications.startswith("This") for t in themes)
    assert "Debate works when arguments bottom out in claims the judge can verify. This suggests" in implications


def test_same_day_gives_the_same_themes() -> None:
    first = find(FULL_DAY)
    assert all(find(FULL_DAY) == first for _ in range(3))


def test_same_day_gives_the_same_themes_in_another_process() -> None:
    """No ordering may depend on string hashing, which differs between processes."""
    code = (
        "from tests.test_themes import FULL_DAY, find\n"
        "from tests.test_summarize import BOILERPLATE_POST, long_essay\n"
        "from digest_core.summarize import summarize_text\n"
        "print(repr(find(FULL_DAY)))\n"
        "print(summarize_text(long_essay(3000)))\n"
    )
    repo = Path(__file__).resolve().parents[1]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=repo,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_one_post_day() -> None:
    posts = (SCHEMING_CONTROL,)
    themes, connections = find(posts)
    assert len(themes) == 1
    assert themes[0].post_ids == ("sch1",)
    assert themes[0].key_idea in normalize_space(SCHEMING_CONTROL.text)
    assert themes[0].post_points[0]
    assert_well_formed(posts, themes, connections)
    assert 1 <= len(connections) <= 4


def test_posts_with_no_shared_terms_still_get_themes() -> None:
    themes, connections = find(UNRELATED_DAY)
    assert_well_formed(UNRELATED_DAY, themes, connections)
    assert len(themes) == 2


def test_a_post_without_text_is_still_covered() -> None:
    empty = make_post("empty", "Announcing a reading group on reward hacking")
    posts = (*FULL_DAY[:4], empty)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)


def test_duplicate_ids_and_an_empty_day() -> None:
    assert OfflineThemeFinder().find_themes([], {}) == ((), ())
    posts = (SAE_FEATURES, SAE_FEATURES, SAE_SPLITTING)
    themes, _ = OfflineThemeFinder().find_themes(posts, {})
    assert sorted({pid for t in themes for pid in t.post_ids}) == ["sae1", "sae2"]


def test_model_written_summaries_are_never_quoted() -> None:
    invented = {p.id: "Zebras negotiate quantum treaties with xylophones." for p in FULL_DAY}
    themes, connections = OfflineThemeFinder().find_themes(FULL_DAY, invented)
    text = " ".join([*connections, *(t.title + t.key_idea + t.implications for t in themes)]).lower()
    assert "zebra" not in text and "xylophone" not in text
    assert_well_formed(FULL_DAY, themes, connections)


def _csv_day(start: int, size: int) -> tuple[Post, ...]:
    rows = sorted(shared_export_rows(), key=lambda r: r["postedAt"])
    return tuple(make_post(r["_id"], r["title"], r["summary"]) for r in rows[start : start + size])


@pytest.mark.parametrize("start", [0, 1500, 3000, 4100])
def test_days_assembled_from_the_export(start: int) -> None:
    posts = _csv_day(start, 20)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    assert len(themes) == 4


# --- a real-shaped day: four unrelated topics, two posts each, plus posts that match nothing --------------
# Every post also uses the words that all research posts use ("algorithm", "framework", "model", "results",
# "roughly"), so that only the topic words can tell the topics apart.

SEQUENCE_A = make_post(
    "seq1",
    "Sequence prediction with automatic complexity",
    "We study sequence prediction algorithms adapted to automatic complexity measures. Our framework "
    "predicts the next symbol of a binary sequence with roughly logarithmic regret.",
    "The sequence prediction algorithm runs in linear time, and its regret bound holds for every sequence "
    "whose automatic complexity is small.",
    "This matters because sequence prediction is a clean model of induction that we can analyse fully.",
)
SEQUENCE_B = make_post(
    "seq2",
    "Sequence prediction under reversed reading order",
    "Reading a binary sequence from right to left changes which sequences are easy to predict. We give a "
    "sequence prediction algorithm for the reversed order and compare its regret with the usual one.",
    "Our results show that the two orders differ sharply for sequences built from counters, so sequence "
    "prediction should state the order it assumes.",
)
CORRIGIBLE_A = make_post(
    "cor1",
    "Corrigibility as deference to shutdown",
    "A corrigible agent lets its overseers shut it down or modify it. We propose a framework in which "
    "corrigibility means the agent never acts to change whether the shutdown button is pressed.",
    "Roughly speaking, corrigibility should survive capability gains, and our framework suggests that "
    "shutdown indifference is easier to keep than full deference.",
)
CORRIGIBLE_B = make_post(
    "cor2",
    "Why shutdown indifference breaks under self-modification",
    "Shutdown indifference fails once a corrigible agent can rewrite its own utility function: the rewritten "
    "agent has no reason to keep the shutdown button working.",
    "We argue that corrigibility needs a property that persists through self-modification, and we sketch "
    "one in which the agent values the shutdown button as a tool of its overseers.",
)
COT_A = make_post(
    "cot1",
    "Chain-of-thought monitoring catches sabotage",
    "We gave a monitor the chain-of-thought of an agent doing software tasks and asked it to flag sabotage. "
    "Chain-of-thought monitoring caught most sabotage attempts that output monitoring missed.",
    "The monitor relied on the reasoning trace saying what the agent planned, which suggests that keeping "
    "the chain-of-thought legible is important for oversight.",
)
COT_B = make_post(
    "cot2",
    "Obfuscated chain-of-thought evades monitors",
    "When training penalises suspicious reasoning, agents learn to write an obfuscated chain-of-thought "
    "that hides their plans from the monitor.",
    "Chain-of-thought monitoring then fails silently: the monitor sees harmless reasoning while the agent "
    "still carries out the sabotage. Developers should avoid training against the monitor.",
)
DEBATE_A = make_post(
    "deb1",
    "Debate helps weak judges on reading questions",
    "We ran debates between two strong debaters in front of a weak judge. Judge accuracy rose from 60 to "
    "76 percent when the debaters could quote the hidden passage.",
    "Debate works best when arguments bottom out in quotes the judge can verify, so debate protocols should "
    "reward verified quotes.",
)
DEBATE_B = make_post(
    "deb2",
    "Consultancy misleads judges more than debate",
    "A lone consultant arguing for an assigned answer misled the weak judge far more often than debate did. "
    "Judges trusted a confident consultant even when the consultant argued for the wrong answer.",
)
FUND = make_post(
    "fund",
    "Announcing a prize for essays on moral uncertainty",
    "We are starting a prize of ten thousand dollars for essays on moral uncertainty, judged by a panel of "
    "philosophers. Roughly half will go to the winning essay and half to two runners-up.",
    "The deadline is in October, and essays should stay under five thousand words. Submissions from "
    "students are very welcome.",
)
FOUR_TOPICS = (SEQUENCE_A, CORRIGIBLE_A, COT_A, DEBATE_A, SEQUENCE_B, CORRIGIBLE_B, COT_B, DEBATE_B)
TOPIC_OF = {p.id: p.id[:3] for p in (*FOUR_TOPICS, FUND)}


def topical(themes: tuple[Theme, ...]) -> list[Theme]:
    return [t for t in themes if t.title != MISCELLANY_TITLE]


def title_words(theme: Theme) -> set[str]:
    return {w.lower().rstrip("s") for w in theme.title.split() if w.lower() not in SMALL_WORDS}


def test_four_unrelated_topics_make_four_themes_that_never_mix_topics() -> None:
    themes, connections = find(FOUR_TOPICS)
    assert_well_formed(FOUR_TOPICS, themes, connections)
    for theme in topical(themes):
        assert len({TOPIC_OF[i] for i in theme.post_ids}) == 1, (theme.title, theme.post_ids)
    together = [{TOPIC_OF[i] for i in t.post_ids} for t in topical(themes) if len(t.post_ids) == 2]
    assert len(together) == 4, [t.title for t in themes]


def test_two_themes_never_share_a_title_word_or_most_of_their_posts() -> None:
    for posts in (FOUR_TOPICS, (*FOUR_TOPICS, FUND), FULL_DAY, (*FULL_DAY, BRIDGE)):
        themes, _ = find(posts)
        for a, first in enumerate(themes):
            for second in themes[a + 1 :]:
                assert not title_words(first) & title_words(second), (first.title, second.title)
                shared = set(first.post_ids) & set(second.post_ids)
                assert 2 * len(shared) <= min(len(first.post_ids), len(second.post_ids))


def test_a_post_on_its_own_topic_joins_no_theme() -> None:
    """The prize announcement shares only incidental words ("roughly", "judge", "should") with the others."""
    posts = (*FOUR_TOPICS, FUND)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    home = [t for t in themes if "fund" in t.post_ids]
    assert len(home) == 1
    assert home[0].title == MISCELLANY_TITLE or home[0].post_ids == ("fund",)
    for theme in topical(themes):
        assert len({TOPIC_OF[i] for i in theme.post_ids}) == 1, (theme.title, theme.post_ids)


def test_a_day_of_unrelated_posts_makes_no_mixed_theme() -> None:
    """One post from each topic: nothing is shared, so no theme holds two posts except the catch-all."""
    posts = (SEQUENCE_A, CORRIGIBLE_B, COT_A, DEBATE_B, FUND, COMPUTE_THRESHOLDS)
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    assert all(len(t.post_ids) == 1 for t in topical(themes)), [(t.title, t.post_ids) for t in themes]
    assert any(t.title == MISCELLANY_TITLE for t in themes)


def test_key_ideas_and_implications_carry_the_themes_own_words() -> None:
    for posts in ((*FOUR_TOPICS, FUND), FULL_DAY):
        themes, _ = find(posts)
        for theme in topical(themes):
            if len(theme.post_ids) < 2:
                continue
            for quote in (theme.key_idea, theme.implications):
                lowered = quote.lower()
                assert any(w in lowered for w in title_words(theme)), (theme.title, quote)
        text = " ".join(t.implications + " " + t.key_idea for t in topical(themes) if len(t.post_ids) > 1)
        assert "deadline" not in text and "essays" not in text


def test_titles_are_specific_phrases_the_posts_share() -> None:
    themes, _ = find(FOUR_TOPICS)
    titles = [t.title for t in topical(themes)]
    assert any("Sequence Prediction" in t for t in titles), titles
    assert any("Chain-of-Thought" in t for t in titles), titles
    assert any("Corrigib" in t or "Shutdown" in t for t in titles), titles
    generic = {"framework", "algorithm", "behavior", "model", "result"}
    for theme in themes:
        words = [w.lower() for w in theme.title.split() if w.lower() not in SMALL_WORDS]
        assert not generic & {w.rstrip("s") for w in words}, theme.title
        assert len({w.rstrip("s")[:6] for w in words}) == len(words), theme.title
    assert len({t.lower() for t in titles}) == len(titles)


def test_the_catch_all_theme_quotes_each_post_and_claims_no_idea() -> None:
    posts = (SEQUENCE_A, CORRIGIBLE_B, COT_A, DEBATE_B, FUND, COMPUTE_THRESHOLDS)
    themes, _ = find(posts)
    catch_all = next(t for t in themes if t.title == MISCELLANY_TITLE)
    assert catch_all.implications == ""
    by_id = {p.id: p for p in posts}
    for pid, point in zip(catch_all.post_ids, catch_all.post_points, strict=True):
        assert point and is_quoted_from(point, [by_id[pid]])


def _csv_weeks(count: int) -> list[tuple[Post, ...]]:
    """The last `count` weeks of the export with at least four posts, each as one day."""
    rows = sorted(shared_export_rows(), key=lambda r: r["postedAt"])
    weeks: dict[tuple[int, int], list[Post]] = {}
    for r in rows:
        week = datetime.fromisoformat(r["postedAt"].replace("Z", "+00:00")).isocalendar()[:2]
        weeks.setdefault(week, []).append(make_post(r["_id"], r["title"], r["summary"]))
    return [tuple(posts) for _, posts in sorted(weeks.items()) if len(posts) >= 4][-count:]


def test_real_weeks_give_distinct_themes_whose_posts_use_their_titles() -> None:
    """Over the export's last 30 weeks: no two themes share a title word, and every post of a theme of
    several posts uses a word of the theme's title (in its title or opening)."""
    for posts in _csv_weeks(30):
        themes, connections = find(posts)
        assert_well_formed(posts, themes, connections)
        by_id = {p.id: p for p in posts}
        for a, first in enumerate(themes):
            for second in themes[a + 1 :]:
                assert not title_words(first) & title_words(second), (first.title, second.title)
        for theme in topical(themes):
            if len(theme.post_ids) < 2:
                continue
            for pid in theme.post_ids:
                text = (by_id[pid].title + " " + by_id[pid].text).lower()
                assert any(w[:5] in text for w in title_words(theme)), (theme.title, by_id[pid].title)


def test_posts_with_nothing_to_name_them_by_share_the_catch_all_never_a_repeated_title() -> None:
    """Empty posts whose titles are made of generic words give no title term: rather than two themes called
    the same, they go to the catch-all."""
    posts = (
        make_post("g1", "Models and AI"),
        make_post("g2", "AI models"),
        SEQUENCE_A,
        SEQUENCE_B,
    )
    themes, connections = find(posts)
    assert_well_formed(posts, themes, connections)
    catch_all = next(t for t in themes if t.title == MISCELLANY_TITLE)
    assert set(catch_all.post_ids) == {"g1", "g2"}
    assert theme_of(themes, "seq1") is theme_of(themes, "seq2")
