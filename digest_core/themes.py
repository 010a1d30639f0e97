"""The offline theme finder: groups a day's posts by the terms they share and quotes them.

1. Each post becomes a TF-IDF vector over the day's posts: unigram and bigram stems from its title (weighted
   up) and the start of its text (boilerplate, code and footnotes left out). Words every research post uses
   ("model", "framework", "algorithm") weigh less and never name a theme.
2. Two posts are alike only when they share at least two specific words, and their cosine similarity is
   clearly above what the day's unrelated pairs share by chance (`noise_threshold`). Average-linkage
   clustering then merges the most alike groups while the mean similarity of their pairs stays above that
   bar, so a chain of loosely related posts does not become one muddy theme.
3. The largest clusters become themes; posts that fit none stand as a theme of their own while there is
   room, and the rest share one catch-all theme ("Also Today") that claims no common topic. A post close
   enough to a second theme joins it too, unless the two themes would then be mostly the same posts.
4. Every word of the output comes from the posts: titles are the phrases the grouped posts share (spelled as
   the posts spell them; two themes never share a title word, or they become one theme), key ideas,
   implications and per-post points are sentences quoted from the posts that carry the theme's own terms,
   and connections wrap shared terms, post titles and quoted sentences in fixed phrases.

Deterministic: ties are broken by the order of the posts as given, never by hashing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from digest_core.models import Post, Theme
from digest_core.text import (
    DOMAIN_GENERIC,
    NOUNS_LIKE_MODIFIERS,
    NUMBER_WORDS,
    STOPWORDS,
    Sentence,
    content_phrases,
    dangling_kind,
    display_form,
    log_weight,
    normalize_space,
    post_sentences,
    split_sentences,
    surface_forms,
    title_case,
)

MAX_THEMES = 4
TERMS_PER_POST = 40
CENTROID_TERMS = 60
# Themes read the first ~3,000 words of each post: enough to know its topic, and a 200-post day stays fast.
THEME_TEXT_CHARS = 20_000
CANDIDATES_PER_POST = 80
TITLE_WEIGHT = 3
# Below this many content words a post's single mentions count as terms too.
SHORT_POST_TERMS = 600
GENERIC_TERM_FACTOR = 0.35
# Two posts share a theme only when they are clearly more alike than the day's unrelated posts (see
# noise_threshold; a day needs MIN_PAIRS_FOR_NOISE pairs for that estimate), and never below
# MIN_LINK_SIMILARITY. MAX_LINK_SIMILARITY keeps a day of closely related posts from setting the bar out of
# reach.
NOISE_SPREAD = 1.5
MIN_PAIRS_FOR_NOISE = 6
MIN_LINK_SIMILARITY = 0.06
MAX_LINK_SIMILARITY = 0.3
# Two posts are only alike when they share at least this many distinct content terms that are not
# generic: one word in common ("roughly", "task") is chance.
MIN_SHARED_TERMS = 2
# Terms of a post compared with other posts' (its top terms by weight).
SIMILARITY_TERMS = 150
# A post joins a second theme when it is nearly as alike to it as to its own.
SECOND_THEME_RATIO = 0.5
MAX_THEMES_PER_POST = 2
QUOTE_MIN_WORDS = 8
QUOTE_MAX_WORDS = 45
# A sentence that points back ("This suggests ...") is quoted with the one before, up to this many words.
PAIR_MAX_WORDS = 65
MAX_CONNECTIONS = 4
# A title names a second phrase only when it scores at least this share of the first's.
SECOND_TERM_SCORE = 0.5
# A theme's own terms (its best shared terms): its key idea and implication must use one of them.
THEME_TERMS = 6
# The catch-all theme for posts that share no topic with the others; it claims no common idea.
MISCELLANY_TITLE = "Also Today"
MISCELLANY_KEY_IDEA = "Posts on topics that no other post of the day takes up."
# Acronyms and the words they stand for, so that a title never pairs "LLMs" with "Language Models".
_ALIASES = {
    "llm": "language model",
    "lm": "language model",
    "sae": "sparse autoencoder",
    "rl": "reinforcement learning",
    "rlhf": "reinforcement learning human feedback",
    "cot": "chain",
    "agi": "general intelligence",
    "elk": "eliciting latent knowledge",
    "interp": "interpretability",
}

# Sentences that draw a consequence make the best "implications"; strong cues beat merely modal ones.
_STRONG_CUE_RE = re.compile(
    r"\b(?:suggests?|suggesting|impl(?:y|ies|ication|ications)|important(?:ly)?|risks?|means that|"
    r"we argue|i argue|argues?|matters?|crucial|critical|necessary|consequences?|therefore|promising|"
    r"dangerous|safer|unsafe|we recommend|key (?:question|challenge|insight)|should)\b",
    re.IGNORECASE,
)
_WEAK_CUE_RE = re.compile(
    r"\b(?:could|must|need to|may lead|leads? to|would be|help(?:s)? (?:us )?(?:to )?(?:understand|avoid|"
    r"reduce|prevent)|allows? us|enables?|future work|worth|valuable)\b",
    re.IGNORECASE,
)
# An implication must be at least this relevant, relative to the theme's most relevant sentence.
IMPLICATION_MIN_RELEVANCE = 0.35
OTHER_POST_FACTOR = 1.15


@dataclass(slots=True)
class _Profile:
    """What the theme finder knows about one post."""

    post: Post
    vector: dict[str, float] = field(default_factory=dict)  # unit-length TF-IDF of its top terms
    # The same over more of its terms: what posts are compared by. Terms no other post uses make no two
    # posts alike, but they do count in the length: a post about much else is only a little like another.
    link: dict[str, float] = field(default_factory=dict)
    candidates: list[tuple[Sentence, tuple[str, ...]]] = field(default_factory=list)  # quotable sentences
    counts: Counter[str] = field(default_factory=Counter)
    fallback: str = ""  # the first readable sentence, for a post with nothing better to quote


@dataclass(slots=True)
class _Group:
    members: list[int]  # indexes into the profiles
    centroid: dict[str, float]  # unit-length sum of the members' vectors: what the theme is about
    miscellany: bool = False  # the catch-all for posts that fit no theme: it claims no common topic


class OfflineThemeFinder:
    """ThemeFinder that works without a model: TF-IDF, greedy seeding, centroid grouping, quotes."""

    name = "offline"

    def find_themes(
        self, posts: Sequence[Post], summaries: dict[str, str]
    ) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
        return find_themes(posts, summaries)


def find_themes(
    posts: Sequence[Post], summaries: Mapping[str, str] | None = None
) -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    """(themes, connections) for a day's posts; see the module docstring."""
    unique: dict[str, Post] = {}
    for post in posts:
        unique.setdefault(post.id, post)
    if not unique:
        return (), ()
    forms: dict[str, Counter[str]] = {}
    profiles = [_profile(p, (summaries or {}).get(p.id, ""), forms) for p in unique.values()]
    _weigh(profiles)
    groups = _group(profiles)
    themes, groups = _themes(groups, profiles, forms)
    connections = _connections(themes, groups, profiles, forms)
    return tuple(themes), tuple(connections)


# --- 1. term vectors ---------------------------------------------------------------------------------


def _profile(post: Post, summary: str, forms: dict[str, Counter[str]]) -> _Profile:
    profile = _Profile(post=post)
    counts = profile.counts
    for term in content_phrases(post.title):
        counts[term] += TITLE_WEIGHT
    surface_forms(post.title, forms)
    flat_text = normalize_space(post.text[: THEME_TEXT_CHARS * 2])
    # An extractive summary repeats the post's key sentences; a model's summary is not the post's words.
    if summary and all(s in flat_text for s in split_sentences(summary)):
        counts.update(content_phrases(summary))
    previous: tuple[Sentence, list[str]] | None = None
    for sentence in post_sentences(post.text, max_chars=THEME_TEXT_CHARS):
        if sentence.boilerplate or sentence.code or sentence.section == "end":
            previous = None
            continue
        phrases = list(content_phrases(sentence.text))
        counts.update(phrases)
        surface_forms(sentence.text, forms)
        # Unique terms in order of appearance (not a set): float sums then run in the same order in every
        # process, so that ties break the same way.
        if len(profile.candidates) < CANDIDATES_PER_POST and _quotable(sentence):
            profile.candidates.append((sentence, tuple(dict.fromkeys(phrases))))
        elif len(profile.candidates) < CANDIDATES_PER_POST and previous and _follows(sentence, previous[0]):
            # "This suggests that ..." is quoted together with the sentence "This" points back to.
            pair = replace(
                previous[0], text=f"{previous[0].text} {sentence.text}", words=previous[0].words + sentence.words
            )
            profile.candidates.append((pair, tuple(dict.fromkeys(previous[1] + phrases))))
        elif (
            not profile.fallback
            and sentence.quotable
            and 5 <= sentence.words <= QUOTE_MAX_WORDS
            and sentence.text[-1:] in '.!?"”’)'
            and not sentence.text.endswith(("...", "…"))
        ):
            profile.fallback = sentence.text
        previous = (sentence, phrases)
    return profile


def _quotable(s: Sentence, *, leaning: bool = False) -> bool:
    """Fit to stand alone as a quote under a theme (`leaning`: fit apart from pointing back with "This")."""
    return (
        s.quotable
        and (QUOTE_MIN_WORDS if not leaning else 4) <= s.words <= QUOTE_MAX_WORDS
        and s.text[-1:] in '.!"”’)'
        and not s.text[:1].islower()
        and not s.quoted
        and not s.text.startswith(('"', "“"))
        and not s.text.endswith(("...", "…"))
        and dangling_kind(s.text) == ("pronoun" if leaning else "")
    )


def _follows(sentence: Sentence, previous: Sentence) -> bool:
    """Whether `sentence` leans on `previous` ("This suggests ...") and the two read well as one quote."""
    return (
        previous.paragraph == sentence.paragraph
        and previous.index == sentence.index - 1
        and _quotable(previous)
        and _quotable(sentence, leaning=True)
        and previous.words + sentence.words <= PAIR_MAX_WORDS
    )


def _weigh(profiles: list[_Profile]) -> None:
    """TF-IDF over the day's posts, top TERMS_PER_POST terms of each post, unit length."""
    n = len(profiles)
    df: Counter[str] = Counter()
    for p in profiles:
        df.update(p.counts.keys())
    for p in profiles:
        short = sum(c for t, c in p.counts.items() if " " not in t) < SHORT_POST_TERMS
        weights: dict[str, float] = {}
        for term, count in p.counts.items():
            # A term mentioned once in a long post is noise; in a short post it may be all there is.
            if count < 2 and not short:
                continue
            idf = math.log((1 + n) / (1 + df[term])) + 1.0
            w = log_weight(count) * idf
            if _is_generic(term):
                w *= GENERIC_TERM_FACTOR
            weights[term] = w
        ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
        p.vector = _unit(dict(ranked[:TERMS_PER_POST]))
        p.link = _unit(dict(ranked[:SIMILARITY_TERMS]))


def _is_generic(term: str) -> bool:
    return all(w in DOMAIN_GENERIC or w in STOPWORDS for w in term.split())


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {t: w / norm for t, w in vector.items()} if norm else {}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _similarities(profiles: list[_Profile]) -> list[list[float]]:
    """All pairwise cosine similarities, through an inverted index (posts share few terms); 0 for two posts
    that share fewer than MIN_SHARED_TERMS specific (non-generic) words."""
    n = len(profiles)
    sims = [[0.0] * n for _ in range(n)]
    evidence = [[0] * n for _ in range(n)]
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, p in enumerate(profiles):
        for term, w in p.link.items():
            postings.setdefault(term, []).append((i, w))
    for term, entries in postings.items():
        specific = " " not in term and not _is_generic(term)
        for a, (i, wi) in enumerate(entries):
            row = sims[i]
            for j, wj in entries[a + 1 :]:
                row[j] += wi * wj
                if specific:
                    evidence[i][j] += 1
    for i in range(n):
        sims[i][i] = 1.0
        for j in range(i + 1, n):
            if evidence[i][j] < MIN_SHARED_TERMS:
                sims[i][j] = 0.0
            sims[j][i] = sims[i][j]
    return sims


# --- 2. grouping ---------------------------------------------------------------------------------------


def max_theme_count(n_posts: int) -> int:
    """The most themes a day may have: 1 post -> 1; 2-3 -> 2; 4-5 -> 3; 6+ -> 4."""
    if n_posts <= 1:
        return 1
    if n_posts <= 3:
        return 2
    if n_posts <= 5:
        return 3
    return MAX_THEMES


def noise_threshold(sims: list[list[float]]) -> float:
    """How alike two posts must be to share a theme: clearly above what unrelated posts of the same day
    share by chance. Most pairs of a day are unrelated, so the median pair and the mean distance from it
    measure chance (related pairs are the outliers); the bar is the median plus NOISE_SPREAD such
    distances, within [MIN_LINK_SIMILARITY, MAX_LINK_SIMILARITY]."""
    n = len(sims)
    pairs = sorted(sims[i][j] for i in range(n) for j in range(i + 1, n))
    if len(pairs) < MIN_PAIRS_FOR_NOISE:
        return MIN_LINK_SIMILARITY
    median = pairs[len(pairs) // 2]
    spread = sum(abs(s - median) for s in pairs) / len(pairs)
    return max(MIN_LINK_SIMILARITY, min(MAX_LINK_SIMILARITY, median + NOISE_SPREAD * spread))


def _group(profiles: list[_Profile]) -> list[_Group]:
    """Themes from the posts that are clearly alike; the rest stand alone or share one catch-all group."""
    n = len(profiles)
    sims = _similarities(profiles)
    threshold = noise_threshold(sims)
    clusters = _agglomerate(sims, threshold)
    groups = _fit_to_slots(clusters, profiles, sims, max_theme_count(n))
    _add_second_memberships(groups, sims, threshold)
    for g in groups:
        if not g.miscellany:
            members = g.members
            members.sort(key=lambda i: (-_mean_similarity(i, members, sims), i))
    return groups


def _agglomerate(sims: list[list[float]], threshold: float) -> list[list[int]]:
    """Average-linkage clustering: the two most alike clusters merge while the mean similarity of their
    posts' pairs is at least `threshold`. A mean over all pairs (not the best pair) keeps a chain of
    posts that are each like the next from becoming one muddy theme."""
    n = len(sims)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    # Sums of pair similarities between clusters (keyed by the clusters' lowest post, smaller key first),
    # kept only where non-zero: most posts of a real day share nothing.
    sums = {(i, j): sims[i][j] for i in range(n) for j in range(i + 1, n) if sims[i][j] > 0}
    while True:
        best: tuple[float, int, int] | None = None
        for (a, b), total in sums.items():
            mean = total / (len(members[a]) * len(members[b]))
            if mean >= threshold and (best is None or (mean, -a, -b) > (best[0], -best[1], -best[2])):
                best = (mean, a, b)
        if best is None:
            break
        _, a, b = best
        members[a] = sorted(members[a] + members.pop(b))
        merged: dict[tuple[int, int], float] = {}
        for (x, y), total in sums.items():
            if {x, y} == {a, b}:
                continue
            if b in (x, y) or a in (x, y):
                other = y if x in (a, b) else x
                key = (min(a, other), max(a, other))
                merged[key] = merged.get(key, 0.0) + total
            else:
                merged[(x, y)] = total
        sums = merged
    return sorted(members.values(), key=lambda m: m[0])


def _fit_to_slots(
    clusters: list[list[int]], profiles: list[_Profile], sims: list[list[float]], most: int
) -> list[_Group]:
    """At most `most` groups: the largest (then tightest) clusters of two or more posts, then single posts
    as themes of their own while there is room; when the rest do not fit, they share one catch-all group."""
    multi = sorted((c for c in clusters if len(c) > 1), key=lambda c: (-len(c), -_cohesion(c, sims), c[0]))
    singles = [c[0] for c in clusters if len(c) == 1]
    if len(multi) + len(singles) <= most:
        groups = [_make_group(c, profiles) for c in multi] + [_make_group([i], profiles) for i in singles]
        return groups
    kept = multi[: most - 1]
    rest = sorted([i for c in multi[most - 1 :] for i in c] + singles)
    # Room left after the catch-all goes to the single posts with the most to say.
    room = most - 1 - len(kept)
    richest = sorted(rest, key=lambda i: (-len(profiles[i].counts), i))[: max(0, room)] if len(rest) > 1 else []
    rest = [i for i in rest if i not in richest]
    groups = [_make_group(c, profiles) for c in kept] + [_make_group([i], profiles) for i in sorted(richest)]
    if len(rest) == 1:
        groups.append(_make_group(rest, profiles))
    elif rest:
        groups.append(_make_group(rest, profiles, miscellany=True))
    return groups


def _cohesion(members: list[int], sims: list[list[float]]) -> float:
    pairs = [sims[i][j] for k, i in enumerate(members) for j in members[k + 1 :]]
    return sum(pairs) / len(pairs) if pairs else 0.0


def _mean_similarity(i: int, members: Sequence[int], sims: list[list[float]]) -> float:
    others = [sims[i][j] for j in members if j != i]
    return sum(others) / len(others) if others else 0.0


def _make_group(members: list[int], profiles: list[_Profile], *, miscellany: bool = False) -> _Group:
    return _Group(
        members=list(members),
        centroid=_centroid(profiles[i].vector for i in members),
        miscellany=miscellany,
    )


def _centroid(vectors: Iterable[Mapping[str, float]]) -> dict[str, float]:
    top = sorted(_sum(vectors).items(), key=lambda kv: (-kv[1], kv[0]))[:CENTROID_TERMS]
    return _unit(dict(top))


def _add_second_memberships(groups: list[_Group], sims: list[list[float]], threshold: float) -> None:
    """A post joins a second theme when it is as alike to that theme's posts as a member must be (the day's
    noise threshold) and nearly as alike as to its own theme's, unless the two themes would then share
    most of their posts."""
    topical = [gi for gi, g in enumerate(groups) if not g.miscellany]
    if len(topical) < 2:
        return
    original = [list(g.members) for g in groups]
    homes = {i: gi for gi in topical for i in original[gi]}
    additions: list[tuple[int, int]] = []
    for i, home in sorted(homes.items()):
        own = _mean_similarity(i, original[home], sims) if len(original[home]) > 1 else 1.0
        extra = [
            (sim, gi)
            for gi in topical
            if gi != home
            and len(original[gi]) > 1
            and (sim := _mean_similarity(i, original[gi], sims)) >= threshold
            and sim >= SECOND_THEME_RATIO * own
        ]
        additions += [(gi, i) for _, gi in sorted(extra, key=lambda e: (-e[0], e[1]))[: MAX_THEMES_PER_POST - 1]]
    for gi, i in additions:
        shared = len(set(groups[gi].members) & set(original[homes[i]])) + 1
        if 2 * shared > min(len(groups[gi].members) + 1, len(original[homes[i]])):
            continue  # the two themes would be mostly the same posts
        groups[gi].members.append(i)


def _sum(vectors: Iterable[Mapping[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for vector in vectors:
        for t, w in vector.items():
            total[t] = total.get(t, 0.0) + w
    return total


# --- 3. writing the themes -----------------------------------------------------------------------------


def _themes(
    groups: list[_Group], profiles: list[_Profile], forms: dict[str, Counter[str]]
) -> tuple[list[Theme], list[_Group]]:
    """A theme per group, each titled with words no earlier theme's title uses. Two topical groups that
    cannot be told apart (no distinct title, or mostly the same posts) become one theme; a group with no
    word to name it by joins the catch-all (unless it is the day's only group)."""
    groups = list(groups)
    while True:
        titles: list[str] = []
        earlier_words: list[set[str]] = []
        clash: tuple[int, int] | None = None
        unnamed: int | None = None
        for gi, group in enumerate(groups):
            if group.miscellany:
                titles.append(MISCELLANY_TITLE)
                earlier_words.append(set())
                continue
            used = set().union(*earlier_words) if earlier_words else set()
            title, terms = _title(group, profiles, forms, avoid=used)
            if not terms and len(groups) > 1:
                unnamed = gi
                break
            words = _title_words(terms)
            k = next(
                (
                    k
                    for k in range(gi)
                    if not groups[k].miscellany and (words & earlier_words[k] or _mostly_same(group, groups[k]))
                ),
                None,
            )
            if k is not None:
                clash = (k, gi)
                break
            titles.append(title)
            earlier_words.append(words)
        if unnamed is not None:
            groups = _into_catch_all(groups, unnamed, profiles)
        elif clash is not None:
            keep, fold = clash
            members = list(dict.fromkeys(groups[keep].members + groups[fold].members))
            groups[keep] = _make_group(members, profiles)
            del groups[fold]
        else:
            break
    themes = [_theme(g, title, profiles) for g, title in zip(groups, titles, strict=True)]
    return themes, groups


def _into_catch_all(groups: list[_Group], gi: int, profiles: list[_Profile]) -> list[_Group]:
    """`groups` with group `gi` moved into the catch-all group (made from it when there is none), last."""
    moved = groups[gi]
    rest = [g for k, g in enumerate(groups) if k != gi]
    catch_all = next((g for g in rest if g.miscellany), None)
    members = sorted((catch_all.members if catch_all else []) + moved.members)
    return [g for g in rest if not g.miscellany] + [_make_group(members, profiles, miscellany=True)]


def _mostly_same(a: _Group, b: _Group) -> bool:
    shared = len(set(a.members) & set(b.members))
    return 2 * shared > min(len(a.members), len(b.members))


def _title_words(terms: Iterable[str]) -> set[str]:
    """The words of title terms, acronyms spelled out ("llm" -> "language", "model")."""
    return {w for t in terms for x in (t, _ALIASES.get(t, t)) for w in x.split()}


def _theme(group: _Group, title: str, profiles: list[_Profile]) -> Theme:
    members = [profiles[i] for i in group.members]
    if group.miscellany:
        # No claim of a common topic: each post is represented by its own opening.
        return Theme(
            title=title,
            key_idea=MISCELLANY_KEY_IDEA,
            post_ids=tuple(p.post.id for p in members),
            implications="",
            post_points=tuple(_point(p, {}, set()) for p in members),
        )
    own = set(_title_terms(group, profiles)[:THEME_TERMS])
    quotes = _ranked_quotes(members, group.centroid)
    on_topic = [r for r in quotes if own & set(r[4])]
    # A one-post theme may take its key idea from any of its sentences when none uses its terms.
    ranked = on_topic if on_topic or len(members) > 1 else quotes
    # The key idea comes from the post at the centre of the theme (members are sorted by closeness to it),
    # not from one that only touches it; later members stand in when it has nothing to quote.
    key = min(ranked, key=lambda r: (r[1], -r[0], r[2].index)) if ranked else None
    key_idea = key[2].text if key else members[0].fallback or members[0].post.title
    implication = _implication(on_topic, key, len(members) > 1)
    used = {key_idea, implication}
    points = tuple(_point(p, group.centroid, used) for p in members)
    if len(members) == 1 and points[0] in used:
        points = ("",)  # the post's only quotable sentences are already above it
    return Theme(
        title=title,
        key_idea=key_idea,
        post_ids=tuple(p.post.id for p in members),
        implications=implication,
        post_points=points,
    )


def _title_terms(group: _Group, profiles: list[_Profile]) -> list[str]:
    """The group's terms, best first (see `_scored_terms`)."""
    return [t for t, _ in _scored_terms(group, profiles)]


def _scored_terms(group: _Group, profiles: list[_Profile]) -> list[tuple[str, float]]:
    """The group's nameable terms and how well each names it, best first. In a theme of several posts, only
    terms that at least two of them use, scored by how many use them times their weight (specific two-word
    phrases favoured); in a one-post theme, its strongest terms, those of its title first."""
    members = group.members
    weight = _sum(profiles[i].link for i in members)
    if len(members) == 1:
        title_phrases = list(content_phrases(profiles[members[0]].post.title))
        title_terms = set(title_phrases)
        # An English title usually ends on its head noun phrase ("... for efficient sequence memorisation").
        last = next((t for t in reversed(title_phrases) if " " in t and _nameable(t)), "")
        scored = [(t, weight[t] * _phrase_factor(t) * (1.3 if t == last else 1.0)) for t in weight if _nameable(t)]
        return sorted(scored, key=lambda ts: (ts[0] not in title_terms, -ts[1], ts[0]))
    share = Counter(t for i in members for t in profiles[i].counts)
    scored = [(t, weight[t] * share[t] * _phrase_factor(t)) for t in weight if share[t] > 1 and _nameable(t)]
    return sorted(scored, key=lambda ts: (-ts[1], ts[0]))


_ADJECTIVE_END_RE = re.compile(r"(?:ical|ual|onal|imal|rmal|ntal|tial|ive|ous|ful|ic|able|ible|ly)$")


def _modifier(word: str) -> bool:
    """A word that reads as an adjective, adverb or number ("logical", "carefully", "two"): it qualifies a
    noun and names no topic on its own."""
    return word in NUMBER_WORDS or (bool(_ADJECTIVE_END_RE.search(word)) and word not in NOUNS_LIKE_MODIFIERS)


def _phrase_factor(term: str) -> float:
    """How well a term reads as a title: a two-word phrase of specific words ("sequence prediction") beats a
    single word; a lone adjective or adverb ("logical", "carefully"), a phrase with a generic word
    ("prediction task") or one ending in an adjective ("benchmark conceptual") do not."""
    words = term.split()
    if len(words) == 1:
        return 0.4 if _modifier(words[0]) else 1.0
    factor = 1.5
    if any(_is_generic(w) for w in words):
        factor *= 0.5
    if _modifier(words[-1]) or words[0] in NUMBER_WORDS or words[0].endswith("ly"):
        factor *= 0.5
    return factor


def _nameable(term: str) -> bool:
    """Fit to name a theme: not made of generic words only, not a short fragment or a lone participle."""
    return not _is_generic(term) and len(term) > 2 and not _participle(term)


def _participle(term: str) -> bool:
    """A lone "-ed" word ("intended", "based") makes a poor title word; "-ing" nouns ("scheming") do not."""
    return " " not in term and term.endswith("ed") and not term.endswith("eed")


def _title(
    group: _Group, profiles: list[_Profile], forms: dict[str, Counter[str]], avoid: set[str]
) -> tuple[str, list[str]]:
    """("<Phrase>" or "<Phrase> and <Phrase>" in Title Case, the terms used) from the terms the posts share.
    The second phrase is added only when it is as widely shared as the first; terms whose words an earlier
    theme's title uses are passed over while others remain."""
    scored = _scored_terms(group, profiles)
    score = dict(scored)
    terms = [t for t, _ in scored]
    fresh = [t for t in terms if not (_title_words([t]) & avoid)]
    pool = fresh or terms
    if not pool:
        return "Today's Posts", []
    counts = _sum(profiles[i].counts for i in group.members)
    share = Counter(t for i in group.members for t in profiles[i].counts)
    first = _as_phrase(pool[0], pool, counts, set())
    chosen = [first]
    one_post = len(group.members) == 1
    title_terms = set(content_phrases(profiles[group.members[0]].post.title)) if one_post else set()
    for term in pool[1:6]:
        if _overlaps(term, first):
            continue
        # A second phrase must be about as telling as the first, and widely shared (in a one-post theme: in
        # the post's title, next to a single first word).
        wide = share[term] >= share[first] if not one_post else (" " not in first and term in title_terms)
        strong = score[term] >= SECOND_TERM_SCORE * score.get(pool[0], 0.0) and _phrase_factor(term) >= 1.0
        if wide and strong:
            second = _as_phrase(term, pool, counts, {first})
            if not _overlaps(second, first):
                chosen.append(second)
        break
    parts = [title_case(display_form(t, forms)) for t in chosen]
    if len(parts) == 1:
        only = parts[0]
        return (only if len(only.split()) >= 2 else f"On {only}"), chosen
    return f"{parts[0]} and {parts[1]}", chosen


def _as_phrase(term: str, terms: list[str], counts: Mapping[str, float], avoid: set[str]) -> str:
    """A single word replaced by the best two-word phrase the posts use with it ("hacking" -> "reward
    hacking") when at least half of the word's occurrences in the theme's posts are in that phrase."""
    if " " in term:
        return term
    phrase = next((t for t in terms if " " in t and term in t.split() and t not in avoid), None)
    if phrase is not None and 2 * counts.get(phrase, 0.0) >= counts.get(term, 0.0):
        return phrase
    return term


def _overlaps(a: str, b: str) -> bool:
    """Terms sharing a word ("sparse autoencoder" / "autoencoder"), a word and its short form
    ("evaluation" / "eval"), or an acronym and its phrase ("LLM" / "language model") would repeat
    themselves in a title."""
    for x in _ALIASES.get(a, a).split() + a.split():
        for y in _ALIASES.get(b, b).split() + b.split():
            short, long_ = sorted((x, y), key=len)
            if short == long_ or (len(short) >= 4 and long_.startswith(short)):
                return True
    return False


def _sentence_score(sentence: Sentence, terms: tuple[str, ...], centroid: Mapping[str, float]) -> float:
    relevance = sum(centroid.get(t, 0.0) for t in terms) / math.sqrt(max(len(terms), 10))
    position = 0.05 * math.exp(-sentence.index / 8) + (0.05 if sentence.section == "lead" else 0.0)
    return relevance + position


# A quotable sentence under a theme: (score, member position, sentence, post id, its terms).
_Quote = tuple[float, int, Sentence, str, tuple[str, ...]]


def _ranked_quotes(members: list[_Profile], centroid: Mapping[str, float]) -> list[_Quote]:
    """Every quotable sentence of the members, best first."""
    ranked = [
        (_sentence_score(s, terms, centroid), m, s, p.post.id, terms)
        for m, p in enumerate(members)
        for s, terms in p.candidates
    ]
    ranked.sort(key=lambda r: (-r[0], r[1], r[2].index))
    return ranked


def _implication(ranked: list[_Quote], key: _Quote | None, multi: bool) -> str:
    """A relevant sentence (other than the key idea) that draws a consequence: first one with a strong cue
    (suggests, implies, risk, should, ...), then a modal one (could, must, ...), else the most relevant
    sentence left; from another post than the key idea's when about as relevant. '' when there is none."""
    key_text = key[2].text if key else ""
    key_post = key[3] if key else ""
    # A sentence inside the key idea (which may be a pair of sentences), or a pair holding it, repeats it.
    rest = [r for r in ranked if r[2].text not in key_text and key_text not in r[2].text]
    if not rest:
        return ""
    floor = IMPLICATION_MIN_RELEVANCE * rest[0][0]

    def preference(r: _Quote) -> float:
        return r[0] * (OTHER_POST_FACTOR if multi and r[3] != key_post else 1.0)

    for cue in (_STRONG_CUE_RE, _WEAK_CUE_RE):
        cued = [r for r in rest if r[0] >= floor and cue.search(r[2].text)]
        if cued:
            return max(cued, key=preference)[2].text  # max keeps the first of equals: ranked order
    return max(rest, key=preference)[2].text


def _point(profile: _Profile, centroid: Mapping[str, float], used: set[str]) -> str:
    """The post's own sentence that bears most on the theme (not one already quoted above, if possible);
    a post with no such sentence gets its first readable sentence, or ''."""
    ranked = sorted(profile.candidates, key=lambda c: (-_sentence_score(c[0], c[1], centroid), c[0].index))
    for sentence, _ in ranked:
        if sentence.text not in used:
            return sentence.text
    if ranked:
        return ranked[0][0].text
    return profile.fallback


# --- 4. connections -------------------------------------------------------------------------------------


def _connections(
    themes: list[Theme], groups: list[_Group], profiles: list[_Profile], forms: dict[str, Counter[str]]
) -> list[str]:
    """2-4 points relating the themes to each other (on a one-theme day, the posts), in this order: posts
    that bridge two themes, terms two themes share, a sentence of one theme that uses another theme's lead
    term, the term that runs through most of the day's posts; plain contrasts when nothing is shared."""

    def show(term: str) -> str:
        return display_form(term, forms)

    bridges: list[str] = []
    shared: list[str] = []
    echoes: list[str] = []
    contrasts: list[str] = []
    for p in profiles:
        homes = [n for n, t in enumerate(themes, 1) if p.post.id in t.post_ids]
        if len(homes) >= 2:
            quote = _point(p, groups[homes[1] - 1].centroid, set())
            line = f'"{p.post.title}" bridges Themes {homes[0]} and {homes[1]}'
            bridges.append(f'{line}: "{quote}"' if quote else f"{line}.")
    leads = [next(iter(_title_terms(g, profiles)), "") if not g.miscellany else "" for g in groups]
    # The catch-all theme claims no topic, so it neither shares terms with a theme nor contrasts with one.
    topical = [gi for gi, g in enumerate(groups) if not g.miscellany]
    for a in topical:
        for b in (b for b in topical if b > a):
            terms = _shared_terms(groups[a], groups[b])
            if terms:
                both = " and ".join(f'"{show(t)}"' for t in terms[:2])
                shared.append(f"Themes {a + 1} and {b + 1} both draw on {both}.")
            elif leads[a] and leads[b]:
                contrasts.append(
                    f'Themes {a + 1} and {b + 1} share no key terms: one centres on "{show(leads[a])}", '
                    f'the other on "{show(leads[b])}".'
                )
    for a in topical:
        for b in topical:
            echo = _echo(groups[a], groups[b], profiles) if a != b else None
            if echo:
                term, post, sentence = echo
                echoes.append(
                    f'Theme {b + 1}\'s "{show(term)}" also comes up in Theme {a + 1}, in "{post.title}": "{sentence}"'
                )
    spread: list[str] = []
    day_terms = _day_terms(profiles)
    if day_terms and day_terms[0][1] >= 2:
        term, count = day_terms[0]
        spread.append(f'"{show(term)}" runs through {count} of the day\'s {len(profiles)} posts.')
    elif len(profiles) == 1 and day_terms:
        distinct: list[str] = []
        for term, _ in day_terms:
            if len(distinct) < 3 and not any(_overlaps(term, other) for other in distinct):
                distinct.append(term)
        keys = ", ".join(f'"{show(t)}"' for t in distinct)
        spread.append(f"A single post today; its key terms are {keys}.")
    if len(themes) == 1 and len(profiles) > 1 and not groups[0].miscellany:
        titles = "; ".join(f'"{_by_id(profiles)[i].post.title}"' for i in themes[0].post_ids[:3])
        spread.append(f"All of today's posts fall under one theme: {titles}.")
    points = bridges[:2] + shared[:2] + echoes[:1] + spread
    if len(themes) >= 2 and len(points) < 2:
        points += contrasts[: 2 - len(points)]
    if len(points) < 2 and len([t for t in leads if t]) >= 2:
        topics = ", ".join(f'"{show(t)}"' for t in leads if t)
        points.append(f"The day's themes span {len(topical)} separate topics: {topics}.")
    apart = next((g for g in groups if g.miscellany), None)
    if len(points) < 2 and apart is not None:
        titles = "; ".join(f'"{profiles[i].post.title}"' for i in apart.members[:3])
        more = f" and {len(apart.members) - 3} more" if len(apart.members) > 3 else ""
        if len(apart.members) == len(profiles):
            points.append(f"None of the day's {len(profiles)} posts shares a topic with another: {titles}{more}.")
        else:
            points.append(f"{len(apart.members)} posts share no topic with the others: {titles}{more}.")
    for n, group in enumerate(groups, 1):
        if len(points) < 2 and len(group.members) == 1 and not group.miscellany and leads[n - 1]:
            post = profiles[group.members[0]].post
            points.append(f'Theme {n} follows a single post, "{post.title}", on "{show(leads[n - 1])}".')
    return points[:MAX_CONNECTIONS]


def _by_id(profiles: list[_Profile]) -> dict[str, _Profile]:
    return {p.post.id: p for p in profiles}


def _shared_terms(a: _Group, b: _Group) -> list[str]:
    shared = [t for t in a.centroid if t in b.centroid and not _is_generic(t) and len(t) > 2]
    return sorted(shared, key=lambda t: (-min(a.centroid[t], b.centroid[t]), t))


def _echo(source: _Group, target: _Group, profiles: list[_Profile]) -> tuple[str, Post, str] | None:
    """A quotable sentence of a `source` post (not also in `target`) using the target's lead term."""
    lead = _title_terms(target, profiles)[:1]
    if not lead:
        return None
    term = lead[0]
    for i in source.members:
        if i in target.members:
            continue
        for sentence, terms in profiles[i].candidates:
            if term in terms:
                return term, profiles[i].post, sentence.text
    return None


def _day_terms(profiles: list[_Profile]) -> list[tuple[str, int]]:
    """Non-generic terms of the day by the number of posts among whose top terms they are."""
    spread = Counter(t for p in profiles for t in p.vector if not _is_generic(t) and len(t) > 2)
    weight: dict[str, float] = {}
    for p in profiles:
        for t, w in p.vector.items():
            weight[t] = weight.get(t, 0.0) + w
    return sorted(spread.items(), key=lambda kv: (-kv[1], -weight.get(kv[0], 0.0), kv[0]))
