"""Benchmark: what the model path costs through DigestService, and how fast offline answers are.

Part 1, cost. A loopback OpenAI-compatible server plays a well-behaved model (tests.fakes.openai_server.
DigestModel) and the real `openai` client talks to it through ModelClient, the lead's DigestService, its summary
cache and our theme cache. Three builds:
  1. the first build of a 20-post day;
  2. a rebuild of that day (`rebuild=True`): target 0 model calls;
  3. the next day with 5 new posts: target 5 summary calls + 1 theme call.
Token counts are the fake server's (characters / 4), so they show the shape of the cost, not a price.

Part 2, latency. The offline QuestionAnswerer over an edition of long posts: 100 questions (half naming the
post with "#N", half resolved by BM25 over the edition), timing the whole `answer()` call. Target: p95 < 100 ms.

Part 3, untrusted servers. Seconds per call against a server that hangs and one that trickles its body a
byte at a time, side by side: the openai SDK on its own with a per-attempt timeout and 3 retries (what
llm.py did before: 4 x 60 s for a hang, and a trickle is never timed out) and ModelClient with one deadline
per call. The deadline is scaled down (--deadline, 1 s) so the run stays short. Then what a 1 MB reply that
reports 0 tokens, and one that reports negative tokens, are charged, and what is kept of the 1 MB summary.

Posts are assembled from the shared forum export when present (real titles, authors and openings; a post's text
is its opening followed by the openings of the rows after it, as paragraphs), else from generated text.
Run: python bench/model_cost.py [--posts 20] [--new 5] [--questions 100] [--long-posts 10] [--deadline 1]
[--example]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest_core.budget import ModelLedger, ResultCache, TokenBudget
from digest_core.editions import EditionSchedule
from digest_core.llm import ChatMessage, ModelClient, ModelError, estimate_tokens
from digest_core.markdown import render_markdown
from digest_core.model_writing import ModelSummarizer, ModelThemeFinder
from digest_core.models import Digest, DigestPost, Post
from digest_core.qa import QuestionAnswerer, query_terms
from digest_core.service import DigestService, Writers
from digest_core.store import Store
from digest_core.summarize import ExtractiveSummarizer
from digest_core.themes import OfflineThemeFinder
from tests.fakes.feed_server import SHARED_DATA
from tests.fakes.openai_server import DigestModel, FakeOpenAIServer, Reply

DAY_ONE = date(2026, 11, 27)


def openings(count: int) -> list[dict[str, str]]:
    if SHARED_DATA.exists():
        from tests.fakes.feed_server import export_rows

        return [row for row in export_rows(count * 3) if len(row["summary"]) > 200][:count]
    words = ["oversight", "interpretability", "reward", "deception", "evaluation", "agent", "training", "policy"]
    rng = random.Random(7)
    return [
        {
            "_id": f"Generated{i:08d}",
            "slug": f"generated-{i}",
            "title": f"Generated post {i} on {rng.choice(words)}",
            "author": f"Author {i}",
            "summary": " ".join(
                f"Sentence {j} of post {i} discusses {rng.choice(words)} and {rng.choice(words)}." for j in range(8)
            ),
        }
        for i in range(count)
    ]


def assemble_posts(rows: list[dict[str, str]], count: int, paragraphs: int, start: datetime) -> list[Post]:
    posts = []
    for i in range(count):
        # Disjoint rows per post, so that no two posts share a paragraph.
        row = rows[(i * paragraphs) % len(rows)]
        text = "\n\n".join(rows[(i * paragraphs + j) % len(rows)]["summary"] for j in range(paragraphs))
        posts.append(
            Post(
                id=row["_id"] if (i + 1) * paragraphs <= len(rows) else f"{row['_id']}-{i}",
                title=row["title"],
                url=f"https://www.alignmentforum.org/posts/{row['_id']}/{row['slug']}",
                authors=(row["author"],),
                published=start + timedelta(minutes=7 * i),
                source="AI Alignment Forum",
                text=text,
                first_seen=start + timedelta(minutes=7 * i + 1),
            )
        )
    return posts


# --- part 1: cost --------------------------------------------------------------------------------------------


def run_cost(posts_day_one: int, posts_day_two: int, show_example: bool) -> None:
    rows = openings((posts_day_one + posts_day_two) * 4)
    day_one_posts = assemble_posts(rows, posts_day_one, 4, datetime(2026, 11, 26, 10, tzinfo=UTC))
    later_rows = rows[posts_day_one * 4 :]
    day_two_posts = assemble_posts(later_rows, posts_day_two, 4, datetime(2026, 11, 27, 10, tzinfo=UTC))
    now = [datetime(2026, 11, 27, 9, tzinfo=UTC)]
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(responder=DigestModel()) as server:
        store = Store(Path(folder) / "digest.db")
        ledger = ModelLedger(store.locked)
        client = ModelClient(
            "", server.base_url, "bench-model", timeout=10, call_log=ledger, budget=TokenBudget(ledger, 10**9)
        )
        service = DigestService(
            store,
            schedule=EditionSchedule(),
            writers=Writers(
                ModelSummarizer(client),
                ModelThemeFinder(client, cache=ResultCache(store.locked)),
                ExtractiveSummarizer(),
                OfflineThemeFinder(),
            ),
            answerer=QuestionAnswerer(client),
            clock=lambda: now[0],
        )
        store.upsert_posts(day_one_posts)

        def build(label: str, day: date, *, rebuild: bool = False) -> Digest:
            started = datetime.now(UTC)
            clock = time.perf_counter()
            digest = service.digest(day, rebuild=rebuild)
            elapsed = time.perf_counter() - clock
            usage = ledger.usage_since(started)
            by_purpose = Counter(
                row[0]
                for row in store.db.execute(
                    "select purpose from model_calls where at >= ?", [started.isoformat(timespec="microseconds")]
                ).fetchall()
            )
            calls = ", ".join(f"{n} {purpose}" for purpose, n in sorted(by_purpose.items())) or "none"
            print(
                f"{label:<34} posts {len(digest.posts):>3}  model calls {usage.calls:>3} ({calls})  "
                f"prompt tokens {usage.prompt_tokens:>6}  completion tokens {usage.completion_tokens:>5}  "
                f"{elapsed * 1000:>6.0f} ms  [{digest.generated_by}]"
            )
            return digest

        print("Part 1: model calls and tokens through DigestService (loopback server, real openai client)")
        first = build(f"day 1, first build ({posts_day_one} posts)", DAY_ONE)
        rebuilt = build("day 1, rebuild", DAY_ONE, rebuild=True)
        print(f"{'':<34} rebuild identical to first build: {rebuilt == first}")
        store.upsert_posts(day_two_posts)
        now[0] = datetime(2026, 11, 28, 9, tzinfo=UTC)
        build(f"day 2, {posts_day_two} new posts", DAY_ONE + timedelta(days=1))

        full_text_tokens = sum(estimate_tokens(p.text) for p in day_one_posts)
        theme_prompt = store.db.execute(
            "select prompt_tokens from model_calls where purpose = 'themes' order by id limit 1"
        ).fetchone()[0]
        print(
            f"theme call over summaries: {theme_prompt} prompt tokens "
            f"(the day's full texts alone would be ~{full_text_tokens})"
        )
        long_post = assemble_posts(openings(40), 1, 40, datetime(2026, 11, 27, 11, tzinfo=UTC))[0]
        started = datetime.now(UTC)
        ModelSummarizer(client).summarize(long_post)
        usage = ledger.usage_since(started)
        print(
            f"one long post (~{estimate_tokens(long_post.text)} tokens), map-reduce: {usage.calls} calls "
            f"({usage.calls - 1} chunk notes + 1 combine), prompt tokens {usage.prompt_tokens}"
        )
        if show_example:
            print("\nExample: the first build (the fake model's summaries and themes; titles/links from the store)")
            print("\n".join(render_markdown(first).splitlines()[:40]))
            question = "What is the main claim?"
            answer = service.answer(question, day=DAY_ONE, post_ref="#1")
            print(f"\nExample question on #1: {question}\n{answer.text}")
            for quote in answer.quotes:
                print(f"  > {quote}")
            print(f"({answer.generated_by})")
        store.close()


# --- part 2: offline answer latency --------------------------------------------------------------------------


def run_latency(long_posts: int, questions: int, show_example: bool) -> None:
    rows = openings(long_posts * 40)
    posts = assemble_posts(rows, long_posts, 40, datetime(2026, 11, 26, 10, tzinfo=UTC))
    digest = Digest(
        date=DAY_ONE,
        title="bench",
        generated_by="offline",
        themes=(),
        connections=(),
        posts=tuple(
            DigestPost(n, p.id, p.title, p.authors, p.published, p.url, p.source, p.paragraphs[0])
            for n, p in enumerate(posts, 1)
        ),
    )
    by_id = {p.id: p for p in posts}
    rng = random.Random(42)
    answerer = QuestionAnswerer(None)
    timings: list[float] = []
    cold: list[float] = []
    outcomes: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    seen: set[str] = set()
    example = None
    for n in range(questions):
        post = rng.choice(posts)
        words = query_terms(rng.choice(post.paragraphs))
        asked = " ".join(rng.sample(words, min(4, len(words))))
        question = f"What does the post say about {asked}?"
        post_ref = f"#{posts.index(post) + 1}" if n % 2 == 0 else None
        started = time.perf_counter()
        answer = answerer.answer(question, digest=digest, posts=by_id, post_ref=post_ref, history=())
        elapsed = (time.perf_counter() - started) * 1000
        touched = answer.post.id if answer.post else "edition"
        (timings if touched in seen else cold).append(elapsed)
        seen.add(touched)
        outcomes[
            "clarification" if answer.post is None else "answered with quotes" if answer.quotes else "no quote"
        ] += 1
        if post_ref is None:
            resolved["asked back"] += answer.post is None
            resolved["right post"] += answer.post is not None and answer.post.id == post.id
            resolved["wrong post"] += answer.post is not None and answer.post.id != post.id
        if example is None and answer.quotes and post_ref:
            example = (question, post_ref, answer)
    every = sorted(timings + cold)
    mean_words = statistics.mean(len(p.text.split()) for p in posts)
    print(
        f"\nPart 2: offline answers, {questions} questions over {long_posts} long posts (~{mean_words:.0f} words each)"
    )
    print(
        f"all: p50 {percentile(every, 50):.1f} ms  p95 {percentile(every, 95):.1f} ms  max {every[-1]:.1f} ms  "
        f"(target p95 < 100 ms)"
    )
    print(
        f"first touch of a post (builds its FTS index): n={len(cold)} p50 {percentile(sorted(cold), 50):.1f} ms; "
        f"warm: n={len(timings)} p50 {percentile(sorted(timings), 50):.1f} ms "
        f"p95 {percentile(sorted(timings), 95):.1f} ms"
    )
    print("outcomes: " + ", ".join(f"{n} {kind}" for kind, n in outcomes.most_common()))
    print(
        "questions without #N (random content words of one paragraph, resolved over the edition): "
        + ", ".join(f"{resolved[k]} {k}" for k in ("right post", "wrong post", "asked back"))
    )
    if show_example and example:
        question, post_ref, answer = example
        print(f"\nExample offline answer ({post_ref}): {question}\n{answer.text}")
        for quote in answer.quotes:
            print(f"  > {quote}")


# --- part 3: deadlines and token accounting ------------------------------------------------------------------


def run_untrusted_servers(deadline: float) -> None:
    import openai

    print(f"\nPart 3: seconds per call, per-attempt timeout + 3 retries vs one deadline ({deadline:g} s; default 60 s)")
    hello = [ChatMessage("user", "Say hello.")]
    body = "A reply that is correct but arrives far too late for anyone waiting on it."
    cases = {
        "hanging server (answers after 5 s)": Reply(content=body, delay=5),
        "trickling server (body over 5 s)": Reply(content=body, trickle=5),
    }
    for label, reply in cases.items():
        with FakeOpenAIServer() as server:
            server.enqueue(*[reply] * 10)
            sdk = openai.OpenAI(api_key="bench", base_url=server.base_url, timeout=deadline, max_retries=3)
            before, before_outcome = _timed(
                partial(sdk.chat.completions.create, model="m", messages=[{"role": "user", "content": "Say hello."}])
            )
            before_requests = len(server.chat_requests)
            client = ModelClient("", server.base_url, "m", timeout=deadline, max_retries=3)
            after, after_outcome = _timed(partial(client.complete, hello, purpose="bench", prompt_version="bench"))
            after_requests = len(server.chat_requests) - before_requests
        print(
            f"{label:<36} per-attempt: {before:5.2f} s, {before_requests} request(s), {before_outcome:<9}"
            f"  one deadline: {after:5.2f} s, {after_requests} request(s), {after_outcome}  "
            f"(x{before / after:.1f})"
        )

    huge = "The model goes on about its findings at great length. " * 20_000
    post = Post(
        "bench", "A post", "https://example.org/p", ("A",), datetime.now(UTC), "Bench", "Text.", datetime.now(UTC)
    )
    for label, reported in (("1 MB reply reporting 0 tokens", 0), ("reply reporting -1,000,000 tokens", -1_000_000)):
        with FakeOpenAIServer() as server:
            text = huge if reported == 0 else body
            server.enqueue(Reply(content=text, prompt_tokens=reported, completion_tokens=reported))
            with tempfile.TemporaryDirectory() as folder:
                store = Store(Path(folder) / "d.db")
                ledger = ModelLedger(store.locked)
                client = ModelClient("", server.base_url, "m", call_log=ledger)
                try:
                    summary = ModelSummarizer(client).summarize(post)
                    kept = f"summary kept: {len(summary.split())} words of {len(text.split())}"
                except ModelError as exc:
                    kept = f"summary refused: {exc}"
                usage = ledger.usage_since(datetime(2000, 1, 1, tzinfo=UTC))
                store.close()
        print(
            f"{label:<36} server says {reported:>10,} + {reported:>10,} tokens; charged "
            f"{usage.prompt_tokens:>,} + {usage.completion_tokens:>,}; {kept}"
        )


def _timed(call: Callable[[], object]) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        call()
        outcome = "answered"
    except Exception as exc:  # the outcome is what is printed
        outcome = "timed out" if "time" in str(exc).lower() else type(exc).__name__
    return time.perf_counter() - started, outcome


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--new", type=int, default=5)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--long-posts", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=1.0, help="seconds per call in part 3")
    parser.add_argument("--example", action="store_true", help="print an example digest and answers")
    args = parser.parse_args()
    print("posts assembled from the shared forum export" if SHARED_DATA.exists() else "posts generated (no export)")
    run_cost(args.posts, args.new, args.example)
    run_latency(args.long_posts, args.questions, args.example)
    run_untrusted_servers(args.deadline)


if __name__ == "__main__":
    main()
