"""Discord's message limits (discord-api-docs, resources/message: "Embed Limits"), in one place.

Lengths are counted in UTF-16 code units by `render.discord_len`, never less than Discord's own count, so
that a message within these limits is never refused with HTTP 400 (50035 Invalid Form Body).
"""

from __future__ import annotations

from typing import Final

CONTENT = 2_000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4_096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1_024
EMBED_FOOTER = 2_048
EMBED_AUTHOR = 256
EMBEDS_TOTAL = 6_000  # sum of titles, descriptions, field names and values, footers and authors of a message
EMBEDS_PER_MESSAGE = 10
THREAD_NAME = 100
CUSTOM_ID = 100
BUTTON_LABEL = 80
MODAL_TITLE = 45
TEXT_INPUT_LABEL = 45
TEXT_INPUT_VALUE = 4_000
URL = 2_048  # embed url; longer feed links are left out of the embed rather than refused

# Our own choices, not Discord's.
QUESTION_MAX = 1_000  # longest question accepted from the modal
CONTINUES_TITLE = 300  # an earlier theme's title in a theme's "Continues" line
SEARCH_QUERY_MAX = 80  # longest `/digest search` query: with the offset it still fits a button's custom_id
SEARCH_PAGE_SIZE = 5  # results per page
SNIPPET_MAX = 300  # an excerpt's length in a result
THREAD_AUTO_ARCHIVE_MINUTES: Final = 10_080  # a week: questions keep coming after the day of the edition
# A theme names this many of its posts (with their points) in the channel message, then numbers the rest.
THEME_POSTS = 12
THEME_MORE = 600
# A huge day: posts past DIGEST_MAX_THREAD_POSTS are one line each ("#41 Title — source") in list messages.
LISTED_TITLE = 150
LISTED_SOURCE = 100
LIST_MESSAGE_TEXT = EMBEDS_TOTAL - 300  # the lines of one list message; the rest is room for its embed titles
MAX_LIST_MESSAGES = 40  # about 1,300 listed posts; past that the list ends by counting the rest
