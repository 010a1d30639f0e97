"""The one text toolkit of the offline writer: tokens, stems, stopwords, sentences and boilerplate.

The summarizer, the theme finder, the question answerer and the model path all read posts through this module,
so that a word, a sentence and a piece of boilerplate mean the same thing everywhere.

- Tokens: `WORD_RE` / `words` (a word starts with a letter and may hold digits, apostrophes and hyphens).
- Stems: a light plural stemmer in the manner of Harman's S-stemmer (plural and possessive endings only),
  cached. A Snowball stemmer changed no summary figure in bench/summaries.py and merged words the theme finder
  must keep apart.
- Stopwords: `STOPWORDS` is FUNCTION_WORDS (the Snowball project's English stop list plus the modal verbs it
  leaves out) and ESSAY_FILLER ("post", "result", "interesting", "recently"), the older list's filler that
  the theme finder, the question reader and search were tuned with. The summarizer needs neither: what is
  filler in a post is told by statistics (TF-IDF and centrality over its sentences).
- Sentences: `split_sentences` for one line; `post_sentences` reads a whole post (paragraphs separated by a
  blank line, made of lines) and gives every sentence the facts a writer needs to rank it: where it sits, its
  section, its stems, and whether it is boilerplate. It is cached, so the summarizer and the theme finder split
  a post once per build.
- Boilerplate (`is_boilerplate`, and more with a post's context in `post_sentences`) is detected by what it
  is, not by a list of phrases: text that is not prose (links, addresses, markup), captions (a label naming a
  figure or table), and meta-discourse, i.e. sentences about the post rather than its subject: labelled front
  or back matter ("Epistemic status: ...", "Edit: ..."), the post speaking of itself as a document with a
  word of publishing, format or series ("This essay is also available as audio", "This is the second post in
  a sequence"), thanks, and directions to the reader ("You can listen to ..."). In a post, a sentence at
  the post's edges that speaks of the post and shares little vocabulary with the rest of it counts too.

Sentences keep the post's own wording: `Sentence.text` is a span of the post with its whitespace collapsed, so
`normalize_space(post.text)` contains it. Plain-text posts may carry footnote markers: one at a sentence's
edge ("[2] Next ...", "... research.[1]") is left out of the span, and `strip_footnote_markers` takes the
others ("accuracy[1] scales") out of what is printed.
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


# The Snowball English stop list (function words: pronouns, auxiliaries, articles, prepositions, conjunctions),
# with the modal verbs it omits.
FUNCTION_WORDS: frozenset[str] = _word_set(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is
    are was were be been being have has had having do does did doing would should could ought i'm you're
    he's she's it's we're they're i've you've we've they've i'd you'd he'd she'd we'd they'd i'll you'll
    he'll she'll we'll they'll isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't
    wouldn't shan't shouldn't can't cannot couldn't mustn't let's that's who's what's here's there's when's
    where's why's how's a an the and but if or because as until while of at by for with about against
    between into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some such no nor
    not only own same so than too very
    can will may might must shall
    """
)

# Essay filler: words a day's posts share whatever their topics. The theme finder, the question reader and
# search were tuned with them as stopwords; day-level document frequency could replace the list there.
ESSAY_FILLER: frozenset[str] = _word_set(
    """
    able across actual actually additional al almost along already also although always amid among amongst
    announce announced announcement announces announcing another answer anyone anything apparently appendix area
    areas arguably around article aspect aspects away back bad based basic basically became become becomes
    behind beside besides best better beyond big bit blog broad broader call called came case cases certain
    certainly cf chapter clear clearly come comes common completely content context core current currently day
    days despite different directly discussion done dr e.g earlier easily easy eg either else end ended enough
    entirely especially essay essentially et etc even eventually ever every everyone everything exactly example
    examples fact facts fairly false figure figures finally find finds first following follows footnote
    footnotes form forms fortunately found full fully gave general generally get gets getting give given gives
    go goes going gone good got great happen happened happening happens hard help helps high highly hopefully
    however i.e idea ideas ie important importantly increasingly initially inside instead interesting
    interestingly introduce introduced introduces introducing introduction issue issues just keep keeps kept key
    kind know known knows large largely later latest lead leads least left less let level levels like likely
    link linked links literally little long look looked looking looks lot lots low made main mainly major make
    makes making many maybe mean means meant merely mine minor month months mostly much naturally near nearly
    need needs neither never new next notably note notes nothing now number numbers obviously often ok okay old
    one ones onto open originally others otherwise outside overall overview paper papers part particular
    particularly partly parts past people per perhaps person point points possible possibly post posted posts
    potential presenting presumably previous previously primarily probably put puts question questions quickly
    quite rather read reads real really recent recently refer refers related relatively relevant rest result
    results right roughly run runs said say says second section sections see seeing seem seemed seems seen sense
    seriously set sets several short show showed shown shows side similarly simple simply since slightly small
    somebody someone something sometimes somewhat soon sort specific specifically start started step steps still
    strongly studies study stuff summary sure table tables take takes taking tell term terms therefore thing
    things think thinks third though thought thoughts throughout thus time times tl tldr today together told
    took topic topics toward towards tried tries true truly try trying type types typically ultimately unable
    unfortunately unlike upcoming update updates upon us use used uses using usually various version versions
    via vs want wanted wants way ways week weeks well whatever whereas whether whilst whole whose within without
    work worked working works worse year years yes yet
    """
)
# Never a term: function words and essay filler.
STOPWORDS: frozenset[str] = FUNCTION_WORDS | ESSAY_FILLER

NUMBER_WORDS: frozenset[str] = _word_set("two three four five six seven eight nine ten hundred thousand million")


# Abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = _word_set(
    """
    e.g i.e etc vs cf al fig figs eq eqs sec ch no nos vol p pp dr mr mrs ms prof st jr sr inc ltd co corp
    approx est ca resp incl def thm lem prop cor ex viz u.s u.k a.k.a ph.d
    jan feb mar apr jun jul aug sep sept oct nov dec
    """
)

# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes/brackets or a footnote marker
# ("research.[1] Both ..."), then whitespace.
_SENTENCE_END_RE = re.compile(r"(?:\.{3}|…|[.!?])(?:['\"’”)\]]|\[\d{1,3}\]|[¹²³⁴⁵⁶⁷⁸⁹⁰])*(?=\s+\S)")
# The first character after a sentence end (looked up in place: copying the rest of a long text at every
# period made splitting grow with the square of its length).
_NEXT_CHARACTER_RE = re.compile(r"\s*(\S)")

_BULLET_RE = re.compile(r"^(?:[-*•·–—]|\d{1,2}[.)]|\(?[a-z][.)]|\(\d{1,2}\))\s+")
_LABEL_RE = re.compile(
    r"^(?:arxiv:\S+\s+announce type:\s*\S+\s*)?"
    r"(?:official |(?:slightly |a bit |very |somewhat )?(?:longer|shorter|short|long|quick|brief) )?"
    r"(?:tl;?\s?dr|tldr|abstract|summary|short summary|executive summary|in short|short version|"
    r"key takeaways?|takeaways?|bottom line(?: up front)?|bluf|overview|main points?|key points?|the gist|"
    r"too long;? didn'?t read)"
    r"(?: for [^:]{1,80})?(?:\s*[:;,.\-–—)]\s*|(?-i:\s+(?=[A-Z])))",
    re.IGNORECASE,
)
_NAMES_SUMMARY_RE = re.compile(r"\b(?:abstract|summary|tl;?\s?dr|tldr|key takeaways?)\b", re.IGNORECASE)
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

_LETTERS_RE = re.compile(r"[^\W\d_]")
# Symbols of formulas and code that prose hardly uses ("/", "$", "~" and "[1]" markers are left out).
_MATH_SYMBOL_RE = re.compile(r"[=<>^_|\\{}∑∫∀∃≤≥≈≠∈∉⊂⊆∪∩ℝ→←⇒↦⊗⊕∘∞∂∇]")
# A digit or one of those symbols: a sentence without any is told from code in one scan.
_DIGIT_OR_SYMBOL_RE = re.compile(r"[\d" + _MATH_SYMBOL_RE.pattern[1:])
_NOT_LETTERS_RE = re.compile(r"[\W\d_]+")
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
_CODE_HINTS = ("{", "}", ";", "()", "==", "!=", "->", "=>", "\\", "$$", "::")
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
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())


def words(text: str) -> list[str]:
    """Word tokens in their original spelling ("GPT-4", "don't", "self-other")."""
    return WORD_RE.findall(text)


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A light, predictable stem: lower case, no possessive, no plural ending ("-ies" -> "-y", "-s" dropped
    except after s, u or i), in the manner of Harman's S-stemmer. Enough to merge SAE/SAEs and study/studies,
    and it never merges words of different meaning ("computer", "computation" and "compute" stay apart, which
    a Snowball stemmer would merge). Cached: a post repeats its words."""
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
    return list(filter(None, map(content_stem, WORD_RE.findall(text))))  # no Python-level loop: per sentence


def content_phrases(text: str) -> Iterator[str]:
    """Unigram stems and adjacent content-word bigrams ("sparse autoencoder") of `text`, the theme finder's
    terms (stopwords left out).

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


# -- boilerplate -------------------------------------------------------------------------------------------
# Text that is not prose: a link, an e-mail address, markup or an entity left in the text, a Markdown image
# or link, a footnote's back-reference.
_RESIDUE_RE = re.compile(
    r"https?://|\bwww\.|\b[\w.-]+@[\w-]+\.[a-z]{2,}\b|</?[a-z][a-z0-9]*(?:\s[^>]*)?>|&(?:[a-z]{2,8}|#\d{2,6});|"
    r"!\[|\]\(|^[\^↩]",
    re.IGNORECASE,
)
# A caption: a label naming a figure, table or image, with its number ("Figure 2: ...", "Table 1. ...",
# "(Image by the author)").
_CAPTION_RE = re.compile(
    r"^[\[(]?(?:(?:figure|fig|table|tab|image|img|photo|picture|chart|graph|plot|diagram|illustration|"
    r"screenshot|source|credits?|caption)s?\.?\s*(?:\d+[a-z]?|[ivx]+)?\s*[:.|–—]\s"
    r"|(?:image|figure|photo|picture|diagram|chart)s? (?:from|by|courtesy|source|credit|adapted)\b)",
    re.IGNORECASE,
)
# Meta-discourse: the post speaking of itself, its making and its reader rather than of its subject.
# 1. Front and back matter under a label: the names of the conventions themselves.
_META_LABELS = (
    r"epistemic (?:status|state|effort)", r"(?:financial |post |writing )?status", r"confidence(?: level)?",
    r"(?:content|trigger) (?:warning|note)", r"cw|tw", r"attention conservation notice", r"disclaimers?",
    r"conflicts? of interest(?: disclaimer)?", r"coi", r"notes?|nb|n\.b\.?|ps|p\.s\.?|eta",
    r"edit(?:ed)?|updated?|last (?:revised|updated|edited)", r"(?:author'?s|editor'?s|translator'?s) note",
    r"meta(?:data)?", r"(?:paper |full )?(?:co-?)?authors?(?: list)?", r"previously|previous(?: posts?)?",
    r"preceded by|followed by|follow-?up to|response to|related(?: to)?|see also|target audience",
    r"(?:audio|podcast|video)(?: version)?|narrat(?:ed|ion)(?: by)?|transcript|slides|code|paper|arxiv(?: paper)?",
    r"links?|website|github|twitter|blog(?: post)?|pdf|data(?:set)?|repo(?:sitory)?|demo|project page",
    r"cross-?post(?:ed)?(?: (?:from|to))?|link-?post(?: for)?|acknowledge?ments?|thanks|credits?",
)  # fmt: skip
_META_LABEL_RE = re.compile(
    r"^[\[(*_\"']*(?:" + "|".join(_META_LABELS) + r")\b[^:.!?]{0,30}(?::(?!//)|\s[–—-]\s)", re.IGNORECASE
)
_ORDINAL = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|next|previous|last|final|\d+(?:st|nd|rd|th))"
)
_NUMBER = r"(?:\d+(?:\.\d+)*[a-z]?|one|two|three|four|five|six|seven|[ivx]+)\b"
# 2. Words that by themselves say the text is a copy, a version or an instalment of something.
_META_ALWAYS_RE = re.compile(
    r"\b(?:cross-?post(?:ed|ing)?|x-?posted|link-?post|(?:originally|first) (?:posted|published|appeared)|"
    r"epistemic (?:status|state|effort)|attention conservation notice|(?:content|trigger) warning|"
    r"narrated by|read (?:aloud )?by the author|audio version|podcast (?:version|feed|app)|"
    + _ORDINAL
    + r" (?:main )?(?:post|part|entry|instal?lment|essay|chapter|article) (?:in|of)\b|"
    r"(?:^|\()(?:part|section|chapter)s? " + _NUMBER + r"|"
    r"(?:part|section|chapter)s? " + _NUMBER + r"(?:\s*(?:and|-|–)\s*[\d.]+)? (?:of|in) (?:my|our|this|the|a) "
    r"(?:[\w“”«»\"'-]+ ){0,6}?(?:sequence|series|report|post|essay|book|paper)|"
    r"(?:in|of|from) (?:this|a|the|my|our) (?:\w+ )?(?:sequence|series) (?:on|about|of)\b)",
    re.IGNORECASE,
)
# 3. A document noun after "this/my/our ...": the post speaking of itself ...
_SELF_RE = re.compile(
    r"\b(?:this|the following|the present|my|our)\s+(?:\w+\s+)?"
    r"(?:post|essay|article|piece|write-?up|report|paper|sequence|series|episode|newsletter|blog|thread|"
    r"chapter|part|section|instal?lment|entry|text|work|research|project|transcript|recording|version|talk|"
    r"document|doc)s?\b",
    re.IGNORECASE,
)
# ... (or, with no document named, "This is/was ...", "Below is ...") with a word of publishing, format,
# series or making.
_POINTING_RE = re.compile(r"^(?:this|it) (?:is|was)\b|^(?:below|above|here) (?:is|are)\b", re.IGNORECASE)
_META_IF_SELF_RE = re.compile(
    r"\b(?:available|posted|published|appeared|version|audio|podcast|recorded|transcript|translat\w+|"
    r"(?:in|of|from|to) (?:a|the|this|my|our) (?:\w+ )?(?:sequence|series)|part of (?:a|an|the|my|our)|"
    r"(?:written|produced|done|completed|conducted|prepared|created|funded|supported|sponsored) "
    r"(?:as part of|as|at|during|under|with|by|while|for|in|within)|"
    r"grew out of|came out of|benefited from|deprecated|superseded)\b",
    re.IGNORECASE,
)
# 4. Its making, said with the subject left out: "Produced as part of ...", "Published on ...", "Also
# available on ...".
_PROVENANCE_RE = re.compile(
    r"^(?:(?:written|produced|done|completed|conducted|prepared|created|funded|supported|published|posted)\b"
    r"[^.]{0,12}\b(?:as part of|at|during|under|with|by|while|on|in)\b|(?:also )?available (?:on|at|as|in|from)\b)",
    re.IGNORECASE,
)
# 5. Thanks.
_THANKS_RE = re.compile(
    r"^(?:with |also |and )?(?:many|special|huge|big|warm) thanks\b|"
    r"^(?:with |also |and )?thanks\b(?!\s+to\b(?![^.]*\bfor\b))|^thank you\b|"
    r"\b(?:i|we)(?: would|'d| also)*(?: like to| want to)? (?:thank|acknowledge)\b|"
    r"\b(?:grateful|thankful|indebted) (?:to|for)\b|\bthanks (?:also )?(?:go(?:es)? )?to\b[^.]*\bfor\b",
    re.IGNORECASE,
)
# 6. Directions to the reader: where to listen, read, subscribe or click.
_READER_RE = re.compile(
    r"\byou can (?:also )?(?:listen|read|find|watch|subscribe|sign up|apply|register|download|access)\b|"
    r"\b(?:click|listen|subscribe|sign up|apply|register|read (?:it|more|the (?:full|rest|whole))|"
    r"full (?:paper|post|text|version))\b[^.]{0,40}\b(?:here|below|at this link)\b|"
    r"^(?:click|tap|subscribe|download|sign up|register|apply now)\b|"
    r"^(?:see|read|listen to|watch|check out) (?:the|my|our|this) (?:\w+ )?(?:post|paper|essay|article|"
    r"podcast|video|episode|thread|sequence|series|report|write-?up)\b",
    re.IGNORECASE,
)
# 7. Credits and standing: who did the work and in what role, and whose views it states.
_CREDITS_RE = re.compile(
    r"\b(?:co-?first authors?|(?:equal|equally) contribut\w*|contributed equally|"
    r"(?:supervised|mentored|advised) (?:the|this|our) (?:project|work|research)|"
    r"(?:views|opinions) (?:expressed|stated|here) (?:here |in this \w+ )?(?:are|is) (?:my|our|the authors?'?) own|"
    r"(?:do|does) not (?:necessarily )?(?:represent|reflect) the (?:views|opinions|position)s? of)\b",
    re.IGNORECASE,
)
# 8. Advice on reading the post itself: what to skip or read instead.
_READING_ADVICE_RE = re.compile(
    r"\b(?:consider (?:reading|skipping|skimming)|(?:feel free|you (?:can|may|might want to)) (?:to )?"
    r"(?:skip|skim)|(?:parts|sections|this (?:post|section)) (?:are|is) (?:hard|difficult) to read|"
    r"skip (?:to|ahead|this section)|"
    r"(?:can|may) be (?:read|skipped) (?:independently|on (?:its|their) own|without)\b)",
    re.IGNORECASE,
)
# Words without which the patterns above cannot match.
_RESIDUE_HINTS = ("http", "www.", "@", "<", "&", "](", "![")
_META_HINTS = (
    "post", "narrat", "read", "audio", "podcast", "part", "sequence", "series", "publish", "appeared", "instal",
    "entr", "essay", "chapter", "article", "section", "epistemic", "attention", "warning",
)  # fmt: skip
_THANKS_HINTS = ("thank", "grateful", "indebted", "acknowledg")
_READER_HINTS = (
    "you can", "here", "below", "link", "see ", "read", "listen", "watch", "check out", "click", "tap",
    "subscribe", "download", "sign up", "register", "apply",
)  # fmt: skip
_SELF_HINTS = ("this ", "my ", "our ", "the following", "the present")
_CREDITS_HINTS = ("author", "contribut", "supervised", "mentored", "advised", "views", "opinions")
_READING_ADVICE_HINTS = ("read", "skip", "skim")
# Narrower hints for the two patterns tried most: a literal each alternative of the pattern holds (not "here",
# which "there" and "where" hold, nor "read" and "post", which most mentions of reading or posts hold). The
# broad hints stay for a text with a letter that ignoring case matches to a different ASCII letter than
# lower() gives ("ſ" is "s", "ı" and "İ" are "i"): there a narrow hint could miss what the pattern finds.
_META_ALWAYS_HINTS = (
    "-post", "crosspost", "linkpost", "posted", "post in", "post of", "published", "appeared", "epistemic",
    "attention conservation", "warning", "narrated by", "by the author", "audio version", "podcast ", "part ",
    "parts ", "entry ", "instal", "essay ", "chapter", "article ", "section", "sequence", "series",
)  # fmt: skip
_READER_NARROW_HINTS = (
    "you can", "click", "listen", "subscribe", "sign up", "apply", "register", "read ", "full ", "tap",
    "download", "see ", "watch", "check out",
)  # fmt: skip
_CASE_FOLDING_ODDITIES = ("ſ", "ı", "İ")
# Footnote markers left in plain text ("accuracy[1] scales", "values.²"); removed from a sentence's text.
_EDGE_MARKER_RE = re.compile(r"^\[\[?\d{1,3}\]\]?\s*|\s*(?:\[\[?\d{1,3}\]\]?|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)$")
_EDGE_MARKER_ENDS = "]¹²³⁴⁵⁶⁷⁸⁹⁰"
_MARKER_RE = re.compile(r"(?<=\S)\s?\[\[?\d{1,3}\]\]?|^\[\[?\d{1,3}\]\]?\s+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+")
_SUPERSCRIPT_RE = re.compile(r"[¹²³⁴⁵⁶⁷⁸⁹⁰]")


def boilerplate_kind(sentence: str) -> str:
    """What kind of boilerplate a sentence is, judged on the sentence alone: "residue" (a link, an address,
    markup), "caption", "meta" (about the post rather than its subject), or "" for none."""
    return _flat_boilerplate_kind(normalize_space(sentence))


def _flat_boilerplate_kind(flat: str) -> str:
    """boilerplate_kind of a text whose whitespace is already collapsed (a post's sentences)."""
    text = flat.replace("’", "'")
    if not text:
        return ""
    lower = text.lower()
    # Each searched pattern is tried only when a word it needs is there: most sentences hold none of them.
    broad = not text.isascii() and _has_any(text, _CASE_FOLDING_ODDITIES)
    if (_has_any(lower, _RESIDUE_HINTS) or text[0] in "^↩") and _RESIDUE_RE.search(text):
        return "residue"
    if _CAPTION_RE.match(text):
        return "caption"
    if (
        _META_LABEL_RE.match(text)
        or _PROVENANCE_RE.match(text)
        or (_has_any(lower, _META_HINTS if broad else _META_ALWAYS_HINTS) and _META_ALWAYS_RE.search(text))
        or (_has_any(lower, _THANKS_HINTS) and _THANKS_RE.search(text))
        or (_has_any(lower, _READER_HINTS if broad else _READER_NARROW_HINTS) and _READER_RE.search(text))
        or (_has_any(lower, _CREDITS_HINTS) and _CREDITS_RE.search(text))
        or (_has_any(lower, _READING_ADVICE_HINTS) and _READING_ADVICE_RE.search(text))
        or ((_speaks_of_itself(text, lower) or _POINTING_RE.match(text)) and _META_IF_SELF_RE.search(text))
    ):
        return "meta"
    return ""


def _has_any(lower: str, hints: tuple[str, ...]) -> bool:
    return any(map(lower.__contains__, hints))  # no Python-level loop: this runs for every sentence


def is_boilerplate(text: str) -> bool:
    """True for text that must never be quoted as the post's content: links and markup residue, captions,
    and sentences about the post itself (status, notes, series, cross-posts, versions, thanks, directions).
    A text of several sentences (a paragraph) is boilerplate when most of its words are."""
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return bool(boilerplate_kind(text))
    noted = sum(word_count(s) for i, s in enumerate(sentences) if _note_at(sentences, i))
    return noted * 2 > sum(word_count(s) for s in sentences)


def _note_at(sentences: list[str], i: int) -> bool:
    # A labelled note ("Epistemic status: ...") that opens a paragraph is judged by its first sentence.
    return bool(boilerplate_kind(sentences[i])) or (i == 0 and bool(_META_LABEL_RE.match(sentences[0])))


def speaks_of_itself(sentence: str) -> bool:
    """Whether a sentence names the post as a document ("this essay", "my last post", "our new paper")."""
    return _speaks_of_itself(sentence, sentence.lower())


def _speaks_of_itself(sentence: str, lower: str) -> bool:
    return _has_any(lower, _SELF_HINTS) and bool(_SELF_RE.search(sentence))


def _strip_edge_markers(sentence: str) -> str:
    # Only a sentence that opens with "[" or ends with "]" or a superscript can hold one: most hold none, and
    # the pattern's end-anchored half is tried at every space otherwise.
    if sentence[:1] == "[" or sentence[-1:] in _EDGE_MARKER_ENDS:
        return _EDGE_MARKER_RE.sub("", sentence)
    return sentence


def strip_footnote_markers(text: str) -> str:
    """`text` without footnote markers; a marker glued between two words ("accuracy[1]scales") leaves a space."""

    def replace(m: re.Match[str]) -> str:
        return " " if text[m.end() : m.end() + 1].isalnum() else ""

    superscripts = not text.isascii() and _SUPERSCRIPT_RE.search(text) is not None
    if superscripts:
        return _MARKER_RE.sub(replace, text)
    # Without superscripts a marker starts at a "[" or at the space just before one: the pattern is tried there
    # alone, in order, as `sub` would find it, rather than at every character of a long text.
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    bracket = text.find("[")
    while bracket != -1:
        for start in (bracket - 1, bracket):
            if start >= done and (m := _MARKER_RE.match(text, start)) is not None:
                pieces += (text[done:start], replace(m))
                done = m.end()
                break
        bracket = text.find("[", max(bracket + 1, done))
    return "".join(pieces) + text[done:] if pieces else text


# What opens a line of stored text as markup: quote marks ("> "), then a bullet ("* ", "- ", "• ").
_LINE_MARKUP_RE = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:[-*•·–—][ \t]+)?", re.MULTILINE)


def plain_excerpt(text: str) -> str:
    """An excerpt of stored post text as one line of plain prose: the quote marks and bullets that open its lines,
    the bullets of a list flattened into one line ("Summary * First point. * Second point.") and its footnote
    markers are gone (numbered items keep their numbers: they carry meaning)."""
    lines = _LINE_MARKUP_RE.sub("", text).splitlines()
    items = (piece.removeprefix("- ") for line in lines for piece in _unflatten_bullets(line))
    return normalize_space(strip_footnote_markers(" ".join(items)))


def looks_like_code_or_math(sentence: str) -> bool:
    """Code and formulas: few letters, or code/LaTeX tokens."""
    stripped = sentence.strip()
    if not stripped:
        return True
    if _CODE_START_RE.match(stripped) or (_has_any(stripped, _CODE_HINTS) and _CODE_TOKEN_RE.search(stripped)):
        return True
    if not _DIGIT_OR_SYMBOL_RE.search(stripped) and _LETTERS_RE.search(stripped):
        return False  # plain prose: letters, spaces and punctuation only
    if len(_MATH_SYMBOL_RE.findall(stripped)) >= 3:
        return True
    visible = len(stripped) - stripped.count(" ")
    letters = len(_NOT_LETTERS_RE.sub("", stripped))  # counted without a list of one-letter strings
    return letters < 0.65 * visible


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
    following = _NEXT_CHARACTER_RE.match(flat, end)
    if following is None:
        return True
    nxt = following[1]
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

    text: str  # a span of the post: whitespace collapsed, a label ("TL;DR:") and edge footnote markers removed
    index: int  # position among all sentences of the post
    paragraph: int  # index of the paragraph it sits in
    first_in_paragraph: bool
    section: str  # "lead" (TL;DR, abstract, summary), "body", "weak" (methods, related work) or "end"
    boilerplate: bool  # not prose, a caption, or about the post rather than its subject (see is_boilerplate)
    heading: bool
    code: bool
    list_item: bool
    quoted: bool  # a "> " line: someone else's words (a linkpost's quoted abstract, an epigraph)
    words: int
    stems: tuple[str, ...] = ()  # content_stems(text), computed once
    offset: int = 0  # where its line starts in the post, in characters (blank lines between paragraphs aside)

    @property
    def quotable(self) -> bool:
        """Fit to be quoted as a standalone sentence."""
        return not (self.boilerplate or self.heading or self.code or self.section == "end")


# Posts split and kept: the summarizer and the theme finder read the same posts in one build (when the summaries
# are written here; summary processes hand the finder its reading instead, `themes.writing.remember_reading`). A
# split 3,000-word post holds about 90 kB, so this bounds the cache near 25 MB.
POST_CACHE_SIZE = 256
# The edges of a post, where notes about it sit: its first and last EDGE_PARAGRAPHS paragraphs.
EDGE_PARAGRAPHS = 2
# A post needs this many paragraphs before the share of a sentence's words found elsewhere in it tells a note
# that names the post from a sentence that introduces its subject.
TOPICALITY_MIN_PARAGRAPHS = 6
# An edge sentence that speaks of the post and shares less than this share of its words with the rest of the
# post is a note about the post; so is a sentence that follows a note in its paragraph and shares less than
# NOTE_CONTINUES_SHARE (that is, not most) of its words with the rest.
OFF_TOPIC_SHARE = 0.25
NOTE_CONTINUES_SHARE = 0.5


def post_sentences(text: str, *, max_chars: int | None = None) -> list[Sentence]:
    """Every sentence of a post, in order, with its flags. `max_chars` keeps only the sentences whose line
    starts within the first `max_chars` characters (the flags still come from the whole post).

    Cached on the text (the last POST_CACHE_SIZE posts), so that calling it again for the same post is cheap.
    """
    sentences = _split_post(text)
    if max_chars is None:
        return list(sentences)
    return [s for s in sentences if s.offset < max_chars]


def forget_posts() -> None:
    """Drop the posts `post_sentences` keeps: a process that reads each post once (a summary worker) keeps none."""
    _split_post.cache_clear()


@lru_cache(maxsize=POST_CACHE_SIZE)
def _split_post(text: str) -> tuple[Sentence, ...]:
    lines = list(_units(text))
    footnote_tail = _footnote_tail_start(lines)
    out: list[Sentence] = []
    section = "body"
    paragraphs_in_section = 0
    labelled_paragraph = -1  # a paragraph that opens with "TL;DR:" or "Abstract:" is a lead section itself
    quoting_summary = False  # inside the quote that a line such as "From the abstract:" introduces
    offset = 0
    for position, (paragraph, line) in enumerate(lines):
        line_offset = offset
        offset += len(line) + 1
        first_line = position == 0 or lines[position - 1][0] != paragraph
        if first_line:
            paragraphs_in_section += 1
            if section == "lead" and paragraphs_in_section > 3:
                section = "body"  # a TL;DR heading with no heading after it covers a few paragraphs
        heading = _heading_text(line)
        if heading is not None:
            section = _section_after(heading, section)
            paragraphs_in_section = 0
            out.append(_sentence(heading, len(out), paragraph, first_line, section, line_offset, heading=True))
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
        line_section = "lead" if paragraph == labelled_paragraph or (quoted and quoting_summary) else section
        if not quoted:
            # "Here is the abstract:", "From the executive summary:": the quote after it is the post's lead.
            quoting_summary = body.endswith(":") and bool(_NAMES_SUMMARY_RE.search(body[-80:]))
        if position >= footnote_tail or _FOOTNOTE_LINE_RE.match(line) or "↩" in line:
            line_section = "end"
        # A marker at either edge of a sentence goes ("[1] I did ...", "... research.[1]"), so that the sentence
        # is still a span of the post; one inside it stays (strip_footnote_markers takes it out of a summary).
        pieces = [_strip_edge_markers(piece) for piece in split_sentences(body)]
        # A labelled note ("Epistemic status: ...", "Edit: ...") opens its line; whether the note goes on past
        # its first sentence is judged by what the next ones share with the post (_mark_notes_at_edges).
        labelled_note = bool(_META_LABEL_RE.match(body.replace("’", "'")))
        for i, sentence_text in enumerate(pieces):
            out.append(
                _sentence(
                    sentence_text,
                    len(out),
                    paragraph,
                    first_line and i == 0,
                    line_section,
                    line_offset,
                    boilerplate=(labelled_note and i == 0) or bool(_flat_boilerplate_kind(sentence_text)),
                    list_item=list_item,
                    quoted=quoted,
                )
            )
    return tuple(_mark_notes_at_edges(out))


def _mark_notes_at_edges(sentences: list[Sentence]) -> list[Sentence]:
    """Mark the notes about the post that sit at its edges (its first and last EDGE_PARAGRAPHS paragraphs), in
    a post long enough to tell what its vocabulary is: a sentence that follows a note in its paragraph and
    shares little of its vocabulary with the rest of the post (the note goes on), and a sentence that speaks
    of the post and shares less still."""
    body = [s for s in sentences if s.section != "end" and not s.heading]
    if not body or body[-1].paragraph + 1 < TOPICALITY_MIN_PARAGRAPHS:
        return sentences
    # In how many of the post's other sentences (notes aside) each stem occurs.
    spread: Counter[str] = Counter()
    for s in body:
        if not s.boilerplate:
            spread.update(set(s.stems))
    first_paragraph, last_paragraph = body[0].paragraph, body[-1].paragraph
    out: list[Sentence] = []
    note_paragraph = -1
    for s in sentences:
        at_edge = s.paragraph < first_paragraph + EDGE_PARAGRAPHS or s.paragraph > last_paragraph - EDGE_PARAGRAPHS
        if at_edge and not s.boilerplate and not s.heading and s.section != "end":
            distinct = set(s.stems)
            shared = sum(spread[t] > 1 for t in distinct) / len(distinct) if distinct else 0.0
            if (shared < NOTE_CONTINUES_SHARE and s.paragraph == note_paragraph) or (
                shared < OFF_TOPIC_SHARE and speaks_of_itself(s.text)
            ):
                s = _replace_boilerplate(s)
        if s.boilerplate and at_edge:
            note_paragraph = s.paragraph
        out.append(s)
    return out


def _replace_boilerplate(s: Sentence) -> Sentence:
    return Sentence(
        s.text, s.index, s.paragraph, s.first_in_paragraph, s.section, True, s.heading, s.code, s.list_item,
        s.quoted, s.words, s.stems, s.offset,
    )  # fmt: skip


def _sentence(
    text: str,
    index: int,
    paragraph: int,
    first: bool,
    section: str,
    offset: int,
    *,
    heading: bool = False,
    boilerplate: bool = False,
    list_item: bool = False,
    quoted: bool = False,
) -> Sentence:
    tokens = text.split()
    text = " ".join(tokens)  # normalize_space, keeping the tokens to count
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
        words=len(tokens),
        stems=tuple(content_stems(text)),
        offset=offset,
    )


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
            for piece in _unflatten_bullets(ln):
                yield paragraph, piece
        paragraph += 1


# A Markdown list flattened into one line ("TL;DR * First point. * Second point."): a lone asterisk or bullet
# between words starts an item.
_FLAT_BULLET_RE = re.compile(r"\s+[*•]\s+(?=\S)")


def _unflatten_bullets(line: str) -> list[str]:
    """The line, or its text before the first flattened bullet and then each item as a list line ("- ...")."""
    if "* " not in line and "• " not in line:
        return [line]
    parts = _FLAT_BULLET_RE.split(line)
    if len(parts) < 2 or looks_like_code_or_math(line):
        return [line]
    head = parts[0].strip().lstrip("*• ").strip()
    lines = [head] if head else []
    # "... last sentence. TL;DR": the label that introduced the list stands on its own line, as a heading.
    sentences = split_sentences(head)
    if len(sentences) > 1 and sentences[-1][-1:] not in '.!?"”’)':
        lines = [head[: head.rfind(sentences[-1])].strip(), sentences[-1]]
    return lines + [f"- {part.strip()}" for part in parts[1:] if part.strip()]


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
