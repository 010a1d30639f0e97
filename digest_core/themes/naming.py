"""Stage 2, naming: a title for each theme, a noun phrase of its posts chosen by class-based TF-IDF.

Candidates are noun phrases by the evidence of the day's own text, not by a list of words:
- a phrase is a run of content words (no stopword, punctuation or verb inside), at most LONGEST_PHRASE words;
- a word is taken for a verb when the posts mostly use it as one: more often right after a subject pronoun, a
  modal or an auxiliary ("we trained", "can reconstruct", "is mediated"), or right before an article or an
  object pronoun ("reconstruct the"), than right after an article or possessive or right before "of";
- a run counts as a noun phrase where it stands in a title or heading, or right after a determiner, a
  preposition or a verb; so do its endings (the head of an English noun phrase comes last: "sparse autoencoder
  features" -> "autoencoder features", "features").
Each candidate is scored by its c-TF-IDF (as BERTopic names topics: its frequency in the theme's posts, added up
as one class, against its frequency in the day's other themes and the posts in none), times its background
specificity (`digest_core.background` IDF: "sandbagging" over "model"), times the share of the theme's posts that
use it (a title names what they share, so a theme of several posts takes a phrase two of them use). A generic term
("model", "test", "language model": `Background.generic`) never names a theme, unless it is a phrase that two of
its posts' titles use (a lone generic word may only lead to the longer phrase it is used in: "compute" to "compute
trends"); a lone word only names one when a title of its posts uses it. A longer phrase replaces a shorter one it
contains when as many posts use it and it is about as telling (PHRASE_RATIO of its score). When the theme's posts
split between two phrases about as telling, each shared by posts the other misses, the title joins them with
"and". No two themes share a title word. The title is spelled as the theme's titles, else its texts, spell it. A
theme whose posts share no such phrase takes a phrase of two or more words they share even if it is generic
("Language models"), and failing that its most central post's title.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from digest_core.background import COMMON_SHARE, Background
from digest_core.models import Post
from digest_core.text import FUNCTION_WORDS, STOPWORDS, WORD_RE, is_heading, normalize_space, stem

if TYPE_CHECKING:
    import numpy as np

    from digest_core.themes.grouping import DayVectors

LONGEST_PHRASE = 3
# A longer phrase replaces a shorter one it contains when as many posts use it and its score is at least this
# share of the shorter's (a longer phrase is rarer by nature: it holds only some of the shorter's occurrences).
PHRASE_RATIO = 0.4
MIN_VERB_EVIDENCE = 2
# Texts read for phrases and spellings: each theme's most central posts (titles of all members).
SPELLING_POSTS = 8
SPELLING_CHARS = 4_000
# Phrases never span punctuation or a free-standing dash.
_CHUNK_BREAK_RE = re.compile(r"[^\w\s'’\-]+|\s[-–—]+\s|--+")


def _word_set(listing: str) -> frozenset[str]:
    return frozenset(listing.split())


# Closed grammatical classes (not a list of topic words): what precedes a noun phrase, and what marks a verb.
DETERMINERS = _word_set(
    "the a an this that these those my our your his her its their each every some any no another such "
    "whose which what both either neither"
)
PREPOSITIONS = _word_set(
    "of in on for with about against between into through during before after above below to from up down "
    "over under by at via across among amongst toward towards within without upon onto beyond behind than "
    "like despite per"
)
# A subject pronoun, a modal or "do" comes right before a verb ("we trained", "can reconstruct"); a copula or
# "have" does not tell (a participle or a noun may follow: "is mediated", "is abstraction", "has access").
_BEFORE_VERB = _word_set(
    "i we you they he she it can could will would shall should may might must do does did don't doesn't "
    "didn't cannot can't won't wouldn't shouldn't couldn't"
)
_AFTER_VERB = _word_set("the a an this these those its their our my your his her them us him me")
_BEFORE_NOUN = DETERMINERS - {"that", "which", "what"}
_COORDINATORS = _word_set("and or nor")
# What follows a noun phrase that is the subject of its clause: an auxiliary or a modal.
_AFTER_SUBJECT = (_BEFORE_VERB - {"i", "we", "you", "they", "he", "she", "it"}) | _word_set(
    "is are was were has have had"
)
# Cardinal numerals quantify a noun as a determiner does ("three percent", "seventy-eight episodes").
_NUMERAL_RE = re.compile(
    r"^(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-(?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|hundred|thousand|million|billion|dozen)$"
)


def _determiner(word: str) -> bool:
    return word in DETERMINERS or bool(_NUMERAL_RE.match(word))


@dataclass
class _Usage:
    """How the day's texts use each word form: as a verb or as a noun (see the module docstring)."""

    verb: Counter[str] = field(default_factory=Counter)
    noun: Counter[str] = field(default_factory=Counter)

    def read(self, text: str) -> None:
        for piece in _CHUNK_BREAK_RE.split(text):
            tokens = [w.lower().replace("’", "'") for w in WORD_RE.findall(piece)]
            for k, word in enumerate(tokens):
                before = tokens[k - 1] if k else ""
                after = tokens[k + 1] if k + 1 < len(tokens) else ""
                if before in _BEFORE_VERB or after in _AFTER_VERB or _NUMERAL_RE.match(after):
                    self.verb[word] += 1
                if before in _BEFORE_NOUN or _NUMERAL_RE.match(before) or after == "of":
                    self.noun[word] += 1

    def verb_like(self, word: str) -> bool:
        # Mostly a verb, seen as one at least twice: one context alone may mislead ("alignment the" in a list).
        return self.verb[word] >= MIN_VERB_EVIDENCE and self.verb[word] > self.noun[word]


@dataclass
class _Phrases:
    """The phrases of a theme's texts: how each is spelled, which are noun phrases, which posts use each (the
    ones read) and in how many of the theme's titles each stands."""

    spellings: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stems, as written) -> occurrences
    title_spellings: Counter[tuple[str, str]] = field(default_factory=Counter)  # the same in titles only
    noun: set[str] = field(default_factory=set)  # stems seen where a noun phrase stands
    posts: dict[str, set[int]] = field(default_factory=dict)  # stems -> posts using it
    titles: Counter[str] = field(default_factory=Counter)  # stems -> titles of the theme's posts using it

    def read(self, text: str, post: int, usage: _Usage, *, title: bool = False) -> None:
        in_title: set[str] = set()
        for stems, written, noun in phrases(text, usage, titled=title):
            self.spellings[(stems, written)] += 1
            if title:
                self.title_spellings[(stems, written)] += 1
            self.posts.setdefault(stems, set()).add(post)
            if noun:
                self.noun.add(stems)
            if title:
                in_title.add(stems)
        self.titles.update(in_title)


def _in_phrase(lower: str) -> bool:
    """A word that may stand inside a noun phrase: not a function word or a numeral (filler such as "point" may
    stand in one, but no candidate holds it: the background does not count it)."""
    return len(lower) > 1 and lower not in FUNCTION_WORDS and not _NUMERAL_RE.match(lower)


def phrases(text: str, usage: _Usage, *, titled: bool = False) -> Iterator[tuple[str, str, bool]]:
    """(stems, as written, noun phrase?) of every run of 1..LONGEST_PHRASE adjacent content words of `text` that
    holds no verb; a run's endings are noun phrases where the run stands where one stands (module docstring)."""
    for line in text.splitlines():
        heading = titled or is_heading(line)
        for piece in _CHUNK_BREAK_RE.split(line):
            words = WORD_RE.findall(piece)
            lowered = [w.lower().replace("’", "'") for w in words]
            run: list[str] = []
            opener = ""  # the word before the run
            for k, word in enumerate([*words, ""]):
                lower = lowered[k] if word else ""
                if word and _in_phrase(lower) and not usage.verb_like(lower):
                    if not run:
                        opener = lowered[k - 1] if k else ""
                    run.append(word)
                    continue
                if run:
                    # Where a noun phrase stands: after a determiner, a numeral, a preposition or a verb (its
                    # object), or before an auxiliary or a modal (the subject); anywhere in a title or heading.
                    # Not before "and"/"or": "inner and outer alignment" leaves "inner" a modifier.
                    noun = lower not in _COORDINATORS and (
                        heading
                        or _determiner(opener)
                        or opener in PREPOSITIONS
                        or usage.verb_like(opener)
                        or lower in _AFTER_SUBJECT
                        or usage.verb_like(lower)
                    )
                    for end in range(1, len(run) + 1):
                        for size in range(1, min(LONGEST_PHRASE, end) + 1):
                            part = run[end - size : end]
                            if not any(w.lower().replace("’", "'") in STOPWORDS for w in part):
                                yield " ".join(stem(w) for w in part), " ".join(part), noun and end == len(run)
                run = []


def used_as_noun_phrase(stems: str, texts: Sequence[str]) -> bool:
    """Whether `texts` use the term (its stems) where a noun phrase stands, by the same evidence as titles."""
    usage = _Usage()
    for text in texts:
        usage.read(text)
    return any(found == stems and noun for text in texts for found, _, noun in phrases(text, usage))


def title_themes(themes: Sequence[list[int]], posts: Sequence[Post], vectors: DayVectors) -> list[str]:
    """A title per theme (in the order given; earlier themes choose first)."""
    usage = _Usage()
    texts = {i: _text(posts[i], rank) for theme in themes for rank, i in enumerate(theme)}
    for text in texts.values():
        usage.read(text)
    counts = _class_counts(themes, vectors)
    taken: set[str] = set()
    titles: list[str] = []
    for index, theme in enumerate(themes):
        found = _Phrases()
        for rank, i in enumerate(theme):
            found.read(posts[i].title, i, usage, title=True)
            if rank < SPELLING_POSTS:
                found.read(texts[i][len(posts[i].title) :], i, usage)
        title = _choose(theme, found, _scores(index, themes, vectors, found, counts), vectors, taken)
        # No phrase its posts share: the theme is its most central post's topic, named by that post's title.
        titles.append(title or normalize_space(posts[theme[0]].title))
    return titles


def _text(post: Post, rank: int) -> str:
    return post.title + "\n\n" + (post.text[:SPELLING_CHARS] if rank < SPELLING_POSTS else "")


@dataclass(frozen=True, slots=True)
class _Candidates:
    """A theme's candidate phrases: each one's score and the theme's posts that use it."""

    scores: dict[str, float]
    users: dict[str, frozenset[int]]


def _class_counts(themes: Sequence[list[int]], vectors: DayVectors) -> np.ndarray:
    """classes x terms: how often each theme's posts (and, last, the posts in no theme) use each term."""
    import numpy as np

    n = vectors.counts.shape[0]
    themed = {i for t in themes for i in t}
    classes = [list(t) for t in themes] + ([rest] if (rest := [i for i in range(n) if i not in themed]) else [])
    return np.vstack([np.asarray(vectors.counts[c].sum(axis=0)).ravel() for c in classes])


def _scores(
    index: int, themes: Sequence[list[int]], vectors: DayVectors, found: _Phrases, class_counts: np.ndarray
) -> _Candidates:
    """Every phrase's score (module docstring): c-TF-IDF x background IDF x share of the theme's posts.
    `class_counts`: `_class_counts(themes, vectors)`."""
    import numpy as np

    members = themes[index]
    # c-TF-IDF: the term's frequency in the class, times log(1 + average class size / its frequency overall).
    average = class_counts.sum() / class_counts.shape[0]
    frequency = class_counts[index] / max(float(class_counts[index].sum()), 1.0)
    ctfidf = frequency * np.log1p(average / np.maximum(class_counts.sum(axis=0), 1e-9))
    by_member = vectors.counts[members].tocsc()
    column = vectors.vocabulary  # term -> column
    scores: dict[str, float] = {}
    users: dict[str, frozenset[int]] = {}
    for stems in found.posts:
        k = column.get(stems)
        if k is not None:  # one or two words: counted in every post of the day
            # The rows of column k, read off the CSC arrays (slicing the matrix per phrase cost more than the rest).
            rows = by_member.indices[by_member.indptr[k] : by_member.indptr[k + 1]]
            users[stems] = frozenset(members[r] for r in rows.tolist())
            scores[stems] = float(ctfidf[k] * vectors.idf[k]) * len(users[stems]) / len(members)
    read = min(len(members), SPELLING_POSTS)
    for stems, posts in found.posts.items():
        words = stems.split()
        if len(words) == LONGEST_PHRASE:
            # As telling as its weaker two-word part, times the share of that part's posts that use it.
            parts = [" ".join(words[:-1]), " ".join(words[1:])]
            weaker = min(parts, key=lambda p: scores.get(p, 0.0))
            if scores.get(weaker, 0.0) > 0:
                users[stems] = frozenset(posts)
                part_share = len(users[weaker]) / len(members)
                scores[stems] = scores[weaker] * min(1.0, len(posts) / read / part_share)
    return _Candidates(scores, users)


def _choose(theme: list[int], found: _Phrases, candidates: _Candidates, vectors: DayVectors, taken: set[str]) -> str:
    """The best specific noun phrase (widened to a longer one about as telling), or two joined with "and" when
    the theme's posts split between them; '' when there is none."""
    background = vectors.background
    scores, users = candidates.scores, candidates.users

    def fit(stems: str) -> bool:
        words = stems.split()
        # Specific: not generic, unless the theme's authors name their topic by it in two titles or more (the
        # table's openings are short, so a topic word may look spread like chance there); never common.
        specific = not background.generic(stems) or (
            found.titles[stems] >= 2 and background.share(stems) < COMMON_SHARE
        )
        return (
            scores.get(stems, 0.0) > 0
            and stems in found.noun
            and not (set(words) & taken)
            and specific
            and len(stems) > 2
            and any(ch.isalpha() for ch in stems)
            # A lone word names a topic only when the theme's authors put it in their titles.
            and (len(words) > 1 or found.titles[stems] > 0)
        )

    ranked = sorted((s for s in scores if fit(s)), key=lambda s: (-scores[s], s))
    if len(theme) > 1:
        # A title names what the posts share: a phrase of one post only would name that post.
        ranked = [s for s in ranked if len(users[s]) >= 2]
    if not ranked:
        # No specific phrase: a phrase of two or more words that the posts share still names their common ground
        # ("Language models"); a lone generic word never does.
        broad = [
            s
            for s in scores
            if scores[s] > 0
            and s in found.noun
            and len(s.split()) > 1
            and not set(s.split()) & taken
            and len(users[s]) >= min(2, len(theme))
        ]
        if not broad:
            return ""
        best = min(broad, key=lambda s: (-scores[s], s))
        taken.update(best.split())
        return _display(best, found)
    # A lone generic word may lead to the phrase the posts use it in ("compute" -> "compute trends"), but alone
    # it names no topic ("Process", "Performance").
    # The first that widens to more than a lone generic word (widened one at a time: each step reads every phrase).
    first = next((w for s in ranked if not _lone_generic(w := _widen(s, ranked, candidates), background)), None)
    if first is None:
        return ""
    title_stems = [first]
    covered = users[first]
    if len(covered) < len(theme):
        # The posts split: a second phrase about as telling, shared by posts the first misses, none of its words.
        apart = [
            s
            for s in ranked
            if not set(s.split()) & set(first.split()) and scores[s] >= PHRASE_RATIO * scores[ranked[0]]
        ]
        second = next((s for s in apart if users[s] - covered and covered - users[s]), None)
        if second is not None and not _lone_generic(wide := _widen(second, ranked, candidates), background):
            title_stems.append(wide)
    for stems in title_stems:
        taken.update(stems.split())
    parts = [_display(s, found) for s in title_stems]
    return " and ".join([parts[0], *(_lower_first(p) for p in parts[1:])])


def _lone_generic(stems: str, background: Background) -> bool:
    return " " not in stems and background.generic(stems)


def _widen(stems: str, ranked: list[str], candidates: _Candidates) -> str:
    """The longest candidate containing `stems` that as many of the theme's posts use and that is about as telling
    (PHRASE_RATIO of its score), taken the shortest step at a time. A step may skip a length that is no noun
    phrase: "measurable" leads to "measurable factor spaces" though "measurable factor" names nothing."""
    scores, users = candidates.scores, candidates.users
    current = stems
    while True:
        pattern = f" {current} "
        longer = [
            s
            for s in ranked
            if len(s.split()) > len(current.split())
            and pattern in f" {s} "
            and users[s] >= users[current]
            and scores[s] >= PHRASE_RATIO * scores[current]
        ]
        if not longer:
            return current
        current = max(longer, key=lambda s: (-len(s.split()), scores[s], s))


def _display(stems: str, found: _Phrases) -> str:
    """The phrase as the theme's titles spell it most often, else as its texts do (a lower-case spelling preferred
    to a capitalised one: capitals may only mean the start of a sentence or a title), first letter capitalised."""
    forms: Counter[str] = Counter()
    for source in (found.title_spellings, found.spellings):
        for (s, spelling), count in source.items():
            if s == stems:
                forms[_lower_first(spelling)] += count
        if forms:
            break
    if not forms:
        return stems[:1].upper() + stems[1:]
    best = min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return best[:1].upper() + best[1:]


def _lower_first(spelling: str) -> str:
    """ "Reward hacking" -> "reward hacking"; acronyms and names with inner capitals ("RLHF", "GPT-4") stay."""
    first, _, rest = spelling.partition(" ")
    if first[1:] and first[1:].lower() == first[1:] and not any(ch.isdigit() for ch in first):
        first = first.lower()
    return f"{first} {rest}".strip()
