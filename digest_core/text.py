"""Plain-text helpers for the offline writer: sentences, word tokens, stopwords and boilerplate.

Everything here is linear in the length of the text and deterministic. A post's text is read as paragraphs
(separated by a blank line) made of lines (list items, headings and short labels often sit on their own line);
each line is split into sentences, and every sentence carries the facts the summarizer and the theme finder
need to rank it: where it sits, which section it is in, and whether it is boilerplate (epistemic status,
acknowledgements, cross-post notes, link lists, headings, footnotes, captions, code, math).

Sentences keep the post's own wording: `Sentence.text` is a span of the post with its whitespace collapsed to
single spaces, so `normalize_space(post.text)` always contains it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

# A word starts with a letter (any script) and may hold digits, apostrophes and hyphens: "GPT-4", "don't".
WORD_RE = re.compile(r"[^\W\d_][^\W_]*(?:['’\-][^\W_]+)*")
_SPACE_RE = re.compile(r"\s+")
# Two-word phrases never span punctuation or a free-standing dash ("August - Deciphering").
_PHRASE_BREAK_RE = re.compile(r"[^\w\s'’\-]+|\s[-–—]+\s|--+")


def _word_set(listing: str) -> frozenset[str]:
    return frozenset(listing.split())


# Common English function words plus the filler of essay prose; they never make a term.
STOPWORDS: frozenset[str] = _word_set(
    """
    a about above after again against all almost along already also although always am among an and another
    any anyone anything are aren't around as at away back be became because become becomes been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't done down
    during each either else enough especially etc even ever every everyone everything few for from further get
    gets getting given gives go goes going gone got had hadn't has hasn't have haven't having he he'd he'll
    he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've ie eg if in into
    is isn't it it's its itself just least less let let's like likely many may maybe me might mine more most
    much must my myself near need needs neither never no nor not nothing now of off often on once one ones
    only
    onto or other others otherwise our ours ourselves out over own per perhaps quite rather really said same
    say says see seem seemed seems seen several shall she she'd she'll she's should shouldn't since so some
    someone something sometimes somewhat still such than that that's the their theirs them themselves then
    there there's therefore these they they'd they'll they're they've thing things this those though through
    thus to together too toward towards under until up upon us use used uses using very via want wants was
    wasn't way ways we we'd we'll we're we've well were weren't what what's whatever when when's where where's
    whereas whether which while who who's whom whose why why's will with within without won't would wouldn't
    yet you you'd you'll you're you've your yours yourself yourselves
    actually basically certainly clearly simply probably possibly generally usually lot lots kind sort bit
    able make makes making made take takes taking took know knows known think thinks thought want wanted
    try tries trying tried come comes came put puts find finds found show shows shown showed look looks
    looking looked keep keeps kept give gave seen said tell told call called first second third new old
    good better best bad worse big small large high low long short great little right left sure true false
    yes okay ok e.g i.e cf vs et al post posts paper papers article essay blog section sections chapter
    appendix footnote footnotes figure figures table tables example examples case cases point points
    question questions answer idea ideas time times year years day days part parts number numbers people
    person anyone everyone someone somebody work works worked working result results way different
    important interesting particular specific general various certain following follows below above
    form forms content type types level levels set sets area areas aspect aspects fact facts sense term terms
    context version versions stuff step steps issue issues topic topics note notes link links linked
    additional main current recent relevant possible related based whole overall simple basic common easy
    hard clear real actual full open key core major minor broad broader potential overview introduction
    summary discussion update updates refer refers mean means meant goes seeing getting doing lead leads
    whether able unable instead rest start started end ended less least help helps run runs side
    announcing announce announces announced announcement introducing introduce introduces introduced
    presenting thoughts thought notes
    next previous past recent recently upcoming latest earlier later soon today week weeks month months
    across beyond behind beside besides inside outside throughout amongst amid whilst onto unlike despite
    study studies
    tl dr tldr roughly mostly fairly largely mainly slightly highly nearly exactly directly strongly quickly
    easily entirely completely fully truly merely increasingly relatively particularly typically essentially
    currently similarly specifically ultimately naturally obviously apparently presumably arguably hopefully
    unfortunately fortunately interestingly importantly notably primarily initially finally originally
    eventually previously partly literally seriously posted happen happens happened happening read reads
    """
)

# Words that every alignment post uses; they may count, but never name a theme on their own.
DOMAIN_GENERIC: frozenset[str] = _word_set(
    """
    ai ais alignment aligned align model models system systems research safety agi human humans
    approach approaches problem problems method methods work argument arguments claim claims
    agent agents world reason reasons thing understand understanding lesswrong forum
    llm llms training train trained data behavior behaviors behaviour behaviours behavioral capability
    capabilities capable task tasks learning learn learned technique techniques framework frameworks algorithm
    algorithms abstract ea author authors contribution contributions equal future progress field researcher
    researchers team teams question goal goals strategy misalignment misaligned matter matters
    """
)

# Nouns that end like adjectives or adverbs ("-al", "-ic", "-ive", "-ly"), so that a title may still use them.
NOUNS_LIKE_MODIFIERS: frozenset[str] = _word_set(
    """
    family anomaly assembly supply monopoly reply july italy ally rally butterfly fly topic logic ethic
    proposal rival arrival trial signal animal journal interval manual principal potential tutorial
    disposal approval removal retrieval survival critic mechanic heuristic metric basic clinic relic
    graphic classic epic music magic panic public republic objective incentive alternative initiative
    perspective directive narrative detective collective representative executive
    """
)
NUMBER_WORDS: frozenset[str] = _word_set("two three four five six seven eight nine ten hundred thousand million")

# Words a title keeps in lower case (unless first).
_TITLE_SMALL_WORDS = _word_set("a an and as at but by for in of on or the to vs via with")

# Abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = _word_set(
    """
    e.g i.e etc vs cf al fig figs eq eqs sec ch no nos vol p pp dr mr mrs ms prof st jr sr inc ltd co corp
    approx est ca resp incl def thm lem prop cor ex viz u.s u.k a.k.a ph.d
    jan feb mar apr jun jul aug sep sept oct nov dec
    """
)

# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes/brackets, then whitespace.
_SENTENCE_END_RE = re.compile(r"(?:\.{3}|…|[.!?])['\"’”)\]]*(?=\s+\S)")

_BULLET_RE = re.compile(r"^(?:[-*•·–—]|\d{1,2}[.)]|\(?[a-z][.)]|\(\d{1,2}\))\s+")
_LABEL_RE = re.compile(
    r"^(?:arxiv:\S+\s+announce type:\s*\S+\s*)?"
    r"(?:official |(?:slightly |a bit |very |somewhat )?(?:longer|shorter|short|long|quick|brief) )?"
    r"(?:tl;?\s?dr|tldr|abstract|summary|short summary|executive summary|in short|short version|"
    r"key takeaways?|takeaways?|bottom line|overview|main points?|key points?|the gist|"
    r"too long;? didn'?t read)"
    r"\s*[:.\-–—)]\s*",
    re.IGNORECASE,
)
_ARXIV_PREFIX_RE = re.compile(r"^arxiv:\S+\s+announce type:\s*\S+\s*", re.IGNORECASE)

# Section headings: what the section below them is.
_LEAD_SECTION_RE = re.compile(
    r"^(?:tl;?\s?dr|tldr|abstract|summary|short summary|executive summary|in short|short version|"
    r"key takeaways?|takeaways|bottom line|overview|main points|key points|key findings|main findings|"
    r"too long;? didn'?t read)\b",
    re.IGNORECASE,
)
_END_SECTION_RE = re.compile(
    r"^(?:footnotes?|end ?notes?|notes|references|bibliography|citations?|sources|works cited|"
    r"acknowledge?ments?|thanks|credits|author contributions?|contributions|further reading|"
    r"related links?|links|see also|appendix|appendices|changelog|edit history)\b",
    re.IGNORECASE,
)
_WEAK_SECTION_RE = re.compile(
    r"^(?:related work|prior work|background|previous work|literature review|methods?|methodology|"
    r"experimental (?:setup|details)|setup|implementation details|hyperparameters|limitations|faq|"
    r"frequently asked questions)\b",
    re.IGNORECASE,
)

# Boilerplate that a summary or a theme must never quote, matched against a lower-cased sentence:
# how it opens ...
_BOILERPLATE_OPENINGS: tuple[str, ...] = (
    r"epistemic (?:status|state|effort)",
    r"(?:confidence|credence)(?: level)?\s*:",
    r"attention conservation notice",
    r"(?:content|trigger) warning",
    r"(?:cw|tw)\s*:",
    r"published on\b",
    r"(?:this|the following)(?: post)? is (?:a |an )?(?:cross-?post|link-?post|repost)",
    r"cross-?post\b",
    r"(?:this post was |this was )?(?:originally|also|first) (?:posted|published|appeared)",
    r"this (?:post|piece|essay|article|report|text) (?:was|is) (?:originally |also |first )?(?:posted|"
    r"published|cross-?posted|available)",
    r"(?:this is a |a )?link-?post\b",
    r"posted (?:in|on) (?:my|a|our) (?:personal|own)",
    r"(?:acknowledge?ments?|thanks|thank you|many thanks|special thanks|huge thanks|big thanks)\b",
    r"(?:i|we)(?: would|'d|’d)? (?:also )?(?:like to |want to )?(?:thank|acknowledge)\b",
    r"(?:i am|i'm|i’m|we are|we're|we’re) (?:very |deeply |especially )?(?:grateful|thankful|indebted)",
    r"(?:this|the) (?:work|research|project|post|report|paper) (?:was|is) (?:supported|funded|produced|"
    r"done|completed|conducted|carried out|written) (?:by|as part of|at|during|with|under|while|in)\b",
    r"(?:work|research) (?:done|conducted|completed|produced) (?:as part of|at|during|while|under|in)\b",
    r"(?:produced|written|completed|done|conducted|prepared|created) (?:as part of|at|during|under|while|"
    r"with the support)\b",
    r"the following (?:is|was) (?:a |an |the )?(?:main part|part|excerpt|transcript|copy|cross-?post|"
    r"lightly edited)",
    r"(?:please )?(?:refer to|see|read) (?:the|my|our|this) (?:linked|previous|earlier|original|full|"
    r"first|last|companion|accompanying) (?:post|paper|article|essay|piece|report)",
    r"for (?:definitions|background|context|more (?:details|context|background)|details|"
    r"an introduction)\b.{0,80}\bsee\b",
    # "This post is part of a sequence / my deliverable for / the work done at ..."
    r"(?:this|the) (?:post|work|text|write-?up) (?:is|was) (?:written )?(?:as )?(?:part of|a part of) "
    r"(?:my|our|the|a|an)\b",
    r"(?:paper|code|blog ?post|website|twitter|github|arxiv|slides|video|podcast|transcript|project page|"
    r"demo|dataset|repo|repository|data|audio|link|links|pdf)s?\s*[:|]",
    r"\[(?:paper|link|linkpost|crosspost|cross-post|blog|video|podcast|event)\]",
    r"(?:figure|fig\.|table|image|photo|source|credit|caption|diagram|chart|graph|plot|"
    r"img)\s*\d*[a-z]?\s*[:.(]",
    r"\(?(?:image|figure|photo|picture) (?:from|source|credit|by|courtesy)",
    r"(?:edit|edited|update|updated|ps|p\.s|note from the author|author'?s note|editor'?s note)\b[^.]{0,40}:",
    r"(?:discuss|read more|subscribe|continue reading|comments?|share|reply)\s*$",
    r"(?:you can )?(?:find|read|see|check out|listen to|watch) (?:the |our |my )?(?:full |whole )?"
    r"(?:paper|post|code|video|podcast|slides|report|writeup|write-up|thread|recording|episode)\b.{0,60}"
    r"\b(?:here|at|on)\b",
)
# ... or a phrase anywhere in it.
_BOILERPLATE_ANYWHERE: tuple[str, ...] = (
    r"\bcross-?posted (?:from|to|on|at)\b",
    r"\bthanks? (?:you )?to\b.{0,200}\bfor\b",
    r"\bthank(?:s|ing)?\b.{0,200}\b(?:feedback|comments|discussions?|helpful|review|reviewing|suggestions|"
    r"conversations|input|edits|proofreading)\b",
    r"\bunder the (?:mentorship|supervision|guidance) of\b",
    r"\b(?:mats|seri mats|spar|astra|pibbss|ais fellowship) (?:program|scholar|stream|fellowship|project)",
    r"\b(?:click here|read (?:the )?(?:full|rest)|full (?:paper|post|text) (?:here|at|available)|"
    r"(?:available|find (?:it|them|more)|read (?:it|more)|see (?:it|more)) (?:here|at this link))\b",
    r"\b(?:subscribe|sign up|apply|register) (?:here|now|to our|at)\b",
    r"\bpost (?:is )?here\b",
    r"\bindex here\b",
)
_ANYWHERE_HINTS = (
    "thank", "cross", "under the", "mats ", "spar ", "astra ", "pibbss", "fellowship", "click", "read the",
    "full ", " here", "this link", "subscribe", "sign up", "apply ", "register ", "index here",
)  # fmt: skip
# Two alternations: one pass over each sentence instead of one per pattern.
_BOILERPLATE_OPENING_RE = re.compile("|".join(f"(?:{p})" for p in _BOILERPLATE_OPENINGS))
_BOILERPLATE_ANYWHERE_RE = re.compile("|".join(f"(?:{p})" for p in _BOILERPLATE_ANYWHERE))
_DIGIT_RE = re.compile(r"\d")
_LETTERS_RE = re.compile(r"[^\W\d_]")
# Symbols of formulas and code that prose hardly uses ("/", "$", "~" and "[1]" markers are left out).
_MATH_SYMBOL_RE = re.compile(r"[=<>^_|\\{}∑∫∀∃≤≥≈≠∈∉⊂⊆∪∩ℝ→←⇒↦⊗⊕∘∞∂∇]")
_EMAIL_RE = re.compile(r"\b[\w.-]+@[\w-]+\.[a-z]{2,}\b", re.IGNORECASE)
# Footnote texts: "Footnote: ..." (how ingest keeps them), "[1] ...", "^ ...", "1. ^ ...".
_FOOTNOTE_LINE_RE = re.compile(r"(?i:footnote\s*\d*\s*:)|\[\d{1,3}\]|\^\s|↩|\d{1,3}\s*\^|\d{1,3}\.\s*\^")
_FOOTNOTE_MARKER_RE = re.compile(r"\w\[\d{1,3}\]|\^\d|[¹²³⁴⁵⁶⁷⁸⁹]")
_NUMBERED_LINE_RE = re.compile(r"^\[?(\d{1,3})[.)\]]\s")
# Code: how a line of code opens, or a token that prose does not use. Two patterns, so that the second can
# be scanned for quickly by its first character.
_CODE_START_RE = re.compile(
    r"\s*(?:def |class |import |from \S+ import|return |print\(|for \w+ in |while |if .*:$|#include|>>>|\$ |"
    r"[a-z_]+\s*=\s*[\[\]{(\"'\d])"
)
_CODE_TOKEN_RE = re.compile(r"[{};]\s*$|\(\)|[=!]=|->|=>|\\[a-z]+\{|\\[(\[]|\$\$|::")
_DANGLING_PRONOUN_RE = re.compile(
    r"^(?:this|that|these|those|it|its|they|them|their|theirs|such|he|she|his|her|hers|him|"
    r"the latter|the former|the above|the same|both|neither|either|each of these|all of these|"
    r"this one|which)\b"
    # A bare share or count as the subject ("Roughly half will go to ...", "Most of them are ...") refers to
    # something named in an earlier sentence.
    r"|^(?:roughly |about |around |nearly |almost |over |more than |less than |fewer than |only |just )?"
    r"(?:half|most|many|some|all|none|few|several|each|one|two|three|the rest|the remainder|the other half|"
    r"a third|a quarter|a few|a majority|the majority)"
    r"(?: of (?:them|these|those|it|this|that))?\s+(?:will|would|are|is|were|was|have|has|had|can|could|"
    r"go|goes|went|do|does|did|seem|seems|get|gets)\b",
    re.IGNORECASE,
)
# "This post argues ...", "It is plausible that ..." do not point back at an earlier sentence.
_SELF_REFERENCE_RE = re.compile(
    r"^(?:this|these|the)\s+(?:post|posts|paper|papers|essay|article|piece|report|work|write-?up|sequence|"
    r"document|research|project|agenda|note|doc|talk|study|thesis|proposal|series|review|survey|"
    r"framework|blog post|dialogue|newsletter|episode|book|chapter|tutorial|analysis|investigation|"
    r"result|finding|experiment|question|problem|distinction|section)s?\b"
    r"|^it\s+(?:is|was|seems|seemed|would be|might be|may be|could be|will be|remains|turns out|appears)\s+"
    r"(?:\w+\s+){0,3}(?:that|to|whether|how|why|what|if)\b"
    r"|^it\s+(?:is|was|seems|remains)\s+(?:not\s+)?(?:clear|unclear|possible|plausible|likely|unlikely|"
    r"important|worth|hard|difficult|easy|true|false|tempting|tricky)\b",
    re.IGNORECASE,
)
_CONNECTIVE_RE = re.compile(
    r"^(?:however|but|and|so|also|moreover|furthermore|therefore|thus|hence|instead(?! of)|similarly|likewise|"
    r"additionally|in addition(?! to)|in contrast(?! to| with)|by contrast(?! to| with)|"
    r"on the other hand|as a result|consequently|still|"
    r"yet|then|otherwise|nevertheless|nonetheless|secondly|second|thirdly|third|finally|lastly|again|"
    r"for example|for instance|in particular|specifically|indeed|of course|after all|meanwhile|besides|"
    r"conversely|accordingly|as such|in this case|in that case|in other words|that is|namely|or|"
    r"here(?=,|\s+(?:we|i)\b)|even so|in turn|rather|plus|either way|this time|by then|at the same time)\b",
    re.IGNORECASE,
)


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return _SPACE_RE.sub(" ", text).strip()


def word_count(text: str) -> int:
    return len(text.split())


def words(text: str) -> list[str]:
    """Word tokens in their original spelling ("GPT-4", "don't", "self-other")."""
    return WORD_RE.findall(text)


def stem(word: str) -> str:
    """A light, predictable stem: lower case, no possessive, no plural -s. Enough to merge SAE/SAEs."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ous", "'s")):
        return w[:-1]
    return w


def is_content_word(word: str) -> bool:
    lower = word.lower().replace("’", "'")
    return len(lower) > 1 and lower not in STOPWORDS and not lower.isdigit()


@lru_cache(maxsize=65_536)
def content_stem(word: str) -> str:
    """The stem of a content word, '' for a stopword (cached: a post repeats its words)."""
    return stem(word) if is_content_word(word) else ""


def content_stems(text: str) -> list[str]:
    """The stems of the content words of `text`, in order (stopwords dropped)."""
    return [s for w in WORD_RE.findall(text) if (s := content_stem(w))]


def content_phrases(text: str) -> Iterator[str]:
    """Unigram stems and adjacent content-word bigrams ("sparse autoencoder") of `text`.

    Bigrams never span a stopword or punctuation, so "reward hacking" counts but "reward, hacking" does not.
    """
    for chunk in _PHRASE_BREAK_RE.split(text):
        previous = ""
        for w in WORD_RE.findall(chunk):
            s = content_stem(w)
            if not s:
                previous = ""
                continue
            yield s
            if previous:
                yield previous + " " + s
            previous = s


def surface_forms(text: str, counts: dict[str, Counter[str]]) -> None:
    """Record how each stem (and bigram) is spelled in `text`, for display (keeps "RLHF", "SAEs")."""
    for chunk in _PHRASE_BREAK_RE.split(text):
        previous_stem, previous_word = "", ""
        for w in words(chunk):
            if not is_content_word(w):
                previous_stem = previous_word = ""
                continue
            s = stem(w)
            counts.setdefault(s, Counter())[w] += 1
            if previous_stem:
                counts.setdefault(previous_stem + " " + s, Counter())[previous_word + " " + w] += 1
            previous_stem, previous_word = s, w


def display_form(term: str, forms: dict[str, Counter[str]]) -> str:
    """The most telling spelling of a term: its most frequent spelling, preferring one that is not a
    sentence-initial capital (ties broken alphabetically so that the choice is stable)."""
    counter = forms.get(term)
    if not counter:
        return term
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0].lower() != kv[0], kv[0]))[0]


def title_case(phrase: str) -> str:
    """Title Case that keeps acronyms and mixed case ("RLHF", "SAEs", "GPT-4") as written; the small words
    of a hyphenated compound stay small ("Chain-of-Thought", "Weak-to-Strong")."""
    out = []
    for i, w in enumerate(phrase.split()):
        if any(c.isupper() for c in w[1:]):
            out.append(w[:1].upper() + w[1:])  # "brain-like-AGI" -> "Brain-like-AGI", "RLHF" stays
        elif i and w.lower() in _TITLE_SMALL_WORDS:
            out.append(w.lower())
        else:
            parts = w.split("-")
            out.append(
                "-".join(
                    part if k and part.lower() in _TITLE_SMALL_WORDS else part[:1].upper() + part[1:]
                    for k, part in enumerate(parts)
                )
            )
    return " ".join(out)


def is_boilerplate(sentence: str) -> bool:
    """True for epistemic status, acknowledgements, cross-post notes, captions, links and the like."""
    lower = normalize_space(sentence).lower().replace("’", "'")
    if "http" in lower or "www." in lower or ("@" in lower and _EMAIL_RE.search(lower)):
        return True
    if _BOILERPLATE_OPENING_RE.match(lower.lstrip("[(*_\"'“‘ ")):
        return True
    # The phrases searched anywhere all contain one of these words; most sentences contain none.
    return any(hint in lower for hint in _ANYWHERE_HINTS) and bool(_BOILERPLATE_ANYWHERE_RE.search(lower))


def opens_as_boilerplate(text: str) -> bool:
    """True when `text` opens the way boilerplate does ("Epistemic status: ...", "Cross-posted from ...")."""
    lower = normalize_space(text).lower().replace("’", "'")
    return bool(_BOILERPLATE_OPENING_RE.match(lower.lstrip("[(*_\"'“‘ ")))


def looks_like_code_or_math(sentence: str) -> bool:
    """Code and formulas: few letters, or code/LaTeX tokens."""
    stripped = sentence.strip()
    if not stripped:
        return True
    if _CODE_START_RE.match(stripped) or _CODE_TOKEN_RE.search(stripped):
        return True
    symbols = len(_MATH_SYMBOL_RE.findall(stripped))
    if symbols >= 3:
        return True
    if not symbols and not _DIGIT_RE.search(stripped) and _LETTERS_RE.search(stripped):
        return False  # plain prose: letters, spaces and punctuation only
    visible = len(stripped) - stripped.count(" ")
    return len(_LETTERS_RE.findall(stripped)) < 0.65 * visible


def is_heading(line: str) -> bool:
    """A short line without closing punctuation ("Results", "3. Why this matters", "# Setup", "TL;DR")."""
    stripped = line.strip()
    if not stripped:
        return False
    if stripped.startswith("#"):
        return True
    n = word_count(stripped)
    if n > 12:
        return False
    if stripped[-1] in '.!?;,"”’' or (stripped[-1] == ")" and n > 6):
        return False
    if stripped[-1] == ":":
        return n <= 8
    return not stripped[0].islower()


def dangling_kind(sentence: str) -> str:
    """'pronoun' when the sentence leans on an earlier one ("This shows ..."), 'connective' when it opens
    with a discourse connective ("However, ..."), else ''."""
    s = sentence.lstrip("\"'“‘([")
    if _SELF_REFERENCE_RE.match(s):
        return ""
    if _DANGLING_PRONOUN_RE.match(s):
        return "pronoun"
    if _CONNECTIVE_RE.match(s):
        return "connective"
    return ""


def split_sentences(text: str) -> list[str]:
    """Split one line or paragraph into sentences (whitespace collapsed).

    Handles abbreviations (e.g., i.e., et al., Fig. 3), initials ("J. Smith"), decimals and ellipses.
    """
    flat = normalize_space(text)
    if not flat:
        return []
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(flat):
        end = m.end()
        if not _ends_sentence(flat, m.start(), end):
            continue
        piece = flat[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    tail = flat[start:].strip()
    if tail:
        out.append(tail)
    return out


def _ends_sentence(flat: str, punct_at: int, end: int) -> bool:
    """Whether the punctuation at `punct_at` really closes a sentence."""
    nxt = flat[end:].lstrip()[:1]
    if not nxt:
        return True
    if flat[punct_at] == ".":
        # The word just before the period: "e.g.", "al.", "J.", "Fig."
        j = punct_at
        while j > 0 and not flat[j - 1].isspace() and flat[j - 1] not in "([\"'“":
            j -= 1
        token = flat[j:punct_at].lower()
        if token in _ABBREVIATIONS or token.rstrip(".") in _ABBREVIATIONS:
            return False
        if len(token) == 1 and token.isalpha() and token.upper() == flat[j]:
            return False  # an initial: "J. Smith"
        if nxt.islower():
            return False  # "approx. three", a stray period inside a sentence
    elif nxt.islower() and flat[punct_at] != "?":
        return False
    return True


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a post and what the offline writer needs to know to rank it."""

    text: str  # the post's own words, whitespace collapsed (a label such as "TL;DR:" removed)
    index: int  # position among all sentences of the post
    paragraph: int  # index of the paragraph it sits in
    first_in_paragraph: bool
    section: str  # "lead" (TL;DR, abstract, summary), "body", "weak" (methods, related work) or "end"
    boilerplate: bool  # epistemic status, thanks, cross-post notes, links, captions, footnotes ...
    heading: bool
    code: bool
    list_item: bool
    quoted: bool  # a "> " line: someone else's words (a linkpost's quoted abstract, an epigraph)
    words: int

    @property
    def quotable(self) -> bool:
        """Fit to be quoted as a standalone sentence."""
        return not (self.boilerplate or self.heading or self.code or self.section == "end")


def post_sentences(text: str, *, max_chars: int | None = None) -> list[Sentence]:
    """Every sentence of a post, in order, with its flags. `max_chars` reads only the start of a long post."""
    if max_chars is not None and len(text) > max_chars:
        cut = text.rfind("\n", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars]
    lines = list(_units(text))
    footnote_tail = _footnote_tail_start(lines)
    out: list[Sentence] = []
    section = "body"
    paragraphs_in_section = 0
    labelled_paragraph = -1  # a paragraph that opens with "TL;DR:" or "Abstract:" is a lead section itself
    for position, (paragraph, line) in enumerate(lines):
        first_line = position == 0 or lines[position - 1][0] != paragraph
        if first_line:
            paragraphs_in_section += 1
            if section == "lead" and paragraphs_in_section > 3:
                section = "body"  # a TL;DR heading with no heading after it covers a few paragraphs
        heading = _heading_text(line)
        if heading is not None:
            section = _section_after(heading, section)
            paragraphs_in_section = 0
            out.append(_sentence(heading, len(out), paragraph, first_line, section, heading=True))
            continue
        quoted = line.startswith(">")
        body = line.lstrip("> ") if quoted else line
        list_item = bool(_BULLET_RE.match(body))
        body = _BULLET_RE.sub("", body, count=1) if list_item else body
        arxiv = _ARXIV_PREFIX_RE.match(body) if body[:6].lower() == "arxiv:" else None
        if arxiv:
            body = body[arxiv.end() :]
        label = _LABEL_RE.match(body)
        if label:
            body = body[label.end() :]
            labelled_paragraph = paragraph
        line_section = "lead" if paragraph == labelled_paragraph else section
        if position >= footnote_tail or _FOOTNOTE_LINE_RE.match(line) or "↩" in line:
            line_section = "end"
        pieces = split_sentences(body)
        # A boilerplate opening ("Epistemic status: ...") taints only the first sentence of its line; a link
        # or an address later in the line taints only the sentence it sits in.
        line_boilerplate = len(pieces) > 1 and opens_as_boilerplate(body)
        for i, sentence_text in enumerate(pieces):
            out.append(
                _sentence(
                    sentence_text,
                    len(out),
                    paragraph,
                    first_line and i == 0,
                    line_section,
                    boilerplate=(line_boilerplate and i == 0) or is_boilerplate(sentence_text),
                    list_item=list_item,
                    quoted=quoted,
                )
            )
    return out


def _heading_text(line: str) -> str | None:
    """The heading's text when `line` is a heading (list items and quotes are not, unless an item names a
    section)."""
    if line.startswith(">"):
        return None
    if _BULLET_RE.match(line):
        item = _BULLET_RE.sub("", line, count=1)
        named = _LEAD_SECTION_RE.match(item) or _END_SECTION_RE.match(item) or _WEAK_SECTION_RE.match(item)
        return item.strip() if named and is_heading(item) else None
    return line.strip().lstrip("#").strip() if is_heading(line) else None


def _section_after(heading: str, current: str) -> str:
    if _LEAD_SECTION_RE.match(heading):
        return "lead"
    if _END_SECTION_RE.match(heading):
        return "end"
    if current == "end" and not _is_real_heading(heading):
        return "end"
    if _WEAK_SECTION_RE.match(heading):
        return "weak"
    return "body"


def _is_real_heading(heading: str) -> bool:
    # Inside an end section (footnotes, references), a numbered or long "heading" is usually an entry.
    return not _NUMBERED_LINE_RE.match(heading) and word_count(heading) <= 6


def _sentence(
    text: str,
    index: int,
    paragraph: int,
    first: bool,
    section: str,
    *,
    heading: bool = False,
    boilerplate: bool = False,
    list_item: bool = False,
    quoted: bool = False,
) -> Sentence:
    text = normalize_space(text)
    return Sentence(
        text=text,
        index=index,
        paragraph=paragraph,
        first_in_paragraph=first,
        section=section,
        boilerplate=boilerplate,
        heading=heading,
        code=not heading and looks_like_code_or_math(text),
        list_item=list_item,
        quoted=quoted,
        words=word_count(text),
    )


def _units(text: str) -> Iterator[tuple[int, str]]:
    """(paragraph index, line) pairs. A hard-wrapped line (the next starts in lower case) is joined back."""
    paragraph = 0
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        merged: list[str] = [lines[0]]
        for ln in lines[1:]:
            prev = merged[-1]
            if ln[:1].islower() and prev[-1:] not in ".!?:" and not _BULLET_RE.match(ln):
                merged[-1] = prev + " " + ln
            else:
                merged.append(ln)
        for ln in merged:
            yield paragraph, ln
        paragraph += 1


def _footnote_tail_start(lines: list[tuple[int, str]]) -> int:
    """Index of the first line of a trailing run of numbered notes ("1. See ...", "2. ...") that begins
    at 1 in the last part of the post; len(lines) when there is none."""
    n = len(lines)
    i = n
    expected: int | None = None
    while i > 0:
        m = _NUMBERED_LINE_RE.match(lines[i - 1][1])
        if not m:
            break
        number = int(m.group(1))
        if expected is not None and number != expected:
            break
        expected = number - 1
        i -= 1
        if number == 1:
            # A numbered run that closes a longer post is its footnotes; a short one may be a list.
            return i if n - i >= 1 and i >= max(6, int(n * 0.6)) and _has_markers(lines, i) else n
    return n


def _has_markers(lines: list[tuple[int, str]], tail: int) -> bool:
    # A closing numbered run is taken for footnotes only when the body points at notes ("...[1]", "^2",
    # "¹"); otherwise it is a list, such as numbered conclusions.
    return any(_FOOTNOTE_MARKER_RE.search(line) for _, line in lines[:tail])


def log_weight(count: float) -> float:
    return 1.0 + math.log(count) if count > 0 else 0.0
