"""How fast the Discord renderer turns editions into payloads, and how many messages they become.

Run: .venv/bin/python bench/discord_render.py
Prints figures only; nothing here asserts a speed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.discord.render import embed_size, render_digest
from tests.discord.fake_service import make_digest
from tests.discord.test_render import DAY, adversarial_digest


def measure(name: str, digest: object, repeats: int) -> None:
    start = time.perf_counter()
    for _ in range(repeats):
        messages = render_digest(digest)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) / repeats
    largest = max(sum(embed_size(e) for e in m.embeds) for m in messages)
    heads = sum(1 for m in messages if m.part_key.startswith("head"))
    print(
        f"{name:<34} {elapsed * 1000:8.1f} ms per render   {len(messages):4d} messages "
        f"({heads} head)   largest message {largest} / 6000 characters"
    )


if __name__ == "__main__":
    measure("typical edition (12 posts)", make_digest(DAY, 12), 200)
    measure("adversarial edition (300 posts)", adversarial_digest(300), 5)
