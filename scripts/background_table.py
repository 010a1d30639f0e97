"""Write the shipped background table (`digest_core/data/background_terms.tsv`) from the shared forum export.

    python scripts/background_table.py [--csv ../shared/data/alignment-forum-posts.csv]
    python scripts/background_table.py --check   # exit 1 when the table differs from what the export gives

For every content-word stem and two-word term (the text toolkit's `content_phrases`) used by at least
SHIPPED_MIN_DOCUMENTS posts of the export (title and opening, read as `background.document_terms` reads a stored
post): how many posts use it and how often it occurs in them. Counts only: no sentence of the export goes into the
repository, only terms that five or more posts share.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest_core.background import SHIPPED_MIN_DOCUMENTS, SHIPPED_TABLE, document_phrases, document_terms  # noqa: E402

DEFAULT_CSV = ROOT / ".." / "shared" / "data" / "alignment-forum-posts.csv"
TABLE = ROOT / "digest_core" / "data" / SHIPPED_TABLE
HEADER = (
    "# Background term counts for the offline theme finder (digest_core/background.py).\n"
    "# Source: the AI Alignment Forum export of 4,212 posts (2017-01 to 2026-07; public API export, see the README),\n"
    "# each post's title and opening. Per content-word stem or two-word term used by at least {minimum} posts: posts\n"
    "# using it, and its occurrences in them. Counts only. Written by scripts/background_table.py.\n"
)


def render(csv_path: Path) -> str:
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    used: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        terms = document_terms(row["title"], row["summary"]) + document_phrases(row["title"], row["summary"])
        used.update(terms.keys())
        total.update(terms)
    kept = sorted((t for t, c in used.items() if c >= SHIPPED_MIN_DOCUMENTS), key=lambda t: (-used[t], t))
    lines = [HEADER.format(minimum=SHIPPED_MIN_DOCUMENTS), f"#documents\t{len(rows)}\n"]
    lines += [f"{t}\t{used[t]}\t{total[t]}\n" for t in kept]
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--check", action="store_true", help="exit 1 when the shipped table is out of date")
    args = parser.parse_args()
    table = render(args.csv)
    if args.check:
        current = TABLE.read_text(encoding="utf-8") if TABLE.exists() else ""
        if current != table:
            print(f"{TABLE} is out of date: run scripts/background_table.py")
            sys.exit(1)
        return
    TABLE.write_text(table, encoding="utf-8")
    print(f"wrote {TABLE}: {table.count(chr(10)) - 5} terms")


if __name__ == "__main__":
    main()
