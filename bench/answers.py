"""Benchmark: do offline answers quote the passage that answers the question, and how fast are they?

Part 1, quality. `tests/data/qa/questions.json` holds questions about six long posts of our own writing, each
with the fragments of the post that the quoted passages must contain (every one of them), or none when the post
does not answer the question (then the answer must say so and quote nothing). A quote that is only a heading
never counts. Two posts are held out: the answerer was never tuned on them, and their share is printed apart.

Part 2, latency. The questions asked in process of one post of about 10,000 words (the six posts joined and
repeated): the first question builds the post's index (cold), the rest reuse it (warm). Target: p95 < 100 ms.

Both parts run the answerer before this change (qa.py as of BEFORE_REV, loaded from git) and the current one,
side by side: `python bench/answers.py [--before REV] [--misses]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from digest_core.models import Answer, Digest, DigestPost, Post  # noqa: E402
from digest_core.text import is_heading, normalize_space  # noqa: E402

DATA = REPO / "tests" / "data" / "qa"
BEFORE_REV = "4af5ece"  # main before issue 10: paragraph passages ranked by BM25 and a phrase bonus
DAY = date(2026, 11, 27)
LATENCY_WORDS = 10_000
LATENCY_ROUNDS = 3

AnswerFn = Callable[[str, Digest, dict[str, Post], str], Answer]


@dataclass(frozen=True)
class Question:
    post: str
    kind: str
    question: str
    expect: tuple[tuple[str, ...], ...]  # every entry must be quoted; an entry lists alternatives
    held_out: bool


def load_posts() -> dict[str, Post]:
    posts = {}
    for n, path in enumerate(sorted(DATA.glob("*.txt")), start=1):
        posts[path.stem] = make_post(n, path.stem, path.read_text(encoding="utf-8"))
    return posts


def make_post(n: int, name: str, text: str) -> Post:
    return Post(
        id=f"bench{n:012d}",
        title=name.replace("-", " ").capitalize(),
        url=f"https://www.alignmentforum.org/posts/bench{n:012d}/{name}",
        authors=("Bench Author",),
        published=datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC),
        source="AI Alignment Forum",
        text=text.strip(),
        first_seen=datetime(2026, 11, 26, 13, tzinfo=UTC),
    )


def load_questions() -> list[Question]:
    data = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))
    held_out = set(data["held_out"])
    return [
        Question(
            post=q["post"],
            kind=q["kind"],
            question=q["question"],
            expect=tuple(tuple(e) if isinstance(e, list) else (e,) for e in q["expect"]),
            held_out=q["post"] in held_out,
        )
        for q in data["questions"]
    ]


def edition(posts: Sequence[Post]) -> Digest:
    return Digest(
        date=DAY,
        title="bench",
        generated_by="offline",
        themes=(),
        connections=(),
        posts=tuple(
            DigestPost(n, p.id, p.title, p.authors, p.published, p.url, p.source, p.paragraphs[0])
            for n, p in enumerate(posts, 1)
        ),
    )


def answered_right(question: Question, answer: Answer) -> bool:
    quotes = [normalize_space(q) for q in answer.quotes]
    if not question.expect:
        return not quotes
    if any(len(q.strip().splitlines()) == 1 and is_heading(q) for q in answer.quotes):  # a heading alone
        return False
    joined = "\n".join(quotes)
    return all(any(normalize_space(alt) in joined for alt in alternatives) for alternatives in question.expect)


def answerer_from(module: ModuleType) -> AnswerFn:
    answerer = module.QuestionAnswerer(None)

    def answer(question: str, digest: Digest, posts: dict[str, Post], post_ref: str) -> Answer:
        result: Answer = answerer.answer(question, digest=digest, posts=posts, post_ref=post_ref, history=())
        return result

    return answer


def module_at(rev: str) -> ModuleType:
    """qa.py as of `rev`, imported under its own name (it imports the rest of digest_core as it is now)."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:digest_core/qa.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"qa_at_{rev}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"{rev}:digest_core/qa.py", "exec"), module.__dict__)
    return module


# --- part 1: quality ------------------------------------------------------------------------------------------


def run_quality(
    name: str, answer: AnswerFn, posts: dict[str, Post], questions: list[Question], show_misses: bool
) -> dict[str, Any]:
    digest = edition(list(posts.values()))
    numbers = {p.id: n for n, p in enumerate(posts.values(), 1)}
    right: Counter[tuple[bool, str]] = Counter()
    total: Counter[tuple[bool, str]] = Counter()
    misses = []
    for q in questions:
        post = posts[q.post]
        result = answer(q.question, digest, {p.id: p for p in posts.values()}, f"#{numbers[post.id]}")
        ok = answered_right(q, result)
        total[(q.held_out, q.kind)] += 1
        right[(q.held_out, q.kind)] += ok
        if not ok and not q.held_out:
            misses.append((q, result))
    if show_misses:
        for q, result in misses:
            print(f"  miss [{name}] ({q.kind}) {q.question}")
            for quote in result.quotes:
                print(f"      > {normalize_space(quote)[:300]}")
    return {"right": right, "total": total}


def share(counts: dict[str, Any], held_out: bool, kind: str | None = None) -> str:
    keys = [k for k in counts["total"] if k[0] == held_out and (kind is None or k[1] == kind)]
    right = sum(counts["right"][k] for k in keys)
    total = sum(counts["total"][k] for k in keys)
    return f"{right}/{total} ({100 * right / total:.0f}%)" if total else "-"


# --- part 2: latency ------------------------------------------------------------------------------------------


def long_post(posts: dict[str, Post]) -> Post:
    parts: list[str] = []
    while sum(len(p.split()) for p in parts) < LATENCY_WORDS:
        parts.extend(p.text for p in posts.values())
    return make_post(99, "ten-thousand-words", "\n\n".join(parts))


def run_latency(module: ModuleType, post: Post, questions: list[Question]) -> tuple[float, list[float]]:
    answerer = module.QuestionAnswerer(None)
    digest = edition([post])
    by_id = {post.id: post}
    started = time.perf_counter()
    answerer.answer(questions[0].question, digest=digest, posts=by_id, post_ref="#1", history=())
    cold = (time.perf_counter() - started) * 1000
    warm = []
    for _ in range(LATENCY_ROUNDS):
        for q in questions:
            started = time.perf_counter()
            answerer.answer(q.question, digest=digest, posts=by_id, post_ref="#1", history=())
            warm.append((time.perf_counter() - started) * 1000)
    return cold, sorted(warm)


def percentile(values: list[float], pct: float) -> float:
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_REV, help="git revision of the qa.py to compare against")
    parser.add_argument("--misses", action="store_true", help="print the tuning questions answered wrongly")
    args = parser.parse_args()

    from digest_core import qa

    posts = load_posts()
    questions = load_questions()
    versions = {f"before ({args.before})": module_at(args.before), "after": qa}
    tune = sum(not q.held_out for q in questions)
    print(
        f"Part 1: {len(questions)} questions about {len(posts)} posts "
        f"({tune} on tuning posts, {len(questions) - tune} on held-out posts)"
    )
    results = {
        name: run_quality(name, answerer_from(module), posts, questions, args.misses)
        for name, module in versions.items()
    }
    kinds = sorted({q.kind for q in questions if not q.held_out})
    # By kind on the tuning posts only: the held-out posts are never looked at closer than their total.
    print(f"{'':22} {'tuning':>14} {'held out':>14}   tuning by kind")
    for name, counts in results.items():
        by_kind = "  ".join(f"{k} {share(counts, False, k).split()[0]}" for k in kinds)
        print(f"{name:22} {share(counts, False):>14} {share(counts, True):>14}   {by_kind}")

    post = long_post(posts)
    print(f"\nPart 2: latency of answer() in process on one post of {len(post.text.split()):,} words")
    for name, module in versions.items():
        cold, warm = run_latency(module, post, questions)
        print(
            f"{name:22} cold (builds the index) {cold:6.1f} ms   warm n={len(warm)}: "
            f"p50 {percentile(warm, 50):5.1f} ms  p95 {percentile(warm, 95):5.1f} ms  "
            f"max {warm[-1]:5.1f} ms  mean {statistics.mean(warm):5.1f} ms   (target p95 < 100 ms)"
        )


if __name__ == "__main__":
    main()
