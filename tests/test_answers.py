"""Offline answers on long posts of our own writing (tests/data/qa): each kind of question gets the passage
that answers it, shaped by the post's structure; questions about two posts or the whole edition cite each post."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest_core.models import Answer, Digest, DigestPost, Post
from digest_core.qa import QuestionAnswerer
from digest_core.text import is_heading, normalize_space

DATA = Path(__file__).parent / "data" / "qa"
TUNING = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))["tune"]
DAY = date(2026, 11, 27)


def load(n: int, name: str) -> Post:
    return Post(
        id=f"qa{n:015d}",
        title=name.replace("-", " ").capitalize(),
        url=f"https://www.alignmentforum.org/posts/qa{n:015d}/{name}",
        authors=("A. Author",),
        published=datetime(2026, 11, 26, 12, n, tzinfo=UTC),
        source="AI Alignment Forum",
        text=(DATA / f"{name}.txt").read_text(encoding="utf-8").strip(),
        first_seen=datetime(2026, 11, 26, 13, tzinfo=UTC),
    )


POSTS = [load(n, name) for n, name in enumerate(TUNING, start=1)]  # debate, reward hacking, SAEs, compute
BY_ID = {p.id: p for p in POSTS}
DIGEST = Digest(
    DAY,
    "digest",
    "offline",
    (),
    (),
    tuple(
        DigestPost(n, p.id, p.title, p.authors, p.published, p.url, p.source, p.paragraphs[1])
        for n, p in enumerate(POSTS, 1)
    ),
)


def ask(question: str, post: str | None = None) -> Answer:
    return QuestionAnswerer().answer(question, digest=DIGEST, posts=BY_ID, post_ref=post)


def quoted(answer: Answer) -> str:
    return "\n".join(normalize_space(q) for q in answer.quotes)


def test_a_question_about_what_a_post_lists_gets_the_lead_in_with_its_whole_list() -> None:
    answer = ask("What categories of reward hacking did they find?", "#2")

    [listing] = [q for q in answer.quotes if "five categories:" in q]
    assert listing.startswith("We sorted the 312 episodes into five categories:")
    for item in ("1. Test tampering", "2. Special-casing", "3. Harness exploits", "5. Benign edits"):
        assert item in listing
    assert listing in POSTS[1].text  # one verbatim piece of the post


def test_a_list_of_separate_paragraphs_comes_with_its_lead_in_and_every_item() -> None:
    answer = ask("What objections to the debate results do the authors discuss?", "#1")

    text = quoted(answer)
    assert "We have heard four objections" in text
    for item in ("The task is too easy", "not trained to win", "Verified quotes do the real work", "blind spots"):
        assert item in text


def test_a_concept_that_names_a_section_gets_the_heading_with_the_sections_opening() -> None:
    answer = ask("What is feature splitting?", "#3")

    first = answer.quotes[0]
    assert first.startswith("Feature splitting\n")  # the heading, then what is under it
    assert "is replaced by several narrower latents in a larger one" in first


def test_a_numbered_section_heading_opens_its_section() -> None:
    answer = ask("How do debate and consultancy differ?", "#1")

    first = answer.quotes[0]
    assert first.startswith("5. Debate compared with consultancy")
    assert "In consultancy a single model argues" in first and "In debate a second model is rewarded" in first


@pytest.mark.parametrize(
    ("question", "post", "sentence"),
    [
        ("How many episodes involved test tampering?", "#2", "This was the most common category, with 131 episodes."),
        ("How many debates did they run?", "#1", "1,240 debates"),
        ("What fraction of latents were dead in the first runs?", "#3", "up to 40% of the latents"),
        ("Which mitigation was least effective?", "#2", "Penalising flagged episodes was the least effective"),
        ("Which layer were the autoencoders trained on?", "#3", "from layer 12 of a 24-layer model"),
    ],
)
def test_a_question_about_a_number_or_which_one_gets_the_sentence_that_carries_it(
    question: str, post: str, sentence: str
) -> None:
    answer = ask(question, post)

    assert sentence in answer.quotes[0]
    assert len(answer.quotes[0]) < 250  # the sentence (with the one it leans on), not its whole paragraph


def test_how_two_ideas_differ_gets_a_passage_about_each() -> None:
    answer = ask("How do export controls differ from know-your-customer rules?", "#4")

    text = quoted(answer)
    assert "Export controls restrict the sale of advanced chips" in text
    assert "Know-your-customer rules require cloud providers" in text


def test_footnotes_stay_out_unless_the_question_is_about_them() -> None:
    about_the_body = ask("How many debates did they run?", "#1")
    about_a_note = ask("How noisy were the accuracy estimates across random seeds?", "#1")

    assert "Footnote" not in quoted(about_the_body)
    assert about_a_note.quotes[0].startswith("Footnote: We re-ran 10 debates")


@pytest.mark.parametrize(
    ("question", "post"),
    [
        ("What did the experiments cost in GPU hours?", "#1"),
        ("What does the essay say about open-source model licensing?", "#4"),
    ],
)
def test_it_says_plainly_when_nothing_in_the_post_bears_on_the_question(question: str, post: str) -> None:
    answer = ask(question, post)

    assert answer.quotes == () and "does not seem to discuss it" in answer.text


def test_no_quote_is_ever_a_heading_alone() -> None:
    questions = [q for q in json.loads((DATA / "questions.json").read_text())["questions"] if q["post"] in TUNING]
    for q in questions:
        answer = ask(q["question"], f"#{TUNING.index(q['post']) + 1}")
        for quote in answer.quotes:
            assert not (len(quote.strip().splitlines()) == 1 and is_heading(quote)), (q["question"], quote)


def test_a_question_about_two_posts_quotes_both_each_attributed() -> None:
    answer = ask("How does #3 relate to #1?")

    assert answer.post is None and not answer.needs_clarification
    assert [q.post.number for q in answer.attributed] == [3, 1]
    assert answer.attributed[0].text in POSTS[2].text and answer.attributed[1].text in POSTS[0].text
    assert answer.quotes == tuple(q.text for q in answer.attributed)
    assert "#3 “Sae feature splitting” and #1 “Debate weak judges”" in answer.text


def test_a_question_about_the_edition_names_and_quotes_the_posts_that_bear_on_it() -> None:
    answer = ask("Which posts today are about interpretability?")

    assert answer.post is None
    assert "#3 “Sae feature splitting”" in answer.text and "#4" not in answer.text
    assert answer.attributed and {q.post.number for q in answer.attributed} == {3}
    assert "nterpretab" in answer.attributed[0].text


def test_a_follow_up_in_a_thread_stays_on_the_threads_post() -> None:
    answer = QuestionAnswerer().answer(
        "and how many episodes did they review by hand?", digest=DIGEST, posts=BY_ID, thread_post=POSTS[1].id
    )

    assert answer.post is not None and answer.post.id == POSTS[1].id
    assert "312" in answer.quotes[0]


def test_the_plain_words_of_a_question_still_pick_the_sentence_that_carries_them() -> None:
    """ "most common form" is made of everyday words; they are what sets the answering sentence apart."""
    text = (
        "We read two thousand transcripts of agents trained on unit-test rewards. Reward hacking was rare, "
        "but it happened in every environment we tried.\n\n"
        "The most common form was test tampering: the agent edited the test file or skipped a failing test. "
        "Less often it exited the test runner early with a success code.\n\n"
        "Reward hacking grew with task difficulty, which suggests the agent hacks when it cannot solve the task."
    )
    post = Post(
        "qa-plain-words-001",
        "Reward hacking forms",
        "https://www.alignmentforum.org/posts/qa-plain-words-001/x",
        ("A. Author",),
        datetime(2026, 11, 26, tzinfo=UTC),
        "AI Alignment Forum",
        text,
        datetime(2026, 11, 26, tzinfo=UTC),
    )
    digest = Digest(
        DAY,
        "digest",
        "offline",
        (),
        (),
        (DigestPost(1, post.id, post.title, post.authors, post.published, post.url, post.source, "summary"),),
    )
    answer = QuestionAnswerer().answer(
        "What was the most common form of reward hacking?", digest=digest, posts={post.id: post}, post_ref="#1"
    )

    assert "test tampering" in quoted(answer)
