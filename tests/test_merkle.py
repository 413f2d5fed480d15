"""RFC 9162 §2.1 Merkle trees (``pda_lease.transparency.merkle``) against independent oracles.

* A naive reference written in this file straight from the RFC's recursive definitions (MTH,
  PATH, PROOF/SUBPROOF) over lists of leaf data, with ``hashlib`` only. It is the oracle of the
  Hypothesis differential tests on random leaf lists of 0..70 leaves (powers of two and their
  neighbours drawn often) and of exhaustive tests on every index and size pair of small trees.
* A second reference, also from the definitions: verifiers that rebuild the roots from a proof
  by following the PATH / SUBPROOF recursion (``ref_inclusion`` / ``ref_consistency``). The
  module verifies with the RFC's bit-twiddling algorithms (§2.1.3.2, §2.1.4.2) instead, so
  comparing the two on mutated inputs (wrong sizes, wrong indices) checks that both accept
  exactly the same statements and refuse the others for the same reason.
* Known answers: SHA-256 of the empty string, leaf and node hashes and the 8-leaf tree (roots of
  every size, inclusion and consistency proofs) published in transparency-dev/merkle
  (``rfc6962/rfc6962_test.go``, ``proof/verify_test.go``), and a 3-leaf tree computed by hand
  with ``hashlib`` here. All of them are also checked against the naive reference.
* Property-based mutation tests: a flipped bit in any proof element or root, a truncated or
  extended proof, a wrong index or size, swapped roots and malformed hashes, each with the
  reason the decision table of the module docstring gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pda_lease.transparency as transparency_pkg
from pda_lease.kernel.errors import PdaLeaseError, UsageError
from pda_lease.transparency.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    Frontier,
    MerkleTree,
    ProofError,
    ProofFailure,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

OK = "OK"
Outcome = ProofFailure | str  # a ProofFailure, or OK

# ------------------------------------------------------------------ naive reference (RFC) ---


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def ref_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def ref_k(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1), by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return ref_leaf(d[0])
    k = ref_k(n)
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 (0 <= m < n)."""
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1 (0 < m <= n)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]); m = 0 gives the empty proof (the module's documented convention)."""
    return [] if m == 0 else ref_subproof(m, d, True)


# ------------------------------------------------- reference verifiers (from the definitions) ---


def ref_path_len(m: int, n: int) -> int:
    if n == 1:
        return 0
    k = ref_k(n)
    return 1 + (ref_path_len(m, k) if m < k else ref_path_len(m - k, n - k))


def ref_subproof_len(m: int, n: int, b: bool) -> int:
    if m == n:
        return 0 if b else 1
    k = ref_k(n)
    return 1 + (ref_subproof_len(m, k, b) if m <= k else ref_subproof_len(m - k, n - k, False))


def _root_from_path(h: bytes, m: int, n: int, path: Sequence[bytes]) -> bytes:
    """Undo PATH: the last element is the sibling of the top split, and so on down."""
    if n == 1:
        return h
    k = ref_k(n)
    if m < k:
        return ref_node(_root_from_path(h, m, k, path[:-1]), path[-1])
    return ref_node(path[-1], _root_from_path(h, m - k, n - k, path[:-1]))


def _roots_from_subproof(
    old_root: bytes, m: int, n: int, b: bool, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Undo SUBPROOF: (MTH of the old part, MTH of the whole) of this subtree."""
    if m == n:
        value = old_root if b else proof[0]
        return value, value
    k = ref_k(n)
    if m <= k:
        old, new = _roots_from_subproof(old_root, m, k, b, proof[:-1])
        return old, ref_node(new, proof[-1])
    old, new = _roots_from_subproof(old_root, m - k, n - k, False, proof[:-1])
    return ref_node(proof[-1], old), ref_node(proof[-1], new)


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == 32 for h in hashes)


def ref_inclusion(h: bytes, index: int, size: int, proof: Sequence[bytes], root_: bytes) -> Outcome:
    if not 0 <= size < 2**64:
        return ProofFailure.BAD_SIZES
    if not 0 <= index < size:
        return ProofFailure.INDEX_OUT_OF_RANGE
    if not _well_formed(h, root_, *proof):
        return ProofFailure.MALFORMED_HASH
    if len(proof) != ref_path_len(index, size):
        return ProofFailure.WRONG_PROOF_LENGTH
    return OK if _root_from_path(h, index, size, proof) == root_ else ProofFailure.ROOT_MISMATCH


def ref_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> Outcome:
    if not (0 <= m < 2**64 and 0 <= n < 2**64) or m > n:
        return ProofFailure.BAD_SIZES
    if not _well_formed(old_root, new_root, *proof):
        return ProofFailure.MALFORMED_HASH
    if m in (0, n):
        if proof:
            return ProofFailure.WRONG_PROOF_LENGTH
        if m == 0 and old_root != sha256(b""):
            return ProofFailure.ROOT_MISMATCH
        return OK if m != n or old_root == new_root else ProofFailure.ROOT_MISMATCH
    if len(proof) != ref_subproof_len(m, n, True):
        return ProofFailure.WRONG_PROOF_LENGTH
    old, new = _roots_from_subproof(old_root, m, n, True, proof)
    return OK if (old, new) == (old_root, new_root) else ProofFailure.ROOT_MISMATCH


# ------------------------------------------------------------------------------ helpers ---


def outcome(verify: Callable[..., None], *args: object) -> Outcome:
    """The reason ``verify(*args)`` raises, or ``OK``."""
    try:
        verify(*args)
    except ProofError as error:
        assert str(error).startswith(f"{error.reason}: ")
        return error.reason
    return OK


def module_inclusion(h: bytes, i: int, n: int, proof: Sequence[bytes], r: bytes) -> Outcome:
    return outcome(verify_inclusion, h, i, n, proof, r)


def module_consistency(m: int, n: int, r1: bytes, r2: bytes, proof: Sequence[bytes]) -> Outcome:
    return outcome(verify_consistency, m, n, r1, r2, proof)


def flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def unhex(text: str) -> bytes:
    return bytes.fromhex(text)


# ----------------------------------------------------------------------------- strategies ---

SPECIAL_SIZES = sorted({s for p in (1, 2, 4, 8, 16, 32, 64) for s in (p - 1, p, p + 1)})
sizes = st.one_of(st.sampled_from(SPECIAL_SIZES), st.integers(0, 70))
hashes = st.binary(min_size=32, max_size=32)
bits = st.integers(0, 8 * HASH_SIZE - 1)


def leaf_lists(min_size: int = 0, unique: bool = False) -> st.SearchStrategy[list[bytes]]:
    """Leaf data lists; short leaves, so that non-unique lists repeat leaves often."""
    leaf = st.binary(max_size=8) if unique else st.binary(max_size=1)
    return sizes.filter(lambda n: n >= min_size).flatmap(
        lambda n: st.lists(leaf, min_size=n, max_size=n, unique=unique)
    )


# ----------------------------------------------------------------------- known answers ---

# transparency-dev/merkle rfc6962/rfc6962_test.go
EMPTY_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_LEAF_HEX = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
LEAF_L123456_HEX = "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
NODE_N123_N456_HEX = "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"

# transparency-dev/merkle proof/verify_test.go: the 8 leaves and the roots of sizes 1..8.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    unhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    unhex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    unhex("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    unhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    unhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    unhex("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    unhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    unhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (0-based leaf index, tree size, proof); the source numbers leaves from 1.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").hexdigest() == EMPTY_HEX
    assert EMPTY_ROOT.hex() == EMPTY_HEX
    assert root([]).hex() == EMPTY_HEX
    assert MerkleTree().root().hex() == EMPTY_HEX
    assert ref_mth([]).hex() == EMPTY_HEX


def test_leaf_and_node_hash_known_answers() -> None:
    assert leaf_hash(b"").hex() == EMPTY_LEAF_HEX
    assert leaf_hash(b"L123456").hex() == LEAF_L123456_HEX
    assert node_hash(b"N123", b"N456").hex() == NODE_N123_N456_HEX
    assert leaf_hash(b"") != EMPTY_ROOT  # the empty leaf is not the empty tree


def test_three_leaf_tree_by_hand() -> None:
    # MTH({a, b, c}): k = 2, so the root is H(1 || H(1 || H(0 a) || H(0 b)) || H(0 c)).
    ha = hashlib.sha256(b"\x00a").digest()
    hb = hashlib.sha256(b"\x00b").digest()
    hc = hashlib.sha256(b"\x00c").digest()
    hab = hashlib.sha256(b"\x01" + ha + hb).digest()
    expected = hashlib.sha256(b"\x01" + hab + hc).digest()
    tree = MerkleTree.from_leaves([b"a", b"b", b"c"])
    assert tree.root() == expected == root([b"a", b"b", b"c"]) == ref_mth([b"a", b"b", b"c"])
    assert tree.root(2) == hab
    assert tree.root(1) == ha
    assert tree.inclusion_proof(0) == (hb, hc)
    assert tree.inclusion_proof(1) == (ha, hc)
    assert tree.inclusion_proof(2) == (hab,)
    assert tree.consistency_proof(1) == (hb, hc)  # SUBPROOF(1, D[0:2], true) : MTH(D[2:3])
    assert tree.consistency_proof(2) == (hc,)
    verify_inclusion(hc, 2, 3, (hab,), expected)
    verify_consistency(2, 3, hab, expected, (hc,))


def test_ct_roots_of_every_size() -> None:
    tree = MerkleTree.from_leaves(CT_LEAVES)
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert ref_mth(CT_LEAVES[:size]) == expected  # the vectors agree with the RFC text
        assert tree.root(size) == expected
        assert root(CT_LEAVES[:size]) == expected
        assert MerkleTree.from_leaves(CT_LEAVES[:size]).root() == expected


@pytest.mark.parametrize(("index", "size", "proof_hex"), CT_INCLUSION)
def test_ct_inclusion_proofs(index: int, size: int, proof_hex: list[str]) -> None:
    proof = tuple(unhex(h) for h in proof_hex)
    assert tuple(ref_path(index, CT_LEAVES[:size])) == proof
    assert MerkleTree.from_leaves(CT_LEAVES).inclusion_proof(index, size) == proof
    verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof, CT_ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof_hex"), CT_CONSISTENCY)
def test_ct_consistency_proofs(old: int, new: int, proof_hex: list[str]) -> None:
    proof = tuple(unhex(h) for h in proof_hex)
    assert tuple(ref_proof(old, CT_LEAVES[:new])) == proof
    assert MerkleTree.from_leaves(CT_LEAVES).consistency_proof(old, new) == proof
    verify_consistency(old, new, CT_ROOTS[old - 1], CT_ROOTS[new - 1], proof)


# ------------------------------------------------------------------ differential tests ---


@given(leaf_lists())
def test_roots_of_every_prefix_match_reference(leaves: list[bytes]) -> None:
    tree = MerkleTree()
    assert tree.root() == EMPTY_ROOT
    for count, data in enumerate(leaves, start=1):
        assert tree.append_leaf(data) == count - 1
        assert tree.root() == ref_mth(leaves[:count])
    assert len(tree) == tree.size == len(leaves)
    assert root(leaves) == ref_mth(leaves)
    for size in range(len(leaves) + 1):
        assert tree.root(size) == ref_mth(leaves[:size])
    assert [tree.leaf_hash(i) for i in range(len(leaves))] == [ref_leaf(d) for d in leaves]


@given(leaf_lists(min_size=1), st.data())
def test_inclusion_proofs_match_reference(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.from_leaves(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = tree.inclusion_proof(index, size)
    assert list(proof) == ref_path(index, leaves[:size])
    if size == len(leaves):
        assert tree.inclusion_proof(index) == proof
    r = ref_mth(leaves[:size])
    verify_inclusion(ref_leaf(leaves[index]), index, size, proof, r)
    assert ref_inclusion(ref_leaf(leaves[index]), index, size, proof, r) == OK


@given(leaf_lists(), st.data())
def test_consistency_proofs_match_reference(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.from_leaves(leaves)
    new = data.draw(st.integers(0, len(leaves)), label="new_size")
    edges = sorted({x for x in (0, 1, new // 2, new - 1, new) if 0 <= x <= new})
    old = data.draw(st.sampled_from(edges) | st.integers(0, new), label="old_size")
    proof = tree.consistency_proof(old, new)
    assert list(proof) == ref_proof(old, leaves[:new])
    if new == len(leaves):
        assert tree.consistency_proof(old) == proof
    r1, r2 = ref_mth(leaves[:old]), ref_mth(leaves[:new])
    verify_consistency(old, new, r1, r2, proof)
    assert ref_consistency(old, new, r1, r2, proof) == OK


def test_every_proof_of_small_trees_matches_reference() -> None:
    leaves = [bytes([i]) * (i % 3) + bytes([i]) for i in range(33)]
    tree = MerkleTree.from_leaves(leaves)
    for new in range(len(leaves) + 1):
        r2 = ref_mth(leaves[:new])
        assert tree.root(new) == r2
        for index in range(new):
            proof = tree.inclusion_proof(index, new)
            assert list(proof) == ref_path(index, leaves[:new])
            verify_inclusion(ref_leaf(leaves[index]), index, new, proof, r2)
        for old in range(new + 1):
            proof = tree.consistency_proof(old, new)
            assert list(proof) == ref_proof(old, leaves[:new])
            verify_consistency(old, new, ref_mth(leaves[:old]), r2, proof)


def test_verifiers_agree_with_reference_on_every_size_mutation() -> None:
    # Wrong sizes and indices, exhaustively on small trees: the RFC algorithms and the
    # definitional reference must accept exactly the same statements, for the same reasons.
    leaves = [i.to_bytes(2, "big") for i in range(24)]
    tree = MerkleTree.from_leaves(leaves)
    roots = [tree.root(n) for n in range(len(leaves) + 1)]
    seen: set[Outcome] = set()
    for n in range(1, len(leaves) + 1):
        for i in range(n):
            h, proof = tree.leaf_hash(i), tree.inclusion_proof(i, n)
            for n2 in range(n + 12):
                for i2 in {i, i - 1, i + 1, i ^ 1, i ^ 2, n2 - 1, n2}:
                    expected = ref_inclusion(h, i2, n2, proof, roots[n])
                    assert module_inclusion(h, i2, n2, proof, roots[n]) == expected
                    seen.add(expected)
        for m in range(n + 1):
            proof = tree.consistency_proof(m, n)
            for m2 in range(n + 3):
                for n2 in {n, m2, n - 1, n + 1, 2 * n, n // 2}:
                    expected = ref_consistency(m2, n2, roots[m], roots[n], proof)
                    assert module_consistency(m2, n2, roots[m], roots[n], proof) == expected
                    seen.add(expected)
    assert seen == {OK, *ProofFailure} - {ProofFailure.MALFORMED_HASH}


def test_sizes_are_not_bound_by_the_proof() -> None:
    # Documented property (module docstring): the path of leaf 0 in a 4-leaf tree also
    # "verifies" with tree size 3, because both sizes put leaf 0 in the same left/right pattern.
    # A verifier must get the size authenticated together with the root (a signed checkpoint).
    tree = MerkleTree.from_leaves([b"a", b"b", b"c", b"d"])
    verify_inclusion(tree.leaf_hash(0), 0, 3, tree.inclusion_proof(0), tree.root())
    with pytest.raises(ProofError) as caught:
        verify_inclusion(tree.leaf_hash(0), 0, 3, tree.inclusion_proof(0, 3), tree.root())
    assert caught.value.reason is ProofFailure.ROOT_MISMATCH
    # Likewise PROOF(4, D[8]) = {MTH(D[4:8])} also reads as a proof from size 8 to size 16.
    tree.extend(leaf_hash(bytes([i])) for i in range(4))
    verify_consistency(8, 16, tree.root(4), tree.root(8), tree.consistency_proof(4, 8))


def test_large_tree_agrees_with_streaming_root() -> None:
    n = 2**15 + 3
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    tree = MerkleTree.from_leaves(leaves)
    r = tree.root()
    assert r == root(leaves)
    for index in (0, 1, 2**14, 2**15 - 1, 2**15, n - 1):
        verify_inclusion(tree.leaf_hash(index), index, n, tree.inclusion_proof(index), r)
    for old in (1, 2, 3, 2**15 - 1, 2**15, 2**15 + 1, n - 1):
        verify_consistency(old, n, tree.root(old), r, tree.consistency_proof(old))
    assert tree.root(1000) == ref_mth(leaves[:1000])


# ------------------------------------------------------------------ mutation properties ---


def inclusion_case(
    leaves: list[bytes], data: st.DataObject
) -> tuple[bytes, int, int, tuple[bytes, ...], bytes]:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    tree = MerkleTree.from_leaves(leaves)
    return tree.leaf_hash(index), index, size, tree.inclusion_proof(index), tree.root()


def consistency_case(
    leaves: list[bytes], data: st.DataObject
) -> tuple[int, int, bytes, bytes, tuple[bytes, ...]]:
    new = len(leaves)
    old = data.draw(st.integers(0, new), label="old_size")
    tree = MerkleTree.from_leaves(leaves)
    return old, new, tree.root(old), tree.root(new), tree.consistency_proof(old, new)


def expect(reason: ProofFailure, verify: Callable[..., None], *args: object) -> None:
    """``verify(*args)`` raises ``ProofError`` with ``reason``."""
    with pytest.raises(ProofError) as caught:
        verify(*args)
    assert caught.value.reason is reason
    assert isinstance(caught.value, PdaLeaseError)


@given(leaf_lists(min_size=1, unique=True), st.data())
def test_inclusion_rejects_flipped_bits(leaves: list[bytes], data: st.DataObject) -> None:
    h, i, n, proof, r = inclusion_case(leaves, data)
    verify_inclusion(h, i, n, proof, r)
    bit = data.draw(bits, label="bit")
    for j in range(len(proof)):
        bad = (*proof[:j], flip(proof[j], bit), *proof[j + 1 :])
        expect(ProofFailure.ROOT_MISMATCH, verify_inclusion, h, i, n, bad, r)
    expect(ProofFailure.ROOT_MISMATCH, verify_inclusion, h, i, n, proof, flip(r, bit))
    expect(ProofFailure.ROOT_MISMATCH, verify_inclusion, flip(h, bit), i, n, proof, r)


@given(leaf_lists(min_size=1, unique=True), st.data())
def test_inclusion_rejects_truncated_or_extended_proofs(
    leaves: list[bytes], data: st.DataObject
) -> None:
    h, i, n, proof, r = inclusion_case(leaves, data)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="drop")
        short = proof[:at] + proof[at + 1 :]
        expect(ProofFailure.WRONG_PROOF_LENGTH, verify_inclusion, h, i, n, short, r)
    at = data.draw(st.integers(0, len(proof)), label="insert")
    extra = data.draw(st.sampled_from([r, h, *proof]) | hashes, label="extra")
    long = (*proof[:at], extra, *proof[at:])
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_inclusion, h, i, n, long, r)


@given(leaf_lists(min_size=1, unique=True), st.data())
def test_inclusion_rejects_wrong_index_or_size(leaves: list[bytes], data: st.DataObject) -> None:
    h, i, n, proof, r = inclusion_case(leaves, data)
    # Another leaf of the same tree: with distinct leaves this is never a true statement.
    i2 = data.draw(st.integers(0, n - 1).filter(lambda x: x != i), label="index2") if n > 1 else i
    if i2 != i:
        reason = module_inclusion(h, i2, n, proof, r)
        assert reason == ref_inclusion(h, i2, n, proof, r)
        assert reason in (ProofFailure.WRONG_PROOF_LENGTH, ProofFailure.ROOT_MISMATCH)
    bad_index = data.draw(st.sampled_from([-1, n, n + 1, -(2**64)]), label="bad index")
    expect(ProofFailure.INDEX_OUT_OF_RANGE, verify_inclusion, h, bad_index, n, proof, r)
    # Another tree size: the reason follows the definitions (see the size quirk test).
    n2 = data.draw(st.sampled_from([n - 1, n + 1, 2 * n, n // 2]) | st.integers(0, 2 * n + 2))
    if n2 != n:
        assert module_inclusion(h, i, n2, proof, r) == ref_inclusion(h, i, n2, proof, r)
    if n2 in (2 * n, n + 1) and n & (n - 1) == 0:  # a bigger tree always needs a longer path
        expect(ProofFailure.WRONG_PROOF_LENGTH, verify_inclusion, h, i, n2, proof, r)
    for bad_size in (-1, 2**64, 2**64 + n):
        expect(ProofFailure.BAD_SIZES, verify_inclusion, h, i, bad_size, proof, r)


@given(leaf_lists(unique=True), st.data())
def test_consistency_rejects_flipped_bits(leaves: list[bytes], data: st.DataObject) -> None:
    m, n, r1, r2, proof = consistency_case(leaves, data)
    verify_consistency(m, n, r1, r2, proof)
    bit = data.draw(bits, label="bit")
    for j in range(len(proof)):
        bad = (*proof[:j], flip(proof[j], bit), *proof[j + 1 :])
        expect(ProofFailure.ROOT_MISMATCH, verify_consistency, m, n, r1, r2, bad)
    expect(ProofFailure.ROOT_MISMATCH, verify_consistency, m, n, flip(r1, bit), r2, proof)
    if m == 0 and n > 0:  # the empty tree is a prefix of every tree: any new root is fine
        verify_consistency(m, n, r1, flip(r2, bit), proof)
    else:
        expect(ProofFailure.ROOT_MISMATCH, verify_consistency, m, n, r1, flip(r2, bit), proof)


@given(leaf_lists(unique=True), st.data())
def test_consistency_rejects_truncated_or_extended_proofs(
    leaves: list[bytes], data: st.DataObject
) -> None:
    m, n, r1, r2, proof = consistency_case(leaves, data)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="drop")
        short = proof[:at] + proof[at + 1 :]
        expect(ProofFailure.WRONG_PROOF_LENGTH, verify_consistency, m, n, r1, r2, short)
    at = data.draw(st.integers(0, len(proof)), label="insert")
    extra = data.draw(st.sampled_from([r1, r2, *proof]) | hashes, label="extra")
    long = (*proof[:at], extra, *proof[at:])
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_consistency, m, n, r1, r2, long)


@given(leaf_lists(min_size=1, unique=True), st.data())
def test_consistency_rejects_swapped_roots_and_wrong_sizes(
    leaves: list[bytes], data: st.DataObject
) -> None:
    m, n, r1, r2, proof = consistency_case(leaves, data)
    if m < n:
        expect(ProofFailure.ROOT_MISMATCH, verify_consistency, m, n, r2, r1, proof)
        expect(ProofFailure.BAD_SIZES, verify_consistency, n, m, r1, r2, proof)
        expect(ProofFailure.BAD_SIZES, verify_consistency, n, m, r2, r1, proof)
    m2 = data.draw(st.sampled_from([m - 1, m + 1, m ^ 2, 0, n]) | st.integers(0, n + 2))
    n2 = data.draw(st.sampled_from([n - 1, n + 1, 2 * n, n // 2, m]) | st.integers(0, 2 * n + 2))
    for a, b in ((m2, n), (m, n2), (m2, n2)):
        assert module_consistency(a, b, r1, r2, proof) == ref_consistency(a, b, r1, r2, proof)
    if 0 < m < n and m2 not in (m, n):
        assert ref_consistency(m2, n, r1, r2, proof) != OK  # the same tree, another old size
    for bad in (-1, 2**64):
        expect(ProofFailure.BAD_SIZES, verify_consistency, bad, n, r1, r2, proof)
        expect(ProofFailure.BAD_SIZES, verify_consistency, m, bad, r1, r2, proof)


@given(leaf_lists(min_size=1, unique=True), st.data())
def test_malformed_hashes_are_refused(leaves: list[bytes], data: st.DataObject) -> None:
    h, i, n, proof, r = inclusion_case(leaves, data)
    length = data.draw(st.sampled_from([0, 1, 31, 33, 64]), label="length")
    bad = (b"\x01" * 64)[:length]
    expect(ProofFailure.MALFORMED_HASH, verify_inclusion, bad, i, n, proof, r)
    expect(ProofFailure.MALFORMED_HASH, verify_inclusion, h, i, n, proof, bad)
    for j in range(len(proof)):
        wrong = (*proof[:j], bad, *proof[j + 1 :])
        expect(ProofFailure.MALFORMED_HASH, verify_inclusion, h, i, n, wrong, r)
    m, n, r1, r2, cproof = consistency_case(leaves, data)
    expect(ProofFailure.MALFORMED_HASH, verify_consistency, m, n, bad, r2, cproof)
    expect(ProofFailure.MALFORMED_HASH, verify_consistency, m, n, r1, bad, cproof)
    for j in range(len(cproof)):
        wrong = (*cproof[:j], bad, *cproof[j + 1 :])
        expect(ProofFailure.MALFORMED_HASH, verify_consistency, m, n, r1, r2, wrong)


# -------------------------------------------------------------------------- edge cases ---


def test_empty_tree_edge_cases() -> None:
    some = leaf_hash(b"x")
    for index in (0, 1, -1):
        expect(ProofFailure.INDEX_OUT_OF_RANGE, verify_inclusion, some, index, 0, (), some)
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, ())
    expect(ProofFailure.ROOT_MISMATCH, verify_consistency, 0, 0, some, some, ())
    expect(ProofFailure.ROOT_MISMATCH, verify_consistency, 0, 0, EMPTY_ROOT, some, ())
    expect(
        ProofFailure.WRONG_PROOF_LENGTH,
        verify_consistency,
        0,
        0,
        EMPTY_ROOT,
        EMPTY_ROOT,
        (EMPTY_ROOT,),
    )
    # old_size 0: the empty proof, for any new root, provided the old root is the empty root.
    verify_consistency(0, 5, EMPTY_ROOT, some, ())
    verify_consistency(0, MAX_TREE_SIZE, EMPTY_ROOT, some, ())
    expect(ProofFailure.ROOT_MISMATCH, verify_consistency, 0, 5, some, some, ())
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_consistency, 0, 5, EMPTY_ROOT, some, (some,))
    tree = MerkleTree.from_leaves([b"a", b"b"])
    assert tree.consistency_proof(0) == ()
    assert tree.consistency_proof(0, 0) == ()


def test_size_one_and_equal_sizes() -> None:
    h = leaf_hash(b"only")
    tree = MerkleTree([h])
    assert tree.root() == h
    assert tree.inclusion_proof(0) == ()
    verify_inclusion(h, 0, 1, (), h)
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_inclusion, h, 0, 1, (h,), h)
    expect(ProofFailure.INDEX_OUT_OF_RANGE, verify_inclusion, h, 1, 1, (), h)
    expect(ProofFailure.ROOT_MISMATCH, verify_inclusion, h, 0, 1, (), EMPTY_ROOT)
    assert tree.consistency_proof(1) == ()
    verify_consistency(1, 1, h, h, ())
    verify_consistency(7, 7, h, h, ())
    expect(ProofFailure.ROOT_MISMATCH, verify_consistency, 1, 1, h, EMPTY_ROOT, ())
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_consistency, 1, 1, h, h, (h,))
    expect(ProofFailure.WRONG_PROOF_LENGTH, verify_consistency, 1, 2, h, h, ())


def test_checks_run_in_the_documented_order() -> None:
    h = leaf_hash(b"x")
    # sizes, then index, then hash shapes, then the proof itself
    expect(ProofFailure.BAD_SIZES, verify_inclusion, b"", -1, -1, (b"",), b"")
    expect(ProofFailure.INDEX_OUT_OF_RANGE, verify_inclusion, b"", 5, 1, (b"",), b"")
    expect(ProofFailure.MALFORMED_HASH, verify_inclusion, h, 0, 1, (b"",), h)
    expect(ProofFailure.BAD_SIZES, verify_consistency, 3, 2, b"", b"", (b"",))
    expect(ProofFailure.MALFORMED_HASH, verify_consistency, 1, 2, h, h, (b"",) * 9)


def test_misuse_raises_usage_error() -> None:
    h = leaf_hash(b"x")
    tree = MerkleTree([h, h, h])
    calls: list[Callable[[], object]] = [
        lambda: tree.append(b"short"),
        lambda: tree.append("x" * 32),  # type: ignore[arg-type]
        lambda: tree.root(4),
        lambda: tree.root(-1),
        lambda: tree.inclusion_proof(3),
        lambda: tree.inclusion_proof(0, 4),
        lambda: tree.inclusion_proof(-1),
        lambda: tree.consistency_proof(3, 2),
        lambda: tree.consistency_proof(-1),
        lambda: tree.leaf_hash(3),
        lambda: tree.root(True),
        lambda: verify_inclusion(h, 0, 1, h, h),  # type: ignore[arg-type]  # one hash, not a proof
        lambda: verify_inclusion(h, True, 1, (), h),
        lambda: verify_consistency(1, 1.0, h, h, ()),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(UsageError):
            call()
    assert len(tree) == 3  # refused appends left the tree unchanged
    with pytest.raises(ProofError):
        verify_inclusion("x", 0, 1, [], h)  # type: ignore[arg-type]


def test_error_type_and_package_exports() -> None:
    assert issubclass(ProofError, PdaLeaseError)
    assert not issubclass(ProofError, UsageError)
    assert {r.value for r in ProofFailure} == {
        "BAD_SIZES",
        "INDEX_OUT_OF_RANGE",
        "MALFORMED_HASH",
        "WRONG_PROOF_LENGTH",
        "ROOT_MISMATCH",
    }
    error = ProofError(ProofFailure.ROOT_MISMATCH, "detail")
    assert (error.reason, error.detail, str(error)) == (
        ProofFailure.ROOT_MISMATCH,
        "detail",
        "ROOT_MISMATCH: detail",
    )
    for name in transparency_pkg.__all__:
        assert getattr(transparency_pkg, name) is not None
    assert transparency_pkg.MerkleTree is MerkleTree
    assert transparency_pkg.verify_inclusion is verify_inclusion


# ------------------------------------------------------------------------------ frontier ---


@given(st.lists(st.binary(max_size=8), max_size=80))
def test_a_frontier_has_the_naive_root_at_every_size(leaves: list[bytes]) -> None:
    frontier = Frontier()
    assert frontier.root() == ref_mth([]) == EMPTY_ROOT
    for count, data in enumerate(leaves, start=1):
        frontier = frontier.append(ref_leaf(data))
        assert frontier.size == count
        assert len(frontier.hashes) == bin(count).count("1")
        assert frontier.root() == ref_mth(leaves[:count])
    assert Frontier.from_text(frontier.to_text()) == frontier
    assert Frontier().extend(ref_leaf(d) for d in leaves) == frontier


@pytest.mark.parametrize(
    "build",
    [
        lambda: Frontier(1, ()),  # one hash per set bit
        lambda: Frontier(2, (b"\x00" * 32, b"\x00" * 32)),
        lambda: Frontier(1, (b"\x00" * 31,)),
        lambda: Frontier(-1, ()),
        lambda: Frontier().append(b"short"),
        lambda: Frontier.from_text("x"),
        lambda: Frontier.from_text("1 zz"),
    ],
)
def test_a_malformed_frontier_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises((UsageError, ProofError)):
        build()
