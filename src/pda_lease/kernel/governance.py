"""Governance (spec §13): the signed policy document, who asks, and reviewer approvals.

A governed authority decides under a ``GovernancePolicy`` instead of a bare ``LeasePolicy``:
the compiled, signed policy of an organization (allowlists, tools and their categories,
principals with their workspaces and roles, review rules). Its two extra inputs are untrusted
documents: the ``GovernedRequest``, signed by the principal's own key (a role is looked up in
the policy, never taken from the caller), and the reviewers' signed ``Approval``s. The two
pipeline steps here, G (policy, §13.7) and A (approvals, §13.8), are pure functions of those
inputs, the parsed manifest and the time, like every other step of ``decide``; they return a
``Deny`` from the closed catalog or what the grant binds into its token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import attrs

from pda_lease.kernel import model
from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.cbor import encode
from pda_lease.kernel.crypto import Signer, is_valid_public_key, sha256, verify_signature
from pda_lease.kernel.errors import PolicyError, UsageError
from pda_lease.kernel.inputs import (
    HEX32_PATTERN,
    HEX64_PATTERN,
    IDENTIFIER_PATTERN,
    SENSITIVITIES,
    UINT63_MAX,
    LeasePolicy,
    MonotonicTime,
    Sensitivity,
    TaskManifest,
    json_digest,
    key_check,
    time_fields,
)
from pda_lease.kernel.model import Failure, Field
from pda_lease.kernel.pools import (
    Demand,
    Pools,
    demand_fields,
    pools_check,
    pools_from_json,
    pools_problem,
)

GOVERNANCE_VERSION = 1
MAX_REQUEST_AGE_NS = 3_600_000_000_000
MAX_APPROVAL_TTL_NS = 604_800_000_000_000
# A token must stay within MAX_TOKEN_BYTES (§9) with every text at its longest: 16 tool ids of
# 128 characters leave room for the rest of the claims (a test builds the largest token).
MAX_REQUEST_TOOLS = 16
MAX_APPROVALS = 64
REQUEST_CONTEXT = "PDA-REQUEST-v1"
APPROVAL_CONTEXT = "PDA-APPROVAL-v1"

ALLOW, DENY, REVIEW = "ALLOW", "DENY", "REVIEW"
APPROVE = "APPROVE"
PERSON, SERVICE = "PERSON", "SERVICE"

_ID = model.text(IDENTIFIER_PATTERN)
_HEX32 = model.text(HEX32_PATTERN)


# ---------------------------------------------------------------------------------- policy


# A principal's or reviewer's key: valid as a holder key is (§3.1), refused as BAD_VALUE.
_key_text = key_check(is_valid_public_key, "BAD_VALUE")


def _id_set(max_items: int, non_empty: bool = False) -> model.Check:
    """An array of distinct ids in strictly increasing UTF-8 order (one spelling, §13.1)."""

    def check(value: object, path: str) -> Failure | None:
        if type(value) is not list:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, list)
        if len(value) > max_items:
            return Failure("TOO_MANY_ITEMS", path)
        if non_empty and not value:
            return Failure("BAD_VALUE", path)
        # Python orders str by code point, which is the order of their UTF-8 bytes.
        for index, item in enumerate(value):
            item_path = model.index_path(path, index)
            failure = _ID(item, item_path)
            if failure:
                return failure
            if index and item <= value[index - 1]:
                return Failure("BAD_VALUE", item_path)
        return None

    return check


_ID_LIST_LIMIT = model.SNAPSHOT_LIMITS.max_items


def _review_rule_fields(decision_field: bool) -> tuple[Field, ...]:
    fields = (
        Field("reviewers", _id_set_of_keys()),
        Field("threshold", model.integer(0, MAX_APPROVALS)),
    )
    if decision_field:
        return (Field("decision", model.one_of(ALLOW, DENY, REVIEW)), *fields)
    return fields


def _id_set_of_keys() -> model.Check:
    """Reviewer keys: distinct 64-hex keys in strictly increasing order."""

    def check(value: object, path: str) -> Failure | None:
        if type(value) is not list:
            return Failure("WRONG_TYPE", path)
        assert isinstance(value, list)
        if len(value) > MAX_APPROVALS:
            return Failure("TOO_MANY_ITEMS", path)
        for index, item in enumerate(value):
            item_path = model.index_path(path, index)
            failure = _HEX32(item, item_path)
            if failure:
                return failure
            if index and item <= value[index - 1]:
                return Failure("BAD_VALUE", item_path)
        return None

    return check


def _governance_fields() -> tuple[Field, ...]:
    role = (
        Field("capabilities", _id_set(_ID_LIST_LIMIT, non_empty=True)),
        Field("models", _id_set(_ID_LIST_LIMIT)),
        Field("tools", _id_set(_ID_LIST_LIMIT)),
    )
    principal = (
        Field("name", _ID),
        Field("kind", model.one_of(PERSON, SERVICE)),
        Field("workspaces", model.object_of(_ID, _ID, non_empty=True)),
    )
    return (
        Field("governance_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("org", _ID),
        Field("version", model.integer(1, UINT63_MAX)),
        Field("lease_policy", model.any_object),
        Field("request_max_age_ns", model.integer(1, MAX_REQUEST_AGE_NS)),
        Field("approval_ttl_ns", model.integer(1, MAX_APPROVAL_TTL_NS)),
        Field("capabilities", _id_set(_ID_LIST_LIMIT)),
        Field("models", _id_set(_ID_LIST_LIMIT)),
        Field("tools", model.object_of(_ID, _ID, non_empty=False)),
        Field(
            "categories",
            model.object_of(_ID, model.nested(_review_rule_fields(True)), non_empty=False),
        ),
        Field(
            "sensitivity_review",
            model.object_of(
                model.one_of(*SENSITIVITIES),
                model.nested(_review_rule_fields(False)),
                non_empty=False,
            ),
        ),
        Field("reviewers", model.object_of(_key_text, _ID, non_empty=False)),
        Field("principals", model.object_of(_key_text, model.nested(principal), non_empty=False)),
        Field(
            "workspaces",
            model.object_of(_ID, model.object_of(_ID, model.nested(role), non_empty=True), False),
        ),
        Field("pools", pools_check),
    )


# Built by functions and bound once at import (tests rebuild them: see inputs.time_fields).
_GOVERNANCE_FIELDS = _governance_fields()


@attrs.frozen
class ReviewRule:
    """A k-of-n review requirement: ``threshold`` distinct ``reviewers`` must approve."""

    path: str  # where the rule lives in the document: the field of APPROVALS_INSUFFICIENT
    reviewers: frozenset[bytes]
    threshold: int


@attrs.frozen
class Role:
    capabilities: frozenset[str]
    models: frozenset[str]
    tools: frozenset[str]


@attrs.frozen
class Principal:
    public_key: bytes
    name: str
    kind: str
    roles: Mapping[str, str] = attrs.field(eq=False)  # workspace -> role


def _rule(path: str, document: Mapping[str, object]) -> ReviewRule:
    reviewers = document["reviewers"]
    assert isinstance(reviewers, list)
    threshold = document["threshold"]
    assert isinstance(threshold, int)
    return ReviewRule(path, frozenset(bytes.fromhex(key) for key in reviewers), threshold)


def _rule_problem(
    path: str, rule: dict[str, object], needs_review: bool, reviewers: dict[str, str]
) -> str | None:
    """A review rule's cross-field rule (§13.1): ``"<path>: <problem>"`` or None."""
    listed: list[str] = rule["reviewers"]  # type: ignore[assignment]
    threshold: int = rule["threshold"]  # type: ignore[assignment]
    if not needs_review:
        if listed or threshold:
            return f"{path}: an ALLOW or DENY rule has no reviewers and threshold 0"
        return None
    if not 1 <= threshold <= len(listed):
        return f"{path}.threshold: not in [1, number of reviewers]"
    for index, key in enumerate(listed):
        if key not in reviewers:
            return f"{model.index_path(path + '.reviewers', index)}: not a registered reviewer"
    return None


def _semantic_failure(document: dict[str, object]) -> str | None:
    """The cross-field rules of §13.1, after the schema: the first broken one, or None.

    Returned as ``"<field path>: <problem>"``, paths written as in §4.1. The rules are judged
    in the order of the §13.1 table: tools, categories, sensitivity review, workspaces (each
    role's capabilities, models, then tools in order), principals.
    """
    capabilities = set(document["capabilities"])  # type: ignore[call-overload]
    models = set(document["models"])  # type: ignore[call-overload]
    tools: dict[str, str] = document["tools"]  # type: ignore[assignment]
    categories: dict[str, dict[str, object]] = document["categories"]  # type: ignore[assignment]
    reviewers: dict[str, str] = document["reviewers"]  # type: ignore[assignment]
    review: dict[str, dict[str, object]] = document["sensitivity_review"]  # type: ignore[assignment]
    workspaces: dict[str, dict[str, dict[str, list[str]]]] = document["workspaces"]  # type: ignore[assignment]
    principals: dict[str, dict[str, object]] = document["principals"]  # type: ignore[assignment]
    path_of = model.child_path

    for tool in model.sorted_keys(tools):
        if tools[tool] not in categories:
            return f"{path_of('tools', tool)}: category {tools[tool]} is not defined"
    for name in model.sorted_keys(categories):
        rule = categories[name]
        problem = _rule_problem(
            path_of("categories", name), rule, rule["decision"] == REVIEW, reviewers
        )
        if problem:
            return problem
    for sensitivity in model.sorted_keys(review):
        problem = _rule_problem(
            path_of("sensitivity_review", sensitivity), review[sensitivity], True, reviewers
        )
        if problem:
            return problem
    for workspace in model.sorted_keys(workspaces):
        for role_name in model.sorted_keys(workspaces[workspace]):
            role = workspaces[workspace][role_name]
            path = path_of(path_of("workspaces", workspace), role_name)
            for field, allowed, what in (
                ("capabilities", capabilities, "capabilities"),
                ("models", models, "models"),
            ):
                for index, item in enumerate(role[field]):
                    if item not in allowed:
                        item_path = model.index_path(f"{path}.{field}", index)
                        return f"{item_path}: not in the organization's {what}"
            for index, tool in enumerate(role["tools"]):
                item_path = model.index_path(f"{path}.tools", index)
                if tool not in tools:
                    return f"{item_path}: tool {tool} is not defined"
                if categories[tools[tool]]["decision"] == DENY:
                    return f"{item_path}: tool {tool} is in a denied category"
    for key in model.sorted_keys(principals):
        memberships: dict[str, str] = principals[key]["workspaces"]  # type: ignore[assignment]
        for workspace in model.sorted_keys(memberships):
            if memberships[workspace] not in workspaces.get(workspace, {}):
                path = path_of(path_of(path_of("principals", key), "workspaces"), workspace)
                return f"{path}: role {memberships[workspace]} is not defined in {workspace}"
    return None


@attrs.frozen
class GovernancePolicy:
    """A compiled governance policy (spec §13.1): validated, indexed, with its digest.

    Build it with :meth:`from_json`; a document that breaks §13.1 raises ``PolicyError`` (no
    decision is made under it). ``digest`` is the ``policy_digest`` every token and audit
    record of a governed authority carries.
    """

    org: str
    version: int
    lease_policy: LeasePolicy
    request_max_age_ns: int
    approval_ttl_ns: int
    capabilities: frozenset[str]
    models: frozenset[str]
    tool_categories: Mapping[str, str] = attrs.field(eq=False, repr=False)
    category_decisions: Mapping[str, str] = attrs.field(eq=False, repr=False)
    category_rules: Mapping[str, ReviewRule] = attrs.field(eq=False, repr=False)
    sensitivity_rules: Mapping[Sensitivity, ReviewRule] = attrs.field(eq=False, repr=False)
    reviewers: Mapping[bytes, str] = attrs.field(eq=False, repr=False)
    principals: Mapping[bytes, Principal] = attrs.field(eq=False, repr=False)
    roles: Mapping[tuple[str, str], Role] = attrs.field(eq=False, repr=False)
    document: Mapping[str, object] = attrs.field(eq=False, repr=False)
    digest: bytes
    pools: Pools | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_json(cls, document: object) -> GovernancePolicy:
        failure = model.validate(document, model.SNAPSHOT_LIMITS, _GOVERNANCE_FIELDS)
        if failure:
            raise PolicyError(f"governance policy field {failure.path}: {failure.reason}")
        assert isinstance(document, dict)
        try:
            lease_policy = LeasePolicy.from_json(document["lease_policy"])
        except PolicyError as error:
            raise PolicyError(f"governance policy field lease_policy: {error}") from None
        problem = _semantic_failure(document)
        if problem is None and document["pools"] is not None:
            problem = pools_problem(
                document["pools"], document["workspaces"], document["principals"]
            )
        if problem:
            raise PolicyError(f"governance policy field {problem}")
        categories = document["categories"]
        roles = {
            (workspace, name): Role(
                frozenset(role["capabilities"]), frozenset(role["models"]), frozenset(role["tools"])
            )
            for workspace, by_name in document["workspaces"].items()
            for name, role in by_name.items()
        }
        principals = {
            bytes.fromhex(key): Principal(
                bytes.fromhex(key),
                entry["name"],
                entry["kind"],
                MappingProxyType(dict(entry["workspaces"])),
            )
            for key, entry in document["principals"].items()
        }
        return cls(
            org=document["org"],
            version=document["version"],
            lease_policy=lease_policy,
            request_max_age_ns=document["request_max_age_ns"],
            approval_ttl_ns=document["approval_ttl_ns"],
            capabilities=frozenset(document["capabilities"]),
            models=frozenset(document["models"]),
            tool_categories=MappingProxyType(dict(document["tools"])),
            category_decisions=MappingProxyType(
                {name: rule["decision"] for name, rule in categories.items()}
            ),
            category_rules=MappingProxyType(
                {
                    name: _rule(model.child_path("categories", name), rule)
                    for name, rule in categories.items()
                    if rule["decision"] == REVIEW
                }
            ),
            sensitivity_rules=MappingProxyType(
                {
                    Sensitivity(name): _rule(model.child_path("sensitivity_review", name), rule)
                    for name, rule in document["sensitivity_review"].items()
                }
            ),
            reviewers=MappingProxyType(
                {bytes.fromhex(key): name for key, name in document["reviewers"].items()}
            ),
            principals=MappingProxyType(principals),
            roles=MappingProxyType(roles),
            document=MappingProxyType(dict(document)),
            digest=json_digest(document),
            pools=pools_from_json(document["pools"]),
        )


def policy_from_json(document: object) -> LeasePolicy | GovernancePolicy:
    """An authority's policy document: a GovernancePolicy when it has ``governance_version``.

    Raises ``PolicyError`` when the document breaks the rules of its kind (§3.4, §13.1).
    """
    if type(document) is dict and "governance_version" in document:
        return GovernancePolicy.from_json(document)
    return LeasePolicy.from_json(document)


# ---------------------------------------------------------------------------------- request


def _model_check(value: object, path: str) -> Failure | None:
    return None if value is None else _ID(value, path)


def _request_fields() -> tuple[Field, ...]:
    return (
        Field("request_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("principal", _HEX32),
        Field("workspace", _ID),
        Field("model", _model_check),
        Field("tools", _id_set(MAX_REQUEST_TOOLS)),
        Field("manifest_digest", _HEX32),
        Field("requested_at", model.nested(time_fields())),
        Field("demand", model.nested(demand_fields())),
        Field("signature", model.text(HEX64_PATTERN)),
    )


_REQUEST_FIELDS = _request_fields()


@attrs.frozen
class GovernedRequest:
    """A structurally valid request (§13.4); its signature is judged by step G."""

    principal: bytes
    workspace: str
    model: str | None
    tools: tuple[str, ...]
    manifest_digest: bytes
    requested_at: MonotonicTime
    demand: Demand
    signature: bytes
    digest: bytes


def request_signed_bytes(
    principal: bytes,
    workspace: str,
    model_id: str | None,
    tools: Sequence[str],
    manifest_digest: bytes,
    requested_at: MonotonicTime,
    demand: Demand,
) -> bytes:
    """The bytes a principal signs (spec §13.4, with the demand of §14.2)."""
    return encode(
        [
            REQUEST_CONTEXT,
            principal,
            workspace,
            model_id,
            list(tools),
            manifest_digest,
            requested_at.epoch,
            requested_at.ns,
            demand.signed(),
        ]
    )


def parse_request(document: object) -> GovernedRequest | Failure:
    encoded = model.validate_encoded(document, model.MANIFEST_LIMITS, _REQUEST_FIELDS)
    if isinstance(encoded, Failure):
        return encoded
    assert isinstance(document, dict)
    at = document["requested_at"]
    return GovernedRequest(
        principal=bytes.fromhex(document["principal"]),
        workspace=document["workspace"],
        model=document["model"],
        tools=tuple(document["tools"]),
        manifest_digest=bytes.fromhex(document["manifest_digest"]),
        requested_at=MonotonicTime(at["epoch"], at["ns"]),
        demand=Demand(**document["demand"]),
        signature=bytes.fromhex(document["signature"]),
        digest=sha256(encoded),
    )


def sign_request(
    signer: Signer,
    *,
    workspace: str,
    model_id: str | None,
    tools: Sequence[str],
    manifest_digest: bytes,
    requested_at: MonotonicTime,
    demand: Demand | Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Build a GovernedRequest document (§13.4) signed by the principal's key.

    ``tools`` may be in any order; the document lists them sorted (one spelling).
    ``demand`` (§14.2) is a ``Demand`` or its JSON form; None declares nothing (all zero).
    """
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("manifest_digest is 32 bytes")
    if not isinstance(requested_at, MonotonicTime):
        raise UsageError("requested_at is a MonotonicTime")
    if isinstance(tools, str) or not all(type(tool) is str for tool in tools):
        raise UsageError("tools is a sequence of tool ids")
    if demand is None:
        demand = Demand()
    elif not isinstance(demand, Demand):
        try:
            demand = Demand.from_json(dict(demand))
        except (ValueError, TypeError) as error:
            raise UsageError(str(error)) from None
    ordered = sorted(set(tools))  # code point order: the order of the UTF-8 bytes (§13.4)
    principal = signer.public_key
    signature = signer.sign(
        request_signed_bytes(
            principal, workspace, model_id, ordered, manifest_digest, requested_at, demand
        )
    )
    return {
        "request_version": 1,
        "principal": principal.hex(),
        "workspace": workspace,
        "model": model_id,
        "tools": ordered,
        "manifest_digest": manifest_digest.hex(),
        "requested_at": requested_at.to_json(),
        "demand": demand.to_json(),
        "signature": signature.hex(),
    }


# ---------------------------------------------------------------------------------- approvals


def _approval_fields() -> tuple[Field, ...]:
    return (
        Field("approval_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("reviewer", _HEX32),
        Field("manifest_digest", _HEX32),
        Field("verdict", model.one_of(APPROVE, DENY)),
        Field("signed_at", model.nested(time_fields())),
        Field("signature", model.text(HEX64_PATTERN)),
    )


_APPROVAL_FIELDS = _approval_fields()


@attrs.frozen
class Approval:
    """A structurally valid reviewer verdict (§13.5); its signature is judged by step A."""

    reviewer: bytes
    manifest_digest: bytes
    verdict: str
    signed_at: MonotonicTime
    signature: bytes


def approval_signed_bytes(
    reviewer: bytes, manifest_digest: bytes, verdict: str, signed_at: MonotonicTime
) -> bytes:
    """The bytes a reviewer signs (spec §13.5)."""
    return encode(
        [APPROVAL_CONTEXT, reviewer, manifest_digest, verdict, signed_at.epoch, signed_at.ns]
    )


def parse_approval(document: object) -> Approval | Failure:
    failure = model.validate(document, model.MANIFEST_LIMITS, _APPROVAL_FIELDS)
    if failure:
        return failure
    assert isinstance(document, dict)
    at = document["signed_at"]
    return Approval(
        reviewer=bytes.fromhex(document["reviewer"]),
        manifest_digest=bytes.fromhex(document["manifest_digest"]),
        verdict=document["verdict"],
        signed_at=MonotonicTime(at["epoch"], at["ns"]),
        signature=bytes.fromhex(document["signature"]),
    )


def parse_approvals(document: object) -> tuple[tuple[Approval, ...], bytes] | Failure:
    """Step A1: ``null`` (no approvals) or an array of at most 64 well-formed approvals.

    Returns the approvals and ``det`` of the array (``null`` reads as ``[]``), or the first
    violation with its path under ``approvals``. The array as a whole is first walked with
    the manifest limits (§4.1 steps 2-3), so its size is judged before any approval in it is
    read; then each item, in order.
    """
    if document is None:
        document = []
    if type(document) is not list:
        return Failure("WRONG_TYPE", "approvals")
    assert isinstance(document, list)
    if len(document) > MAX_APPROVALS:
        return Failure("TOO_MANY_ITEMS", "approvals")
    encoded = model.walk_encode(document, model.MANIFEST_LIMITS)
    if isinstance(encoded, Failure):
        return Failure(encoded.reason, under("approvals", encoded.path))
    approvals: list[Approval] = []
    for index, item in enumerate(document):
        parsed = parse_approval(item)
        if isinstance(parsed, Failure):
            item_path = model.index_path("approvals", index)
            return Failure(parsed.reason, under(item_path, parsed.path))
        approvals.append(parsed)
    return tuple(approvals), encoded


def under(root: str, path: str) -> str:
    """A field path of a nested document, re-rooted at ``root`` (``$`` is the root itself)."""
    if path == "$":
        return root
    if path.startswith("$"):
        path = path[1:]
    return root + path if path.startswith("[") else root + "." + path


def sign_approval(
    signer: Signer, manifest_digest: bytes, verdict: str, signed_at: MonotonicTime
) -> dict[str, object]:
    """Build an Approval document (§13.5): a reviewer's APPROVE or DENY of one manifest."""
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("manifest_digest is 32 bytes")
    if verdict not in (APPROVE, DENY):
        raise UsageError("verdict is APPROVE or DENY")
    if not isinstance(signed_at, MonotonicTime):
        raise UsageError("signed_at is a MonotonicTime")
    reviewer = signer.public_key
    signature = signer.sign(approval_signed_bytes(reviewer, manifest_digest, verdict, signed_at))
    return {
        "approval_version": 1,
        "reviewer": reviewer.hex(),
        "manifest_digest": manifest_digest.hex(),
        "verdict": verdict,
        "signed_at": signed_at.to_json(),
        "signature": signature.hex(),
    }


# ---------------------------------------------------------------------------------- steps


@attrs.frozen
class GovernanceClaim:
    """What a governed grant binds into its token (claim -65547, §13.10)."""

    principal: bytes
    workspace: str
    role: str
    model: str | None
    tools: tuple[str, ...]
    request_digest: bytes
    approvals_digest: bytes | None

    def to_cbor(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "workspace": self.workspace,
            "role": self.role,
            "model": self.model,
            "tools": list(self.tools),
            "request": self.request_digest,
            "approvals": self.approvals_digest,
        }

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal.hex(),
            "workspace": self.workspace,
            "role": self.role,
            "model": self.model,
            "tools": list(self.tools),
            "request": self.request_digest.hex(),
            "approvals": None if self.approvals_digest is None else self.approvals_digest.hex(),
        }


@attrs.frozen
class Admitted:
    """Step G passed: who asked, in which role, and the review rules that now apply."""

    policy: GovernancePolicy = attrs.field(repr=False)
    request: GovernedRequest
    role: str
    requirements: tuple[ReviewRule, ...]


def _policy_deny(reason: str, field: str = "$") -> Deny:
    return deny(Code.POLICY_DENIED, reason, field)


def check_request(
    policy: GovernancePolicy, manifest: TaskManifest, now: MonotonicTime, document: object
) -> Admitted | Deny:
    """Step G (spec §13.7): who asks, for what. First failure decides."""
    if document is None:
        return _policy_deny("REQUEST_MISSING")
    request = parse_request(document)
    if isinstance(request, Failure):
        return _policy_deny("REQUEST_MALFORMED", under("request", request.path))
    principal = policy.principals.get(request.principal)
    if principal is None:
        return _policy_deny("UNKNOWN_PRINCIPAL", "request.principal")
    signed = request_signed_bytes(
        request.principal,
        request.workspace,
        request.model,
        request.tools,
        request.manifest_digest,
        request.requested_at,
        request.demand,
    )
    if not verify_signature(principal.public_key, signed, request.signature):
        return _policy_deny("BAD_REQUEST_SIGNATURE", "request.signature")
    if request.manifest_digest != manifest.digest:
        return _policy_deny("REQUEST_WRONG_MANIFEST", "request.manifest_digest")
    if request.requested_at.epoch != now.epoch:
        return _policy_deny("REQUEST_EPOCH_MISMATCH", "request.requested_at.epoch")
    age = now.ns - request.requested_at.ns
    if age < 0:
        return _policy_deny("REQUEST_FROM_FUTURE", "request.requested_at.ns")
    if age >= policy.request_max_age_ns:
        return _policy_deny("REQUEST_TOO_OLD", "request.requested_at.ns")
    role_name = principal.roles.get(request.workspace)
    if role_name is None:
        return _policy_deny("WORKSPACE_NOT_ALLOWED", "request.workspace")
    role = policy.roles[(request.workspace, role_name)]
    if manifest.capability_id not in policy.capabilities:
        return _policy_deny("CAPABILITY_NOT_ALLOWED", "capability_id")
    if manifest.capability_id not in role.capabilities:
        return _policy_deny("CAPABILITY_NOT_IN_ROLE", "capability_id")
    if request.model is not None:
        if request.model not in policy.models:
            return _policy_deny("MODEL_NOT_ALLOWED", "request.model")
        if request.model not in role.models:
            return _policy_deny("MODEL_NOT_IN_ROLE", "request.model")
    reviewed: set[str] = set()
    for index, tool in enumerate(request.tools):
        path = model.index_path("request.tools", index)
        category = policy.tool_categories.get(tool)
        if category is None:
            return _policy_deny("TOOL_UNKNOWN", path)
        if policy.category_decisions[category] == DENY:
            return _policy_deny("TOOL_CATEGORY_DENIED", path)
        if tool not in role.tools:
            return _policy_deny("TOOL_NOT_IN_ROLE", path)
        if category in policy.category_rules:
            reviewed.add(category)
    requirements = [
        policy.category_rules[name] for name in model.sorted_keys(dict.fromkeys(reviewed))
    ]
    sensitivity_rule = policy.sensitivity_rules.get(manifest.constraints.sensitivity)
    if sensitivity_rule is not None:
        requirements.append(sensitivity_rule)
    return Admitted(policy, request, role_name, tuple(requirements))


def check_approvals(
    policy: GovernancePolicy,
    manifest: TaskManifest,
    now: MonotonicTime,
    requirements: Sequence[ReviewRule],
    document: object,
) -> bytes | Deny | None:
    """Step A (spec §13.8). Returns the approvals digest to bind (None: no review needed)."""
    if not requirements:
        return None
    parsed = parse_approvals(document)
    if isinstance(parsed, Failure):
        return deny(Code.APPROVAL_REQUIRED, "APPROVALS_MALFORMED", parsed.path)
    approvals, encoded = parsed
    for index, approval in enumerate(approvals):
        path = model.index_path("approvals", index)
        if approval.reviewer not in policy.reviewers:
            return deny(Code.APPROVAL_REQUIRED, "APPROVAL_UNKNOWN_REVIEWER", path + ".reviewer")
        signed = approval_signed_bytes(
            approval.reviewer, approval.manifest_digest, approval.verdict, approval.signed_at
        )
        if not verify_signature(approval.reviewer, signed, approval.signature):
            return deny(Code.APPROVAL_REQUIRED, "APPROVAL_BAD_SIGNATURE", path + ".signature")
        if approval.manifest_digest != manifest.digest:
            return deny(
                Code.APPROVAL_REQUIRED, "APPROVAL_WRONG_MANIFEST", path + ".manifest_digest"
            )
    relevant = frozenset().union(*(rule.reviewers for rule in requirements))
    for index, approval in enumerate(approvals):
        if approval.verdict == DENY and approval.reviewer in relevant:
            return _policy_deny(
                "REVIEWER_DENIED", model.index_path("approvals", index) + ".verdict"
            )
    counting = {
        approval.reviewer
        for approval in approvals
        if approval.verdict == APPROVE
        and approval.signed_at.epoch == now.epoch
        and 0 <= now.ns - approval.signed_at.ns < policy.approval_ttl_ns
    }
    for rule in requirements:
        if len(counting & rule.reviewers) < rule.threshold:
            return deny(Code.APPROVAL_REQUIRED, "APPROVALS_INSUFFICIENT", rule.path)
    return sha256(encoded)


def governance_claim(admitted: Admitted, approvals_digest: bytes | None) -> GovernanceClaim:
    request = admitted.request
    return GovernanceClaim(
        principal=request.principal,
        workspace=request.workspace,
        role=admitted.role,
        model=request.model,
        tools=request.tools,
        request_digest=request.digest,
        approvals_digest=approvals_digest,
    )


__all__ = [
    "Admitted",
    "Approval",
    "GovernanceClaim",
    "GovernancePolicy",
    "GovernedRequest",
    "Principal",
    "ReviewRule",
    "Role",
    "approval_signed_bytes",
    "check_approvals",
    "check_request",
    "governance_claim",
    "parse_approval",
    "parse_approvals",
    "parse_request",
    "policy_from_json",
    "request_signed_bytes",
    "sign_approval",
    "sign_request",
]
