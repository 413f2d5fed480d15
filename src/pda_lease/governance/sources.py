"""Policy sources: load, lint and compile a YAML policy directory (spec §13.2, docs/POLICY.md).

A policy directory holds ``org.yml``, ``models.yml``, ``tools.yml`` and ``workspaces/*.yml``.
:func:`load_sources` reads it with a strict YAML loader (no anchors, aliases, floats, custom
tags or duplicate keys; only ``true``/``false`` are booleans and only plain decimals are
integers) and turns every reading problem into a :class:`LintMessage`. :func:`compose` is pure:
it lints the parsed sources and compiles them to the GovernancePolicy document of §13.1, one
spelling per policy whatever the order of keys, list items or files. Errors block the build;
warnings (unreachable rules) do not.
"""

from __future__ import annotations

import enum
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import yaml

from pda_lease.kernel.cbor import encode
from pda_lease.kernel.crypto import cose_key_thumbprint, is_valid_public_key
from pda_lease.kernel.errors import PolicyError, UsageError
from pda_lease.kernel.inputs import LeasePolicy
from pda_lease.kernel.model import child_path, index_path
from pda_lease.kernel.pools import POOL_NAMES, pools_check, pools_problem

MAX_FILE_BYTES: Final = 1 << 20
MAX_WORKSPACE_FILES: Final = 256
MAX_DOCUMENT_BYTES: Final = 1 << 20
MAX_CONTAINER_MEMBERS: Final = 10_000
MAX_YAML_DEPTH: Final = 32
MAX_INTEGER_CHARS: Final = 40
UINT63_MAX: Final = (1 << 63) - 1
MAX_LEASE_DURATION_NS: Final = 86_400_000_000_000
MAX_HRC_AGE_NS: Final = 3_600_000_000_000
MAX_REQUEST_AGE_NS: Final = 3_600_000_000_000
MAX_APPROVAL_TTL_NS: Final = 604_800_000_000_000
MAX_SCORE: Final = 10_000
MAX_HRC_KEYS: Final = 64

ORG_FILE: Final = "org.yml"
MODELS_FILE: Final = "models.yml"
TOOLS_FILE: Final = "tools.yml"
WORKSPACES_DIR: Final = "workspaces"
IGNORED_FILES: Final = frozenset({"README.md"})
DIRECTORY: Final = "."  # the ``file`` of a message about the directory as a whole

SENSITIVITIES: Final = ("LOW", "MEDIUM", "HIGH")
DECISIONS: Final = {"allow": "ALLOW", "deny": "DENY", "review": "REVIEW"}
KINDS: Final = {"person": "PERSON", "service": "SERVICE"}

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_ISSUER = re.compile(r"[!-~]{1,256}")
_HEX_KEY = re.compile(r"[0-9a-f]{64}")
_WORKSPACE_FILE = re.compile(r"workspaces/([^/]+)\.yml")

Severity = Literal["error", "warning"]


class LintCode(enum.StrEnum):
    """The closed set of lint codes (docs/POLICY.md lists when each is given)."""

    FILE_ERROR = "FILE_ERROR"  # unreadable, not a regular file, a symbolic link
    TOO_LARGE = "TOO_LARGE"  # a file over 1 MiB, > 256 workspaces, a document over its limits
    UNEXPECTED_FILE = "UNEXPECTED_FILE"
    MISSING_FILE = "MISSING_FILE"
    YAML_ERROR = "YAML_ERROR"  # not UTF-8, YAML syntax, several documents, nested too deeply
    ALIAS_NOT_ALLOWED = "ALIAS_NOT_ALLOWED"  # anchors (&a) and aliases (*a)
    TAG_NOT_ALLOWED = "TAG_NOT_ALLOWED"
    FLOAT_NOT_ALLOWED = "FLOAT_NOT_ALLOWED"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    MISSING_KEY = "MISSING_KEY"
    WRONG_TYPE = "WRONG_TYPE"
    BAD_VALUE = "BAD_VALUE"
    DUPLICATE_ENTRY = "DUPLICATE_ENTRY"
    UNDEFINED_REFERENCE = "UNDEFINED_REFERENCE"
    CONTRADICTION = "CONTRADICTION"
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    EMPTY_ROLE = "EMPTY_ROLE"
    UNREACHABLE = "UNREACHABLE"  # the only warning


@attrs.frozen(order=False)
class LintMessage:
    """One problem: where (``file`` relative to the directory, ``key`` as a field path), what."""

    severity: Severity
    file: str
    key: str
    code: LintCode
    message: str

    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (self.file, self.key, str(self.code), self.message, self.severity)

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.severity} {self.code}: {self.message}"


class PolicySourceError(UsageError):
    """A policy directory that does not build: ``messages`` holds every lint message."""

    def __init__(self, messages: list[LintMessage] | tuple[LintMessage, ...]) -> None:
        self.messages: tuple[LintMessage, ...] = tuple(messages)
        errors = [m for m in self.messages if m.severity == "error"]
        first = str(errors[0]) if errors else "no error"
        super().__init__(f"policy sources have {len(errors)} error(s); first: {first}")


def _sorted_messages(messages: list[LintMessage]) -> list[LintMessage]:
    return sorted(set(messages), key=LintMessage.sort_key)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _sorted_ids(items: list[str] | set[str]) -> list[str]:
    return sorted(set(items), key=_utf8)


# ------------------------------------------------------------------------------- YAML loading

_STR_TAG: Final = "tag:yaml.org,2002:str"
_INT_TAG: Final = "tag:yaml.org,2002:int"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_FLOAT_TAG: Final = "tag:yaml.org,2002:float"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
# Explicit tags that cannot change what a value means: !!str on a scalar, !!seq on a list,
# !!map on a mapping. Any other explicit tag (including "!") is refused.
_EXPLICIT_TAGS: Final[dict[type, str]] = {
    yaml.ScalarEvent: _STR_TAG,
    yaml.SequenceStartEvent: _SEQ_TAG,
    yaml.MappingStartEvent: _MAP_TAG,
}


class _Refused(yaml.MarkedYAMLError):
    """A construct the strict loader refuses, with the lint code to report."""

    def __init__(self, code: LintCode, mark: Any, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.code = code


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with a YAML 1.2-core-like resolver and no anchors, aliases or custom tags.

    The pure-Python composer is used on purpose: aliases are refused as they are met, before
    anything is expanded (no "billion laughs"), and nesting is bounded before recursion is.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                LintCode.ALIAS_NOT_ALLOWED,
                event.start_mark,
                f"alias *{event.anchor} is not allowed: write the value out in full",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(
                LintCode.ALIAS_NOT_ALLOWED,
                event.start_mark,
                f"anchor &{anchor} is not allowed: anchors and aliases are refused in policy",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag != _EXPLICIT_TAGS.get(type(event)):
            code = LintCode.FLOAT_NOT_ALLOWED if tag == _FLOAT_TAG else LintCode.TAG_NOT_ALLOWED
            raise _Refused(
                code,
                event.start_mark,
                f"tag {tag} is not allowed: only !!str, !!seq and !!map may be written",
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(
                    LintCode.YAML_ERROR,
                    event.start_mark,
                    f"nested more than {MAX_YAML_DEPTH} levels deep",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# Only lowercase true/false are booleans (yes/no/on/off/NO stay strings: no "Norway problem");
# only plain decimals are integers (0x1F, 0o17, 010, 1:30 stay strings); anything that looks
# like a float (1.5, 1e3, .inf, .nan) resolves to float and is refused.
_StrictLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|false)$"), list("tf"))
_StrictLoader.add_implicit_resolver(_NULL_TAG, re.compile(r"^(?:~|null|)$"), ["~", "n", ""])
_StrictLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*(?:_[0-9]+)*)$"), list("-+0123456789")
)
_StrictLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _where(mark: Any) -> str:
    if mark is None:
        return ""
    return f"line {mark.line + 1}, column {mark.column + 1}: "


class _Converter:
    """Turns the composed node tree into plain values, recording problems by field path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.messages: list[LintMessage] = []

    def problem(self, code: LintCode, path: str, mark: Any, text: str) -> None:
        self.messages.append(LintMessage("error", self.file, path, code, _where(mark) + text))

    def convert(self, node: yaml.Node, path: str) -> object:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, index_path(path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        result: dict[str, object] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG):
                self.problem(
                    LintCode.WRONG_TYPE,
                    path,
                    key_node.start_mark,
                    "a mapping key must be a string: quote it",
                )
                continue
            key = str(key_node.value)
            child = child_path(path, key)
            if key in result:
                self.problem(
                    LintCode.DUPLICATE_KEY,
                    child,
                    key_node.start_mark,
                    f"key {key!r} is given twice (first on line {lines[key]}): keep one",
                )
                continue
            lines[key] = key_node.start_mark.line + 1
            result[key] = self.convert(value_node, child)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: str) -> object:
        value = str(node.value)
        if node.tag == _INT_TAG:
            if len(value) > MAX_INTEGER_CHARS:
                self.problem(LintCode.BAD_VALUE, path, node.start_mark, "integer is too large")
                return None
            return int(value.replace("_", ""))
        if node.tag == _BOOL_TAG:
            return value == "true"
        if node.tag == _NULL_TAG:
            return None
        if node.tag == _FLOAT_TAG:
            self.problem(
                LintCode.FLOAT_NOT_ALLOWED,
                path,
                node.start_mark,
                f"{value} is a float: policy values are integers (write nanoseconds or basis "
                "points) or, for an id, a quoted string",
            )
            return None
        return value


def parse_yaml(file: str, data: bytes) -> tuple[object, list[LintMessage]]:
    """Parse one source file strictly; the value is ``None`` when any message is returned."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            LintMessage(
                "error",
                file,
                "$",
                LintCode.YAML_ERROR,
                f"not UTF-8 text (byte {exc.start}): save the file as UTF-8",
            )
        ]
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # the reader checks the characters here
        node = loader.get_single_node()
    except _Refused as exc:
        return None, [
            LintMessage("error", file, "$", exc.code, _where(exc.problem_mark) + str(exc.problem))
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        text = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return None, [LintMessage("error", file, "$", LintCode.YAML_ERROR, _where(mark) + text)]
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        return None, [LintMessage("error", file, "$", LintCode.YAML_ERROR, str(exc))]
    except RecursionError:
        return None, [
            LintMessage("error", file, "$", LintCode.YAML_ERROR, "nested too deeply to read")
        ]
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, []
    converter = _Converter(file)
    value = converter.convert(node, "$")
    if converter.messages:
        return None, converter.messages
    return value, []


# ------------------------------------------------------------------------------ directory I/O


def _display(name: str) -> str:
    """A file name as text that prints: undecodable bytes become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_file(path: Path, file: str) -> tuple[bytes | None, LintMessage | None]:
    def fail(code: LintCode, text: str) -> tuple[None, LintMessage]:
        return None, LintMessage("error", file, "$", code, text)

    try:
        info = os.lstat(path)
    except OSError as exc:
        return fail(LintCode.FILE_ERROR, f"cannot read: {exc.strerror}")
    if stat.S_ISLNK(info.st_mode):
        return fail(LintCode.FILE_ERROR, "is a symbolic link: put the file itself here")
    if not stat.S_ISREG(info.st_mode):
        return fail(LintCode.FILE_ERROR, "is not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return fail(LintCode.FILE_ERROR, f"cannot read: {exc.strerror}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return fail(LintCode.FILE_ERROR, "is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return fail(LintCode.FILE_ERROR, f"cannot read: {exc.strerror}")
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        return fail(LintCode.TOO_LARGE, f"is larger than {MAX_FILE_BYTES} bytes (1 MiB)")
    return b"".join(chunks), None


def _list_dir(path: Path, file: str) -> tuple[list[str] | None, LintMessage | None]:
    try:
        info = os.lstat(path) if file != DIRECTORY else os.stat(path)
    except OSError as exc:
        return None, LintMessage(
            "error", file, "$", LintCode.FILE_ERROR, f"cannot read: {exc.strerror}"
        )
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return None, LintMessage(
            "error", file, "$", LintCode.FILE_ERROR, "must be a directory (not a link or file)"
        )
    try:
        return sorted(os.listdir(path)), None
    except OSError as exc:
        return None, LintMessage(
            "error", file, "$", LintCode.FILE_ERROR, f"cannot read: {exc.strerror}"
        )


def load_sources(directory: Path) -> tuple[dict[str, object], list[LintMessage]]:
    """Read a policy directory: relative posix name -> parsed YAML value, and the problems.

    A file with any problem is left out of the sources (its messages say why). Nothing but
    ``org.yml``, ``models.yml``, ``tools.yml``, ``workspaces/*.yml`` and a top-level
    ``README.md`` may be in the directory; symbolic links are refused.
    """
    directory = Path(directory)
    messages: list[LintMessage] = []
    sources: dict[str, object] = {}

    def load(path: Path, file: str) -> None:
        data, problem = _read_file(path, file)
        if problem is not None:
            messages.append(problem)
            return
        assert data is not None
        value, problems = parse_yaml(file, data)
        if problems:
            messages.extend(problems)
        else:
            sources[file] = value

    entries, problem = _list_dir(directory, DIRECTORY)
    if problem is not None:
        return {}, [problem]
    assert entries is not None
    for name in entries:
        if name in (ORG_FILE, MODELS_FILE, TOOLS_FILE):
            load(directory / name, name)
        elif name == WORKSPACES_DIR:
            names, problem = _list_dir(directory / name, name)
            if problem is not None:
                messages.append(problem)
                continue
            assert names is not None
            workspace_files = [n for n in names if n.endswith(".yml")]
            for other in names:
                if not other.endswith(".yml"):
                    messages.append(_unexpected(f"{WORKSPACES_DIR}/{_display(other)}"))
            if len(workspace_files) > MAX_WORKSPACE_FILES:
                messages.append(
                    LintMessage(
                        "error",
                        WORKSPACES_DIR,
                        "$",
                        LintCode.TOO_LARGE,
                        f"{len(workspace_files)} workspace files: at most "
                        f"{MAX_WORKSPACE_FILES} are allowed",
                    )
                )
                continue
            for workspace in workspace_files:
                load(directory / name / workspace, f"{WORKSPACES_DIR}/{_display(workspace)}")
        elif name not in IGNORED_FILES:
            messages.append(_unexpected(_display(name)))
    return sources, _sorted_messages(messages)


def _unexpected(file: str) -> LintMessage:
    return LintMessage(
        "error",
        file,
        "$",
        LintCode.UNEXPECTED_FILE,
        "is not a policy source: a policy directory holds only org.yml, models.yml, tools.yml, "
        "workspaces/<name>.yml and README.md; move or rename it",
    )


def lint_policy_dir(directory: Path) -> list[LintMessage]:
    """Every message for a policy directory (loading and composition), sorted."""
    return lint_and_build(Path(directory))[1]


def build_policy_dir(directory: Path) -> dict[str, object]:
    """The GovernancePolicy document of a lint-clean directory (warnings allowed).

    Raises ``PolicySourceError`` carrying every message when there is any error.
    """
    document, messages = lint_and_build(Path(directory))
    if document is None:
        raise PolicySourceError(messages)
    return document


def lint_and_build(directory: Path) -> tuple[dict[str, object] | None, list[LintMessage]]:
    """The document (None when any error) and every message, sorted: lint and build at once."""
    sources, load_messages = load_sources(directory)
    document, messages = compose(sources)
    failed = {m.file for m in load_messages}
    if DIRECTORY in failed:
        return None, load_messages
    # A file that failed to load reports only why; composing it as missing would only repeat.
    # Unreachable-rule warnings need every file: a rule may be used in one that did not load.
    merged = load_messages + [
        m
        for m in messages
        if m.file not in failed and not (load_messages and m.code is LintCode.UNREACHABLE)
    ]
    if any(m.severity == "error" for m in merged):
        document = None
    return document, _sorted_messages(merged)


# ------------------------------------------------------------------------------- composition


_MISSING: Final = object()


class _Linter:
    def __init__(self) -> None:
        self.messages: list[LintMessage] = []

    def error(self, file: str, key: str, code: LintCode, text: str) -> None:
        self.messages.append(LintMessage("error", file, key, code, text))

    def warn(self, file: str, key: str, text: str) -> None:
        self.messages.append(LintMessage("warning", file, key, LintCode.UNREACHABLE, text))

    # -- shapes

    def mapping(
        self,
        file: str,
        value: object,
        path: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        what: str = "a mapping",
    ) -> dict[str, object] | None:
        if not isinstance(value, dict):
            self.error(file, path, LintCode.WRONG_TYPE, f"must be {what}, not {_kind(value)}")
            return None
        allowed = (*required, *optional)
        for key in sorted(value):
            if key not in allowed:
                self.error(
                    file,
                    child_path(path, key),
                    LintCode.UNKNOWN_KEY,
                    f"unknown key {key!r}: the keys here are {', '.join(allowed)}",
                )
        for key in required:
            if key not in value:
                self.error(
                    file,
                    child_path(path, key),
                    LintCode.MISSING_KEY,
                    f"required key {key!r} is missing",
                )
        return {k: v for k, v in value.items() if k in allowed}

    def entries(self, file: str, value: object, path: str) -> dict[str, object] | None:
        """A mapping whose keys are Identifiers (names); returns the valid ones."""
        if not isinstance(value, dict):
            self.error(
                file, path, LintCode.WRONG_TYPE, f"must be a mapping of names, not {_kind(value)}"
            )
            return None
        valid: dict[str, object] = {}
        for key in sorted(value):
            if _IDENTIFIER.fullmatch(key):
                valid[key] = value[key]
            else:
                self.error(file, child_path(path, key), LintCode.BAD_VALUE, _bad_id(key))
        return valid

    def identifier(self, file: str, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.error(
                file, path, LintCode.WRONG_TYPE, f"must be an id (a string), not {_kind(value)}"
            )
            return None
        if not _IDENTIFIER.fullmatch(value):
            self.error(file, path, LintCode.BAD_VALUE, _bad_id(value))
            return None
        return value

    def integer(self, file: str, value: object, path: str, low: int, high: int) -> int | None:
        if type(value) is not int:
            self.error(file, path, LintCode.WRONG_TYPE, f"must be an integer, not {_kind(value)}")
            return None
        if not low <= value <= high:
            self.error(file, path, LintCode.BAD_VALUE, f"{value} is out of range [{low}, {high}]")
            return None
        return value

    def public_key(self, file: str, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.error(
                file,
                path,
                LintCode.WRONG_TYPE,
                f"must be a public key (64 hex digits, a string), not {_kind(value)}",
            )
            return None
        if not _HEX_KEY.fullmatch(value):
            self.error(
                file,
                path,
                LintCode.BAD_VALUE,
                "must be an Ed25519 public key as exactly 64 lowercase hex digits",
            )
            return None
        if not is_valid_public_key(bytes.fromhex(value)):
            self.error(
                file,
                path,
                LintCode.BAD_VALUE,
                "is not a valid Ed25519 public key (not a prime-order curve point)",
            )
            return None
        return value

    def id_list(
        self,
        file: str,
        value: object,
        path: str,
        item: Callable[[str, object, str], str | None] | None = None,
    ) -> list[str] | None:
        """A list of distinct items (ids by default); returns the valid ones, in order."""
        check = item or self.identifier
        if not isinstance(value, list):
            self.error(file, path, LintCode.WRONG_TYPE, f"must be a list, not {_kind(value)}")
            return None
        seen: dict[str, int] = {}
        for index, entry in enumerate(value):
            checked = check(file, entry, index_path(path, index))
            if checked is None:
                continue
            if checked in seen:
                self.error(
                    file,
                    index_path(path, index),
                    LintCode.DUPLICATE_ENTRY,
                    f"{checked!r} is listed twice (first at [{seen[checked]}]): remove one",
                )
                continue
            seen[checked] = index
        return list(seen)


def _kind(value: object) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _bad_id(value: str) -> str:
    shown = value if len(value) <= 40 else value[:37] + "..."
    return (
        f"{shown!r} is not a valid id: 1-128 characters from A-Z a-z 0-9 . _ : / -, "
        "starting with a letter or digit"
    )


@attrs.define
class _Rule:
    """A review rule as read: reviewer names (valid ones) and threshold."""

    reviewers: list[str]
    threshold: int


@attrs.define
class _Role:
    capabilities: list[str]
    models: list[str]
    tools: list[str]


@attrs.define
class _Member:
    file: str
    workspace: str
    name: str
    kind: str
    key: str
    role: str


def _rule(lint: _Linter, file: str, value: dict[str, object], path: str) -> _Rule | None:
    """``reviewers`` + ``threshold`` of a review rule (value already shape-checked)."""
    reviewers = lint.id_list(file, value.get("reviewers", _MISSING), child_path(path, "reviewers"))
    threshold = value.get("threshold", _MISSING)
    if type(threshold) is not int:
        lint.error(
            file,
            child_path(path, "threshold"),
            LintCode.WRONG_TYPE,
            f"must be an integer, not {_kind(threshold)}",
        )
        return None
    if reviewers is None:
        return None
    raw = value.get("reviewers")
    if isinstance(raw, list) and not raw:
        lint.error(
            file,
            child_path(path, "reviewers"),
            LintCode.BAD_VALUE,
            "a review rule needs at least one reviewer",
        )
        return None
    if isinstance(raw, list) and not 1 <= threshold <= len(raw):
        lint.error(
            file,
            child_path(path, "threshold"),
            LintCode.CONTRADICTION,
            f"threshold {threshold} cannot be met by {len(raw)} reviewer(s): it must be "
            f"between 1 and {len(raw)}",
        )
        return None
    return _Rule(reviewers, threshold)


def compose(sources: Mapping[str, object]) -> tuple[dict[str, object] | None, list[LintMessage]]:
    """Lint parsed sources and compile them (pure). The document is None if any error exists."""
    lint = _Linter()
    workspace_files: dict[str, str] = {}  # workspace name -> file
    for file in sorted(sources, key=_utf8):
        if file in (ORG_FILE, MODELS_FILE, TOOLS_FILE):
            continue
        match = _WORKSPACE_FILE.fullmatch(file)
        if match is None:
            lint.error(file, "$", LintCode.UNEXPECTED_FILE, "is not a policy source file name")
        else:
            workspace_files[match.group(1)] = file
    for file in (ORG_FILE, MODELS_FILE, TOOLS_FILE):
        if file not in sources:
            lint.error(file, "$", LintCode.MISSING_FILE, f"{file} is missing: create it")

    org = _compose_org(lint, sources.get(ORG_FILE, _MISSING))
    allow = _compose_models(lint, sources.get(MODELS_FILE, _MISSING))
    tools, categories = _compose_tools(lint, sources.get(TOOLS_FILE, _MISSING))

    # -- review rules name reviewers defined in org.yml
    reviewer_names = org["reviewers"] if org is not None else None
    rules: list[tuple[str, str, _Rule]] = []
    if categories is not None:
        rules += [
            (TOOLS_FILE, child_path(child_path("categories", name), "reviewers"), rule)
            for name, (_, rule) in categories.items()
            if rule is not None
        ]
    if org is not None:
        rules += [
            (ORG_FILE, child_path(child_path("review", s), "reviewers"), rule)
            for s, rule in org["review"].items()
        ]
    used_reviewers = _named_reviewers(sources)
    for file, path, rule in rules:
        if isinstance(reviewer_names, dict):
            for index, name in enumerate(rule.reviewers):
                if name not in reviewer_names:
                    lint.error(
                        file,
                        index_path(path, index),
                        LintCode.UNDEFINED_REFERENCE,
                        f"reviewer {name!r} is not defined: add it under reviewers in org.yml",
                    )
    # -- tools name defined categories
    if tools is not None and categories is not None:
        for tool in sorted(tools):
            if tools[tool] and tools[tool] not in categories:
                lint.error(
                    TOOLS_FILE,
                    child_path("tools", tool),
                    LintCode.UNDEFINED_REFERENCE,
                    f"category {tools[tool]!r} is not defined under categories",
                )

    # -- workspaces
    workspaces: dict[str, dict[str, _Role]] = {}
    members: list[_Member] = []
    allowed_tools: set[str] = set()
    for workspace in sorted(workspace_files, key=_utf8):
        file = workspace_files[workspace]
        result = _compose_workspace(lint, file, workspace, sources[file], allow, tools, categories)
        if result is None:
            continue
        roles, workspace_members = result
        workspaces[workspace] = roles
        members += workspace_members
        for definition in roles.values():
            allowed_tools.update(definition.tools)

    # -- identities: one key, one name and kind
    principals: dict[str, _Member] = {}
    for member in sorted(members, key=lambda m: (_utf8(m.file), _utf8(m.name))):
        first = principals.setdefault(member.key, member)
        if first is not member and (first.name, first.kind) != (member.name, member.kind):
            lint.error(
                member.file,
                child_path("members", member.name),
                LintCode.DUPLICATE_IDENTITY,
                f"public key is already member {first.name!r} ({first.kind}) in {first.file}: "
                "one key is one principal, with one name and kind",
            )

    # -- unreachable rules (warnings)
    if tools is not None and categories is not None:
        used = set(tools.values())
        for name in sorted(categories):
            if name not in used:
                lint.warn(
                    TOOLS_FILE,
                    child_path("categories", name),
                    f"category {name!r} is used by no tool: remove it or assign it a tool",
                )
        for tool in sorted(tools):
            decision = categories.get(tools[tool])
            if tool not in allowed_tools and (decision is None or decision[0] != "DENY"):
                lint.warn(
                    TOOLS_FILE,
                    child_path("tools", tool),
                    f"tool {tool!r} is allowed by no role: remove it or grant it to a role",
                )
    if isinstance(reviewer_names, dict) and categories is not None:
        for name in sorted(reviewer_names):
            if name not in used_reviewers:
                lint.warn(
                    ORG_FILE,
                    child_path("reviewers", name),
                    f"reviewer {name!r} is in no review rule: remove it or name it in a rule",
                )
    roles_held = {(m.workspace, m.role) for m in members}
    for workspace, roles in workspaces.items():
        file = workspace_files[workspace]
        if not any(m.workspace == workspace for m in members):
            lint.warn(file, "members", f"workspace {workspace!r} has no members")
        for role in sorted(roles):
            if (workspace, role) not in roles_held:
                lint.warn(
                    file,
                    child_path("roles", role),
                    f"role {role!r} is held by no member: remove it or give it to a member",
                )

    if any(m.severity == "error" for m in lint.messages):
        return None, _sorted_messages(lint.messages)
    assert org is not None and allow is not None
    assert tools is not None and categories is not None
    document = _document(org, allow, tools, categories, workspaces, principals, members)
    _check_limits(lint, document)
    if any(m.severity == "error" for m in lint.messages):
        return None, _sorted_messages(lint.messages)
    return document, _sorted_messages(lint.messages)


def _named_reviewers(sources: Mapping[str, object]) -> set[str]:
    """Every name a review rule lists, valid or not (a broken rule still uses its reviewers)."""
    rules: list[object] = []
    for file, container in ((TOOLS_FILE, "categories"), (ORG_FILE, "review")):
        top = sources.get(file)
        if isinstance(top, dict) and isinstance(top.get(container), dict):
            rules += top[container].values()
    names: set[str] = set()
    for rule in rules:
        if isinstance(rule, dict) and isinstance(rule.get("reviewers"), list):
            names.update(name for name in rule["reviewers"] if isinstance(name, str))
    return names


def _compose_org(lint: _Linter, value: object) -> dict[str, Any] | None:
    if value is _MISSING:
        return None
    f = ORG_FILE
    org = lint.mapping(
        f,
        value,
        "$",
        required=(
            "org",
            "version",
            "issuer",
            "issuer_key",
            "lease",
            "request_max_age_ns",
            "approval_ttl_ns",
            "reviewers",
        ),
        optional=("review", "pools"),
    )
    if org is None:
        return None
    out: dict[str, Any] = {"pools": org.get("pools")}

    def keep(name: str, checked: object) -> None:
        out[name] = checked

    keep("org", lint.identifier(f, org.get("org"), "org") if "org" in org else None)
    keep(
        "version",
        lint.integer(f, org["version"], "version", 1, UINT63_MAX) if "version" in org else None,
    )
    issuer = org.get("issuer")
    if "issuer" in org:
        if not isinstance(issuer, str):
            lint.error(f, "issuer", LintCode.WRONG_TYPE, f"must be a string, not {_kind(issuer)}")
            issuer = None
        elif not _ISSUER.fullmatch(issuer):
            lint.error(
                f,
                "issuer",
                LintCode.BAD_VALUE,
                "must be 1-256 printable ASCII characters without spaces",
            )
            issuer = None
    keep("issuer", issuer)
    keep(
        "issuer_key",
        lint.public_key(f, org["issuer_key"], "issuer_key") if "issuer_key" in org else None,
    )
    keep(
        "request_max_age_ns",
        lint.integer(f, org["request_max_age_ns"], "request_max_age_ns", 1, MAX_REQUEST_AGE_NS)
        if "request_max_age_ns" in org
        else None,
    )
    keep(
        "approval_ttl_ns",
        lint.integer(f, org["approval_ttl_ns"], "approval_ttl_ns", 1, MAX_APPROVAL_TTL_NS)
        if "approval_ttl_ns" in org
        else None,
    )
    keep("lease", _compose_lease(lint, org["lease"]) if "lease" in org else None)

    # reviewers: name -> key, one name per key
    reviewers: dict[str, str] | None = None
    if "reviewers" in org:
        entries = lint.entries(f, org["reviewers"], "reviewers")
        if entries is not None:
            reviewers = {}
            owner: dict[str, str] = {}
            for name in sorted(entries, key=_utf8):
                path = child_path("reviewers", name)
                key = lint.public_key(f, entries[name], path)
                if key is None:
                    continue
                if key in owner:
                    lint.error(
                        f,
                        path,
                        LintCode.DUPLICATE_IDENTITY,
                        f"public key is already reviewer {owner[key]!r}: one key, one reviewer",
                    )
                else:
                    owner[key] = name
                reviewers[name] = key  # defined either way: rules naming it are not undefined
    out["reviewers"] = reviewers

    review: dict[str, _Rule] = {}
    if "review" in org:
        rules = lint.mapping(f, org["review"], "review", optional=SENSITIVITIES)
        for sensitivity in SENSITIVITIES:
            if rules is None or sensitivity not in rules:
                continue
            path = child_path("review", sensitivity)
            shape = lint.mapping(f, rules[sensitivity], path, required=("reviewers", "threshold"))
            if shape is None or "reviewers" not in shape or "threshold" not in shape:
                continue
            rule = _rule(lint, f, shape, path)
            if rule is not None:
                review[sensitivity] = rule
    out["review"] = review
    return out


def _compose_lease(lint: _Linter, value: object) -> dict[str, Any] | None:
    f = ORG_FILE
    lease = lint.mapping(
        f,
        value,
        "lease",
        required=(
            "duration_ns",
            "trust_threshold",
            "hrc_required_for",
            "hrc_keys",
            "hrc_max_age_ns",
        ),
    )
    if lease is None:
        return None
    out: dict[str, Any] = {}

    def per_sensitivity(name: str, low: int, high: int, decreasing: bool) -> None:
        path = child_path("lease", name)
        table = lint.mapping(f, lease[name], path, required=SENSITIVITIES)
        if table is None:
            return
        values = [
            lint.integer(f, table[s], child_path(path, s), low, high)
            for s in SENSITIVITIES
            if s in table
        ]
        if len(values) != len(SENSITIVITIES) or None in values:
            return
        order = sorted(values, reverse=decreasing)  # type: ignore[type-var]
        if values != order:
            rule = "LOW >= MEDIUM >= HIGH" if decreasing else "LOW <= MEDIUM <= HIGH"
            lint.error(f, path, LintCode.BAD_VALUE, f"must be ordered {rule}")
            return
        out[name] = dict(zip(SENSITIVITIES, values, strict=True))

    if "duration_ns" in lease:
        per_sensitivity("duration_ns", 1, MAX_LEASE_DURATION_NS, decreasing=True)
    if "trust_threshold" in lease:
        per_sensitivity("trust_threshold", 0, MAX_SCORE, decreasing=False)
    if "hrc_required_for" in lease:

        def sensitivity(file: str, item: object, path: str) -> str | None:
            if item in SENSITIVITIES:
                assert isinstance(item, str)
                return item
            lint.error(file, path, LintCode.BAD_VALUE, "must be LOW, MEDIUM or HIGH")
            return None

        required = lint.id_list(f, lease["hrc_required_for"], "lease.hrc_required_for", sensitivity)
        if required is not None:
            out["hrc_required_for"] = required
    if "hrc_keys" in lease:
        keys = lint.id_list(f, lease["hrc_keys"], "lease.hrc_keys", lint.public_key)
        raw = lease["hrc_keys"]
        if isinstance(raw, list) and len(raw) > MAX_HRC_KEYS:
            lint.error(f, "lease.hrc_keys", LintCode.BAD_VALUE, f"at most {MAX_HRC_KEYS} HRC keys")
        elif keys is not None:
            out["hrc_keys"] = keys
    if "hrc_max_age_ns" in lease:
        age = lint.integer(f, lease["hrc_max_age_ns"], "lease.hrc_max_age_ns", 1, MAX_HRC_AGE_NS)
        if age is not None:
            out["hrc_max_age_ns"] = age
    return out


def _compose_models(lint: _Linter, value: object) -> dict[str, list[str]] | None:
    if value is _MISSING:
        return None
    top = lint.mapping(MODELS_FILE, value, "$", required=("models", "capabilities"))
    if top is None:
        return None
    out: dict[str, list[str]] = {}
    for name in ("models", "capabilities"):
        if name in top:
            ids = lint.id_list(MODELS_FILE, top[name], name)
            if ids is not None:
                out[name] = ids
    return out if len(out) == 2 else None


_Category = tuple[str, _Rule | None]  # (decision, review rule or None)
_INVALID: Final = "INVALID"  # the decision of a category defined with an error


def _compose_tools(
    lint: _Linter, value: object
) -> tuple[dict[str, str] | None, dict[str, _Category] | None]:
    if value is _MISSING:
        return None, None
    f = TOOLS_FILE
    top = lint.mapping(f, value, "$", required=("categories", "tools"))
    if top is None:
        return None, None
    categories: dict[str, _Category] | None = None
    if "categories" in top:
        entries = lint.entries(f, top["categories"], "categories")
        if entries is not None:
            categories = {}
            for name in sorted(entries, key=_utf8):
                path = child_path("categories", name)
                shape = lint.mapping(
                    f,
                    entries[name],
                    path,
                    required=("decision",),
                    optional=("reviewers", "threshold"),
                )
                categories[name] = (_INVALID, None)  # defined, whatever else is wrong
                if shape is None or "decision" not in shape:
                    continue
                decision = shape["decision"]
                decision_path = child_path(path, "decision")
                if not isinstance(decision, str) or decision not in DECISIONS:
                    lint.error(
                        f,
                        decision_path,
                        LintCode.BAD_VALUE if isinstance(decision, str) else LintCode.WRONG_TYPE,
                        f"decision must be allow, deny or review, not {_kind(decision)}",
                    )
                    continue
                if decision == "review":
                    for key in ("reviewers", "threshold"):
                        if key not in shape:
                            lint.error(
                                f,
                                child_path(path, key),
                                LintCode.MISSING_KEY,
                                f"a review category needs {key!r}",
                            )
                    if "reviewers" not in shape or "threshold" not in shape:
                        continue
                    categories[name] = ("REVIEW", _rule(lint, f, shape, path))
                    continue
                extra = [k for k in ("reviewers", "threshold") if k in shape]
                for key in extra:
                    lint.error(
                        f,
                        child_path(path, key),
                        LintCode.CONTRADICTION,
                        f"an {decision} category has no {key}: remove it or make the decision "
                        "review",
                    )
                categories[name] = (DECISIONS[decision], None)
    tools: dict[str, str] | None = None
    if "tools" in top:
        entries = lint.entries(f, top["tools"], "tools")
        if entries is not None:
            tools = {}
            for tool in sorted(entries, key=_utf8):
                category = lint.identifier(f, entries[tool], child_path("tools", tool))
                tools[tool] = category or ""  # "": defined, category already reported
    return tools, categories


def _compose_workspace(
    lint: _Linter,
    file: str,
    workspace: str,
    value: object,
    allow: dict[str, list[str]] | None,
    tools: dict[str, str] | None,
    categories: dict[str, _Category] | None,
) -> tuple[dict[str, _Role], list[_Member]] | None:
    top = lint.mapping(file, value, "$", required=("workspace", "roles", "members"))
    if top is None:
        return None
    if "workspace" in top:
        name = lint.identifier(file, top["workspace"], "workspace")
        if name is not None and name != workspace:
            lint.error(
                file,
                "workspace",
                LintCode.BAD_VALUE,
                f"workspace {name!r} must be named like its file: {workspace!r} "
                "(rename the file or the workspace)",
            )
    elif not _IDENTIFIER.fullmatch(workspace):
        lint.error(file, "$", LintCode.BAD_VALUE, _bad_id(workspace))
    roles: dict[str, _Role] = {}
    if "roles" in top:
        entries = lint.entries(file, top["roles"], "roles")
        for role in sorted(entries or {}, key=_utf8):
            path = child_path("roles", role)
            shape = lint.mapping(
                file,
                (entries or {})[role],
                path,
                required=("capabilities",),
                optional=("models", "tools"),
            )
            if shape is None:
                continue
            lists: dict[str, list[str]] = {}
            for key in ("capabilities", "models", "tools"):
                if key not in shape:
                    lists[key] = []
                    continue
                key_path = child_path(path, key)
                ids = lint.id_list(file, shape[key], key_path)
                if ids is None:
                    continue
                lists[key] = ids
                raw = shape[key]
                assert isinstance(raw, list)
                if key == "capabilities" and not raw:
                    lint.error(
                        file,
                        key_path,
                        LintCode.EMPTY_ROLE,
                        f"role {role!r} allows no capability: give it at least one or remove it",
                    )
                for index, item in enumerate(raw):
                    if not isinstance(item, str) or item not in ids:
                        continue
                    _check_reference(
                        lint,
                        file,
                        index_path(key_path, index),
                        key,
                        item,
                        allow,
                        tools,
                        categories,
                    )
            if len(lists) == 3:
                roles[role] = _Role(lists["capabilities"], lists["models"], lists["tools"])
    members: list[_Member] = []
    if "members" in top:
        entries = lint.entries(file, top["members"], "members")
        for member in sorted(entries or {}, key=_utf8):
            path = child_path("members", member)
            shape = lint.mapping(
                file, (entries or {})[member], path, required=("kind", "public_key", "role")
            )
            if shape is None:
                continue
            kind = shape.get("kind", _MISSING)
            if "kind" in shape and (not isinstance(kind, str) or kind not in KINDS):
                lint.error(
                    file,
                    child_path(path, "kind"),
                    LintCode.BAD_VALUE if isinstance(kind, str) else LintCode.WRONG_TYPE,
                    f"kind must be person or service, not {_kind(kind)}",
                )
            public_key = (
                lint.public_key(file, shape["public_key"], child_path(path, "public_key"))
                if "public_key" in shape
                else None
            )
            held = (
                lint.identifier(file, shape["role"], child_path(path, "role"))
                if "role" in shape
                else None
            )
            defined = top.get("roles")
            if held is not None and isinstance(defined, dict) and held not in defined:
                lint.error(
                    file,
                    child_path(path, "role"),
                    LintCode.UNDEFINED_REFERENCE,
                    f"role {held!r} is not defined under roles in this workspace",
                )
                held = None
            valid_kind = KINDS.get(kind) if isinstance(kind, str) else None
            if public_key is not None and held is not None and valid_kind is not None:
                members.append(_Member(file, workspace, member, valid_kind, public_key, held))
    return roles, members


def _check_reference(
    lint: _Linter,
    file: str,
    path: str,
    key: str,
    item: str,
    allow: dict[str, list[str]] | None,
    tools: dict[str, str] | None,
    categories: dict[str, _Category] | None,
) -> None:
    if key in ("capabilities", "models"):
        if allow is not None and item not in allow[key]:
            lint.error(
                file,
                path,
                LintCode.UNDEFINED_REFERENCE,
                f"{key[:-1]} {item!r} is not in the {key} allowlist of models.yml: add it there",
            )
        return
    if tools is None:
        return
    if item not in tools:
        lint.error(
            file,
            path,
            LintCode.UNDEFINED_REFERENCE,
            f"tool {item!r} is not defined in tools.yml: add it there",
        )
        return
    category = categories.get(tools[item]) if categories is not None else None
    if category is not None and category[0] == "DENY":
        lint.error(
            file,
            path,
            LintCode.CONTRADICTION,
            f"tool {item!r} is in category {tools[item]!r} whose decision is deny: no role can "
            "allow it; remove it from the role or change the category",
        )


def _document(
    org: dict[str, Any],
    allow: dict[str, list[str]],
    tools: dict[str, str],
    categories: dict[str, _Category],
    workspaces: dict[str, dict[str, _Role]],
    principals: dict[str, _Member],
    members: list[_Member],
) -> dict[str, object]:
    reviewers: dict[str, str] = org["reviewers"]

    def rule_document(rule: _Rule) -> dict[str, object]:
        keys = _sorted_ids([reviewers[name] for name in rule.reviewers])
        return {"reviewers": keys, "threshold": rule.threshold}

    lease = org["lease"]
    lease_policy: dict[str, object] = {
        "hrc_keys": _sorted_ids(lease["hrc_keys"]),
        "hrc_max_age_ns": lease["hrc_max_age_ns"],
        "hrc_required_for": _sorted_ids(lease["hrc_required_for"]),
        "issuer": org["issuer"],
        "issuer_kid": cose_key_thumbprint(bytes.fromhex(org["issuer_key"])).hex(),
        "lease_duration_ns": _sorted_dict(lease["duration_ns"]),
        "policy_version": 1,
        "sequence": org["version"],
        "trust_threshold": _sorted_dict(lease["trust_threshold"]),
    }
    category_documents: dict[str, object] = {}
    for name, (decision, rule) in categories.items():
        if rule is None:
            category_documents[name] = {"decision": decision, "reviewers": [], "threshold": 0}
        else:
            category_documents[name] = {"decision": decision} | rule_document(rule)
    principal_documents: dict[str, object] = {}
    for key, first in principals.items():
        held = {m.workspace: m.role for m in members if m.key == key}
        principal_documents[key] = {
            "kind": first.kind,
            "name": first.name,
            "workspaces": _sorted_dict(held),
        }
    workspace_documents = {
        workspace: _sorted_dict(
            {
                role: {
                    "capabilities": _sorted_ids(r.capabilities),
                    "models": _sorted_ids(r.models),
                    "tools": _sorted_ids(r.tools),
                }
                for role, r in roles.items()
            }
        )
        for workspace, roles in workspaces.items()
    }
    document: dict[str, object] = {
        "approval_ttl_ns": org["approval_ttl_ns"],
        "capabilities": _sorted_ids(allow["capabilities"]),
        "categories": _sorted_dict(category_documents),
        "governance_version": 1,
        "lease_policy": lease_policy,
        "models": _sorted_ids(allow["models"]),
        "org": org["org"],
        "principals": _sorted_dict(principal_documents),
        "request_max_age_ns": org["request_max_age_ns"],
        "reviewers": _sorted_dict({key: name for name, key in reviewers.items()}),
        "sensitivity_review": _sorted_dict(
            {s: rule_document(rule) for s, rule in org["review"].items()}
        ),
        "tools": _sorted_dict(dict(tools)),
        "version": org["version"],
        "workspaces": _sorted_dict(workspace_documents),
        "pools": _pools_document(org.get("pools"), members),
    }
    return _sorted_dict(document)


def _pools_document(source: object, members: list[_Member]) -> object:
    """``pools`` of org.yml (§14.1) as the policy document has it: null when absent.

    Principals are named by member name in the sources and by key in the document; a pool
    left out of a Limits object is ``null`` (no limit), a safety rule left out is ``null``.
    Anything else is passed as written and judged by ``_check_limits``.
    """
    if source is None:
        return None
    if not isinstance(source, dict):
        return source
    keys = {m.name: m.key for m in members}

    def limits(value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {**dict.fromkeys(POOL_NAMES), **value}

    document = dict(source)
    if "org" in document:
        document["org"] = limits(document["org"])
    if isinstance(document.get("workspaces"), dict):
        document["workspaces"] = _sorted_dict(
            {name: limits(value) for name, value in document["workspaces"].items()}
        )
    if isinstance(document.get("principals"), dict):
        document["principals"] = _sorted_dict(
            {keys.get(name, name): limits(value) for name, value in document["principals"].items()}
        )
    safety = document.get("safety", {})
    if isinstance(safety, dict):
        document["safety"] = {**dict.fromkeys(("cooldown", "breaker", "clamp")), **safety}
    return document


def _sorted_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {key: value[key] for key in sorted(value, key=_utf8)}


def _check_limits(lint: _Linter, document: dict[str, object]) -> None:
    def count(file: str, key: str, container: object) -> None:
        if isinstance(container, (dict, list)) and len(container) > MAX_CONTAINER_MEMBERS:
            lint.error(
                file,
                key,
                LintCode.TOO_LARGE,
                f"{len(container)} entries: a policy allows at most {MAX_CONTAINER_MEMBERS}",
            )

    count(MODELS_FILE, "capabilities", document["capabilities"])
    count(MODELS_FILE, "models", document["models"])
    count(TOOLS_FILE, "tools", document["tools"])
    count(TOOLS_FILE, "categories", document["categories"])
    count(ORG_FILE, "reviewers", document["reviewers"])
    count(WORKSPACES_DIR, "$", document["workspaces"])
    count(WORKSPACES_DIR, "members", document["principals"])
    size = len(encode(document))
    if size > MAX_DOCUMENT_BYTES:
        lint.error(
            DIRECTORY,
            "$",
            LintCode.TOO_LARGE,
            f"the compiled policy is {size} bytes: at most {MAX_DOCUMENT_BYTES} are allowed",
        )
    try:
        LeasePolicy.from_json(document["lease_policy"])
    except PolicyError as exc:  # a rule above missed something: never emit a bad document
        lint.error(ORG_FILE, "lease", LintCode.BAD_VALUE, str(exc))
    pools = document["pools"]
    failure = pools_check(pools, "pools")
    if failure:
        lint.error(ORG_FILE, failure.path, LintCode.BAD_VALUE, f"{failure.reason} (§14.1)")
    elif isinstance(pools, dict):
        problem = pools_problem(pools, document["workspaces"], document["principals"])  # type: ignore[arg-type]
        if problem:
            path, _, text = problem.partition(": ")
            lint.error(ORG_FILE, path, LintCode.BAD_VALUE, text)
