"""Policy sources (spec §13.2, docs/POLICY.md): strict YAML loading, lint and compilation.

Expected documents and messages are written by hand from the source format; only keys and
thumbprints are computed (with nacl and hashlib, not with the code under test).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pda_lease.governance.sources import (
    LintCode,
    LintMessage,
    PolicySourceError,
    build_policy_dir,
    compose,
    lint_policy_dir,
    load_sources,
    parse_yaml,
)
from pda_lease.kernel.errors import UsageError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "policy"


def key(name: str) -> str:
    seed = hashlib.sha256(b"pda-lease example key: " + name.encode()).digest()
    return nacl.signing.SigningKey(seed).verify_key.encode().hex()


def thumbprint(public_key_hex: str) -> str:
    # RFC 9679: SHA-256 of det({1: 1, -1: 6, -2: x}) for an OKP Ed25519 key.
    cose_key = {1: 1, -1: 6, -2: bytes.fromhex(public_key_hex)}
    return hashlib.sha256(cbor2.dumps(cose_key, canonical=True)).hexdigest()


def expected_example() -> dict[str, Any]:
    bob, carol = key("bob"), key("carol")
    return {
        "governance_version": 1,
        "org": "acme",
        "version": 1,
        "pools": None,
        "lease_policy": {
            "policy_version": 1,
            "sequence": 1,
            "issuer": "pda-lease:acme",
            "issuer_kid": thumbprint(key("issuer")),
            "lease_duration_ns": {
                "LOW": 300000000000,
                "MEDIUM": 120000000000,
                "HIGH": 30000000000,
            },
            "trust_threshold": {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000},
            "hrc_required_for": ["HIGH"],
            "hrc_keys": [key("hrc")],
            "hrc_max_age_ns": 60000000000,
        },
        "request_max_age_ns": 60000000000,
        "approval_ttl_ns": 3600000000000,
        "capabilities": ["files.read", "files.write", "mail.send"],
        "models": ["local-large", "local-small"],
        "tools": {
            "fs.read": "read",
            "fs.write": "write",
            "web.fetch": "network",
            "smtp.send": "network",
            "shell.exec": "shell",
        },
        "categories": {
            "read": {"decision": "ALLOW", "reviewers": [], "threshold": 0},
            "write": {"decision": "ALLOW", "reviewers": [], "threshold": 0},
            "network": {"decision": "REVIEW", "reviewers": sorted([bob, carol]), "threshold": 2},
            "shell": {"decision": "DENY", "reviewers": [], "threshold": 0},
        },
        "sensitivity_review": {"HIGH": {"reviewers": [carol], "threshold": 1}},
        "reviewers": {bob: "bob", carol: "carol"},
        "principals": {
            key("alice"): {
                "name": "alice",
                "kind": "PERSON",
                "workspaces": {"research": "analyst", "ops": "auditor"},
            },
            key("dave"): {"name": "dave", "kind": "PERSON", "workspaces": {"research": "analyst"}},
            key("ci-bot"): {
                "name": "ci-bot",
                "kind": "SERVICE",
                "workspaces": {"research": "automation"},
            },
            key("erin"): {"name": "erin", "kind": "PERSON", "workspaces": {"ops": "operator"}},
        },
        "workspaces": {
            "research": {
                "analyst": {
                    "capabilities": ["files.read"],
                    "models": ["local-small"],
                    "tools": ["fs.read", "web.fetch"],
                },
                "automation": {"capabilities": ["files.read"], "models": [], "tools": ["fs.read"]},
            },
            "ops": {
                "operator": {
                    "capabilities": ["files.read", "files.write", "mail.send"],
                    "models": ["local-large"],
                    "tools": ["fs.read", "fs.write", "smtp.send"],
                },
                "auditor": {"capabilities": ["files.read"], "models": [], "tools": ["fs.read"]},
            },
        },
    }


def canonical(document: object) -> bytes:
    return cbor2.dumps(document, canonical=True)


def example_sources() -> dict[str, Any]:
    sources, messages = load_sources(EXAMPLE)
    assert messages == []
    return copy.deepcopy(sources)


def summary(messages: list[LintMessage]) -> list[tuple[str, str, str, LintCode]]:
    return [(m.severity, m.file, m.key, m.code) for m in messages]


# ------------------------------------------------------------------------------ the example


def test_example_compiles_to_the_hand_written_document() -> None:
    assert lint_policy_dir(EXAMPLE) == []
    document = build_policy_dir(EXAMPLE)
    assert document == expected_example()
    assert canonical(document) == canonical(expected_example())
    # Readable JSON: members already in sorted order, id arrays sorted by UTF-8 bytes.
    assert list(document) == sorted(document)
    assert document["models"] == ["local-large", "local-small"]


def test_example_keys_match_the_published_table() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    for name in ("issuer", "policy", "hrc", "alice", "dave", "ci-bot", "bob", "carol", "erin"):
        assert key(name) in readme


def test_compose_is_pure_and_agrees_with_the_directory_build() -> None:
    document, messages = compose(example_sources())
    assert messages == []
    assert document == build_policy_dir(EXAMPLE)


# ----------------------------------------------------------------------- one test per code

Mutation = Callable[[dict[str, Any]], None]


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(sources: dict[str, Any]) -> None:
        target: Any = sources
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(sources: dict[str, Any]) -> None:
        target: Any = sources
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _append(path: list[str | int], value: Any) -> Mutation:
    def mutate(sources: dict[str, Any]) -> None:
        target: Any = sources
        for part in path:
            target = target[part]
        target.append(value)

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(sources: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(sources)

    return mutate


RESEARCH = "workspaces/research.yml"
OPS = "workspaces/ops.yml"
E, W = "error", "warning"

COMPOSE_CASES: dict[str, tuple[Mutation, list[tuple[str, str, str, LintCode]]]] = {
    "unknown key": (
        _set(["org.yml", "colour"], "blue"),
        [(E, "org.yml", "colour", LintCode.UNKNOWN_KEY)],
    ),
    "unknown key in a role": (
        _set([RESEARCH, "roles", "analyst", "tool"], ["fs.read"]),
        [(E, RESEARCH, "roles.analyst.tool", LintCode.UNKNOWN_KEY)],
    ),
    "missing key": (
        _delete(["org.yml", "approval_ttl_ns"]),
        [(E, "org.yml", "approval_ttl_ns", LintCode.MISSING_KEY)],
    ),
    "missing review threshold": (
        _delete(["tools.yml", "categories", "network", "threshold"]),
        [(E, "tools.yml", "categories.network.threshold", LintCode.MISSING_KEY)],
    ),
    "wrong type: string for an integer": (
        _set(["org.yml", "version"], "3"),
        [(E, "org.yml", "version", LintCode.WRONG_TYPE)],
    ),
    "wrong type: boolean for an integer": (
        _set(["org.yml", "lease", "hrc_max_age_ns"], True),
        [(E, "org.yml", "lease.hrc_max_age_ns", LintCode.WRONG_TYPE)],
    ),
    "wrong type: a file that is not a mapping": (
        _set(["models.yml"], ["local-small"]),
        [(E, "models.yml", "$", LintCode.WRONG_TYPE)],
    ),
    "bad value: durations not non-increasing": (
        _set(["org.yml", "lease", "duration_ns", "LOW"], 10),
        [(E, "org.yml", "lease.duration_ns", LintCode.BAD_VALUE)],
    ),
    "bad value: thresholds not non-decreasing": (
        _set(["org.yml", "lease", "trust_threshold", "HIGH"], 100),
        [(E, "org.yml", "lease.trust_threshold", LintCode.BAD_VALUE)],
    ),
    "bad value: out of range": (
        _set(["org.yml", "approval_ttl_ns"], 604_800_000_000_001),
        [(E, "org.yml", "approval_ttl_ns", LintCode.BAD_VALUE)],
    ),
    "bad value: request age zero": (
        _set(["org.yml", "request_max_age_ns"], 0),
        [(E, "org.yml", "request_max_age_ns", LintCode.BAD_VALUE)],
    ),
    "bad value: id": (
        _append(["models.yml", "models"], "bad id"),
        [(E, "models.yml", "models[2]", LintCode.BAD_VALUE)],
    ),
    "bad value: not a valid Ed25519 point": (
        _set(["org.yml", "issuer_key"], "01" + "00" * 31),  # the identity: small order
        [(E, "org.yml", "issuer_key", LintCode.BAD_VALUE)],
    ),
    "bad value: uppercase hex": (
        _set(["org.yml", "lease", "hrc_keys", 0], key("hrc").upper()),
        [(E, "org.yml", "lease.hrc_keys[0]", LintCode.BAD_VALUE)],
    ),
    "bad value: issuer with a space": (
        _set(["org.yml", "issuer"], "pda lease"),
        [(E, "org.yml", "issuer", LintCode.BAD_VALUE)],
    ),
    "bad value: decision": (
        _set(["tools.yml", "categories", "read", "decision"], "ALLOW"),
        [(E, "tools.yml", "categories.read.decision", LintCode.BAD_VALUE)],
    ),
    "bad value: kind": (
        _set([RESEARCH, "members", "alice", "kind"], "robot"),
        [(E, RESEARCH, "members.alice.kind", LintCode.BAD_VALUE)],
    ),
    "bad value: workspace named unlike its file": (
        _set([OPS, "workspace"], "operations"),
        [(E, OPS, "workspace", LintCode.BAD_VALUE)],
    ),
    "bad value: sensitivity": (
        _append(["org.yml", "lease", "hrc_required_for"], "CRITICAL"),
        [(E, "org.yml", "lease.hrc_required_for[1]", LintCode.BAD_VALUE)],
    ),
    "duplicate entry": (
        _append([RESEARCH, "roles", "analyst", "tools"], "fs.read"),
        [(E, RESEARCH, "roles.analyst.tools[2]", LintCode.DUPLICATE_ENTRY)],
    ),
    "undefined reference: tool": (
        _append([RESEARCH, "roles", "analyst", "tools"], "git.push"),
        [(E, RESEARCH, "roles.analyst.tools[2]", LintCode.UNDEFINED_REFERENCE)],
    ),
    "undefined reference: capability": (
        _append([OPS, "roles", "auditor", "capabilities"], "files.delete"),
        [(E, OPS, "roles.auditor.capabilities[1]", LintCode.UNDEFINED_REFERENCE)],
    ),
    "undefined reference: model": (
        _set([OPS, "roles", "auditor", "models"], ["gpt-huge"]),
        [(E, OPS, "roles.auditor.models[0]", LintCode.UNDEFINED_REFERENCE)],
    ),
    "undefined reference: category (and the category left unused)": (
        _set(["tools.yml", "tools", "fs.write"], "writing"),
        [
            (W, "tools.yml", "categories.write", LintCode.UNREACHABLE),
            (E, "tools.yml", 'tools["fs.write"]', LintCode.UNDEFINED_REFERENCE),
        ],
    ),
    "undefined reference: reviewer": (
        _append(["org.yml", "review", "HIGH", "reviewers"], "zed"),
        [(E, "org.yml", "review.HIGH.reviewers[1]", LintCode.UNDEFINED_REFERENCE)],
    ),
    "undefined reference: role": (
        _set([RESEARCH, "members", "dave", "role"], "boss"),
        [(E, RESEARCH, "members.dave.role", LintCode.UNDEFINED_REFERENCE)],
    ),
    "contradiction: a role allowed a denied tool": (
        _append([RESEARCH, "roles", "analyst", "tools"], "shell.exec"),
        [(E, RESEARCH, "roles.analyst.tools[2]", LintCode.CONTRADICTION)],
    ),
    "contradiction: reviewers on a deny category": (
        _set(["tools.yml", "categories", "shell", "reviewers"], ["bob"]),
        [(E, "tools.yml", "categories.shell.reviewers", LintCode.CONTRADICTION)],
    ),
    "contradiction: threshold on an allow category": (
        _set(["tools.yml", "categories", "read", "threshold"], 0),
        [(E, "tools.yml", "categories.read.threshold", LintCode.CONTRADICTION)],
    ),
    "contradiction: threshold above the reviewers": (
        _set(["tools.yml", "categories", "network", "threshold"], 3),
        [(E, "tools.yml", "categories.network.threshold", LintCode.CONTRADICTION)],
    ),
    "contradiction: threshold zero": (
        _set(["org.yml", "review", "HIGH", "threshold"], 0),
        [(E, "org.yml", "review.HIGH.threshold", LintCode.CONTRADICTION)],
    ),
    "duplicate identity: one key, two reviewers": (
        _set(["org.yml", "reviewers", "carol"], key("bob")),
        [(E, "org.yml", "reviewers.carol", LintCode.DUPLICATE_IDENTITY)],
    ),
    "duplicate identity: one key, two member names": (
        _set([OPS, "members", "erin", "public_key"], key("dave")),
        [(E, RESEARCH, "members.dave", LintCode.DUPLICATE_IDENTITY)],
    ),
    "duplicate identity: one key, two kinds": (
        _set(
            [OPS, "members", "ci-bot"],
            {"kind": "person", "public_key": key("ci-bot"), "role": "auditor"},
        ),
        [(E, RESEARCH, "members.ci-bot", LintCode.DUPLICATE_IDENTITY)],
    ),
    "empty role": (
        _set([RESEARCH, "roles", "automation", "capabilities"], []),
        [(E, RESEARCH, "roles.automation.capabilities", LintCode.EMPTY_ROLE)],
    ),
    "missing file (no unreachable guesses about it)": (
        _delete(["tools.yml"]),
        [(E, "tools.yml", "$", LintCode.MISSING_FILE)],
    ),
    "unexpected source": (
        _set(["extra.yml"], {}),
        [(E, "extra.yml", "$", LintCode.UNEXPECTED_FILE)],
    ),
    "unreachable rules": (
        _all(
            _set(["tools.yml", "categories", "admin"], {"decision": "allow"}),
            _set(["tools.yml", "tools", "db.query"], "read"),
            _set(["org.yml", "reviewers", "zoe"], key("erin")),
            _set([OPS, "roles", "guest"], {"capabilities": ["files.read"]}),
            _set(["workspaces/empty.yml"], {"workspace": "empty", "roles": {}, "members": {}}),
        ),
        [
            (W, "org.yml", "reviewers.zoe", LintCode.UNREACHABLE),
            (W, "tools.yml", "categories.admin", LintCode.UNREACHABLE),
            (W, "tools.yml", 'tools["db.query"]', LintCode.UNREACHABLE),
            (W, "workspaces/empty.yml", "members", LintCode.UNREACHABLE),
            (W, OPS, "roles.guest", LintCode.UNREACHABLE),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_CASES))
def test_compose_lint_code(case: str) -> None:
    mutate, expected = COMPOSE_CASES[case]
    sources = example_sources()
    mutate(sources)
    document, messages = compose(sources)
    assert summary(messages) == expected
    assert all(m.message for m in messages)
    errors = [m for m in messages if m.severity == "error"]
    assert (document is None) == bool(errors)


def test_warnings_do_not_block_the_build() -> None:
    sources = example_sources()
    sources["tools.yml"]["categories"]["admin"] = {"decision": "deny"}
    document, messages = compose(sources)
    assert summary(messages) == [(W, "tools.yml", "categories.admin", LintCode.UNREACHABLE)]
    assert document is not None
    categories = document["categories"]
    assert isinstance(categories, dict)
    assert categories["admin"] == {"decision": "DENY", "reviewers": [], "threshold": 0}


# --------------------------------------------------------------- loading: files and YAML


def copy_example(tmp: Path) -> Path:
    target = tmp / "policy"
    shutil.copytree(EXAMPLE, target)
    return target


def lint_with(tmp_path: Path, file: str, text: str | bytes) -> list[tuple[str, str, str, Any]]:
    directory = copy_example(tmp_path)
    path = directory / file
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return summary(lint_policy_dir(directory))


ORG_TEXT = (EXAMPLE / "org.yml").read_text()
MODELS_OK = (
    "models: [local-small, local-large]\ncapabilities: [files.read, files.write, mail.send]\n"
)

LOAD_CASES: dict[str, tuple[str, str | bytes, list[tuple[str, str, str, LintCode]]]] = {
    "float": (
        "org.yml",
        ORG_TEXT.replace("version: 1", "version: 1.0"),
        [(E, "org.yml", "version", LintCode.FLOAT_NOT_ALLOWED)],
    ),
    "float in exponent form": (
        "org.yml",
        ORG_TEXT.replace("hrc_max_age_ns: 60_000_000_000", "hrc_max_age_ns: 6e10"),
        [(E, "org.yml", "lease.hrc_max_age_ns", LintCode.FLOAT_NOT_ALLOWED)],
    ),
    "float .inf": (
        "models.yml",
        "models: [.inf]\ncapabilities: []\n",
        [(E, "models.yml", "models[0]", LintCode.FLOAT_NOT_ALLOWED)],
    ),
    "explicit !!float tag": (
        "models.yml",
        "models: !!float 1\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.FLOAT_NOT_ALLOWED)],
    ),
    "anchor and alias": (
        "models.yml",
        "models: &m [local-small, local-large]\ncapabilities: *m\n",
        [(E, "models.yml", "$", LintCode.ALIAS_NOT_ALLOWED)],
    ),
    "merge key with alias": (
        "models.yml",
        "base: &b {models: []}\n<<: *b\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.ALIAS_NOT_ALLOWED)],
    ),
    "python tag": (
        "models.yml",
        "models: !!python/object/apply:os.system [echo]\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.TAG_NOT_ALLOWED)],
    ),
    "binary tag": (
        "models.yml",
        "models: !!binary aGVsbG8=\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.TAG_NOT_ALLOWED)],
    ),
    "local tag": (
        "models.yml",
        "models: !custom [a]\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.TAG_NOT_ALLOWED)],
    ),
    "tag of the wrong kind": (
        "models.yml",
        "models: !!map local-small\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.TAG_NOT_ALLOWED)],
    ),
    "duplicate key": (
        "org.yml",
        ORG_TEXT + "org: evil\n",
        [(E, "org.yml", "org", LintCode.DUPLICATE_KEY)],
    ),
    "duplicate nested key": (
        "tools.yml",
        (EXAMPLE / "tools.yml").read_text().replace("  fs.write: write\n", "  fs.read: write\n"),
        [(E, "tools.yml", 'tools["fs.read"]', LintCode.DUPLICATE_KEY)],
    ),
    "non-string key": (
        "models.yml",
        MODELS_OK + "1: one\n",
        [(E, "models.yml", "$", LintCode.WRONG_TYPE)],
    ),
    "syntax error": (
        "models.yml",
        "models: [local-small\ncapabilities: []\n",
        [(E, "models.yml", "$", LintCode.YAML_ERROR)],
    ),
    "two documents": (
        "models.yml",
        MODELS_OK + "---\n" + MODELS_OK,
        [(E, "models.yml", "$", LintCode.YAML_ERROR)],
    ),
    "binary junk": (
        "models.yml",
        bytes(range(256)) * 4,
        [(E, "models.yml", "$", LintCode.YAML_ERROR)],
    ),
    "control character": (
        "models.yml",
        MODELS_OK + "x: \x07\n",
        [(E, "models.yml", "$", LintCode.YAML_ERROR)],
    ),
    "nested too deeply": (
        "models.yml",
        "models: " + "[" * 5000 + "]" * 5000 + "\n",
        [(E, "models.yml", "$", LintCode.YAML_ERROR)],
    ),
    "huge integer": (
        "org.yml",
        ORG_TEXT.replace("version: 1", "version: " + "9" * 10_000),
        [(E, "org.yml", "version", LintCode.BAD_VALUE)],
    ),
    "2 MiB file": (
        "models.yml",
        MODELS_OK + "#" * (2 << 20) + "\n",
        [(E, "models.yml", "$", LintCode.TOO_LARGE)],
    ),
    "stray file": (
        "tools.yaml",
        "categories: {}\n",
        [(E, "tools.yaml", "$", LintCode.UNEXPECTED_FILE)],
    ),
    "stray file in workspaces": (
        "workspaces/notes.txt",
        "hello\n",
        [(E, "workspaces/notes.txt", "$", LintCode.UNEXPECTED_FILE)],
    ),
    "empty file": (
        "models.yml",
        "",
        [(E, "models.yml", "$", LintCode.WRONG_TYPE)],
    ),
}


@pytest.mark.parametrize("case", sorted(LOAD_CASES))
def test_load_lint_code(tmp_path: Path, case: str) -> None:
    file, text, expected = LOAD_CASES[case]
    assert lint_with(tmp_path, file, text) == expected


def test_yaml_messages_carry_the_line(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "models.yml").write_text("models: [a]\ncapabilities: [b]\nmodels: [c]\n")
    [message] = lint_policy_dir(directory)
    assert message.code is LintCode.DUPLICATE_KEY
    assert message.message.startswith("line 3, column 1:")
    assert "line 1" in message.message


def test_yaml_1_1_booleans_and_octals_stay_strings() -> None:
    value, messages = parse_yaml(
        "x.yml",
        b"a: [yes, no, on, off, NO, y, True]\nb: [010, 0x1F, 0o17, 1:30]\nc: [true, 1_000]\n",
    )
    assert messages == []
    assert value == {
        "a": ["yes", "no", "on", "off", "NO", "y", "True"],
        "b": ["010", "0x1F", "0o17", "1:30"],
        "c": [True, 1000],
    }


def test_nesting_is_bounded_before_recursion_is() -> None:
    _, [message] = parse_yaml("x.yml", b"a: " + b"[" * 33 + b"]" * 33)
    assert message.code is LintCode.YAML_ERROR
    assert "nested more than 32 levels deep" in message.message
    value, messages = parse_yaml("x.yml", b"[" * 32 + b"]" * 32)
    assert messages == [] and value is not None


def test_harmless_explicit_tags_are_accepted() -> None:
    value, messages = parse_yaml("x.yml", b"a: !!str 10\nb: !!seq [1]\nc: !!map {d: !!str yes}\n")
    assert messages == []
    assert value == {"a": "10", "b": [1], "c": {"d": "yes"}}


def test_norway_is_an_id() -> None:
    sources = example_sources()
    value, messages = parse_yaml(
        "models.yml",
        b"models: [NO, local-small, local-large]\n"
        b"capabilities: [files.read, files.write, mail.send]\n",
    )
    assert messages == []
    sources["models.yml"] = value
    document, messages = compose(sources)
    assert messages == []
    assert document is not None and document["models"] == ["NO", "local-large", "local-small"]


def test_octal_looking_integer_is_refused_not_reinterpreted(tmp_path: Path) -> None:
    assert lint_with(tmp_path, "org.yml", ORG_TEXT.replace("version: 1", "version: 010")) == [
        (E, "org.yml", "version", LintCode.WRONG_TYPE)
    ]


def test_symlink_is_refused(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "models.yml").rename(tmp_path / "elsewhere.yml")
    (directory / "models.yml").symlink_to(tmp_path / "elsewhere.yml")
    assert summary(lint_policy_dir(directory)) == [(E, "models.yml", "$", LintCode.FILE_ERROR)]


def test_symlinked_workspace_is_refused(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "workspaces" / "extra.yml").symlink_to(directory / "workspaces" / "ops.yml")
    assert summary(lint_policy_dir(directory)) == [
        (E, "workspaces/extra.yml", "$", LintCode.FILE_ERROR)
    ]


def test_directory_where_a_file_is_expected(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "tools.yml").unlink()
    (directory / "tools.yml").mkdir()
    assert summary(lint_policy_dir(directory)) == [(E, "tools.yml", "$", LintCode.FILE_ERROR)]


def test_subdirectory_in_workspaces(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "workspaces" / "nested.yml").mkdir()
    assert summary(lint_policy_dir(directory)) == [
        (E, "workspaces/nested.yml", "$", LintCode.FILE_ERROR)
    ]


def test_workspaces_must_be_a_directory(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    shutil.rmtree(directory / "workspaces")
    (directory / "workspaces").write_text("workspace: x\n")
    assert summary(lint_policy_dir(directory)) == [(E, "workspaces", "$", LintCode.FILE_ERROR)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "models.yml").unlink()
    os.mkfifo(directory / "models.yml")
    assert summary(lint_policy_dir(directory)) == [(E, "models.yml", "$", LintCode.FILE_ERROR)]


def test_too_many_workspace_files(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    for index in range(255):  # 2 + 255 = 257
        (directory / "workspaces" / f"w{index}.yml").write_text("")
    assert summary(lint_policy_dir(directory)) == [(E, "workspaces", "$", LintCode.TOO_LARGE)]


def test_missing_directory(tmp_path: Path) -> None:
    assert summary(lint_policy_dir(tmp_path / "absent")) == [(E, ".", "$", LintCode.FILE_ERROR)]


def test_failed_file_reports_only_why(tmp_path: Path) -> None:
    # org.yml does not load: it is not also reported as missing, and nothing else is.
    assert lint_with(tmp_path, "org.yml", "org: [") == [(E, "org.yml", "$", LintCode.YAML_ERROR)]


def test_build_raises_the_documented_error(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    (directory / "org.yml").write_text(ORG_TEXT + "colour: blue\n")
    with pytest.raises(PolicySourceError) as raised:
        build_policy_dir(directory)
    assert isinstance(raised.value, UsageError)
    assert summary(list(raised.value.messages)) == [(E, "org.yml", "colour", LintCode.UNKNOWN_KEY)]


def test_every_lint_code_is_tested() -> None:
    tested = {code for _, expected in COMPOSE_CASES.values() for *_, code in expected}
    tested |= {code for _, _, expected in LOAD_CASES.values() for *_, code in expected}
    tested |= {LintCode.FILE_ERROR, LintCode.TOO_LARGE}  # the directory tests above
    assert tested == set(LintCode)


def test_messages_are_sorted_and_printable() -> None:
    sources = example_sources()
    sources["org.yml"]["zz"] = 1
    sources["org.yml"]["aa"] = 1
    sources["models.yml"]["bb"] = 1
    _, messages = compose(sources)
    assert [(m.file, m.key) for m in messages] == [
        ("models.yml", "bb"),
        ("org.yml", "aa"),
        ("org.yml", "zz"),
    ]
    assert str(messages[0]).startswith("models.yml: bb: error UNKNOWN_KEY: unknown key 'bb'")


# ---------------------------------------------------------------- hostile input, properties


@given(st.binary(max_size=2000))
def test_any_bytes_give_a_value_or_messages(data: bytes) -> None:
    value, messages = parse_yaml("models.yml", data)
    assert value is None or not messages
    document, composed = compose({"models.yml": value})
    assert document is None and composed


@given(st.text(alphabet="[]{}:,-&*!|>'\"#%@`?\n abc01.e~", max_size=200))
def test_yaml_punctuation_gives_a_value_or_messages(text: str) -> None:
    value, messages = parse_yaml("tools.yml", text.encode())
    assert value is None or not messages
    assert all(m.severity == "error" and m.file == "tools.yml" for m in messages)
    compose({"tools.yml": value, "org.yml": value, "workspaces/a.yml": value})


@st.composite
def permuted(draw: st.DrawFn, value: Any) -> Any:
    """The same value with every mapping's keys and every list (all are sets) reordered."""
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        return {k: draw(permuted(value[k])) for k in keys}
    if isinstance(value, list):
        items = draw(st.permutations(value))
        return [draw(permuted(item)) for item in items]
    return value


def with_order_free_problems(sources: dict[str, Any]) -> dict[str, Any]:
    """Errors and warnings keyed by names only, so their keys do not depend on order."""
    sources["org.yml"]["colour"] = "blue"
    sources["tools.yml"]["tools"]["db.query"] = "database"
    sources["tools.yml"]["categories"]["admin"] = {"decision": "allow"}
    sources[OPS]["roles"]["guest"] = {"capabilities": ["files.read"]}
    sources["tools.yml"]["categories"]["network"]["threshold"] = 5
    sources[RESEARCH]["members"]["ci-bot"]["kind"] = "person"
    sources[OPS]["members"]["ci-bot"] = {
        "kind": "service",
        "public_key": key("ci-bot"),
        "role": "auditor",
    }
    return sources


BASE = example_sources()
BASE_DOCUMENT, BASE_MESSAGES = compose(BASE)
BROKEN = with_order_free_problems(example_sources())
_, BROKEN_MESSAGES = compose(BROKEN)


@given(st.data())
def test_order_of_keys_items_and_files_never_matters(data: st.DataObject) -> None:
    sources = data.draw(permuted(BASE))
    document, messages = compose(sources)
    assert messages == BASE_MESSAGES == []
    assert document is not None
    assert canonical(document) == canonical(BASE_DOCUMENT)
    assert json.dumps(document) == json.dumps(BASE_DOCUMENT)  # also the same member order


@given(st.data())
def test_order_never_changes_the_messages(data: st.DataObject) -> None:
    assert summary(BROKEN_MESSAGES) == [
        (E, "org.yml", "colour", LintCode.UNKNOWN_KEY),
        (W, "tools.yml", "categories.admin", LintCode.UNREACHABLE),
        (E, "tools.yml", "categories.network.threshold", LintCode.CONTRADICTION),
        (E, "tools.yml", 'tools["db.query"]', LintCode.UNDEFINED_REFERENCE),
        (W, "tools.yml", 'tools["db.query"]', LintCode.UNREACHABLE),
        (W, OPS, "roles.guest", LintCode.UNREACHABLE),
        (E, RESEARCH, "members.ci-bot", LintCode.DUPLICATE_IDENTITY),
    ]
    sources = data.draw(permuted(BROKEN))
    assert compose(sources) == (None, BROKEN_MESSAGES)


@given(st.data())
def test_order_in_the_yaml_text_never_matters(data: st.DataObject) -> None:
    sources = data.draw(permuted(BASE))
    reparsed = {}
    for name in data.draw(st.permutations(sorted(sources))):
        text = yaml.safe_dump(sources[name], sort_keys=False, default_flow_style=None)
        value, messages = parse_yaml(name, text.encode())
        assert messages == []
        reparsed[name] = value
    document, messages = compose(reparsed)
    assert messages == []
    assert canonical(document) == canonical(BASE_DOCUMENT)


def test_loaded_directory_order_does_not_matter() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "policy"
        directory.mkdir()
        (directory / "workspaces").mkdir()
        for name, value in reversed(list(BASE.items())):
            (directory / name).write_text(yaml.safe_dump(value, sort_keys=True))
        assert canonical(build_policy_dir(directory)) == canonical(BASE_DOCUMENT)


def test_the_kernel_parser_accepts_the_compiled_example() -> None:
    # The kernel side of §13.1 is written separately; when present, it must accept the output.
    governance = pytest.importorskip("pda_lease.kernel.governance")
    parser = getattr(governance, "GovernancePolicy", None)
    if parser is None:
        pytest.skip("no GovernancePolicy parser yet")
    parser.from_json(build_policy_dir(EXAMPLE))
