"""The offline theme finder: groups a day's posts by the terms they share and quotes them.

1. Each post becomes a TF-IDF vector over the day's posts: unigram and bigram stems from its title (weighted
   up) and the start of its text (boilerplate, code and footnotes left out).
2. Theme seeds are picked greedily so that together they are similar to as many posts as possible (the
   facility-location rule); each post joins its nearest seed, then a few rounds of centroid re-assignment
   (spherical k-means) settle the groups. A post close enough to a second theme joins it too.
3. Every word of the output comes from the posts: titles are built from the terms the grouped posts share
   (spelled as the posts spell them), key ideas, implications and per-post points are sentences quoted
   from the posts, and connections wrap shared terms, post titles and quoted sentences in fixed phrases.

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
REFINE_ROUNDS = 6
# A seed beyond the day's target number of themes must gather more than one post's worth of similarity.
EXTRA_SEED_GAIN = 1.25
# A post at most this similar to every other post of its group shares (almost) nothing with them.
ORPHAN_SIMILARITY = 0.05
# A small day (2-3 posts) makes one theme when its two groups are at least this similar.
MERGE_SIMILARITY = 0.2
# A post joins a second theme when it is this similar to it, and nearly as similar as to its own.
SECOND_THEME_MIN_SIMILARITY = 0.2
SECOND_THEME_RATIO = 0.65
MAX_THEMES_PER_POST = 2
QUOTE_MIN_WORDS = 8
QUOTE_MAX_WORDS = 45
# A sentence that points back ("This suggests ...") is quoted with the one before, up to this many words.
PAIR_MAX_WORDS = 65
MAX_CONNECTIONS = 4
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
    vector: dict[str, float] = field(default_factory=dict)  # unit-length TF-IDF over the day's posts
    # The same restricted to terms that other posts use too: what grouping compares. A term of one post
    # only can make no two posts alike, but it would dilute every similarity of its post.
    link: dict[str, float] = field(default_factory=dict)
    candidates: list[tuple[Sentence, tuple[str, ...]]] = field(default_factory=list)  # quotable sentences
    counts: Counter[str] = field(default_factory=Counter)
    fallback: str = ""  # the first readable sentence, for a post with nothing better to quote


@dataclass(slots=True)
class _Group:
    members: list[int]  # indexes into the profiles
    centroid: dict[str, float]  # unit-length sum of the members' vectors: what the theme is about
    link: dict[str, float]  # the same over the members' link vectors: what new members are compared with


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
    themes = [_theme(g, profiles, forms) for g in groups]
    themes = _distinct_titles(themes, groups, profiles, forms)
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
        p.link = _unit(dict([kv for kv in ranked if df[kv[0]] > 1][:TERMS_PER_POST]))


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
    """All pairwise cosine similarities, through an inverted index (posts share few terms)."""
    n = len(profiles)
    sims = [[0.0] * n for _ in range(n)]
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, p in enumerate(profiles):
        for term, w in p.link.items():
            postings.setdefault(term, []).append((i, w))
    for entries in postings.values():
        for a, (i, wi) in enumerate(entries):
            row = sims[i]
            for j, wj in entries[a + 1 :]:
                row[j] += wi * wj
    for i in range(n):
        sims[i][i] = 1.0
        for j in range(i + 1, n):
            sims[j][i] = sims[i][j]
    return sims


# --- 2. grouping ---------------------------------------------------------------------------------------


def theme_count(n_posts: int) -> int:
    """How many themes to aim for: 1 post -> 1; 2-5 -> 2; 6-7 -> 3; 8+ -> 4."""
    if n_posts <= 1:
        return 1
    if n_posts <= 5:
        return 2
    if n_posts <= 7:
        return 3
    return MAX_THEMES


def max_theme_count(n_posts: int) -> int:
    """The most themes a day may have: 1 post -> 1; 2-3 -> 2; 4-5 -> 3; 6+ -> 4."""
    if n_posts <= 1:
        return 1
    if n_posts <= 3:
        return 2
    if n_posts <= 5:
        return 3
    return MAX_THEMES


def _group(profiles: list[_Profile]) -> list[_Group]:
    n = len(profiles)
    sims = _similarities(profiles)
    seeds = _seeds(sims, theme_count(n), max_theme_count(n))
    assignment = _nearest(sims, seeds)
    groups = _groups_from(assignment, len(seeds), profiles)
    for _ in range(REFINE_ROUNDS):
        new = [
            max(range(len(groups)), key=lambda g, i=i: (_cosine(profiles[i].link, groups[g].link), -g))
            for i in range(n)
        ]
        if new == assignment:
            break
        assignment = new
        groups = _groups_from(assignment, len(groups), profiles)
    groups = _rehome_orphans(groups, profiles, sims, max_theme_count(n))
    if n <= 3 and len(groups) == 2 and _cosine(groups[0].link, groups[1].link) >= MERGE_SIMILARITY:
        groups = [_make_group(sorted(groups[0].members + groups[1].members), profiles)]
    if n >= 4 and len(groups) == 1:
        groups = _split_in_two(groups[0], profiles)
    _add_second_memberships(groups, profiles)
    for g in groups:
        g.members.sort(key=lambda i: (-_cosine(profiles[i].link, g.link), i))
    groups.sort(key=lambda g: (-len(g.members), min(g.members)))
    return groups


def _nearest(sims: list[list[float]], seeds: list[int]) -> list[int]:
    """For each post, the index of the seed it is most similar to (the first one on a tie)."""
    return [max(range(len(seeds)), key=lambda s, i=i: (sims[i][seeds[s]], -s)) for i in range(len(sims))]


def _seeds(sims: list[list[float]], target: int, most: int) -> list[int]:
    """Greedy facility location: each new seed adds the most similarity to the posts not yet covered.
    Beyond `target` seeds (up to `most`), a seed is added only while it would gather a group of posts
    that the others leave uncovered (gain >= EXTRA_SEED_GAIN), not a lone outlier."""
    n = len(sims)
    # Most pairs of posts share nothing: summing over each post's actual neighbours keeps this fast.
    neighbours = [[(q, s) for q, s in enumerate(row) if s > 0.0] for row in sims]
    best = [0.0] * n
    seeds: list[int] = []
    for _ in range(min(most, n)):
        gain, candidate = max(
            (sum(s - best[q] for q, s in neighbours[c] if s > best[q]), -c) for c in range(n) if c not in seeds
        )
        candidate = -candidate
        if seeds and (gain <= 1e-9 or (len(seeds) >= target and gain < EXTRA_SEED_GAIN)):
            break
        seeds.append(candidate)
        best = [max(best[q], sims[candidate][q]) for q in range(n)]
    return seeds


def _rehome_orphans(groups: list[_Group], profiles: list[_Profile], sims: list[list[float]], most: int) -> list[_Group]:
    """A post that shares (almost) no term with the other posts of its group (it landed there on a tie)
    gets a theme of its own while the day has room for one more theme; otherwise it stays where it is."""
    kept: list[_Group] = []
    orphans: list[int] = []
    for g in groups:
        lonely = [
            i
            for i in g.members
            if len(g.members) > 1 and max(sims[i][j] for j in g.members if j != i) <= ORPHAN_SIMILARITY
        ]
        room = most - len(groups) - len(orphans)
        lonely = lonely[: max(0, room)]
        if not lonely or len(lonely) == len(g.members):
            kept.append(g)
            continue
        kept.append(_make_group([i for i in g.members if i not in lonely], profiles))
        orphans.extend(lonely)
    return kept + [_make_group([i], profiles) for i in sorted(orphans)]


def _groups_from(assignment: list[int], k: int, profiles: list[_Profile]) -> list[_Group]:
    members: list[list[int]] = [[] for _ in range(k)]
    for i, g in enumerate(assignment):
        members[g].append(i)
    return [_make_group(m, profiles) for m in members if m]


def _make_group(members: list[int], profiles: list[_Profile]) -> _Group:
    return _Group(
        members=list(members),
        centroid=_centroid(profiles[i].vector for i in members),
        link=_centroid(profiles[i].link for i in members),
    )


def _centroid(vectors: Iterable[Mapping[str, float]]) -> dict[str, float]:
    top = sorted(_sum(vectors).items(), key=lambda kv: (-kv[1], kv[0]))[:CENTROID_TERMS]
    return _unit(dict(top))


def _split_in_two(group: _Group, profiles: list[_Profile]) -> list[_Group]:
    """A day of 4+ posts gets at least two themes: the posts closest to the common centre stay together."""
    ranked = sorted(group.members, key=lambda i: (-_cosine(profiles[i].link, group.link), i))
    half = (len(ranked) + 1) // 2
    return [_make_group(sorted(ranked[:half]), profiles), _make_group(sorted(ranked[half:]), profiles)]


def _add_second_memberships(groups: list[_Group], profiles: list[_Profile]) -> None:
    """A post joins a second theme when it is about as close to it as to the rest of its own theme."""
    if len(groups) < 2:
        return
    sums = [_sum(profiles[j].link for j in g.members) for g in groups]
    norms_sq = [sum(w * w for w in total.values()) for total in sums]
    homes = [{gi for gi, g in enumerate(groups) if i in g.members} for i in range(len(profiles))]
    additions: list[tuple[int, int]] = []
    for i, p in enumerate(profiles):
        # Likeness to the own group is measured without the post itself, which would flatter it.
        own = max(
            (_similarity_to_rest(p.link, sums[gi], norms_sq[gi]) for gi in homes[i] if len(groups[gi].members) > 1),
            default=1.0,
        )
        extra = [
            (sim, gi)
            for gi, g in enumerate(groups)
            if gi not in homes[i]
            and (sim := _cosine(p.link, g.link)) >= SECOND_THEME_MIN_SIMILARITY
            and sim >= SECOND_THEME_RATIO * own
        ]
        additions += [(gi, i) for _, gi in sorted(extra, key=lambda e: (-e[0], e[1]))[: MAX_THEMES_PER_POST - 1]]
    for gi, i in additions:
        groups[gi].members.append(i)


def _sum(vectors: Iterable[Mapping[str, float]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for vector in vectors:
        for t, w in vector.items():
            total[t] += w
    return total


def _similarity_to_rest(vector: Mapping[str, float], group_sum: Mapping[str, float], norm_sq: float) -> float:
    """Cosine between a member's unit vector and the sum of the other members' vectors (`group_sum`, whose
    squared length is `norm_sq`, includes the member)."""
    if not vector:
        return 0.0
    dot = sum(w * group_sum.get(t, 0.0) for t, w in vector.items())
    rest_norm_sq = norm_sq - 2 * dot + 1.0
    return (dot - 1.0) / math.sqrt(rest_norm_sq) if rest_norm_sq > 1e-12 else 0.0


# --- 3. writing the themes -----------------------------------------------------------------------------


def _theme(group: _Group, profiles: list[_Profile], forms: dict[str, Counter[str]]) -> Theme:
    members = [profiles[i] for i in group.members]
    title = _title(group, profiles, forms, avoid=())
    ranked = _ranked_quotes(members, group.centroid)
    # The key idea comes from the post at the centre of the theme (members are sorted by closeness to it),
    # not from one that only touches it; later members stand in when it has nothing to quote.
    key = min(ranked, key=lambda r: (r[1], -r[0], r[2].index)) if ranked else None
    key_idea = key[2].text if key else members[0].post.title
    implication = _implication(ranked, key, len(members) > 1) or next(
        (p.fallback for p in members if p.fallback and p.fallback != key_idea), ""
    )
    used = {key_idea, implication}
    points = tuple(_point(p, group.centroid, used) for p in members)
    return Theme(
        title=title,
        key_idea=key_idea,
        post_ids=tuple(p.post.id for p in members),
        implications=implication,
        post_points=points,
    )


def _title_terms(group: _Group, profiles: list[_Profile]) -> list[str]:
    """The group's terms, best first: weight in the centroid times the number of member posts using it."""
    share = Counter(t for i in group.members for t in profiles[i].vector)
    multi = len(group.members) > 1

    def score(term: str) -> float:
        bigram_bonus = 1.25 if " " in term else 1.0
        return group.centroid[term] * (share[term] if multi else 1) * bigram_bonus

    candidates = [t for t in group.centroid if not _is_generic(t) and len(t) > 2 and not _participle(t)]
    if multi and any(share[t] > 1 for t in candidates):
        shared = [t for t in candidates if share[t] > 1]
        rest = [t for t in candidates if share[t] <= 1]
        return sorted(shared, key=lambda t: (-score(t), t)) + sorted(rest, key=lambda t: (-score(t), t))
    return sorted(candidates, key=lambda t: (-score(t), t))


def _participle(term: str) -> bool:
    """A lone "-ed" word ("intended", "based") makes a poor title word; "-ing" nouns ("scheming") do not."""
    return " " not in term and term.endswith("ed") and not term.endswith("eed")


def _title(group: _Group, profiles: list[_Profile], forms: dict[str, Counter[str]], avoid: Iterable[str]) -> str:
    """2-6 words: "<Term> and <Term>" from the shared terms, in Title Case."""
    avoid_set = set(avoid)
    terms = _title_terms(group, profiles)
    first = next((t for t in terms if t not in avoid_set), None) or next(iter(terms), None)
    if first is None:
        generic = sorted(group.centroid, key=lambda t: (-group.centroid[t], t))
        first = generic[0] if generic else ""
    counts = _sum(profiles[i].counts for i in group.members)
    first = _as_phrase(first, terms, counts, avoid_set)
    second = next((t for t in terms if t != first and not _overlaps(t, first)), None)
    if second is not None:
        second = _as_phrase(second, terms, counts, avoid_set | {first})
        second = second if not _overlaps(second, first) else None
    parts = [title_case(display_form(t, forms)) for t in (first, second) if t]
    if not parts:
        return "Today's Posts"
    if len(parts) == 1:
        only = parts[0]
        return only if len(only.split()) >= 2 else f"On {only}"
    return f"{parts[0]} and {parts[1]}"


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


def _distinct_titles(
    themes: list[Theme], groups: list[_Group], profiles: list[_Profile], forms: dict[str, Counter[str]]
) -> list[Theme]:
    seen: set[str] = set()
    used_lead_terms: list[str] = []
    out: list[Theme] = []
    for theme, group in zip(themes, groups, strict=True):
        title = theme.title
        if title.lower() in seen:
            title = _title(group, profiles, forms, avoid=used_lead_terms + _title_terms(group, profiles)[:1])
        if title.lower() in seen:
            title = f"{title} ({len(out) + 1})"
        seen.add(title.lower())
        lead_terms = _title_terms(group, profiles)
        if lead_terms:
            used_lead_terms.append(lead_terms[0])
        out.append(Theme(title, theme.key_idea, theme.post_ids, theme.implications, theme.post_points))
    return out


def _sentence_score(sentence: Sentence, terms: tuple[str, ...], centroid: Mapping[str, float]) -> float:
    relevance = sum(centroid.get(t, 0.0) for t in terms) / math.sqrt(max(len(terms), 10))
    position = 0.05 * math.exp(-sentence.index / 8) + (0.05 if sentence.section == "lead" else 0.0)
    return relevance + position


def _ranked_quotes(members: list[_Profile], centroid: Mapping[str, float]) -> list[tuple[float, int, Sentence, str]]:
    """(score, member position, sentence, post id) for every quotable sentence of the members, best first."""
    ranked = [
        (_sentence_score(s, terms, centroid), m, s, p.post.id)
        for m, p in enumerate(members)
        for s, terms in p.candidates
    ]
    ranked.sort(key=lambda r: (-r[0], r[1], r[2].index))
    return ranked


def _implication(
    ranked: list[tuple[float, int, Sentence, str]], key: tuple[float, int, Sentence, str] | None, multi: bool
) -> str:
    """A relevant sentence (other than the key idea) that draws a consequence: first one with a strong cue
    (suggests, implies, risk, should, ...), then a modal one (could, must, ...), else the most relevant
    sentence left; from another post than the key idea's when about as relevant. '' when there is none."""
    key_text = key[2].text if key else ""
    key_post = key[3] if key else ""
    rest = [r for r in ranked if r[2].text != key_text]
    if not rest:
        return ""
    floor = IMPLICATION_MIN_RELEVANCE * rest[0][0]

    def preference(r: tuple[float, int, Sentence, str]) -> float:
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
    leads = [next(iter(_title_terms(g, profiles)), "") for g in groups]
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            terms = _shared_terms(groups[a], groups[b])
            if terms:
                both = " and ".join(f'"{show(t)}"' for t in terms[:2])
                shared.append(f"Themes {a + 1} and {b + 1} both draw on {both}.")
            elif leads[a] and leads[b]:
                contrasts.append(
                    f'Themes {a + 1} and {b + 1} share no key terms: one centres on "{show(leads[a])}", '
                    f'the other on "{show(leads[b])}".'
                )
    for a in range(len(groups)):
        for b in range(len(groups)):
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
    if len(themes) == 1 and len(profiles) > 1:
        titles = "; ".join(f'"{_by_id(profiles)[i].post.title}"' for i in themes[0].post_ids[:3])
        spread.append(f"All of today's posts fall under one theme: {titles}.")
    points = bridges[:2] + shared[:2] + echoes[:1] + spread
    if len(themes) >= 2 and len(points) < 2:
        points += contrasts[: 2 - len(points)]
    if len(points) < 2 and len(themes) >= 2:
        topics = ", ".join(f'"{show(t)}"' for t in leads if t)
        points.append(f"The day's posts span {len(themes)} separate topics: {topics}.")
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
    weight: Counter[str] = Counter()
    for p in profiles:
        for t, w in p.vector.items():
            weight[t] += w
    return sorted(spread.items(), key=lambda kv: (-kv[1], -weight[kv[0]], kv[0]))
