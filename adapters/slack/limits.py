"""Slack's limits, in one place (platform-notes A4). Every cut in the renderer goes through `render.clip`.

Slack counts characters; Python strings count code points, which is the same for everything but a few
emoji sequences, and our practical limits leave enough margin for those.
"""

from __future__ import annotations

# Block Kit, per message.
MAX_BLOCKS_PER_MESSAGE = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
# Slack documents ~12,000 characters of block text per message but has been seen refusing ~13.2k with
# `msg_blocks_too_long`; we pack to 10,000 so a message never meets that error.
MAX_MESSAGE_TEXT = 10_000
# The top-level `text` (notifications, screen readers); Slack truncates at 40k, readers give up far earlier.
MAX_FALLBACK_TEXT = 3000

# Modals.
MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24
MAX_PRIVATE_METADATA = 3000
MAX_QUESTION_INPUT = 2000

# Our own display limits for untrusted fields, so that one 10 kB title cannot crowd out a whole message.
MAX_TITLE_CHARS = 300
MAX_AUTHORS_CHARS = 300
MAX_SOURCE_CHARS = 200
MAX_URL_CHARS = 1000
MAX_POINT_CHARS = 1000
# A theme names this many of its posts (with their points) in the channel message, then numbers the rest.
MAX_THEME_POSTS = 12
MAX_THEME_MORE_CHARS = 600
# A runaway summary (model output) would otherwise become dozens of replies.
MAX_SUMMARY_CHARS = 20_000
# An answer's parts, budgeted so that together they stay under MAX_MESSAGE_TEXT.
MAX_ANSWER_CHARS = 3000
MAX_QUOTE_CHARS = 2500
MAX_CANDIDATES_CHARS = 1500
MAX_ECHOED_QUESTION_CHARS = 1000

# Search results (our choices): hits per page, and the display size of an excerpt and of the echoed query.
SEARCH_PAGE_SIZE = 5
MAX_SNIPPET_CHARS = 300
MAX_SEARCH_QUERY_CHARS = 200

# chat.postMessage is "special tier": about one message per second per channel.
POST_INTERVAL_SECONDS = 1.0

# A bound on every Web API call.
WEB_API_TIMEOUT_SECONDS = 30
RATE_LIMIT_RETRIES = 3
# How long `close()` waits for acknowledged work (an answer being written, a digest being posted).
SHUTDOWN_DRAIN_SECONDS = 4.0

# A huge day: posts past DIGEST_MAX_THREAD_POSTS are one line each ("#41 Title — source") in list messages.
MAX_LISTED_TITLE_CHARS = 150
MAX_LIST_MESSAGE_TEXT = 9_000  # the lines of one list message; its heading fits in what MAX_MESSAGE_TEXT leaves
MAX_LIST_MESSAGES = 40  # about 2,000 listed posts; past that the list ends by counting the rest
