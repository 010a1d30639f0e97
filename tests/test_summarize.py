"""The offline extractive summarizer and the text helpers under it.

The posts below are short original pieces written for these tests (not copied from any forum post); the real
openings come from the shared CSV export at run time, when it is present.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import digest_core.text as text_module
from digest_core.clean import html_to_text
from digest_core.models import Post
from digest_core.summarize import (
    MAX_WORDS,
    MIN_WORDS,
    ExtractiveSummarizer,
    leans_back,
    select_sentences,
    summarize_text,
)
from digest_core.text import (
    FUNCTION_WORDS,
    STOPWORDS,
    content_stems,
    dangling_kind,
    is_boilerplate,
    is_heading,
    looks_like_code_or_math,
    normalize_space,
    post_sentences,
    split_sentences,
    stem,
    strip_footnote_markers,
)
from tests.conftest import shared_export_rows

WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_post(text: str, title: str = "A post", post_id: str = "p1") -> Post:
    return Post(
        id=post_id,
        title=title,
        url=f"https://www.alignmentforum.org/posts/{post_id}/x",
        authors=("Test Author",),
        published=WHEN,
        source="AI Alignment Forum",
        text=text,
        first_seen=WHEN,
    )


def words_of(text: str) -> int:
    return len(text.split())


def post_flat(text: str) -> str:
    """The post as one line, without footnote markers: what a summary's sentences are spans of."""
    return normalize_space(strip_footnote_markers(text))


def assert_verbatim(summary: str, text: str, title: str = "") -> None:
    """The summary is the post's own sentences, each a span of the post (whitespace and footnote markers
    aside), in order."""
    flat = post_flat(text)
    chosen = select_sentences(text, title=title)
    assert summary == (" ".join(chosen) if chosen else normalize_space(title))
    position = 0
    for sentence in chosen:
        found = flat.find(sentence, position)
        assert found >= 0, sentence
        position = found + len(sentence)


BOILERPLATE_POST = "\n\n".join(
    [
        "Epistemic status: exploratory; I spent about two days on this and may be wrong.",
        "This is a crosspost from my personal blog.",
        (
            "TL;DR: Reward models trained on human comparisons can be gamed by policies that learn to exploit"
            " their blind spots, and ensembles of reward models reduce but do not remove this reward hacking."
        ),
        "Background",
        (
            "Reinforcement learning from human feedback trains a reward model on comparisons between pairs of"
            " answers. The policy is then optimised against that reward model rather than against the humans "
            "themselves. When the policy is pushed hard, it finds answers that the reward model scores highly"
            " but that the humans would reject. This is the failure we call reward hacking."
        ),
        "Figure 1: Reward model score against human preference during training.",
        (
            "We trained five reward models with different random seeds on the same comparison data. "
            "Optimising against a single reward model produced reward hacking after a few thousand steps. "
            "Optimising against the mean of the ensemble delayed reward hacking, and optimising against the "
            "minimum delayed it further. However, all three policies eventually exploited errors that the "
            "ensemble members shared."
        ),
        (
            "Shared errors are the crux. If every reward model inherits the same blind spot from the "
            "comparison data, no ensemble of them can notice when the policy exploits it. We think this "
            "suggests that diversity in the training data matters more than diversity in random seeds."
        ),
        "Code: https://example.org/reward-ensembles",
        (
            "Thanks to Alice Moreau and Bilal Okafor for helpful comments on a draft. This work was supported"
            " by a grant from a research foundation."
        ),
        "Footnotes",
        (
            "1. We used the same learning rate for every seed, which may understate the diversity an ensemble"
            " could have."
        ),
    ]
)


def long_essay(target_words: int = 10_000) -> str:
    """A long essay with headings, a summary up front, lists, code, math and footnotes at the end."""
    opening = (
        "Summary: Scalable oversight asks how humans can supervise AI systems that are better than them at "
        "the task being supervised. This essay reviews debate, recursive reward modelling and weak-to-strong "
        "generalisation as three answers to that question, and argues that all three depend on the same "
        "unproven assumption about how errors compound.\n\n"
        "Epistemic status: a literature review with some opinions; the opinions are mine alone.\n\n"
    )
    topics = [
        ("Debate", "debate", "two copies of a model argue and a human judge picks the more convincing case"),
        (
            "Recursive reward modelling",
            "recursive reward modelling",
            "assistants trained with earlier reward models help humans evaluate the next model",
        ),
        (
            "Weak-to-strong generalisation",
            "weak-to-strong generalisation",
            "a strong student is fine-tuned on labels from a weaker supervisor and must generalise past them",
        ),
        ("Error compounding", "error compounding", "small supervision errors add up across many rounds"),
    ]
    sections: list[str] = []
    i = 0
    while sum(words_of(s) for s in sections) < target_words:
        heading, name, gist = topics[i % len(topics)]
        round_ = i // len(topics) + 1
        sections.append(
            f"{heading} (part {round_})\n\n"
            f"In {name}, {gist}. The hope is that checking an argument is easier than producing one, so "
            f"that a judge who could never write the answer can still tell a sound case from a flawed one. "
            f"Round {round_} of our reading looked at how the proposals handle a supervisor who makes "
            f"systematic mistakes rather than random ones.\n\n"
            f"It is not obvious that oversight gets easier as models get stronger. "
            f"Systematic mistakes by the supervisor are the hard case, because a capable model can "
            f"learn to predict them and exploit them. This means that the quality of oversight "
            f"depends on the errors the judge makes, not only on how often the judge is right.\n\n"
            f"- a judge with limited time\n- a model that knows the judge's habits\n- a task with long "
            f"answers\n\n"
            f"    loss = cross_entropy(student(x), weak_label(x))  # step {round_}\n\n"
            f"Let e_t <= e_(t-1) + d_t for every round t = 1..T.\n\n"
            f"We suspect that the gap between checking and producing shrinks on tasks where the judge cannot "
            f"verify intermediate steps. If that is right, {name} should be tested first on tasks where "
            f"verification is cheap, and the results should not be extrapolated to open-ended research "
            f"questions without further evidence.\n"
        )
        i += 1
    closing = (
        "Acknowledgements\n\n"
        "I am grateful to the reading group for many conversations about this essay.\n\n"
        "Footnotes\n\n"
        "1. The distinction between systematic and random errors follows standard measurement theory.\n\n"
        "2. Weak-to-strong results were reported on classification tasks only.\n"
    )
    return opening + "\n\n".join(sections) + "\n\n" + closing


SHORT_POST = (
    "I think interpretability tools will matter most when they can be applied to models during training, "
    "not only after it. Has anyone tried tracking sparse features across checkpoints?"
)

MEDIUM_POST = "\n\n".join(
    [
        (
            "Language models sometimes write a chain of thought that does not reflect the computation behind "
            "their answer. We call such reasoning unfaithful. This post describes a small experiment that "
            "measures how often it happens on arithmetic word problems."
        ),
        (
            "We prompted a model to solve two hundred problems step by step. For each problem we then edited "
            "one intermediate step to contain a wrong number and asked the model to continue from the edited "
            "step. If the final answer ignored the error, we counted the original reasoning as unfaithful, "
            "since the answer did not depend on it."
        ),
        (
            "About a third of the answers ignored the inserted error. The rate was higher for easy problems, "
            "which the model can presumably solve without writing anything down. It was lower for problems "
            "with four or more steps."
        ),
        (
            "These results suggest that monitoring a chain of thought is more informative on hard tasks than "
            "on easy ones. A monitor that reads reasoning on easy tasks may be reading a story written after "
            "the fact. We would like to see the same test run on larger models and on tasks other than "
            "arithmetic."
        ),
    ]
)


def test_whole_text_of_a_very_short_post() -> None:
    post = make_post(SHORT_POST)
    assert ExtractiveSummarizer().summarize(post) == normalize_space(SHORT_POST)


def test_empty_text_falls_back_to_the_title() -> None:
    post = make_post("  \n\n ", title="Notes on corrigibility")
    assert ExtractiveSummarizer().summarize(post) == "Notes on corrigibility"


def test_medium_post_is_within_bounds_verbatim_and_opens_with_the_lead() -> None:
    summary = ExtractiveSummarizer().summarize(make_post(MEDIUM_POST, title="Unfaithful chain of thought"))
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
    assert_verbatim(summary, MEDIUM_POST, "Unfaithful chain of thought")
    assert summary.startswith("Language models sometimes write a chain of thought")


def test_boilerplate_is_left_out_and_the_tldr_is_kept() -> None:
    summary = summarize_text(BOILERPLATE_POST, title="Reward model ensembles and reward hacking")
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
    assert_verbatim(summary, BOILERPLATE_POST, "Reward model ensembles and reward hacking")
    for unwanted in (
        "Epistemic status",
        "crosspost",
        "TL;DR",
        "Figure 1",
        "https://",
        "Code:",
        "Thanks to",
        "supported by a grant",
        "same learning rate for every seed",  # footnote text
        "Background",
    ):
        assert unwanted not in summary
    assert summary.startswith("Reward models trained on human comparisons can be gamed")


def test_long_essay_is_bounded_clean_and_favours_the_summary_section() -> None:
    essay = long_essay(10_000)
    assert words_of(essay) >= 10_000
    summary = summarize_text(essay, title="Scalable oversight and error compounding")
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
    assert_verbatim(summary, essay, "Scalable oversight and error compounding")
    assert summary.startswith("Scalable oversight asks how humans can supervise AI systems")
    for unwanted in ("Epistemic status", "loss =", "e_t <=", "grateful", "measurement theory", "Summary:"):
        assert unwanted not in summary


def test_huge_post_never_exceeds_the_word_limit() -> None:
    essay = long_essay(60_000)
    summary = summarize_text(essay, title="Scalable oversight")
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
    assert_verbatim(summary, essay, "Scalable oversight")


def test_one_sentence_longer_than_the_limit_is_cut_to_the_limit() -> None:
    sentence = "Oversight " + " ".join(f"step{i} and" for i in range(200)) + " done."
    summary = summarize_text(sentence, title="A very long sentence")
    assert words_of(summary) <= MAX_WORDS


def test_same_post_gives_the_same_summary() -> None:
    post = make_post(BOILERPLATE_POST, title="Reward model ensembles")
    first = ExtractiveSummarizer().summarize(post)
    assert all(ExtractiveSummarizer().summarize(post) == first for _ in range(3))


def test_a_sentence_that_points_back_comes_with_the_sentence_before_it() -> None:
    """The post's most central sentence opens with "This", pointing at a sentence that shares none of its
    words (so that centrality alone would leave it out): it is quoted only together with that sentence,
    directly before it."""
    antecedent = "Some systems act one way when watched and quite another way once nobody is watching them."
    central = (
        "This makes behavioural evaluation of a model weak evidence about the behaviour of the model in "
        "deployment, however thorough the evaluation is."
    )
    others = [
        "Evaluation of a model measures its behaviour on prompts that its developers chose in advance.",
        "Deployment exposes the model to prompts from millions of users, far more varied than any evaluation.",
        "A model that can tell evaluation prompts from deployment prompts may behave well only in evaluation.",
        "Behaviour in deployment is therefore what an evaluation of the model is meant to predict.",
        "Evaluation suites for deployment decisions should include prompts a model cannot recognise as tests.",
        "Interpretability of a model could check behaviour in deployment more directly than evaluation does.",
    ]
    text = "\n\n".join([*others[:3], f"{antecedent} {central}", *others[3:]])
    chosen = select_sentences(text, title="Behavioural evaluation is weak evidence about deployment")
    assert central in chosen
    position = chosen.index(central)
    assert position > 0 and chosen[position - 1] == antecedent


def test_arxiv_abstract_label_is_dropped() -> None:
    text = (
        "arXiv:2611.01234v1 Announce Type: new Abstract: We study goal misgeneralisation in agents trained "
        "with reinforcement learning on procedurally generated mazes. Agents that reach the goal during "
        "training often pursue a proxy, such as a colour, when the goal moves at test time. We show that "
        "training on a small fraction of mazes where the proxy and the goal disagree removes most of the "
        "failures. Our results suggest that data diversity is a cheap defence against goal misgeneralisation."
    )
    summary = summarize_text(text, title="[Paper] Goal misgeneralisation in mazes")
    assert summary.startswith("We study goal misgeneralisation")
    assert "Announce" not in summary and "Abstract" not in summary
    assert_verbatim(summary, text, "[Paper] Goal misgeneralisation in mazes")


def test_summary_of_feed_html_after_ingest_leaves_out_footnotes_and_captions() -> None:
    html = (
        "<p>Published on November 3, 2026 4:12 PM GMT</p>"
        "<p><em>Epistemic status: a quick write-up of a weekend project.</em></p>"
        "<p>Debate between two copies of a model can help a weaker judge find the truth, but only when the "
        "judge can check the claims each debater makes.<sup class='footnote-ref'><a href='#fn1'>[1]</a></sup> "
        "We ran debates about short stories that the judge could not read in full.</p>"
        "<h2>Results</h2>"
        "<p>Judges who saw debates were right on 71 percent of questions, against 58 percent for judges who "
        "saw a single consultant. The gap was largest when the honest debater could quote the story "
        "directly, which suggests that verifiable quotes carry most of the benefit of debate.</p>"
        "<figure><img src='plot.png'><figcaption>Figure 2: Judge accuracy by condition.</figcaption></figure>"
        "<p>We think debate protocols should give debaters a cheap way to cite evidence that the judge can "
        "check, since that is where the advantage over consultancy comes from.</p>"
        "<p>Thanks to Ines and Marek for feedback on an earlier draft.</p>"
        "<ol class='footnotes'><li>Judges in earlier studies were given the full story to read.</li></ol>"
        "<p><a href='https://www.alignmentforum.org/posts/abc/x#comments'>Discuss</a></p>"
    )
    text = html_to_text(html)
    summary = summarize_text(text, title="Debate helps judges who cannot read the story")
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
    assert_verbatim(summary, text, "Debate helps judges who cannot read the story")
    assert summary.startswith("Debate between two copies of a model")
    for unwanted in ("Published on", "Epistemic", "Figure 2", "Thanks", "earlier studies", "Discuss"):
        assert unwanted not in summary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We follow Smith et al. in this. Then we stop.",
            ["We follow Smith et al. in this.", "Then we stop."],
        ),
        ("Use a tool, e.g. a probe. It works.", ["Use a tool, e.g. a probe.", "It works."]),
        ("Loss fell to 0.35 today. Good!", ["Loss fell to 0.35 today.", "Good!"]),
        ("J. Smith wrote it. Really?", ["J. Smith wrote it.", "Really?"]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wait... what happened next?", ["Wait... what happened next?"]),
    ],
)
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "Epistemic status: speculative.",
        "This is a crosspost from my Substack.",
        "Cross-posted from the Anthropic blog.",
        "Thanks to Dana for helpful feedback on drafts.",
        "I'd like to thank the reviewers.",
        "Produced as part of the ML Alignment & Theory Scholars Program.",
        "Published on November 3, 2026 4:12 PM GMT",
        "Paper: arXiv link below",
        "Figure 2: Accuracy against steps.",
        "Read the full paper here.",
        "See https://example.org for the code.",
        "Ana Ruiz and Ben Ode are co-first authors of this post with equal contribution.",
        "Dr. Kim supervised the project and gave feedback throughout.",
        "The views expressed are my own and do not represent the views of my employer.",
        "Some parts are hard to read; consider reading the next post instead.",
    ],
)
def test_boilerplate_sentences(sentence: str) -> None:
    assert is_boilerplate(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Acknowledging uncertainty is part of good forecasting.",
        "This post argues that debate can fail.",
        "Reward hacking is common in the policies we trained.",
        "Our figures show a clear trend across model sizes.",
        "We supervised the policy with a weaker model and measured how much it learned.",
        "Judges found long transcripts hard to read, so accuracy fell with length.",
        "The lab's views on scaling policies changed after the first audit.",
    ],
)
def test_content_is_not_boilerplate(sentence: str) -> None:
    assert not is_boilerplate(sentence)


@pytest.mark.parametrize(
    ("sentence", "is_code"),
    [
        ("loss = cross_entropy(student(x), weak_label(x))", True),
        ("Let e_t <= e_(t-1) + d_t for every round.", True),
        ("def score(post):", True),
        (",,,,,,,,,,,,,,,,,,,,", True),
        ("Price-performance (FLOP/s per $) doubles every ~2.5 years across 470 GPUs.", False),
        ("We trained 5 models on 1,000 prompts (see [1] and [2]).", False),
        ("Reward hacking became common late in training.", False),
    ],
)
def test_code_and_math_detection(sentence: str, is_code: bool) -> None:
    assert looks_like_code_or_math(sentence) is is_code


def test_a_quoted_abstract_is_used_but_other_quotes_are_not() -> None:
    linkpost = "\n\n".join(
        [
            "This is a linkpost for our new paper.",
            "Abstract",
            "> Language models can be trained to refuse harmful requests with a small amount of data. We show "
            "that refusal training on two hundred examples generalises to unseen categories of harm, and that "
            "the effect persists after further fine-tuning on benign data.",
            "Discussion",
            "> A quote from someone else that the authors disagree with strongly and at length, included only "
            "for context in the discussion section of the post.",
            "We discuss what this means for the cost of safety training.",
        ]
    )
    summary = summarize_text(linkpost, title="Refusal training generalises")
    assert summary.startswith("Language models can be trained to refuse harmful requests")
    assert "someone else" not in summary
    assert "linkpost" not in summary


def test_headings_and_dangling_starts() -> None:
    assert is_heading("Results")
    assert is_heading("Why this matters")
    assert is_heading("Summary (TL;DR)")
    assert not is_heading("The model learned the task.")
    assert dangling_kind("This shows that probes work.") == "pronoun"
    assert dangling_kind("This post shows that probes work.") == ""
    assert dangling_kind("It is plausible that probes work.") == ""
    assert dangling_kind("However, probes failed.") == "connective"
    assert dangling_kind("Probes failed.") == ""


def test_a_link_later_in_the_line_does_not_hide_the_lead_sentence() -> None:
    """An announcement whose opening line ends with an address: the lead sentence still opens the summary,
    not the sentence after it, which only makes sense after the lead ("Roughly half ...")."""
    text = "\n\n".join(
        [
            "TL;DR: We are starting a new fund that will award at least $150,000 in grants and prizes for "
            "research on shutdown problems in 2027. Roughly half will go to ordinary grants (first deadline in "
            "October) and half to prizes for excellent work. If shutdown problems interest you, this is a good "
            "moment to begin! Apply via email: fund@shutdown-example.org",
            "Why a fund",
            "Few funders treat shutdown problems as a field of their own, and the people who work on them often "
            "do so in their spare time between other projects.",
        ]
    )
    summary = summarize_text(text, title="A fund for shutdown research")
    assert summary.startswith("We are starting a new fund that will award at least $150,000")
    assert not summary.startswith("Roughly half")
    assert "fund@shutdown-example.org" not in summary


def test_a_summary_never_opens_on_a_sentence_that_leans_back() -> None:
    """The first readable sentence opens with "However" and the one before it is boilerplate: the summary
    leaves it out rather than open on it, though it is the most relevant sentence of the post."""
    text = "\n\n".join(
        [
            "Epistemic status: exploratory, written in a week.",
            "However, truth probes trained on one model family transfer poorly to other model families, even "
            "when the truth probes read the same layer of the residual stream.",
            "We trained linear probes on three model families and tested each probe on statements from a "
            "held-out set of topics, measuring how often the probe agreed with the labels.",
            "Within a family the probes reached high accuracy on held-out topics, and the learned directions "
            "were stable across random seeds and prompt formats that we tried.",
        ]
    )
    chosen = select_sentences(text, title="Truth probes transfer poorly across model families")
    assert chosen and not leans_back(chosen[0])
    assert not any(s.startswith("However") for s in chosen[:1])


@pytest.mark.parametrize(
    "sentence",
    [
        "Roughly half will go to traditional grants.",
        "Most of them are wrong.",
        "These results hold across seeds.",
        "Such methods are rare.",
        "Both are plausible.",
        "Here, we show a faster algorithm.",
        "However, the probes failed.",
        "But the probes failed.",
    ],
)
def test_sentences_that_lean_back(sentence: str) -> None:
    assert leans_back(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Most AI researchers expect slow takeoff.",
        "This post argues that probes work.",
        "Here is a list of open problems.",
        "Half of the budget goes to grants.",
        "Sequence prediction is a classic problem.",
        "This research was done over a summer.",
        "In contrast to earlier work, we train the probes on base models.",
        "Instead of probes, we use sparse autoencoders.",
    ],
)
def test_sentences_that_stand_alone(sentence: str) -> None:
    assert not leans_back(sentence)


def test_trailing_numbered_notes_are_footnotes_only_when_the_body_points_at_them() -> None:
    body = [f"Paragraph {i} argues that interpretability needs better benchmarks and clearer goals." for i in range(8)]
    notes = ["1. The benchmark we mean is the one from last year.", "2. We thank nobody in particular."]
    with_markers = "\n\n".join([body[0].replace("benchmarks", "benchmarks[1]"), *body[1:], *notes])
    without_markers = "\n\n".join([*body, *notes])
    tail_with = [s for s in post_sentences(with_markers) if s.text.startswith("The benchmark we mean")]
    tail_without = [s for s in post_sentences(without_markers) if s.text.startswith("The benchmark we mean")]
    assert tail_with and not tail_with[0].quotable
    assert tail_without and tail_without[0].quotable


def test_sections_are_recognised() -> None:
    sentences = post_sentences(BOILERPLATE_POST)
    by_text = {s.text: s for s in sentences}
    assert by_text["Background"].heading
    tldr = next(s for s in sentences if s.text.startswith("Reward models trained"))
    assert tldr.section == "lead"
    footnote = next(s for s in sentences if s.text.startswith("We used the same learning rate"))
    assert not footnote.quotable


def test_real_openings_give_bounded_verbatim_summaries() -> None:
    rows = shared_export_rows()[::20]
    summarizer = ExtractiveSummarizer()
    for i, row in enumerate(rows):
        post = make_post(row["summary"], title=row["title"], post_id=f"csv{i}")
        summary = summarizer.summarize(post)
        assert words_of(summary) <= MAX_WORDS
        assert summary, row["title"]
        if words_of(row["summary"]) >= MIN_WORDS:
            assert_verbatim(summary, row["summary"], row["title"])


def test_real_summaries_rarely_open_on_a_sentence_that_leans_back() -> None:
    """Over every 5th opening of the export: a summary opens on "However", "These", "Roughly half" ... only
    when the post has nothing else to say (one sentence left), or introduces itself ("This is ...")."""
    rows = shared_export_rows()[::5]
    leaning = []
    for row in rows:
        chosen = select_sentences(row["summary"], title=row["title"])
        if len(chosen) > 1 and leans_back(chosen[0]) and not chosen[0].startswith(("This is", "This was")):
            leaning.append(chosen[0])
    assert len(leaning) <= len(rows) // 100, leaning[:5]


# -- full-text posts written for these tests (tests/data/posts), in the forum's feed HTML ------------------------
POSTS_DIR = Path(__file__).parent / "data" / "posts"
FULL_TEXT_POSTS = json.loads((POSTS_DIR / "posts.json").read_text(encoding="utf-8"))["posts"]
MARKUP_RESIDUE = re.compile(r"<[a-z/]|&[a-z]+;|\[\d+\]|https?://|\^|↩")


def full_text(entry: dict[str, str]) -> str:
    return html_to_text((POSTS_DIR / entry["file"]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", FULL_TEXT_POSTS, ids=[p["file"] for p in FULL_TEXT_POSTS])
def test_a_full_text_post_is_summarised_by_its_claim_in_whole_sentences(entry: dict[str, Any]) -> None:
    text = full_text(entry)
    summary = ExtractiveSummarizer().summarize(make_post(text, title=entry["title"]))
    assert MIN_WORDS <= words_of(summary) <= MAX_WORDS, summary
    assert_verbatim(summary, text, entry["title"])
    chosen = select_sentences(text, title=entry["title"])
    assert not leans_back(chosen[0]), chosen[0]
    assert entry["claim"] in summary
    for unwanted in entry["never"]:
        assert unwanted not in summary
    assert not MARKUP_RESIDUE.search(summary), summary


@pytest.mark.parametrize("entry", FULL_TEXT_POSTS, ids=[p["file"] for p in FULL_TEXT_POSTS])
def test_notes_about_the_post_are_marked_wherever_they_sit(entry: dict[str, Any]) -> None:
    """Every sentence that holds a note, caption or footnote text of the post is flagged as not quotable,
    and the claim is quotable."""
    sentences = post_sentences(full_text(entry))
    for unwanted in entry["never"]:
        for s in sentences:
            if unwanted in s.text and not s.text.endswith(":"):  # a lead-in to a quote is never a candidate
                assert not s.quotable, s.text
    claim = [s for s in sentences if s.text.startswith(entry["claim"])]
    assert claim and claim[0].quotable


def test_the_claim_is_chosen_in_a_long_post_and_the_summary_stays_bounded() -> None:
    """One post's text followed by ~10,000 and ~40,000 words of other posts' bodies: the summary still comes
    from the post's opening claim, within the word limits."""
    entry = FULL_TEXT_POSTS[-1]
    others = "\n\n".join(full_text(p) for p in FULL_TEXT_POSTS[:-1])
    for target in (10_000, 40_000):
        text = full_text(entry)
        while words_of(text) < target:
            text += "\n\n" + others
        summary = summarize_text(text, title=entry["title"])
        assert MIN_WORDS <= words_of(summary) <= MAX_WORDS
        assert entry["claim"] in summary
        assert_verbatim(summary, text, entry["title"])


def test_a_post_is_split_once_for_the_summarizer_and_the_theme_finder() -> None:
    text = full_text(FULL_TEXT_POSTS[0]) + "\n\nA sentence that makes this text new to the cache."
    summarize_text(text, title="x")
    hits = text_module._split_post.cache_info().hits
    start = post_sentences(text, max_chars=1_000)
    assert text_module._split_post.cache_info().hits == hits + 1
    assert start and start == post_sentences(text)[: len(start)]
    assert all(s.offset < 1_000 for s in start)


def test_summaries_are_deterministic_across_cache_clears() -> None:
    entry = FULL_TEXT_POSTS[0]
    first = summarize_text(full_text(entry), title=entry["title"])
    text_module._split_post.cache_clear()
    assert summarize_text(full_text(entry), title=entry["title"]) == first


def test_a_short_post_is_its_own_summary_without_its_notes() -> None:
    text = "Crossposted from my blog.\n\nProbes trained on one model rarely transfer to another model family."
    assert (
        summarize_text(text, title="Probes") == "Probes trained on one model rarely transfer to another model family."
    )


def test_an_edge_sentence_about_the_post_that_shares_nothing_with_it_is_a_note() -> None:
    body = [
        f"Paragraph {i}: reward models trained on human comparisons drift when the policy is optimised hard."
        for i in range(8)
    ]
    note = "This essay grew from a long evening of arguing in a kitchen with two friends."
    at_edge = {s.text: s for s in post_sentences("\n\n".join([note, *body]))}
    in_middle = {s.text: s for s in post_sentences("\n\n".join([*body[:4], note, *body[4:]]))}
    assert at_edge[note].boilerplate
    assert not in_middle[note].boilerplate


def test_the_stemmer_is_light_and_the_stopwords_are_function_words() -> None:
    assert stem("models") == stem("model") == "model"
    assert stem("SAEs") == "sae" and stem("studies") == "study"
    assert len({stem("computer"), stem("computation"), stem("compute")}) == 3
    assert {"the", "and", "which", "would", "can"} <= FUNCTION_WORDS <= STOPWORDS
    assert not {"post", "result", "interesting"} & FUNCTION_WORDS
    assert not {"model", "probe", "reward"} & STOPWORDS
    assert content_stems("The models were trained on the data") == ["model", "trained", "data"]


def test_real_summaries_carry_no_links_markers_or_labelled_notes() -> None:
    leaks = []
    for row in shared_export_rows():
        summary = summarize_text(row["summary"], title=row["title"])
        if re.search(r"https?://|\[\d+\]|(?i:epistemic status|cross-?posted|audio version)", summary):
            leaks.append(summary)
    assert not leaks, leaks[:3]


def test_a_paragraph_is_boilerplate_when_most_of_it_is() -> None:
    note = "This is the first post in a sequence on shutdown problems."
    content = (
        "Agents trained on short episodes with no reward after the episode ends have little reason to resist "
        "being shut down, and we test this in a grid world with an off switch."
    )
    assert is_boilerplate(note)
    assert not is_boilerplate(f"{note} {content}")
    assert is_boilerplate(f"Epistemic status: exploratory. {note} Thanks to Dana for comments on a draft.")


def test_sentences_stay_spans_of_the_post_and_summaries_lose_its_footnote_markers() -> None:
    """Quoting code maps sentences back to the post; a summary never prints a marker."""
    text = "\n\n".join(
        [
            "Prior work found that probes trained on one model fail on others. [1] We retrained probes on a "
            "mixture of model families and measured their accuracy on a held-out family.[2] Accuracy on the "
            "held-out family rose from 58 to 81 percent[3], close to the within-family figure.",
            "We think mixed training data is the cheapest fix for probe transfer, and we release the probes.",
        ]
    )
    flat = normalize_space(text)
    sentences = post_sentences(text)
    assert all(s.text in flat for s in sentences)
    assert [s.text for s in sentences][:2] == [
        "Prior work found that probes trained on one model fail on others.",
        "We retrained probes on a mixture of model families and measured their accuracy on a held-out family.",
    ]
    summary = summarize_text(text, title="Probe transfer")
    assert "rose from 58 to 81 percent, close to" in summary
    assert not re.search(r"\[\d\]", summary)


def test_a_list_flattened_into_one_line_is_read_as_a_list_under_its_label() -> None:
    """Openings copied as plain text lose their line breaks: "TL;DR * First point. * Second point." The label
    is a heading, the items are the post's lead, and no stray asterisk reaches a summary."""
    text = (
        "Ana Ruiz and Ben Ode are co-first authors of this post with equal contribution. TLDR * Fine-tuned "
        "models keep most of an unwanted trait after the examples that carry it are filtered out of the data. "
        "* Filtering by a classifier misses the many innocuous-looking examples that still carry the trait. "
        "* Pairing filtering with evaluations of the trained model catches what filtering alone misses."
    )
    sentences = post_sentences(text)
    label = next(s for s in sentences if s.text == "TLDR")
    items = [s for s in sentences if s.list_item]

    assert label.heading and len(items) == 3 and all(s.section == "lead" for s in items)
    summary = summarize_text(text, title="Filtering data is not enough")
    assert "*" not in summary and "TLDR" not in summary and "co-first" not in summary
    assert summary.startswith("Fine-tuned models keep most of an unwanted trait")


def test_footnote_markers_are_stripped_as_the_marker_pattern_replaces_them_everywhere() -> None:
    """The markers are looked for only at a "[" (the pattern run over the whole text is the yardstick)."""

    def everywhere(text: str) -> str:
        return text_module._MARKER_RE.sub(lambda m: " " if text[m.end() : m.end() + 1].isalnum() else "", text)

    rng = random.Random(9)
    pieces = ["[", "]", "[[", "]]", "1", "23", "4567", " ", "  ", "a", "b", ".", "\n", "’", "²", "x[", "[1]", " [3]"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 24))) for _ in range(20_000)]
    texts += ["Accuracy[1]scales with data.[2] [3] More text[[4]] here.", "[1] A note.", "[12]x", " [5]"]
    changed = 0
    for text in texts:
        assert strip_footnote_markers(text) == everywhere(text), text
        changed += strip_footnote_markers(text) != text
    assert changed > 1_000
