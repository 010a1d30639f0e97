"""Stage 2, naming: a title for each theme, by class-based TF-IDF (as BERTopic names its topics).

Each theme is one class: the term counts of its posts added up (the posts in no theme form one more class). A
term names a theme when it is frequent in the theme's class and rare in the others (c-TF-IDF), and, for a theme of
several posts, used by most of them. The title is that term as the posts spell it, widened to the longer phrase
the posts use it in ("hacking" -> "reward hacking", "sparse autoencoders" -> "sparse autoencoder features") when
most of its occurrences are in that phrase. So a title is a phrase that occurs in the theme's posts, never two
terms glued together, and no two themes share a title word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest_core.models import Post
from digest_core.text import STOPWORDS, WORD_RE, stem

if TYPE_CHECKING:
    from digest_core.themes.grouping import DayVectors

# Terms considered for a title, best c-TF-IDF first.
TITLE_CANDIDATES = 25
# A longer phrase replaces a term when at least this share of the term's occurrences are inside it.
PHRASE_SHARE = 0.5
LONGEST_PHRASE = 3
# Texts read for spellings and longer phrases: the most central members' (titles of all members).
SPELLING_POSTS = 8
SPELLING_CHARS = 4_000
# Phrases never span punctuation or a free-standing dash.
_CHUNK_BREAK_RE = re.compile(r"[^\w\s'’\-]+|\s[-–—]+\s|--+")


def phrases(text: str, longest: int = LONGEST_PHRASE) -> Iterator[tuple[str, str]]:
    """(stems, as written) of every run of 1..`longest` adjacent content words in `text` (no stopword or
    punctuation inside): "Reward models" -> ("reward", "Reward"), ("reward model", "Reward models"), ..."""
    for chunk in _CHUNK_BREAK_RE.split(text):
        run: list[tuple[str, str]] = []
        for word in WORD_RE.findall(chunk):
            lower = word.lower().replace("’", "'")
            if len(lower) < 2 or lower in STOPWORDS:
                run = []
                continue
            run = [*run[-(longest - 1) :], (stem(word), word)] if longest > 1 else [(stem(word), word)]
            for k in range(len(run)):
                part = run[k:]
                yield " ".join(s for s, _ in part), " ".join(w for _, w in part)


def title_themes(themes: Sequence[list[int]], posts: Sequence[Post], vectors: DayVectors) -> list[str]:
    """A title per theme (in the order given; earlier themes choose first)."""
    ranked = [_ranked_terms(c, themes, posts, vectors) for c in range(len(themes))]
    taken: set[str] = set()
    titles: list[str] = []
    for theme, terms in zip(themes, ranked, strict=True):
        spellings = _spellings(theme, posts)
        title = ""
        for term in terms:
            phrase = _widen(term, spellings)
            words = set(phrase.split())
            if words & taken:
                continue
            title = _display(phrase, spellings)
            taken |= words
            break
        titles.append(title or _fallback_title(theme, posts))
    return titles


def _ranked_terms(index: int, themes: Sequence[list[int]], posts: Sequence[Post], vectors: DayVectors) -> list[str]:
    """The theme's terms, best first: c-TF-IDF, times the share of the theme's posts that use the term (recall:
    it names what they share), times the share of the day's posts using it that are in the theme (precision:
    it names what sets them apart; with a handful of classes c-TF-IDF alone still favours words every post
    uses), the more so when the posts' titles use it."""
    import numpy as np

    n = vectors.counts.shape[0]
    themed = {i for t in themes for i in t}
    classes = [list(t) for t in themes] + ([rest] if (rest := [i for i in range(n) if i not in themed]) else [])
    class_counts = np.vstack([np.asarray(vectors.counts[c].sum(axis=0)).ravel() for c in classes])
    # c-TF-IDF: the term's frequency in the class, times log(1 + average class size / its frequency overall).
    average = class_counts.sum() / len(classes)
    overall = class_counts.sum(axis=0)
    idf = np.log1p(average / np.maximum(overall, 1e-9))
    score = class_counts[index] / max(float(class_counts[index].sum()), 1.0) * idf
    members = themes[index]
    used = vectors.counts > 0
    in_theme = np.asarray(used[members].sum(axis=0)).ravel()
    in_day = np.asarray(used.sum(axis=0)).ravel()
    score = score * (in_theme / len(members)) * (in_theme / np.maximum(in_day, 1))
    if len(members) > 1:
        score = np.where(in_theme >= 2, score, 0.0)
    terms = vectors.terms
    order = np.argsort(-score, kind="stable")[:TITLE_CANDIDATES]
    ranked = [(float(score[k]), terms[k]) for k in order if score[k] > 0 and _nameable(terms[k])]
    titled = Counter(stems for i in members for stems in {s for s, _ in phrases(posts[i].title)})
    boosted = [(sc * (1.0 + titled[term] / len(members)), term) for sc, term in ranked]
    return [term for _, term in sorted(boosted, key=lambda st: -st[0])]


def _nameable(term: str) -> bool:
    """Not a short fragment, a number or a stray letter run."""
    return len(term) > 2 and any(ch.isalpha() for ch in term)


@dataclass(frozen=True, slots=True)
class _Spellings:
    """The phrases of a theme's texts: how often each is written each way, and how many posts use it."""

    written: Counter[tuple[str, str]]  # (stems, spelling) -> occurrences
    occurrences: Counter[str]  # stems -> occurrences
    posts: Counter[str]  # stems -> number of the theme's posts that use it


def _spellings(theme: list[int], posts: Sequence[Post]) -> _Spellings:
    written: Counter[tuple[str, str]] = Counter()
    using: Counter[str] = Counter()
    for rank, i in enumerate(theme):
        text = posts[i].title + "\n\n" + (posts[i].text[:SPELLING_CHARS] if rank < SPELLING_POSTS else "")
        found = Counter(phrases(text))
        written.update(found)
        using.update({stems for stems, _ in found})
    occurrences: Counter[str] = Counter()
    for (stems, _), count in written.items():
        occurrences[stems] += count
    return _Spellings(written, occurrences, using)


def _widen(term: str, spellings: _Spellings) -> str:
    """The longest phrase around `term` that the theme's posts use as widely (as many posts use it), or that
    holds most of its occurrences."""
    current = term
    while True:
        total, users = spellings.occurrences.get(current, 0), spellings.posts.get(current, 0)
        pattern = f" {current} "
        longer = [
            (spellings.posts[stems], count, stems)
            for stems, count in spellings.occurrences.items()
            if len(stems.split()) == len(current.split()) + 1 and pattern in f" {stems} "
        ]
        if not longer or total == 0:
            return current
        posts_using, count, stems = max(longer)
        if not (posts_using >= users or (count >= 2 and count > PHRASE_SHARE * total)):
            return current
        current = stems


def _display(stems: str, spellings: _Spellings) -> str:
    """The phrase as the posts spell it most often (a lower-case spelling preferred to a capitalised one:
    capitals may only mean the start of a sentence or a title), with its first letter capitalised."""
    forms = Counter({spelling: count for (s, spelling), count in spellings.written.items() if s == stems})
    if not forms:
        return stems[:1].upper() + stems[1:]
    lowered: Counter[str] = Counter()
    for spelling, count in forms.items():
        lowered[_lower_first(spelling)] += count
    best = min(lowered.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return best[:1].upper() + best[1:]


def _lower_first(spelling: str) -> str:
    """ "Reward hacking" -> "reward hacking"; acronyms and names with inner capitals ("RLHF", "GPT-4") stay."""
    first, _, rest = spelling.partition(" ")
    if first[1:] and first[1:].lower() == first[1:] and not any(ch.isdigit() for ch in first):
        first = first.lower()
    return f"{first} {rest}".strip()


def _fallback_title(theme: list[int], posts: Sequence[Post]) -> str:
    """A theme with no term of its own to name it by takes its most central post's title."""
    return posts[theme[0]].title


def title_words(title: str) -> set[str]:
    """The stems of a title's content words (to tell whether two titles overlap)."""
    return {stems for stems, _ in phrases(title, longest=1)}
