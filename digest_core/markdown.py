"""The digest as Markdown (the CLI's default output), in the structure of the reference digest."""

from __future__ import annotations

import re

from digest_core.models import Digest, DigestPost, Theme, ThemeLink

RULE = "---"


def render_markdown(digest: Digest) -> str:
    lines = [f"# {_inline(digest.title)}", ""]
    if digest.is_empty:
        lines += ["No new posts in this edition.", ""]
        return "\n".join(lines)
    by_id = {post.id: post for post in digest.posts}
    lines += ["## Key Themes and Developments", ""]
    for number, theme in enumerate(digest.themes, start=1):
        lines += [RULE, "", *_theme(number, theme, by_id), ""]
    if digest.connections:
        lines += [RULE, "", "### **Connections and Broader Implications**"]
        lines += [f"- {_inline(point)}" for point in digest.connections]
        lines.append("")
    lines += [RULE, "", "## Individual Post Summaries", ""]
    for post in digest.posts:
        lines += [*_post(post), "", RULE, ""]
    lines.append(f"_Written by the {digest.generated_by} path._")
    return "\n".join(lines) + "\n"


def _theme(number: int, theme: Theme, by_id: dict[str, DigestPost]) -> list[str]:
    lines = [f"### **{number}. {_inline(theme.title)}**"]
    if theme.continues is not None:
        lines.append(f"- **Continues**: {continues_text(theme.continues)}")
    lines.append(f"- **Key Idea**: {_inline(theme.key_idea)}")
    for index, post_id in enumerate(theme.post_ids):
        post = by_id.get(post_id)
        if post is None:
            continue
        point = theme.post_points[index] if index < len(theme.post_points) else ""
        lines.append(f"  - *{_inline(post.title)}* (#{post.number})" + (f": {_inline(point)}" if point else ""))
    if theme.implications:
        lines.append(f"- **Broader Implications**: {_inline(theme.implications)}")
    return lines


def continues_text(link: ThemeLink) -> str:
    """ "<title> (<date>)": the words every renderer uses for a theme's predecessor."""
    return f"{_inline(link.title)} ({link.date.isoformat()})"


def _post(post: DigestPost) -> list[str]:
    lines = [f"### {_inline(post.title)}", f"Source: {post.source}"]
    if post.authors:
        lines.append(f"Authors: {', '.join(post.authors)}")
    lines += [f"Published: {post.published:%Y-%m-%d %H:%M} UTC", f"Link: {post.url}", ""]
    lines.append(f"Summary: {_inline(post.summary)}")
    return lines


def _inline(text: str) -> str:
    """One line of text that cannot open a heading, a rule or a list where it lands."""
    return re.sub(r"\s+", " ", text).strip()
