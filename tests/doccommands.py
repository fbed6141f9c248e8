"""Shell commands as README.md and docs/*.md print them: fenced sh/bash/shell/console blocks and command tables.

A command is a line of a fenced block (comments after `` # `` are kept apart: they often
say what the command does or that it fails), or a table cell that *starts* with a code
span naming a command (``| `invoke gen --check`: … |``; alternatives written
`` `a` / `b` `` are two commands). Prose mentions in running text are not commands.
A table entry written as a synopsis (``invoke list [--gpu sm120] [--json]``) is expanded
into its shortest form (no optional parts) and its longest (every optional part).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGS = {"sh", "bash", "shell", "console"}
COMMAND_WORDS = ("invoke", "nox", "python", "python3", "flox", "git", "gh", "archspec", "grep", ".venv/bin/", "nix", "PYTHONPATH=")


@dataclass(frozen=True)
class DocCommand:
    file: str  # relative to the repository root
    line: int
    text: str  # the command as printed (a synopsis expanded: see ``form``)
    comment: str = ""  # what follows `#` on the line
    form: str = ""  # "", "shortest" or "longest" for an expanded synopsis

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" + (f" ({self.form} form)" if self.form else "")


def doc_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _split_comment(line: str) -> tuple[str, str]:
    """``cmd  # note`` → (cmd, note); a ``#`` inside quotes or without a space before it stays."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def _is_command(text: str) -> bool:
    return any(text.startswith(w) for w in COMMAND_WORDS) and (" " in text or text.startswith(".venv/bin/"))


def _expand(text: str) -> list[tuple[str, str]]:
    """A synopsis with ``[optional parts]`` → [(shortest, "shortest"), (longest, "longest")]; else [(text, "")]."""
    if not re.search(r"\s\[[^\]]+\]", text):
        return [(text, "")]
    shortest = re.sub(r"\s*\[[^\]]+\]", "", text).strip()
    longest = re.sub(r"\[([^\]]+)\]", r"\1", text).strip()
    return [(shortest, "shortest"), (longest, "longest")]


def _table_commands(rel: str, number: int, line: str) -> list[DocCommand]:
    out = []
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
    for cell in cells:
        spans = re.match(r"^`([^`]+)`((?:\s*/\s*`[^`]+`)*)", cell)
        if not spans:
            continue
        texts = [spans.group(1)] + re.findall(r"`([^`]+)`", spans.group(2))
        for text in texts:
            if _is_command(text):
                out += [DocCommand(rel, number, t, form=f) for t, f in _expand(text)]
    return out


def extract(root: Path) -> list[DocCommand]:
    out: list[DocCommand] = []
    for path in doc_files(root):
        rel = str(path.relative_to(root))
        lang: str | None = None
        pending = ""
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fence = re.match(r"^\s*```\s*([\w-]*)", raw)
            if fence:
                lang = None if lang is not None else fence.group(1)
                continue
            if lang is not None:
                if lang not in SHELL_LANGS:
                    continue
                text, comment = _split_comment(raw.strip())
                if text.endswith("\\"):
                    pending += text[:-1] + " "
                    continue
                text, pending = (pending + text).strip(), ""
                if text and not text.startswith("$ ") or text[2:]:
                    text = text.removeprefix("$ ")
                if text:
                    out.append(DocCommand(rel, number, text, comment))
            elif raw.startswith("|"):
                out += _table_commands(rel, number, raw)
    return out
