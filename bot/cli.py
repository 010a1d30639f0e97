"""The `digest` command line.

Exit codes: 0 when the command did its job (failed feeds are reported on stderr), 1 when nothing could be
fetched at all, 2 for bad usage or configuration (with a message that names the problem).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, TextIO

from bot.config import ConfigError, Settings, load_settings, parse_feed_list
from digest_core.models import Digest, FeedResult, SearchHit

if TYPE_CHECKING:
    from digest_core.service import DigestService

EXIT_OK, EXIT_NOTHING_FETCHED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or configuration: printed as one message, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"digest: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"digest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.DatabaseError as exc:
        from digest_core.store import DamagedDatabase, is_damage

        if not is_damage(exc):
            raise
        damaged = exc if isinstance(exc, DamagedDatabase) else DamagedDatabase(_database_of(args), str(exc))
        print(f"digest: {damaged}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`digest search ... | head`): what it wanted was printed. Point stdout at
        # devnull so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _database_of(args: argparse.Namespace) -> str:
    try:
        return str(settings_from(args).db_path)
    except ConfigError:
        return "the database"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digest", description="A daily digest of research feeds.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser("fetch", help="fetch the feeds and store new posts")
    _add_feed_options(fetch)
    fetch.set_defaults(handler=run_fetch)

    today = commands.add_parser("today", help="print today's digest (fetching the feeds first)")
    _add_feed_options(today)
    _add_edition_options(today)
    today.add_argument("--format", choices=("markdown", "json"), default="markdown")
    today.set_defaults(handler=run_today)

    render = commands.add_parser("render", help="print the messages the bot would post for an edition")
    render.add_argument("--platform", choices=("slack", "discord"), required=True)
    _add_feed_options(render)
    _add_edition_options(render)
    render.add_argument("--format", choices=("json",), default="json", help="output format (json)")
    render.set_defaults(handler=run_render)

    week = commands.add_parser("week", help="print the weekly roll-up of the stored editions of 7 days")
    week.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the week's last day (default: today)")
    week.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")
    week.add_argument("--format", choices=("markdown", "json"), default="markdown")
    week.set_defaults(handler=run_week)

    ask = commands.add_parser("ask", help="answer a question about one post of an edition, quoting it")
    ask.add_argument("post", metavar="POST", help='the post: "#N" of the edition, its id, URL or title')
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the edition's day (default: today)")
    ask.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")
    ask.add_argument(
        "--thread",
        metavar="NAME",
        help="continue a conversation: the earlier questions asked with this --thread (kept in the database) "
        "are its history, and a follow-up stays on their post",
    )
    ask.set_defaults(handler=run_ask)
    add_operations_commands(commands)
    add_search_command(commands)
    return parser


def _add_feed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feed", action="append", metavar="URL_OR_PATH", help="feed to read (repeatable); replaces DIGEST_FEEDS"
    )
    parser.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")


def _add_edition_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the edition's day (default: today)")
    parser.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="widen a one-off edition back to this day")
    parser.add_argument("--rebuild", action="store_true", help="rebuild a stored edition")
    parser.add_argument("--no-fetch", action="store_true", help="use stored posts only; do not fetch the feeds")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {"DIGEST_DB": args.db} if getattr(args, "db", None) else {}
    return load_settings(**overrides)


def feeds_from(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    if not getattr(args, "feed", None):
        return settings.feeds
    try:
        return tuple(feed for value in args.feed for feed in parse_feed_list(value))
    except ValueError as exc:
        raise UsageError(f"--feed: {exc}") from None


def _fetch(service: DigestService, feeds: Sequence[str]) -> list[FeedResult]:
    return asyncio.run(service.refresh(feeds))


def print_feed_results(results: Sequence[FeedResult], *, stream: TextIO | None = None) -> None:
    from bot.logging_setup import hide_secrets

    for result in results:
        if result.status == "failed":
            line = f"failed     {result.feed_url}: {result.reason}"
        elif result.status == "unchanged":
            line = f"unchanged  {result.feed_url}"
        else:
            line = f"new        {result.feed_url}: {result.new_posts} new of {result.seen_posts} posts"
            if result.reason:
                line += f" ({result.reason})"
        print(hide_secrets(line), file=stream or sys.stdout)  # a feed URL may carry a password


def all_failed(results: Sequence[FeedResult]) -> bool:
    return bool(results) and all(r.status == "failed" for r in results)


def run_fetch(args: argparse.Namespace) -> int:
    from bot.runner import build_service

    settings = settings_from(args)
    service = build_service(settings)
    results = _fetch(service, feeds_from(args, settings))
    print_feed_results(results)
    return EXIT_NOTHING_FETCHED if all_failed(results) else EXIT_OK


def run_today(args: argparse.Namespace) -> int:
    from digest_core.markdown import render_markdown
    from digest_core.store import digest_to_json

    digest = selected_digest(args)
    if digest is None:
        return EXIT_NOTHING_FETCHED
    if args.format == "json":
        print(json.dumps(digest_to_json(digest), indent=2, ensure_ascii=False))
    else:
        print(render_markdown(digest), end="")
    return EXIT_OK


def run_week(args: argparse.Namespace) -> int:
    """The roll-up of the 7 days that end on --date, from stored editions only: no fetch, no model call."""
    from bot.runner import build_service
    from digest_core.markdown import render_markdown
    from digest_core.store import digest_to_json
    from digest_core.weekly import week_start

    settings = settings_from(args)
    if not settings.db_path.is_file():
        raise UsageError(f"no database at {settings.db_path}; build daily editions first with `digest today`")
    service = build_service(settings)
    day = args.date or service.latest_edition_date()
    week = service.week(day)
    if week.is_empty:
        print(
            f"digest: no stored edition from {week_start(day)} to {day} has posts; "
            "build them with `digest today --date YYYY-MM-DD`",
            file=sys.stderr,
        )
    if args.format == "json":
        print(json.dumps(digest_to_json(week), indent=2, ensure_ascii=False))
    else:
        print(render_markdown(week), end="")
    return EXIT_OK


def run_render(args: argparse.Namespace) -> int:
    """The platform payloads of an edition, channel message first, then the thread's messages."""
    digest = selected_digest(args)
    if digest is None:
        return EXIT_NOTHING_FETCHED
    if args.platform == "slack":
        from adapters.slack.render import preview_payloads
    else:
        from adapters.discord.render import preview_payloads
    max_thread_posts = settings_from(args).max_thread_posts
    print(json.dumps(preview_payloads(digest, max_thread_posts=max_thread_posts), indent=2, ensure_ascii=False))
    return EXIT_OK


def selected_digest(args: argparse.Namespace) -> Digest | None:
    """Fetch (unless --no-fetch), then the edition the selection options name; None when nothing was fetched."""
    from bot.runner import build_service

    settings = settings_from(args)
    service = build_service(settings)
    if not args.no_fetch:
        results = _fetch(service, feeds_from(args, settings))
        failed = [r for r in results if r.status == "failed"]
        if failed:
            print_feed_results(failed, stream=sys.stderr)
        if all_failed(results):
            print(
                "digest: no feed could be fetched; nothing to show (try --feed examples/alignment-sample.xml "
                "or --no-fetch)",
                file=sys.stderr,
            )
            return None
    day = args.date or service.latest_edition_date()
    return service.digest(day, since=args.since, rebuild=args.rebuild)


# -- operations: serve, status, config ------------------------------------------------------------------------


def add_operations_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the bot: adapters, daily digest, feed refresh")
    serve.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")
    serve.set_defaults(handler=run_serve)
    status = commands.add_parser("status", help="feed health, latest editions and their deliveries")
    status.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")
    status.add_argument("--editions", type=int, default=5, metavar="N", help="how many editions to show")
    status.set_defaults(handler=run_status)
    config = commands.add_parser("config", help="print the effective configuration, secrets masked")
    config.set_defaults(handler=run_config)


def run_serve(args: argparse.Namespace) -> int:
    from bot.config import check_serve
    from bot.runner import run_serve as serve_until_stopped

    settings = settings_from(args)
    check_serve(settings)
    return serve_until_stopped(settings)


def run_status(args: argparse.Namespace) -> int:
    from bot.runner import build_schedule
    from bot.status import status_report
    from digest_core.store import Store

    settings = settings_from(args)
    if not settings.db_path.is_file():
        raise UsageError(f"no database at {settings.db_path}; run `digest fetch` or `digest serve` first")
    store = Store.open(settings.db_path)
    try:
        print(status_report(store, schedule=build_schedule(settings), editions=args.editions), end="")
    finally:
        store.close()
    return EXIT_OK


def run_config(args: argparse.Namespace) -> int:
    """Print every setting; then the problems, if any (exit 2), and what `digest serve` would still need."""
    from bot.config import check_serve
    from bot.status import config_report

    print(config_report(), end="")
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"problem: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_serve(settings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"`digest serve` needs: {problem}", file=sys.stderr)
    return EXIT_OK


def run_ask(args: argparse.Namespace) -> int:
    """Answer from the stored edition (no fetch): the answer, its quotes (each with its post when it draws on
    several), the post's link and who wrote it. POST "" or "all" lets the question say what it is about."""
    from bot.runner import build_service
    from digest_core.questions import ANSWER, IncomingQuestion

    service = build_service(settings_from(args))
    day = args.date or service.latest_edition_date()
    post_ref = None if args.post.strip().lower() in ("", "all", "*") else args.post
    if args.thread:
        asked = IncomingQuestion(
            platform="cli",
            channel_id="cli",
            thread_id=args.thread,
            event_id=uuid.uuid4().hex,
            user_id="cli",
            text=args.question,
            explicit=True,
            post_ref=post_ref,
            anywhere=True,
            day=day,
            limited=False,
        )
        verdict = service.take_question(asked)
        if verdict.action != ANSWER:
            raise UsageError("the question is empty")
        answer = service.answer_question(verdict)
        service.question_answered(verdict)
    else:
        answer = service.answer(args.question, day=day, post_ref=post_ref)
    if not answer.sources:
        lines = [answer.text, *(f"  #{p.number} {p.title}  {p.url}" for p in answer.candidates)]
        raise UsageError("\n".join(lines))
    print(answer.text)
    several = answer.post is None
    for quoted in answer.attributed or ():
        lines = [line.strip() for line in quoted.text.splitlines() if line.strip()]
        print("\n" + "\n".join(f"  > {line}" for line in lines))
        if several:
            print(f"    (#{quoted.post.number} {quoted.post.title})")
    for post in answer.sources:
        print(f"\n#{post.number} {post.title}\n{post.url}")
    print(f"({answer.generated_by})")
    return EXIT_OK


# -- search ---------------------------------------------------------------------------------------------------

MAX_SOURCES_LISTED = 10


def add_search_command(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser(
        "search",
        help='search every stored post: words, "quoted phrases", prefix*',
        description='Search every stored post, best match first. QUERY holds words, "quoted phrases" and '
        "prefix* terms; posts with every term rank first, titles weigh most.",
    )
    search.add_argument("query", nargs="+", metavar="QUERY", help="what to look for")
    search.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="only posts published on or after this day")
    search.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="only posts published on or before this day")
    search.add_argument("--source", metavar="NAME", help='only posts from this source, e.g. "AI Alignment Forum"')
    search.add_argument("--limit", type=int, default=10, metavar="N", help="how many results (default 10)")
    search.add_argument("--db", metavar="PATH", help="SQLite database file (default: DIGEST_DB or digest.db)")
    search.add_argument("--format", choices=("text", "json"), default="text")
    search.set_defaults(handler=run_search)


def run_search(args: argparse.Namespace) -> int:
    """Search the stored posts (no fetch): one block per hit, or the JSON of `search_to_json`."""
    from bot.runner import build_service
    from digest_core.search import search_to_json

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    if args.since and args.until and args.since > args.until:
        raise UsageError(f"--since {args.since} is after --until {args.until}")
    settings = settings_from(args)
    if not settings.db_path.is_file():
        raise UsageError(f"no database at {settings.db_path}; run `digest fetch` first")
    service = build_service(settings)
    # Bytes the terminal's encoding could not decode come as lone surrogates: make them U+FFFD, printable.
    query = " ".join(os.fsencode(word).decode("utf-8", "replace") for word in args.query)
    source = _stored_source(args.source, service.store.post_sources()) if args.source else None
    result = service.search(query, since=args.since, until=args.until, source=source, limit=args.limit)
    if args.format == "json":
        print(json.dumps(search_to_json(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    if not result.hits:
        print(f"No stored post matches “{_printable(query)}”{_filters(args)}.")
        return EXIT_OK
    print("\n\n".join(_search_block(hit) for hit in result.hits))
    if result.has_more:
        print(f"(more results: --limit {args.limit * 2})", file=sys.stderr)
    return EXIT_OK


def _filters(args: argparse.Namespace) -> str:
    named = [
        f"since {args.since}" if args.since else "",
        f"until {args.until}" if args.until else "",
        f"from {_printable(args.source)}" if args.source else "",
    ]
    return f" ({', '.join(n for n in named if n)})" if any(named) else ""


def _stored_source(wanted: str, sources: Sequence[str]) -> str:
    """The stored spelling of the source `wanted` names (any case); a usage error naming the sources if none."""
    for source in sources:
        if source.casefold() == wanted.casefold():
            return source
    known = ", ".join(repr(s) for s in sources[:MAX_SOURCES_LISTED]) + (
        ", ..." if len(sources) > MAX_SOURCES_LISTED else ""
    )
    raise UsageError(f"--source {wanted!r}: no stored post comes from it" + (f"; sources: {known}" if sources else ""))


def _search_block(hit: SearchHit) -> str:
    lines = [
        _printable(hit.title) or "(untitled)",
        " · ".join(part for part in (_printable(hit.source), f"{hit.published:%Y-%m-%d}", _printable(hit.url)) if part),
    ]
    if hit.snippet:
        lines.append(_printable(hit.snippet))
    return "\n".join(lines)


def _printable(text: str) -> str:
    """Feed text on one line, without control characters (a title must not move the terminal's cursor)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


if __name__ == "__main__":
    sys.exit(main())
