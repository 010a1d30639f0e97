"""The weekly roll-up: the 7 days that end on a date, assembled from their stored daily editions.

Nothing here writes text: titles, key ideas, implications and summaries are the daily editions' own, so a
rebuild costs no model call. What the week adds is structure:

- **The week's themes.** Every daily theme is linked to the earlier theme of the week that it carries on
  (`continuity.best_predecessor`, the measure that links today's themes to recent editions), so each chain of
  continuations is one week theme holding the posts of all its days. Posts that no daily theme holds but that
  recur on another day (`recurring_loose_posts`) are grouped by the offline theme finder (the service does
  that, from stored text and summaries) and threaded the same way. Themes that ran on more days come first,
  then those with more posts. The week has up to MAX_WEEK_THEMES themes, and at least MIN_WEEK_THEMES when its
  days had that many themes. Each is named and described by its lead daily theme (the one with the most
  posts, then the most central), and carries on what its first daily theme carried on from before the week.
- **The most-discussed posts**: those that appeared in the most daily themes, drew the most questions, or were
  taken up by the most posts of later days (posts clearly about them), listed among the connections after the
  themes that ran on several days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from digest_core.continuity import LINK_SIMILARITY as ALIKE
from digest_core.continuity import (
    ThemeProfile,
    best_predecessor,
    cosine,
    post_vectors,
    profile_editions,
    sum_vectors,
    unit,
)
from digest_core.models import WEEKLY, Digest, DigestPost, Theme

Vector = dict[str, float]

WEEK_DAYS = 7
MIN_WEEK_THEMES = 3
MAX_WEEK_THEMES = 5
MOST_DISCUSSED = 3
WEEKLY_TITLE = "AI Alignment Weekly Digest"


def week_start(end: date) -> date:
    return end - timedelta(days=WEEK_DAYS - 1)


@dataclass(slots=True)
class _Thread:
    """Themes of the week that carry one another on, oldest first."""

    members: list[ThemeProfile]
    day_of: Mapping[str, date]  # each post's edition

    @property
    def days(self) -> list[date]:
        """The days whose posts the thread holds."""
        return sorted({self.day_of[i] for i in self.post_ids()})

    def post_ids(self) -> list[str]:
        return list(dict.fromkeys(i for m in self.members for i in m.theme.post_ids))


def build_week(
    end: date,
    editions: Sequence[Digest],
    *,
    loose_themes: Sequence[Theme] = (),
    question_counts: Mapping[str, int] | None = None,
    generated_by: str = "offline",
) -> Digest:
    """The roll-up of the editions dated in the 7 days that end on `end` (others are ignored).

    `loose_themes` group posts of the week that no daily theme holds (a lone post on Monday and one on the same
    topic on Friday): they are threaded with the daily themes. `question_counts` maps post ids to the questions
    asked about them, when those are recorded.
    """
    first = week_start(end)
    days = sorted((e for e in editions if first <= e.date <= end), key=lambda e: e.date)
    posts = _renumbered(days)
    title = f"{WEEKLY_TITLE} - {first.isoformat()} to {end.isoformat()}"
    if not posts:
        return Digest(end, title, generated_by, (), (), (), kind=WEEKLY)
    vectors = post_vectors(days)
    day_of = {p.id: e.date for e in days for p in e.posts}
    profiles = [*profile_editions(days, vectors), *_loose_profiles(loose_themes, vectors, day_of)]
    profiles.sort(key=lambda p: p.day)  # stable: the themes of one day keep their order
    threads = _select(_threads(profiles, day_of))
    numbers = {p.id: p.number for p in posts}
    themes = tuple(_week_theme(thread, first, numbers) for thread in threads)
    discussion = _discussion(days, vectors, question_counts or {})
    connections = (*_recurring(threads), *_most_discussed(posts, discussion))
    return Digest(end, title, generated_by, themes, tuple(connections), posts, kind=WEEKLY)


def recurring_loose_posts(editions: Sequence[Digest]) -> list[str]:
    """Posts that no daily theme holds but that are clearly about a post of another day no theme holds either:
    the week's recurring topics that each day had only one post on. In the editions' order."""
    themed = {i for edition in editions for theme in edition.themes for i in theme.post_ids}
    loose = [(edition.date, p.id) for edition in editions for p in edition.posts if p.id not in themed]
    vectors = post_vectors(editions)
    return [
        post_id
        for day, post_id in loose
        if any(d != day and cosine(vectors[post_id], vectors[other]) >= ALIKE for d, other in loose)
    ]


def _renumbered(days: Sequence[Digest]) -> tuple[DigestPost, ...]:
    seen: dict[str, DigestPost] = {}
    for edition in days:
        for post in edition.posts:
            seen.setdefault(post.id, post)
    return tuple(replace(post, number=n) for n, post in enumerate(seen.values(), start=1))


def _loose_profiles(
    themes: Sequence[Theme], vectors: Mapping[str, Vector], day_of: Mapping[str, date]
) -> list[ThemeProfile]:
    """Themes over posts of several days, placed on the last of their days."""
    profiles = []
    for theme in themes:
        ids = [i for i in dict.fromkeys(theme.post_ids) if vectors.get(i) and i in day_of]
        if ids:
            members = tuple(vectors[i] for i in ids)
            last = max(day_of[i] for i in ids)
            profiles.append(
                ThemeProfile(last, replace(theme, post_ids=tuple(ids)), members, unit(sum_vectors(members)))
            )
    return profiles


def _threads(profiles: list[ThemeProfile], day_of: Mapping[str, date]) -> list[_Thread]:
    """Each daily theme joins the thread of the earlier theme that it carries on, if any. Earlier themes of the
    same day count too: two themes of one day that are mostly the same posts' topic are one theme of the week."""
    threads: list[_Thread] = []
    thread_of: dict[int, _Thread] = {}
    for index, profile in enumerate(profiles):  # profiles come day by day, oldest first
        found = best_predecessor(profile, profiles[:index])
        thread = thread_of[id(found)] if found is not None else None
        if thread is None:
            thread = _Thread([], day_of)
            threads.append(thread)
        thread.members.append(profile)
        thread_of[id(profile)] = thread
    return threads


def _select(threads: list[_Thread]) -> list[_Thread]:
    """The week's themes: those that ran on several days, then single days' themes up to MIN_WEEK_THEMES;
    more days first, then more posts, then the later ones."""
    ranked = sorted(threads, key=lambda t: (-len(t.days), -len(t.post_ids()), -t.days[-1].toordinal()))
    chosen = [t for t in ranked if len(t.days) > 1][:MAX_WEEK_THEMES]
    for thread in ranked:
        if len(chosen) >= MIN_WEEK_THEMES:
            break
        if thread not in chosen:
            chosen.append(thread)
    return chosen


def _week_theme(thread: _Thread, first: date, numbers: Mapping[str, int]) -> Theme:
    """The thread's posts, told in the words of its lead daily theme; it carries on what the thread's first
    daily theme carried on from before the week, as that edition said."""
    lead = _lead(thread)
    points: dict[str, str] = {}
    for member in thread.members:
        theme = member.theme
        for index, post_id in enumerate(theme.post_ids):
            if not points.get(post_id):
                points[post_id] = theme.post_points[index] if index < len(theme.post_points) else ""
    ids = sorted(thread.post_ids(), key=lambda i: numbers.get(i, 0))
    listed = tuple(points.get(i, "") for i in ids)
    before = thread.members[0].theme.continues
    return Theme(
        title=lead.theme.title,
        key_idea=lead.theme.key_idea,
        post_ids=tuple(ids),
        implications=lead.theme.implications,
        post_points=listed if any(listed) else (),
        continues=before if before is not None and before.date < first else None,
    )


def _lead(thread: _Thread) -> ThemeProfile:
    """The daily theme that speaks for a thread: the one with the most posts, then the most central."""
    centroid = unit(sum_vectors(m.centroid for m in thread.members))
    return max(thread.members, key=lambda m: (len(m.posts), cosine(m.centroid, centroid), m.day))


def _recurring(threads: Sequence[_Thread]) -> list[str]:
    lines = []
    for thread in threads:
        days = thread.days
        if len(days) < 2:
            continue
        title = _lead(thread).theme.title
        on = ", ".join(d.isoformat() for d in days)
        lines.append(f"{title} ran on {len(days)} days ({on}) with {len(thread.post_ids())} posts.")
    return lines


@dataclass(frozen=True, slots=True)
class _Discussion:
    themes: int  # daily themes the post appeared in
    questions: int  # questions asked about it
    taken_up: int  # posts of later days of the week that are clearly about it

    @property
    def score(self) -> int:
        return max(0, self.themes - 1) + self.questions + self.taken_up


def _discussion(
    days: Sequence[Digest], vectors: Mapping[str, Vector], questions: Mapping[str, int]
) -> dict[str, _Discussion]:
    themes_of: dict[str, int] = {}
    day_of: dict[str, date] = {}
    for edition in days:
        for post in edition.posts:
            day_of.setdefault(post.id, edition.date)
        for theme in edition.themes:
            for post_id in set(theme.post_ids):
                themes_of[post_id] = themes_of.get(post_id, 0) + 1
    result: dict[str, _Discussion] = {}
    for post_id, day in day_of.items():
        later = [i for i, d in day_of.items() if d > day]
        taken_up = sum(1 for i in later if cosine(vectors.get(i, {}), vectors.get(post_id, {})) >= ALIKE)
        result[post_id] = _Discussion(themes_of.get(post_id, 0), questions.get(post_id, 0), taken_up)
    return result


def _most_discussed(posts: Sequence[DigestPost], discussion: Mapping[str, _Discussion]) -> list[str]:
    """A line for each of the MOST_DISCUSSED posts with the highest score (none for a post nobody took up)."""
    ranked = sorted((p for p in posts if discussion[p.id].score > 0), key=lambda p: (-discussion[p.id].score, p.number))
    lines = []
    for post in ranked[:MOST_DISCUSSED]:
        found = discussion[post.id]
        counts = [f"in {found.themes} themes"] if found.themes > 1 else []
        if found.questions:
            counts.append(_count(found.questions, "question"))
        if found.taken_up:
            counts.append(f"taken up by {_count(found.taken_up, 'later post')}")
        lines.append(f"Most discussed: {post.title} (#{post.number}: {', '.join(counts)}).")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"
