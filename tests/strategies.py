"""Hypothesis strategies for the inputs of spec §3 and §7, and for mutations of them.

Everything here is built with the reference model (``reference_model``), never with the
kernel, so a generated input does not inherit a kernel bug. Keys are the fixed vector keys of
spec §10 (seed = H("pda-lease vector key: " || name)). Times use small integers around fixed
bases so that the boundaries of windows, leases and HRC ages are hit often; values that are
expensive to build (oversized containers and strings) appear only as rare mutations.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

import reference_model as ref

# ---------------------------------------------------------------------------------- keys


def vector_seed(name: str) -> bytes:
    """Spec §10: every vector key seed is H("pda-lease vector key: " || name)."""
    return hashlib.sha256(b"pda-lease vector key: " + name.encode()).digest()


ISSUER_SEED = vector_seed("issuer")
OTHER_ISSUER_SEED = vector_seed("other-issuer")
HOLDER_SEED = vector_seed("holder")
OTHER_HOLDER_SEED = vector_seed("other-holder")
HRC_SEED = vector_seed("hrc")
HRC2_SEED = vector_seed("hrc-2")
UNREGISTERED_HRC_SEED = vector_seed("other-hrc")

ISSUER_PK = ref.public_key(ISSUER_SEED)
OTHER_ISSUER_PK = ref.public_key(OTHER_ISSUER_SEED)
HOLDER_PK = ref.public_key(HOLDER_SEED)
OTHER_HOLDER_PK = ref.public_key(OTHER_HOLDER_SEED)
HRC_PK = ref.public_key(HRC_SEED)
HRC2_PK = ref.public_key(HRC2_SEED)

EPOCH = "6f1c2e9a-3b4d-4c5e-8f70-91a2b3c4d5e6"
OTHER_EPOCH = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"

SENSITIVITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH")
UINT63_MAX = 2**63 - 1
MAX_DURATION = 86_400_000_000_000
MAX_HRC_AGE = 3_600_000_000_000

# Encodings of Ed25519 points that are not valid holder keys (§3.1): small order points,
# a non-canonical y (y = p), and a y with no point on the curve.
SMALL_ORDER_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
)
NON_CANONICAL_HEX = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
NOT_ON_CURVE_HEX = "0200000000000000000000000000000000000000000000000000000000000000"

# ---------------------------------------------------------------------------------- helpers


def rarely(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws. Hypothesis favours the ends of an integer range, so the
    rare outcome is the middle value (and shrinking goes towards the common outcome, 0)."""
    return draw(st.integers(0, n - 1)) == n // 2


# ---------------------------------------------------------------------------------- pools


class _Text(str):
    """A str subclass: not a JSON string for the kernel (types are taken exactly)."""


class _Number(enum.IntEnum):
    ONE = 1


class _Opaque:
    def __repr__(self) -> str:
        return "_Opaque()"


# Values that replace a field in a mutation: every JSON type, the boundaries of every range,
# spellings of hex and identifiers that are almost right, and values outside the data model.
JSON_POOL: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    23,
    24,
    255,
    256,
    9999,
    10000,
    10001,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**40,
    1.0,
    0.5,
    -0.0,
    1e300,
    float("nan"),
    float("inf"),
    "",
    "x",
    " ",
    "LOW",
    "MEDIUM",
    "HIGH",
    "low",
    "files.read",
    "task-2026-0001",
    "-task",
    ".x",
    "a b",
    "x" * 128,
    "x" * 129,
    "~" * 256,
    "~" * 257,
    "é",
    "\ud800",
    EPOCH,
    OTHER_EPOCH,
    "a" * 64,
    "a" * 65,
    "ab" * 32,
    "AB" * 32,
    "ab" * 31,
    "gg" * 32,
    "ab" * 64,
    "AB" * 64,
    "ab" * 16,
    "ab" * 15,
    HOLDER_PK.hex(),
    OTHER_HOLDER_PK.hex(),
    HRC_PK.hex(),
    *SMALL_ORDER_HEX[:3],
    NON_CANONICAL_HEX,
    NOT_ON_CURVE_HEX,
    [],
    [None],
    [1, "a"],
    {},
    {"a": 1},
    {"": None},
    {"epoch": EPOCH, "ns": 0},
    b"",
    b"ab",
    bytearray(b"x"),
    (1,),
    {1},
    frozenset({"a"}),
    _Opaque(),
    collections.OrderedDict(a=1),
    _Text("LOW"),
    _Number.ONE,
    Decimal(1),
    complex(1, 2),
)

# Member names for added fields: plain, empty, needing quotes in a path, control characters,
# a name that sorts first or last, and names that look like policy fields.
KEY_POOL: tuple[str, ...] = (
    "zzz",
    "a",
    "",
    "a b",
    "é",
    "\n",
    '"q"',
    "\\",
    "{field}",
    "x" * 64,
    "x" * 65,
    "trust_threshold",
    "lease_duration_ns",
    "hrc_required_for",
    "score",
    "manifest_version",
    "\x7f",
    "\x00",
)

# Values of the CBOR profile (§2.3) for mutating token structures that are then re-signed.
CBOR_POOL: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    6,
    -8,
    -19,
    18,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**64),
    b"",
    b"\x01" * 15,
    b"\x01" * 16,
    b"\x01" * 17,
    b"\x02" * 31,
    b"\x02" * 32,
    b"\x02" * 33,
    b"\x03" * 64,
    "",
    "x",
    "a b",
    "LOW",
    "low",
    "x" * 129,
    EPOCH,
    "-bad",
    [],
    [1],
    {},
    {1: 1},
    {"scope": "s"},
    ref.Tagged(2, b"\x01"),
)

# ------------------------------------------------------------------------ generic mutation

Path = tuple[object, ...]


def paths_in(doc: object, prefix: Path = (), depth: int = 0) -> list[Path]:
    """Every path to a value inside ``doc`` (exact dicts and lists only, bounded depth)."""
    found: list[Path] = []
    if depth >= 6:
        return found
    if type(doc) is dict:
        assert isinstance(doc, dict)
        for key, value in doc.items():
            found.append((*prefix, key))
            found.extend(paths_in(value, (*prefix, key), depth + 1))
    elif type(doc) is list:
        assert isinstance(doc, list)
        for index, value in enumerate(doc):
            found.append((*prefix, index))
            found.extend(paths_in(value, (*prefix, index), depth + 1))
    return found


def _get(doc: object, path: Path) -> object:
    for step in path:
        doc = doc[step]  # type: ignore[index]
    return doc


def replace_at(doc: object, path: Path, change: Callable[[object], object]) -> object:
    """A copy of ``doc`` with the value at ``path`` replaced by ``change(value)``.

    Containers along the path are copied (a dict keeps its insertion order, so an added key
    lands last); everything else is shared, which is safe because nobody mutates inputs.
    """
    if not path:
        return change(doc)
    head, rest = path[0], path[1:]
    if type(doc) is dict:
        assert isinstance(doc, dict)
        copy_d = dict(doc)
        copy_d[head] = replace_at(doc[head], rest, change)
        return copy_d
    assert type(doc) is list and isinstance(head, int)
    copy_l = list(doc)
    copy_l[head] = replace_at(doc[head], rest, change)
    return copy_l


def _drop(doc: object, path: Path) -> object:
    def without(parent: object) -> object:
        if type(parent) is dict:
            assert isinstance(parent, dict)
            return {k: v for k, v in parent.items() if k != path[-1]}
        assert isinstance(parent, list)
        return [v for i, v in enumerate(parent) if i != path[-1]]

    return replace_at(doc, path[:-1], without)


def _add(doc: object, path: Path, key: object, value: object) -> object:
    def extended(container: object) -> object:
        if type(container) is dict:
            assert isinstance(container, dict)
            return {**container, key: value}
        assert isinstance(container, list)
        return [*container, value]

    return replace_at(doc, path, extended)


def _tweaks(value: object) -> list[object]:
    """Small changes that keep the JSON type: boundaries are one step away."""
    if type(value) is bool:
        return [not value]
    if type(value) is int:
        assert isinstance(value, int)
        return [value + 1, value - 1, -value, value + 2**63, 0]
    if type(value) is str:
        assert isinstance(value, str)
        tweaked: list[object] = [
            value.upper(),
            value + "x",
            value[:-1],
            value + "\x00",
            " " + value,
        ]
        if ref.HEX32.fullmatch(value):  # a key or digest: other points, some not valid keys
            tweaked += [*SMALL_ORDER_HEX, NON_CANONICAL_HEX, NOT_ON_CURVE_HEX, value[::-1]]
        return tweaked
    if type(value) is list:
        assert isinstance(value, list)
        return [[*value, value[0] if value else 0], value[1:], list(reversed(value))]
    if type(value) is dict:
        assert isinstance(value, dict)
        return [dict(reversed(list(value.items())))]  # same value, other insertion order
    return [None]


def _nested(levels: int, leaf: object, as_dict: bool) -> object:
    value = leaf
    for _ in range(levels):
        value = {"d": value} if as_dict else [value]
    return value


_OPS_COMMON = ("replace",) * 4 + ("tweak",) * 3 + ("drop",) * 2 + ("add",) * 2
_OPS_RARE = ("deep", "wide", "long", "long_key", "non_str_key")


@st.composite
def mutation_of(
    draw: st.DrawFn,
    doc: object,
    pool: Sequence[object] = JSON_POOL,
    keys: Sequence[object] = KEY_POOL,
    *,
    allow_oversize: bool = False,
) -> object:
    """One mutation of ``doc``: drop a field, add a field, replace or tweak a value, nest too
    deeply, make a container or string just too large, add a non-string key, or (only when
    ``allow_oversize``) make the encoding too large."""
    members = paths_in(doc)
    containers = [p for p in [(), *members] if type(_get(doc, p)) in (dict, list)]
    dict_members = [p for p in members if type(_get(doc, p[:-1])) is dict]
    ops = _OPS_COMMON + _OPS_RARE + (("oversize",) if allow_oversize else ())
    op = draw(st.sampled_from(ops))
    if op == "drop" and dict_members:
        return _drop(doc, draw(st.sampled_from(dict_members)))
    if op in ("add", "long_key", "non_str_key") and containers:
        where = draw(st.sampled_from(containers))
        if op == "add":
            key = draw(st.sampled_from(keys))
        elif op == "long_key":
            key = "k" * draw(st.sampled_from([4096, 4097]))
        else:
            key = draw(st.sampled_from([1, True, None, (1, 2), b"k", 1.5, _Text("a")]))
        return _add(doc, where, key, draw(st.sampled_from(pool)))
    if not members:
        return draw(st.sampled_from(pool))
    path = draw(st.sampled_from(members))
    if op == "tweak":
        return replace_at(doc, path, lambda v: draw(st.sampled_from(_tweaks(v))))
    if op == "deep":
        levels = draw(st.integers(12, 17))
        as_dict = draw(st.booleans())
        return replace_at(doc, path, lambda v: _nested(levels, v, as_dict))
    if op == "wide":
        size = draw(st.sampled_from([1024, 1025]))
        if draw(st.booleans()):
            return replace_at(doc, path, lambda _: [0] * size)
        return replace_at(doc, path, lambda _: {f"k{i}": i for i in range(size)})
    if op == "long":
        text = draw(
            st.sampled_from(["x" * 4096, "x" * 4097, "é" * 2048, "é" * 2048 + "x", "€" * 1366])
        )
        return replace_at(doc, path, lambda _: text)
    if op == "oversize":
        return replace_at(doc, path, lambda _: {f"s{i:02}": "x" * 4000 for i in range(17)})
    return replace_at(doc, path, lambda _: draw(st.sampled_from(pool)))


@st.composite
def mutations_of(
    draw: st.DrawFn,
    doc: object,
    pool: Sequence[object] = JSON_POOL,
    keys: Sequence[object] = KEY_POOL,
) -> object:
    """One or two mutations (two exercise the first-violation precedence between them).
    An oversized encoding (68 KB, TOO_LARGE in §4.1 step 3) is drawn rarely: it is slow."""
    for _ in range(draw(st.integers(1, 2))):
        doc = draw(mutation_of(doc, pool, keys, allow_oversize=rarely(draw, 4)))
    return doc


# ---------------------------------------------------------------------------------- policies

HRC_KEY_SETS: tuple[tuple[bytes, ...], ...] = (
    (HRC_SEED,),
    (HRC_SEED, HRC2_SEED),
    (HRC2_SEED, HRC_SEED),
    (HRC2_SEED,),
    (),
)
THRESHOLDS = (0, 1, 2999, 3000, 5000, 6000, 8999, 9000, 9999, 10000)


@st.composite
def policies(
    draw: st.DrawFn, issuer_seed: bytes = ISSUER_SEED, need_hrc_key: bool = False
) -> dict[str, Any]:
    """A valid LeasePolicy (§3.4) with short durations (ns) so that windows clamp leases."""
    if rarely(draw, 12):
        high = draw(st.sampled_from([1, MAX_DURATION]))
        durations = [MAX_DURATION, MAX_DURATION, high]
    else:
        high = draw(st.integers(1, 40))
        medium = high + draw(st.integers(0, 40))
        durations = [medium + draw(st.integers(0, 40)), medium, high]
    thresholds = sorted(draw(st.lists(st.sampled_from(THRESHOLDS), min_size=3, max_size=3)))
    key_sets = [s for s in HRC_KEY_SETS if s] if need_hrc_key else list(HRC_KEY_SETS)
    hrc_seeds = draw(st.sampled_from(key_sets))
    return {
        "policy_version": 1,
        "sequence": draw(st.sampled_from([0, 1, 2, UINT63_MAX])),
        "issuer": draw(st.sampled_from(["pda-lease:local", "!", "~" * 256])),
        "issuer_kid": ref.thumbprint(ref.public_key(issuer_seed)).hex(),
        "lease_duration_ns": dict(zip(SENSITIVITIES, durations, strict=True)),
        "trust_threshold": dict(zip(SENSITIVITIES, thresholds, strict=True)),
        "hrc_required_for": draw(st.lists(st.sampled_from(SENSITIVITIES), unique=True)),
        "hrc_keys": [ref.public_key(seed).hex() for seed in hrc_seeds],
        "hrc_max_age_ns": draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, MAX_HRC_AGE]))),
    }


def registered_hrc_seeds(policy: dict[str, Any]) -> list[bytes]:
    by_key = {ref.public_key(seed).hex(): seed for seed in (HRC_SEED, HRC2_SEED)}
    return [by_key[key] for key in policy["hrc_keys"]]


# ---------------------------------------------------------------------------------- manifests

_json_leaf: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 3),
    st.text(max_size=6),
)
json_values: st.SearchStrategy[object] = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
manifest_inputs: st.SearchStrategy[dict[str, object]] = st.dictionaries(
    st.text(max_size=6), json_values, max_size=3
)

TASK_IDS = ("task-2026-0001", "t", "A.b_c:d/e-f", "9" + "x" * 127)
CAPABILITIES = ("files.read", "mail.send", "net:fetch/v1", "z")
SCOPES = ("user:alice/files", "!", "~" * 256, "scope")


@st.composite
def manifests(
    draw: st.DrawFn,
    window: tuple[str, int, int] = (EPOCH, 1000, 2000),
    holder_pk: bytes = HOLDER_PK,
    sensitivity: str | None = None,
    hrc_required: bool | None = None,
) -> dict[str, Any]:
    """A structurally valid TaskManifest (§3.1)."""
    epoch, not_before, not_after = window
    return {
        "manifest_version": 1,
        "task_id": draw(st.sampled_from(TASK_IDS)),
        "capability_id": draw(st.sampled_from(CAPABILITIES)),
        "inputs": draw(manifest_inputs),
        "constraints": {
            "scope": draw(st.sampled_from(SCOPES)),
            "reversible": draw(st.booleans()),
            "sensitivity": sensitivity or draw(st.sampled_from(SENSITIVITIES)),
            "hrc_required": draw(st.booleans()) if hrc_required is None else hrc_required,
        },
        "provenance": {"ast_hash": draw(st.binary(min_size=32, max_size=32)).hex()},
        "holder": {"public_key": holder_pk.hex()},
        "window": {"epoch": epoch, "not_before_ns": not_before, "not_after_ns": not_after},
    }


# ---------------------------------------------------------------------------------- scenarios


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The inputs of one ``decide`` call (plus the holder seed named by the manifest)."""

    policy: dict[str, Any]
    manifest: Any
    snapshot: Any
    now: dict[str, Any]
    hrc: Any
    holder_seed: bytes = HOLDER_SEED


BASES = (0, 1, 1_000_000_000, 2**62, UINT63_MAX - 400)


def _clamp(ns: int) -> int:
    return max(0, min(UINT63_MAX, ns))


@st.composite
def hrc_tokens(
    draw: st.DrawFn,
    policy: dict[str, Any],
    manifest_digest: bytes,
    now: dict[str, Any],
    valid: bool = False,
) -> object:
    """An HRC token (§3.3) around ``now``: valid, or wrong in one way (key, signature,
    manifest, epoch, time), or absent."""
    seeds = registered_hrc_seeds(policy) or [HRC_SEED]
    max_age = policy["hrc_max_age_ns"]
    kind = (
        "valid"
        if valid
        else draw(
            st.sampled_from(
                ["valid"] * 4
                + ["none", "unregistered", "forged", "resigned_ns", "other_manifest"]
                + ["other_epoch", "future", "too_old", "edge_age"]
            )
        )
    )
    if kind == "none":
        return None
    seed = draw(st.sampled_from(seeds))
    age = draw(st.integers(0, min(max_age - 1, 50)))
    if kind == "future":
        age = -draw(st.integers(1, 3))
    elif kind == "too_old":
        age = max_age + draw(st.integers(0, 3))
    elif kind == "edge_age":
        age = draw(st.sampled_from([max_age - 1, max_age]))
    confirmed = {"epoch": now["epoch"], "ns": _clamp(now["ns"] - age)}
    if valid:
        confirmed["ns"] = max(confirmed["ns"], now["ns"] - max_age + 1)
    if kind == "other_epoch":
        confirmed["epoch"] = OTHER_EPOCH if now["epoch"] != OTHER_EPOCH else EPOCH
    if kind == "unregistered":
        seed = UNREGISTERED_HRC_SEED
    signed_digest = ref.H(b"another manifest") if kind == "other_manifest" else manifest_digest
    token = ref.make_hrc(seed, signed_digest, confirmed)
    if kind == "forged":  # the registered key id, a signature by another key
        forged = ref.make_hrc(UNREGISTERED_HRC_SEED, signed_digest, confirmed)
        token["signature"] = forged["signature"]
    if kind == "resigned_ns":  # signed fields changed after signing
        token["confirmed_at"] = {"epoch": confirmed["epoch"], "ns": _clamp(confirmed["ns"] - 1)}
    return token


@st.composite
def scenarios(draw: st.DrawFn, grantable: bool = False) -> Scenario:
    """Well-formed decision inputs with times, scores and HRC tokens near every boundary.

    With ``grantable`` every step of §4 passes (the decision is GRANT); otherwise each of
    window, trust and HRC may fail, mostly by one step over a boundary.
    """
    policy = draw(policies(need_hrc_key=grantable))
    sensitivity = draw(st.sampled_from(SENSITIVITIES))
    # Which step to put under stress: the later a step, the more earlier steps must pass.
    focus = "grant" if grantable else draw(st.sampled_from(["mixed", "window", "trust", "hrc"]))
    in_window = focus in ("grant", "trust", "hrc")
    trusted = focus in ("grant", "hrc")
    base = draw(st.sampled_from(BASES))
    not_before = base + draw(st.integers(0, 30))
    not_after = not_before + draw(st.integers(1, 150))
    if in_window:
        now_ns = draw(
            st.one_of(
                st.sampled_from([not_before, not_after - 1]),
                st.integers(not_before, not_after - 1),
            )
        )
    else:
        now_ns = _clamp(
            draw(
                st.one_of(
                    st.sampled_from(
                        [not_before - 1, not_before, not_before + 1, not_after - 1, not_after]
                    ),
                    st.integers(not_before - 3, not_after + 3),
                )
            )
        )
    now_epoch = OTHER_EPOCH if not in_window and rarely(draw, 6) else EPOCH
    now = {"epoch": now_epoch, "ns": now_ns}
    holder_seed = draw(st.sampled_from([HOLDER_SEED, HOLDER_SEED, OTHER_HOLDER_SEED]))
    manifest = draw(
        manifests(
            window=(EPOCH, not_before, not_after),
            holder_pk=ref.public_key(holder_seed),
            sensitivity=sensitivity,
            hrc_required=True if focus == "hrc" else None,
        )
    )
    threshold = policy["trust_threshold"][sensitivity]
    if trusted:
        score: int | None = draw(
            st.one_of(st.just(threshold), st.integers(threshold, 10000), st.just(10000))
        )
    else:
        score = draw(
            st.sampled_from(
                [None, max(0, threshold - 1), threshold, min(10000, threshold + 1), 0, 10000]
            )
        )
    scores = {
        cap: draw(st.integers(0, 10000))
        for cap in draw(st.lists(st.sampled_from(CAPABILITIES), max_size=2))
    }
    if score is None:
        scores.pop(manifest["capability_id"], None)
    else:
        scores[manifest["capability_id"]] = score
    snapshot = {
        "snapshot_version": 1,
        "sequence": draw(st.sampled_from([0, 1, 42, UINT63_MAX])),
        "scores": scores,
    }
    hrc = draw(hrc_tokens(policy, ref.digest(manifest), now, valid=grantable))
    return Scenario(policy, manifest, snapshot, now, hrc, holder_seed)


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> Scenario:
    """A scenario with its manifest, snapshot and/or HRC token mutated (§3 violations).

    The scenario is mostly one that would be granted, so that a mutation decides the outcome.
    """
    scenario = draw(scenarios(grantable=not rarely(draw, 4)))
    manifest, snapshot, hrc = scenario.manifest, scenario.snapshot, scenario.hrc
    which = draw(st.sampled_from(["manifest", "manifest", "snapshot", "hrc", "all"]))
    if which in ("manifest", "all"):
        manifest = draw(mutations_of(manifest))
    if which in ("snapshot", "all"):
        snapshot = draw(mutations_of(snapshot))
    if which in ("hrc", "all"):
        # Make HRC matter: required by the manifest itself (the policy may require it too).
        if type(manifest) is dict and type(manifest.get("constraints")) is dict:
            manifest = _add(manifest, ("constraints",), "hrc_required", True)
        if hrc is None:
            hrc = ref.make_hrc(HRC_SEED, ref.H(b"x"), scenario.now)
        hrc = draw(mutations_of(hrc))
    return dataclasses.replace(scenario, manifest=manifest, snapshot=snapshot, hrc=hrc)


# ------------------------------------------------------------------------ verification


@st.composite
def challenges(draw: st.DrawFn) -> bytes:
    return draw(st.binary(min_size=16, max_size=64))


@st.composite
def holder_proofs(draw: st.DrawFn, holder_seed: bytes, lease_id: bytes) -> object:
    """A holder proof (§7.2): right, absent, by another key, for another lease or challenge,
    with a challenge of the wrong size, or malformed."""
    challenge = draw(challenges())
    kind = draw(
        st.sampled_from(
            ["valid"] * 4
            + ["none", "other_holder", "other_lease", "other_challenge", "bad_size"]
            + ["malformed"]
        )
    )
    if kind == "none":
        return None
    if kind == "other_holder":
        holder_seed = OTHER_HOLDER_SEED if holder_seed != OTHER_HOLDER_SEED else HOLDER_SEED
    if kind == "other_lease":
        lease_id = bytes(16)
    if kind == "bad_size":
        challenge = draw(st.sampled_from([b"c" * 15, b"c" * 65, b""]))
    proof = ref.make_holder_proof(holder_seed, lease_id, challenge)
    if kind == "other_challenge":
        proof["challenge"] = (
            (challenge + b"!").hex() if len(challenge) < 64 else challenge[:-1].hex()
        )
    if kind == "malformed":
        return draw(mutation_of(proof))
    return proof


@dataclasses.dataclass(frozen=True)
class Verification:
    """The arguments of ``verify`` (§7.1) other than the token."""

    issuer_public_key: bytes
    task_id: str
    manifest_digest: bytes
    now: dict[str, Any]
    holder_proof: object
    revoked: frozenset[bytes]


@st.composite
def verifications(draw: st.DrawFn, scenario: Scenario, grant: dict[str, Any]) -> Verification:
    """Verification inputs for a granted token: right or wrong issuer key, task, manifest,
    epoch, time (around issued_at and expires_at), revocation and holder proof.

    Each way of being wrong is drawn on its own and only sometimes, so that later steps of
    §7.3 (revocation, holder proof) are reached often.
    """
    lease_id = bytes.fromhex(grant["lease_id"])
    issued, expires = grant["issued_at_ns"], grant["expires_at_ns"]
    if rarely(draw, 3):  # at or just beyond a boundary of the lease
        ns = draw(st.sampled_from([issued, issued - 1, expires, expires + 1, expires - 1]))
    else:
        ns = draw(st.integers(issued, expires - 1))
    # Mostly right; otherwise one of issuer key, task, manifest digest, epoch is wrong.
    wrong = draw(st.integers(1, 4)) if rarely(draw, 4) else 0
    revoked: frozenset[bytes] = frozenset()
    if rarely(draw, 5):
        revoked = draw(
            st.sampled_from(
                [frozenset({lease_id}), frozenset({bytes(16)}), frozenset({lease_id, b"x"})]
            )
        )
    return Verification(
        issuer_public_key=OTHER_ISSUER_PK if wrong == 1 else ISSUER_PK,
        task_id="other-task" if wrong == 2 else scenario.manifest["task_id"],
        manifest_digest=ref.H(b"other") if wrong == 3 else bytes.fromhex(grant["manifest_digest"]),
        now={"epoch": OTHER_EPOCH if wrong == 4 else scenario.now["epoch"], "ns": _clamp(ns)},
        holder_proof=draw(holder_proofs(scenario.holder_seed, lease_id)),
        revoked=revoked,
    )


@st.composite
def byte_mutations(draw: st.DrawFn, token: bytes) -> bytes:
    """A token with bytes flipped, cut, appended, inserted or deleted."""
    op = draw(st.sampled_from(["flip", "flip", "truncate", "append", "insert", "delete"]))
    index = draw(st.integers(0, max(0, len(token) - 1)))
    if op == "flip":
        mask = draw(st.sampled_from([0x01, 0x80, 0xFF, 0x20, 0x1F]) | st.integers(1, 255))
        return token[:index] + bytes([token[index] ^ mask]) + token[index + 1 :]
    if op == "truncate":
        return token[:index]
    if op == "append":
        return token + draw(st.binary(min_size=1, max_size=3))
    if op == "insert":
        return token[:index] + draw(st.binary(min_size=1, max_size=2)) + token[index:]
    return token[:index] + token[index + 1 :]


# Initial bytes worth trying in raw CBOR: every additional-information class of every major
# type, tags 18 and 61 (short and long form), simple values, floats and break.
_INTERESTING_BYTES = (
    0x00,
    0x17,
    0x18,
    0x19,
    0x1A,
    0x1B,
    0x1C,
    0x1F,
    0x20,
    0x38,
    0x3F,
    0x40,
    0x41,
    0x58,
    0x5F,
    0x60,
    0x61,
    0x78,
    0x7F,
    0x80,
    0x81,
    0x84,
    0x98,
    0x9F,
    0xA0,
    0xA1,
    0xB8,
    0xBF,
    0xC2,
    0xD2,
    0xD8,
    0xD9,
    0xDF,
    0xE0,
    0xF4,
    0xF5,
    0xF6,
    0xF7,
    0xF8,
    0xF9,
    0xFA,
    0xFB,
    0xFC,
    0xFF,
    0x12,
    0x3D,
    0xC3,
    0xED,
    0xA0,
)
_ARGUMENTS = (0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1)


@st.composite
def cbor_heads(draw: st.DrawFn) -> bytes:
    """One CBOR head of any major type with an argument near a size boundary, written in a
    width of additional information 24-27 that may or may not be its shortest form."""
    major = draw(st.integers(0, 7))
    argument = draw(st.sampled_from(_ARGUMENTS))
    if argument < 24 and draw(st.booleans()):
        return bytes([major << 5 | argument])
    widths = [w for w in (1, 2, 4, 8) if argument < 1 << (8 * w)]
    width = draw(st.sampled_from(widths))
    info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes([major << 5 | info]) + argument.to_bytes(width, "big")


_raw_atom: st.SearchStrategy[bytes] = st.one_of(
    cbor_heads(),
    st.sampled_from(_INTERESTING_BYTES).map(lambda b: bytes([b])),
    cbor_heads(),
    st.integers(0, 255).map(lambda b: bytes([b])),
)
raw_cbor: st.SearchStrategy[bytes] = st.builds(
    lambda prefix, atoms: prefix + b"".join(atoms),
    st.sampled_from(
        [
            b"",
            b"\xd2",
            b"",
            b"\xd2\x84",
            b"",
            b"\xd2\x84\x40\xa0\x40",
            b"\x81" * 7,
            b"\xa1\x01" * 4,
            b"",
        ]
    ),
    st.lists(_raw_atom, max_size=16),
)
"""Bytes that look like CBOR: heads of every kind, in shortest form or not, and noise."""

_PROTECTED_BYTES_VARIANTS: tuple[bytes, ...] = (
    b"",
    b"\xa0",
    b"\x80",
    b"\xf6",
    b"\xa2\x01\x32\x04",  # truncated
    b"\xd2\xa0",  # a tag
)


def _det_or(value: object, fallback: bytes) -> bytes:
    """det(value), or ``fallback`` when a mutation left the CBOR profile (e.g. 2^64 + 1)."""
    try:
        return ref.det(value)
    except (ref.NotInProfile, OverflowError, ValueError, TypeError):
        return fallback


@st.composite
def resigned_tokens(draw: st.DrawFn, grant_token: bytes) -> bytes:
    """A token rebuilt from a granted one with its claims, protected header or COSE structure
    changed, and signed again by the issuer, so that checks after the signature are reached."""
    original_claims = ref.token_claims(grant_token)
    claims: object = original_claims
    kid = ref.thumbprint(ISSUER_PK)
    header: object = {1: -19, 4: kid}
    part = draw(st.sampled_from(["claims", "claims", "claims", "header", "structure"]))
    if part == "claims":
        claims = draw(mutations_of(claims, CBOR_POOL, (0, 3, 9, -1, -65547, "iss", *CBOR_POOL[:2])))
    header_bytes: bytes
    if part == "header":
        if draw(st.integers(0, 3)) == 0:
            header_bytes = draw(st.sampled_from(_PROTECTED_BYTES_VARIANTS))
        else:
            header = draw(mutation_of(header, CBOR_POOL, (2, 5, -1, "alg", 1, 4)))
            header_bytes = _det_or(header, ref.det({1: -19, 4: kid}))
    else:
        header_bytes = ref.det(header)
    payload = _det_or(claims, ref.det(original_claims))
    signature = ref.sign1(ISSUER_SEED, header_bytes, payload)
    parts: object = [header_bytes, {}, payload, signature]
    tag = 18
    if part == "structure":
        parts = draw(mutation_of(parts, CBOR_POOL, (0, 1)))
        tag = draw(st.sampled_from([18, 18, 61, 17, -1, -2]))
    if tag == -1:
        return _det_or(parts, grant_token)
    if tag == -2:
        return _det_or(ref.Tagged(61, ref.Tagged(18, parts)), grant_token)
    return _det_or(ref.Tagged(tag, parts), grant_token)


# ---------------------------------------------------------------------------------- totality

_hashable_junk: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.frozensets(st.integers(), max_size=2),
)
_scalars: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) + 1),
    st.sampled_from([10**400, -(10**400)]),
    st.floats(),
    st.text(max_size=8),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=2),
    st.binary(max_size=8),
    st.builds(bytearray, st.binary(max_size=4)),
    st.sampled_from([_Opaque(), _Text("x"), _Number.ONE, Decimal("1.5"), complex(0, 1)]),
    st.builds(object),
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
)
anything: st.SearchStrategy[object] = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
        st.dictionaries(_hashable_junk, children, max_size=3),
        st.builds(
            collections.OrderedDict, st.dictionaries(st.text(max_size=3), children, max_size=2)
        ),
    ),
    max_leaves=10,
)
"""Any value, JSON-like or not: for totality (spec §1: any value yields a DENY)."""


def fixed_policy(**changes: object) -> dict[str, Any]:
    """The fixed small-number policy of the targeted tests, with top-level ``changes``."""
    policy: dict[str, Any] = {
        "policy_version": 1,
        "sequence": 1,
        "issuer": "pda-lease:local",
        "issuer_kid": ref.thumbprint(ISSUER_PK).hex(),
        "lease_duration_ns": {"LOW": 300, "MEDIUM": 120, "HIGH": 30},
        "trust_threshold": {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000},
        "hrc_required_for": ["HIGH"],
        "hrc_keys": [HRC_PK.hex()],
        "hrc_max_age_ns": 60,
    }
    policy.update(changes)
    return policy
