"""Search over the stored archive: ranking, phrases, prefixes, hostile queries, filters, paging and editions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from bot.cli import main
from digest_core.editions import EditionSchedule
from digest_core.models import Post
from digest_core.search import MAX_QUERY_TERMS, parse_query
from digest_core.service import DigestService, Writers
from digest_core.store import Store, migrations
from tests.conftest import FirstSentenceSummarizer, OneThemeFinder
from tests.search_corpus import generated_posts, make_post

GRADIENT_HACKING_TITLES = {
    "TitleGradient0001": "A toy model of gradient hacking",
    "TitleGradient0002": "Gradient hacking is hard to detect",
}
PLANTED = [
    make_post(
        "TitleGradient0001",
        GRADIENT_HACKING_TITLES["TitleGradient0001"],
        "A short note. We sketch a mechanism by which a model could resist training.",
    ),
    make_post(
        "TitleGradient0002",
        GRADIENT_HACKING_TITLES["TitleGradient0002"],
        "Detection is the hard part, and we explain why in three steps.",
    ),
    *(
        make_post(
            f"BodyGradient{n:05d}",
            f"Training dynamics notebook, part {n}",
            "Gradient hacking came up again. " * (n + 2)
            + "We doubt gradient hacking happens in practice, but gradient hacking is worth modelling.",
        )
        for n in range(5)
    ),
    make_post("PhraseExact00001", "Measuring Goodhart effects", "We saw reward model overoptimization after 2k steps."),
    make_post(
        "PhraseScatter001",
        "Optimising against a learned judge",
        "The reward went up; the model overfit; we describe overoptimization of the judge, not of the reward model.",
    ),
    make_post("PrefixInterp0001", "Interpretable features in small models", "Features can be read off directly."),
    make_post("PrefixInterp0002", "Interpreting attention heads", "We looked at which tokens each head reads."),
    make_post("PrefixDecept0001", "Notes on deceptive behaviour", "A model that behaves well only when watched."),
    make_post("PrefixDecept0002", "Deception in a card game", "Agents learned to bluff without being told to."),
    make_post("AuthorAccent0001", "Corrigibility as a basin", "Small deviations get corrected.", author="José Núñez"),
]


def _archive(path: Path) -> DigestService:
    store = Store(path)
    store.upsert_posts([*generated_posts(300), *PLANTED])
    return DigestService(
        store,
        schedule=EditionSchedule(timezone=ZoneInfo("Europe/Berlin")),
        writers=_writers(),
        clock=lambda: datetime(2026, 1, 1, 12, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DigestService]:
    """Shared by the tests that only read."""
    service = _archive(tmp_path_factory.mktemp("archive") / "search.db")
    yield service
    service.store.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DigestService]:
    """A fresh archive, for tests that write to it."""
    service = _archive(tmp_path / "search.db")
    yield service
    service.store.close()


def ids(service: DigestService, query: str, **options: object) -> list[str]:
    return [hit.id for hit in service.search(query, limit=50, **options).hits]  # type: ignore[arg-type]


def test_posts_with_the_words_in_their_title_rank_above_posts_that_only_repeat_them(archive: DigestService) -> None:
    found = ids(archive, "gradient hacking")
    assert set(found[:2]) == set(GRADIENT_HACKING_TITLES)
    assert set(found[2:7]) == {f"BodyGradient{n:05d}" for n in range(5)}
    assert all("hacking" not in hit.title.lower() for hit in archive.search("gradient hacking", limit=20).hits[7:])


def test_a_quoted_phrase_needs_its_words_together_and_in_order(archive: DigestService) -> None:
    assert ids(archive, '"reward model overoptimization"') == ["PhraseExact00001"]
    assert set(ids(archive, "reward model overoptimization")) >= {"PhraseExact00001", "PhraseScatter001"}
    assert ids(archive, '"overoptimization reward model"') == []


def test_prefix_terms_match_every_word_they_begin(archive: DigestService) -> None:
    assert set(ids(archive, "interp*")) == {"PrefixInterp0001", "PrefixInterp0002"}
    # The index holds stems ("decept"); a prefix that runs past the stem still finds deceptive and deception.
    assert set(ids(archive, "deceptiv*")) == {"PrefixDecept0001", "PrefixDecept0002"}
    assert set(ids(archive, '"deceptive behav"*')) == {"PrefixDecept0001"}


def test_authors_are_searched_by_name_and_without_accents(archive: DigestService) -> None:
    assert ids(archive, "Núñez")[0] == "AuthorAccent0001"
    assert ids(archive, "jose nunez")[0] == "AuthorAccent0001"


def test_every_term_first_then_some_of_them(archive: DigestService) -> None:
    found = ids(archive, "gradient hacking zyzzyva")  # no post has the last word
    assert set(found[:2]) == set(GRADIENT_HACKING_TITLES)
    both = ids(archive, "debate bluff")  # no post has both words
    assert "PrefixDecept0002" in both and len(both) > 1
    # A question-like query: its function words do not decide what is found.
    assert ids(archive, "what do we know about gradient hacking?")[:2] == ids(archive, "gradient hacking")[:2]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "*",
        "**interp",
        "NEAR(",
        "NEAR(gradient hacking, 2)",
        ")",
        "(",
        "AND",
        "gradient AND OR NOT hacking",
        "-gradient +hacking ^title",
        "title:gradient",
        "{title text}: gradient",
        '"unclosed phrase about gradient',
        "gradient\x00hacking\x1b[2J",
        "🙂 🚀 gradient 🙃",
        "\u200b\u202e hacking",
        "gradient\udcff hacking\ud800",  # undecodable terminal bytes arrive as lone surrogates
        "x" * 10_000,
        "gradient hacking " * 700,  # about 10 kB of words
        "",
        "   ",
    ],
)
def test_no_query_string_raises(archive: DigestService, query: str) -> None:
    result = archive.search(query, limit=5)
    assert result.query == query
    assert len(result.hits) <= 5


def test_a_long_query_is_cut_to_its_first_terms() -> None:
    terms = parse_query(" ".join(f"word{n}" for n in range(500)))
    assert [t.text for t in terms] == [f"word{n}" for n in range(MAX_QUERY_TERMS)]
    assert [(t.text, t.phrase, t.prefix) for t in parse_query('"sparse  auto*" interp* "x" *')] == [
        ("sparse auto*", True, False),
        ("interp", False, True),
        ("x", True, False),
    ]


def test_filters_by_day_in_the_digest_time_zone_and_by_source(service: DigestService) -> None:
    store = service.store
    late_evening = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)  # already 4 March in Berlin
    store.upsert_posts(
        [
            make_post("FilterMarch00001", "Quokka welfare", "Quokkas everywhere.", published=late_evening),
            make_post("FilterMarch00002", "Quokka census", "More quokkas.", published=datetime(2025, 3, 5, tzinfo=UTC)),
            make_post("FilterOther00001", "Quokka maps", "Where quokkas live.", source="LessWrong"),
        ]
    )
    assert set(ids(service, "quokka")) == {"FilterMarch00001", "FilterMarch00002", "FilterOther00001"}
    assert ids(service, "quokka", since=date(2025, 3, 4), until=date(2025, 3, 4)) == ["FilterMarch00001"]
    assert ids(service, "quokka", until=date(2025, 3, 3)) == []
    assert set(ids(service, "quokka", since=date(2025, 3, 5))) == {"FilterMarch00002", "FilterOther00001"}
    assert ids(service, "quokka", source="lesswrong") == ["FilterOther00001"]
    with pytest.raises(ValueError):
        service.search("quokka", since=date(2025, 3, 5), until=date(2025, 3, 4))


def test_pages_follow_each_other_without_gaps_or_repeats(archive: DigestService) -> None:
    everything = [hit.id for hit in archive.search("model", limit=40).hits]
    pages, offset, has_more = [], 0, True
    while has_more and offset < 40:
        page = archive.search("model", limit=7, offset=offset)
        pages += [hit.id for hit in page.hits]
        offset, has_more = page.next_offset, page.has_more
    assert len(everything) == 40 and pages[:40] == everything


def test_a_hit_names_the_editions_that_carried_it_and_has_a_plain_snippet(service: DigestService) -> None:
    day = date(2025, 6, 2)
    edition = service.digest(day)  # the first edition takes every stored post published before it
    assert "PhraseExact00001" in {p.id for p in edition.posts}
    [hit] = service.search('"reward model overoptimization"').hits
    assert hit.editions == (day,)
    assert hit.snippet == "We saw reward model overoptimization after 2k steps."
    long_text = next(h for h in service.search("gradient hacking", limit=10).hits if h.id == "BodyGradient00004")
    assert long_text.snippet.endswith("…") and "\n" not in long_text.snippet and len(long_text.snippet) < 300


def test_a_snippet_is_plain_text_without_list_quote_or_footnote_marks(service: DigestService) -> None:
    """The stored text keeps a post's lists, quotes and footnote markers on their lines (and a feed may send a
    list already flattened into one line); an excerpt on one line must not show them as stray '*', '>' or '[1]'."""
    text = (
        "Summary * We introduce a corpus of wombat burrows for measuring tunnel depth.\n"
        "* Burrows vary in depth[1] between sites.\n\n"
        "> We show that wombat burrows deepen in dry years."
    )
    service.store.upsert_posts([make_post("MarkupWombat0001", "Wombat burrows", text)])

    [hit] = service.search("wombat burrows").hits

    assert hit.snippet.startswith("Summary We introduce a corpus of wombat burrows"), hit.snippet
    assert not {"*", ">", "[1]"} & set(hit.snippet.split()) and "[1]" not in hit.snippet, hit.snippet


def test_an_edited_post_is_found_by_its_new_words_only(service: DigestService) -> None:
    service.store.upsert_posts([make_post("PrefixInterp0002", "Reading attention heads", "Wombats only.")])
    assert "PrefixInterp0002" not in ids(service, "interpreting")
    assert ids(service, "wombats") == ["PrefixInterp0002"]


def test_a_database_from_before_search_gets_its_index_rebuilt_with_authors(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m002_search_index_with_authors")
    old = make_post("OldPost000000001", "Myopia and training", "Short horizons.", author="Zoë Quist")
    db.table("posts").insert(Store._post_record(old, "hash"))
    db.close()
    store = Store(path)
    try:
        service = DigestService(store, schedule=EditionSchedule(), writers=_writers())
        assert [hit.id for hit in service.search("zoe quist").hits] == ["OldPost000000001"]
        assert [hit.id for hit in service.search("myopia").hits] == ["OldPost000000001"]
    finally:
        store.close()


def _writers() -> Writers:
    summarizer, finder = FirstSentenceSummarizer(), OneThemeFinder()
    return Writers(summarizer, finder, summarizer, finder)


# --- the command line --------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    for name in ("DIGEST_DB", "DIGEST_TIMEZONE", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    store = Store(tmp_path / "cli.db")
    store.upsert_posts([*generated_posts(60), *PLANTED, _hostile_post()])
    store.close()
    return str(tmp_path / "cli.db")


def _hostile_post() -> Post:
    return make_post("HostileTitle0001", "Gradient\x1b[31m hacking\r\nfor <!channel> @everyone", "Gradient hacking.")


def test_json_has_exactly_the_agreed_keys(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", '"reward model overoptimization"', "--db", db, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"query", "results"} and printed["query"] == '"reward model overoptimization"'
    [hit] = printed["results"]
    assert set(hit) == {"id", "title", "authors", "published", "url", "source", "snippet", "editions"}
    assert hit["id"] == "PhraseExact00001" and hit["authors"] == ["A. Researcher"] and hit["editions"] == []
    assert hit["published"] == "2025-06-01T12:00:00+00:00"
    assert hit["snippet"] == "We saw reward model overoptimization after 2k steps."


def test_text_shows_title_then_source_date_link_then_snippet(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "gradient", "hacking", "--limit", "3", "--db", db]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 3  # the three posts with both words in their title
    titles = {block.split("\n")[0] for block in blocks}
    assert titles == {*GRADIENT_HACKING_TITLES.values(), "Gradient [31m hacking for <!channel> @everyone"}
    for block in blocks:
        _title, meta, snippet = block.split("\n")
        source, day, link = meta.split(" · ")
        assert source == "AI Alignment Forum" and day == "2025-06-01"
        assert link.startswith("https://www.alignmentforum.org/posts/") and snippet


def test_no_result_is_one_clear_line_and_exit_0(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "zyzzyva", "--source", "LessWrong", "--db", db]) == 0
    assert capsys.readouterr().out == "No stored post matches “zyzzyva” (from LessWrong).\n"
    assert main(["search", "NEAR(", '"', "--db", db]) == 0
    assert capsys.readouterr().out == 'No stored post matches “NEAR( "”.\n'


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--limit", "0"], "--limit must be at least 1"),
        (["--since", "2025-03-02", "--until", "2025-03-01"], "--since 2025-03-02 is after --until 2025-03-01"),
        (["--source", "Nowhere Weekly"], "--source 'Nowhere Weekly': no stored post comes from it"),
    ],
)
def test_bad_usage_exits_2_naming_the_problem(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], problem: str
) -> None:
    assert main(["search", "oversight", "--db", db, *args]) == 2
    assert problem in capsys.readouterr().err


def test_a_missing_database_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "oversight", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
