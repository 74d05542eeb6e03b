"""Reading the names the docs use: code spans and code blocks of Markdown, and the four checks
of tests/unit/test_docs_references.py as pure functions of text and of the product's names.

Each checker takes pieces of text and what the product has, and returns one `Problem` per
reference that does not exist (shown as `file:line: reference: why`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# --- the text ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """A reference to something the product does not have, and where it stands."""

    where: str
    line: int
    reference: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.reference}: {self.why}"


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of text where a reference may stand: a file's line, a code span or a code
    block's line (`block`), with the file and the line it starts on."""

    where: str
    line: int
    text: str
    block: bool = False

    def at(self, reference: str, why: str) -> Problem:
        return Problem(self.where, self.line, reference, why)


_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_COMMENT = re.compile(r"(?:^|\s)#\s.*$")


def lines(where: str, text: str) -> list[Piece]:
    """Every line of a file, as it is."""
    return [Piece(where, number, line) for number, line in enumerate(text.split("\n"), 1)]


def spans(where: str, line: int, text: str) -> Iterator[Piece]:
    """The code spans of `text` (which starts on `line`); a span may cross a line break."""
    for match in _SPAN.finditer(text):
        body = match.group(2).replace("\n", " ").replace("\\|", "|").strip()
        yield Piece(where, line + text.count("\n", 0, match.start()), body)


def code(where: str, text: str) -> list[Piece]:
    """The code of a Markdown file: each code span, and each line of a fenced block (lines
    ending in a backslash joined to the next). A block line holding code spans is annotated
    prose (a diagram), and so is a block line's `# comment`: only their spans count."""
    pieces: list[Piece] = []
    prose: list[str] = []
    fenced = False
    joined: tuple[int, str] | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if _FENCE.match(line):
            fenced = not fenced
            prose.append("")
            continue
        if not fenced:
            prose.append(line)
            continue
        prose.append("")
        start, sofar = joined if joined else (number, "")
        body = f"{sofar} {line.strip()}" if joined else line
        if body.rstrip().endswith("\\"):
            joined = (start, body.rstrip()[:-1])
            continue
        joined = None
        comment = _COMMENT.search(body)
        if comment:
            pieces.extend(spans(where, start, comment.group()))
            body = body[: comment.start()]
        if "`" in body:
            pieces.extend(spans(where, start, body))
        elif body.strip():
            pieces.append(Piece(where, start, body, block=True))
    paragraphs = "\n".join(prose)
    for paragraph in re.finditer(r"(?:[^\n]+\n?)+", paragraphs):
        first = paragraphs.count("\n", 0, paragraph.start()) + 1
        pieces.extend(spans(where, first, paragraph.group()))
    return sorted(pieces, key=lambda piece: piece.line)


# --- 1. settings ---------------------------------------------------------------------------

_ENV = re.compile(r"(?<![A-Za-z0-9_])RAGOPS_[A-Z0-9_]*(?:\*|(?<=[A-Z0-9])(?![A-Za-z0-9_]))")


def env_problems(pieces: Iterable[Piece], known: Collection[str]) -> list[Problem]:
    """`RAGOPS_*` names that no setting or CLI option reads (`RAGOPS_LLM_*` names a prefix)."""
    problems: list[Problem] = []
    for piece in pieces:
        for match in _ENV.finditer(piece.text):
            name = match.group().rstrip("*")
            if match.group().endswith("*"):
                if not any(setting.startswith(name) for setting in known):
                    problems.append(piece.at(match.group(), "no setting has this prefix"))
            elif name not in known:
                problems.append(piece.at(name, "not a setting (nor a CLI option's variable)"))
    return problems


# --- 2. commands ---------------------------------------------------------------------------

_INVOCATION = re.compile(r"(?<![\w.:@/=-])(?:[\w.-]*/)*ragops(?![\w.:@/=-])")
# where a command starts: the start, after a shell operator or `--`, after `VAR=value`s, or
# after an image or service named ragops (`docker run IMAGE ragops ...`)
_COMMAND_POSITION = re.compile(
    r"(?:.*(?:&&|\|\||[;|]|\$\(|\s--)\s*|\s*(?:\$\s+)?|.*\sragops(?::[\w.-]+)?\s+)"
    r"(?:[A-Z][A-Z0-9_]*=\S*\s+)*"
)
_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|\S+")
_END = {"&&", "||", ";", "|", ">", ">>", "2>&1", ")"}
_OPTION = re.compile(r"^--?[A-Za-z][\w-]*")
_PLACEHOLDER = re.compile(r"^(?:\.\.\.|…|<.*|[A-Z][A-Z0-9_]*)$")


def _commands(command: Any) -> Mapping[str, Any]:
    commands: Mapping[str, Any] = getattr(command, "commands", {})
    return commands


def _options(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("-"))
    return names


def invocations(piece: Piece) -> Iterator[list[str]]:
    """The words after each `ragops` at a command's position in `piece`, up to the end of
    that shell command (an operator or redirection outside brackets, or a comment)."""
    for match in _INVOCATION.finditer(piece.text):
        if not _COMMAND_POSITION.fullmatch(piece.text[: match.start()]):
            continue
        words: list[str] = []
        depth = 0
        for token in _TOKEN.findall(piece.text[match.end() :]):
            if depth == 0 and (token in _END or token.startswith(("#", ">", "`"))):
                break
            depth += token.count("[") - token.count("]")
            word = token.strip("[]()\"'")
            if word:
                words.append(word)
        yield words


def cli_problems(pieces: Iterable[Piece], root: Any) -> list[Problem]:
    """Invocations of `ragops` naming a command the CLI lacks or an option it does not take."""
    problems: list[Problem] = []
    for piece in pieces:
        for words in invocations(piece):
            path, current, rest = ["ragops"], [root], list(words)
            while rest and _commands(current[0]) and not rest[0].startswith("-"):
                word = rest[0]
                if _PLACEHOLDER.match(word):  # `ragops keys ...`
                    break
                names = word.split("|")
                missing = [n for n in names if n not in _commands(current[0])]
                if missing:
                    problems.append(piece.at(" ".join([*path, word]), "no such command"))
                    rest = []
                    break
                path.append(word)
                current = [_commands(current[0])[n] for n in names]
                rest.pop(0)
                if len(names) > 1:
                    break
            for word in rest:
                if word == "--":
                    break
                option = _OPTION.match(word)
                if option and any(option.group() not in _options(c) for c in current):
                    problems.append(
                        piece.at(f"{' '.join(path)} {option.group()}", "no such option")
                    )
    return problems


def manifest_invocations(where: str, text: str) -> list[Piece]:
    """Commands of deployment manifests: `["ragops", ...]` arrays (Dockerfile, Kubernetes,
    compose), `command: ragops ...` values (Render, supervisord) and code spans of comments."""
    pieces = []
    for piece in lines(where, text):
        for array in re.finditer(r"\[\s*\"ragops\"[^\]]*\]", piece.text):
            words = json.loads(array.group())
            pieces.append(Piece(where, piece.line, " ".join(words)))
        value = re.search(r"[cC]ommand\s*[:=]\s*(?:\{\{ragops\}\}|ragops)(\s.*)", piece.text)
        if value:
            pieces.append(Piece(where, piece.line, "ragops" + value.group(1)))
        pieces.extend(spans(where, piece.line, piece.text))
    return pieces


# --- 3. metrics ----------------------------------------------------------------------------

_RECORDED = re.compile(r"\b[a-z_]+:ragops_[a-z0-9_]+:[a-z0-9_]+")
_METRIC = re.compile(r"(?<![\w:$.-])ragops_[a-z0-9_]+(?![\w:])")


def metric_problems(
    pieces: Iterable[Piece], exported: Collection[str], recorded: Collection[str]
) -> list[Problem]:
    """`ragops_*` series the code does not export, and `level:ragops_*:op` series that no
    recording rule records."""
    problems: list[Problem] = []
    for piece in pieces:
        for match in _RECORDED.finditer(piece.text):
            if match.group() not in recorded:
                problems.append(piece.at(match.group(), "no recording rule records it"))
        for match in _METRIC.finditer(piece.text):
            if match.group() not in exported:
                problems.append(piece.at(match.group(), "not a metric ragops exports"))
    return problems


# --- 4. routes -----------------------------------------------------------------------------

_API = r"/(?:v1|healthz|readyz|metrics|ops|version)(?![\w-])[^\s\"'`)>,;]*"
_METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD)\s+(" + _API + ")")
_URL_PATH = re.compile(
    r"(?:https?://(?:127\.0\.0\.1|localhost|ragops[\w.-]*|[\w.-]*example\.com)(?::\d+)?"
    r"|\$\{?[A-Z_]+\}?)(" + _API + ")"
)
_ROUTE_LABEL = re.compile(r"route\s*(?:=~|!~|=|!=)\s*\"(/[^\"]*)\"")
_MANIFEST_PATH = re.compile(r"\b(?:path|metrics_path|healthCheckPath):\s*[\"']?(" + _API + ")")


def _paths(piece: Piece) -> Iterator[tuple[str | None, str]]:
    """(method or None, path) of each API path in `piece`: `METHOD /path`, a URL on a
    ragops host (`$RAGOPS_URL/...`, localhost), a route label, or a span that is a path."""
    for match in _METHOD_PATH.finditer(piece.text):
        yield match.group(1), match.group(2)
    taken = {m.group(2) for m in _METHOD_PATH.finditer(piece.text)}
    for match in _URL_PATH.finditer(piece.text):
        if match.group(1) not in taken:
            yield None, match.group(1)
    for match in _ROUTE_LABEL.finditer(piece.text):
        yield None, match.group(1)
    for match in _MANIFEST_PATH.finditer(piece.text):
        yield None, match.group(1)
    if not piece.block and re.fullmatch(_API, piece.text):
        yield None, piece.text


def _alternatives(path: str) -> list[str]:
    """`/a/{n}/b|c` -> `/a/{n}/b`, `/a/{n}/c`; `/x|/y` -> `/x`, `/y` (PromQL regexes too)."""
    paths: list[str] = []
    for part in path.split("|"):
        if part.startswith("/") or not paths:
            paths.append(part)
        else:
            paths.append(paths[-1].rsplit("/", 1)[0] + "/" + part)
    return paths


def route_problems(
    pieces: Iterable[Piece],
    matches: Callable[[str, str | None], bool],
    templates: Collection[str],
) -> list[Problem]:
    """API paths that are no route of the app. `matches(path, method)` asks the app's router
    (method None: any method); without a method, a path may also be the prefix of routes
    (`/v1/admin`, `/v1/admin/...`, `/ops.*`); query strings and `[optional]` parts are
    ignored."""
    problems: list[Problem] = []
    for piece in pieces:
        for method, raw in _paths(piece):
            cleaned = re.sub(r"\[[^\]]*\]?|[?#].*$", "", raw).rstrip(".,:")
            for path in _alternatives(cleaned):
                if method:
                    known = matches(path, method)
                else:
                    prefix = re.sub(r"(?:\.\.\.|…|\.\*|\*)$", "", path).rstrip("/")
                    known = matches(prefix or "/", None) or any(
                        t.startswith(prefix + "/") for t in templates
                    )
                if not known:
                    shown = f"{method} {path}" if method else path
                    problems.append(piece.at(shown, "not a route of the app"))
    return problems
