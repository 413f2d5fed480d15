"""RFC 9162 §2.1 Merkle trees over byte-string leaves: hashes, proofs and their verification.

This module is pure: functions of their arguments and one append-only value class, no I/O,
clock, randomness or globals; the only dependency is ``hashlib``'s SHA-256.

Definitions (RFC 9162 §2.1.1)
-----------------------------
* ``leaf_hash(d) = SHA-256(0x00 || d)`` and ``node_hash(l, r) = SHA-256(0x01 || l || r)``.
* ``MTH({}) = SHA-256("")`` (:data:`EMPTY_ROOT`), ``MTH({d0}) = leaf_hash(d0)``, and for
  ``n > 1`` the tree splits at ``k``, the largest power of two strictly less than ``n``:
  ``MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))``.
* Inclusion proofs are the RFC's ``PATH(m, D[n])`` (§2.1.3.1) and consistency proofs its
  ``PROOF(m, D[n])`` / ``SUBPROOF`` (§2.1.4.1), both ordered from the leaves up, exactly as the
  RFC (and every CT / C2SP tlog implementation) orders them. Indices are 0-based.

Building: :class:`MerkleTree`
-----------------------------
The tree keeps a level-wise array: level ``h`` holds the hash of every *complete* aligned
subtree of ``2**h`` leaves, as 32-byte slots packed into one ``bytearray`` per level (no
per-hash Python object, so about ``2 * n * 32`` bytes: 64 MB for a million leaves). ``append``
adds a leaf hash and completes the perfect subtrees it closes (amortised one ``node_hash`` per
leaf). Every subtree the RFC recursion visits is aligned on a multiple of its own power-of-two
size, so ``MTH`` of a prefix of any size ``m <= n`` needs O(log m) hashes (the perfect left
subtrees are looked up, only the right spine is hashed), and a proof needs O(log² n). Measured
with CPython 3.11 on a shared 2-core development VM, for 1,000,000 leaves: appending the leaf
hashes takes 1.0-1.6 s (hashing the leaf data first, 0.6-0.9 s more) and the tree holds 64 MB;
a root of any prefix takes 10-20 µs, an inclusion or consistency proof 10-90 µs, verifying one
30-40 µs. The streaming :func:`root` over the same leaf data takes about 1.7 s in O(log n)
memory.

Verification
------------
:func:`verify_inclusion` (§2.1.3.2) and :func:`verify_consistency` (§2.1.4.2) run the RFC's
algorithms step by step and *raise* :class:`ProofError` on failure; on success they return
``None``. There is no boolean to forget to check (the pyca/cryptography rule the rest of
pda-lease follows). The RFC's own failure points map onto the closed reasons of
:class:`ProofFailure`: "sn is 0 with proof elements left" and "sn is not 0 after the last
element" both mean the proof has the wrong number of elements (``WRONG_PROOF_LENGTH``; the
number of elements the RFC loop consumes depends only on the sizes, never on the hash values),
and a recomputed hash that differs from the one supplied is ``ROOT_MISMATCH``.

Checks happen in a fixed order, so the reason is deterministic when several things are wrong:
argument kinds (a caller bug, :class:`~pda_lease.kernel.errors.UsageError`), then sizes
(``BAD_SIZES``), then the leaf index (``INDEX_OUT_OF_RANGE``), then the shape of every hash
(``MALFORMED_HASH``), then the RFC algorithm (``WRONG_PROOF_LENGTH``, ``ROOT_MISMATCH``).

Edge cases (decided here, since the RFC leaves them open)
---------------------------------------------------------
* **Sizes** are integers in ``[0, 2**64)``, the ``uint64`` of RFC 9162 and of C2SP
  checkpoints; anything else is ``BAD_SIZES`` (a ``bool`` or non-``int`` is a ``UsageError``).
* **Hashes** (leaf hash, roots, proof elements) must be ``bytes`` of exactly 32 bytes, else
  ``MALFORMED_HASH``. A proof given as one ``bytes``/``str`` object instead of a sequence of
  hashes is a ``UsageError``.
* **Empty tree**: its root is ``SHA-256("")``; it has no leaves, so every inclusion query on
  it is ``INDEX_OUT_OF_RANGE`` (the RFC's step 1, ``leaf_index >= tree_size``).
* **Size 1**: the inclusion proof of leaf 0 is empty and the root equals the leaf hash.
* **Index out of range** (``index < 0`` or ``index >= tree_size``): ``INDEX_OUT_OF_RANGE``.
* **old_size > new_size**: ``BAD_SIZES`` (a log never shrinks).
* **Equal sizes** (including ``0 == 0``): the only valid proof is empty (the RFC's
  ``PROOF(n, D[n]) = SUBPROOF(n, D[n], true) = {}``), and it verifies iff
  ``old_root == new_root``; for size 0 the roots must moreover be :data:`EMPTY_ROOT`.
* **old_size == 0 < new_size** (the RFC assumes ``0 < m``): the empty tree is a prefix of
  every tree, so there is nothing to prove. The only valid proof is empty and it verifies for
  *any* well-formed ``new_root``, provided ``old_root`` is :data:`EMPTY_ROOT`, the only root a
  tree of size 0 can have (``ROOT_MISMATCH`` otherwise; unlike transparency-dev/merkle, which
  ignores the old root there, a checkpoint claiming size 0 with some other root is refused).
  Such a verification says nothing about ``new_root``: authenticate it separately (the
  checkpoint's signature). ``MerkleTree.consistency_proof(0, n)`` returns the empty proof.
* **Wrong proof length** (too short, too long, empty where elements are needed, non-empty where
  none are): ``WRONG_PROOF_LENGTH``.

What a proof does not bind
--------------------------
A proof binds hashes, not sizes: the RFC algorithms (like every implementation of them) only see
which side each proof element goes on, so a proof can also verify for another size that puts
the hashes on the same sides. The audit path of leaf 0 in a 4-leaf tree, for example, verifies
against the same root with ``tree_size=3``, and ``PROOF(4, D[8])`` verifies as a proof from size
8 to 16 with the same two roots. Verifiers must therefore take the size from the same
authenticated source as the root (a signed checkpoint), never from the prover alone.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence

import attrs

from pda_lease.kernel.errors import ReasonedError, UsageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Frontier",
    "MerkleTree",
    "ProofError",
    "ProofFailure",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

MAX_TREE_SIZE = (1 << 64) - 1
"""Largest tree size (and leaf count) accepted: sizes are ``uint64`` in RFC 9162."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""``MTH({})``, the root of the empty tree: ``SHA-256("")`` (e3b0c442...b855)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofFailure(enum.StrEnum):
    """Why a proof did not verify (closed set; ``ProofError.reason``)."""

    BAD_SIZES = "BAD_SIZES"
    """A size is negative, at least 2**64, or ``old_size > new_size``."""
    INDEX_OUT_OF_RANGE = "INDEX_OUT_OF_RANGE"
    """The leaf index is not in ``[0, tree_size)`` (always the case for the empty tree)."""
    MALFORMED_HASH = "MALFORMED_HASH"
    """A leaf hash, root or proof element is not ``bytes`` of exactly 32 bytes."""
    WRONG_PROOF_LENGTH = "WRONG_PROOF_LENGTH"
    """The proof has more or fewer elements than the sizes require."""
    ROOT_MISMATCH = "ROOT_MISMATCH"
    """A root recomputed from the proof differs from the root supplied."""


class ProofError(ReasonedError[ProofFailure]):
    """A Merkle inclusion or consistency proof failed verification.

    ``reason`` is the closed :class:`ProofFailure`; ``detail`` is for humans and never decides.
    """


# ------------------------------------------------------------------------------ hashing ---


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaves: Iterable[bytes]) -> bytes:
    """``MTH(D[n])`` of the leaf *data* ``leaves`` (not leaf hashes), in O(log n) memory.

    Streams the leaves through a stack of perfect subtrees (the right border of the tree):
    equal-sized neighbours merge as soon as they appear, and at the end the remaining subtrees,
    whose sizes are the binary digits of ``n`` in decreasing order, fold right to left, which is
    the RFC's split at the largest power of two below ``n``, applied recursively.
    """
    stack: list[tuple[int, bytes]] = []  # (subtree size, subtree hash), sizes decreasing
    for data in leaves:
        size, digest = 1, leaf_hash(data)
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        stack.append((size, digest))
    if not stack:
        return EMPTY_ROOT
    digest = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        digest = node_hash(left, digest)
    return digest


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


# ----------------------------------------------------------------------------- frontier ---


@attrs.frozen
class Frontier:
    """The O(log n) state that an append-only log needs to know its root: a compact range.

    ``hashes`` are the roots of the perfect subtrees that make up the first ``size`` leaves,
    largest (leftmost) first, one for each bit set in ``size``. Appending a leaf merges equal
    subtrees like a binary counter; the root folds them from the right, which is exactly
    ``MTH`` (each perfect left part is the RFC's split at the largest power of two). A durable
    log keeps this value beside its head, so it can sign the root of every new size without
    keeping, or rereading, its leaves.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __attrs_post_init__(self) -> None:
        _check_int("size", self.size)
        _check_size("size", self.size)
        if len(self.hashes) != self.size.bit_count():
            raise UsageError("a frontier holds one hash per bit set in its size")
        for value in self.hashes:
            if type(value) is not bytes or len(value) != HASH_SIZE:
                raise UsageError("frontier hashes are 32-byte values")

    def append(self, leaf_hash: bytes) -> Frontier:
        """The frontier after one more leaf (given as its leaf hash)."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
            raise UsageError("a leaf hash is 32 bytes")
        stack = [*self.hashes, leaf_hash]
        carry = self.size
        while carry & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            carry >>= 1
        return Frontier(self.size + 1, tuple(stack))

    def extend(self, leaf_hashes: Iterable[bytes]) -> Frontier:
        """The frontier after all of ``leaf_hashes``, built in one pass (one new value)."""
        stack = list(self.hashes)
        size = self.size
        for value in leaf_hashes:
            if type(value) is not bytes or len(value) != HASH_SIZE:
                raise UsageError("a leaf hash is 32 bytes")
            stack.append(value)
            carry = size
            while carry & 1:
                right = stack.pop()
                stack[-1] = node_hash(stack[-1], right)
                carry >>= 1
            size += 1
        return Frontier(size, tuple(stack))

    def root(self) -> bytes:
        """``MTH`` of the first ``size`` leaves."""
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result

    def to_text(self) -> str:
        """``<size> <hex hash>...``: the form a store keeps."""
        return " ".join([str(self.size), *(value.hex() for value in self.hashes)])

    @classmethod
    def from_text(cls, text: str) -> Frontier:
        parts = text.split(" ")
        try:
            return cls(int(parts[0]), tuple(bytes.fromhex(part) for part in parts[1:]))
        except ValueError:
            raise UsageError(f"not a frontier: {text[:80]!r}") from None


# --------------------------------------------------------------------------------- tree ---


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes that serves roots and proofs of any prefix.

    Storage is level-wise (see the module docstring): ``_levels[h]`` packs the 32-byte hashes
    of the complete aligned subtrees of ``2**h`` leaves, so ``_levels[0]`` holds the leaf
    hashes and the sizes of the levels are ``n >> h``. Not thread-safe: append from one thread,
    or lock around it.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """A tree over the leaf *data* ``leaves`` (each is hashed with :func:`leaf_hash`)."""
        return cls(leaf_hash(data) for data in leaves)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash (``leaf_hash(data)``, 32 bytes); return its 0-based index."""
        if not (isinstance(leaf_hash, bytes) and len(leaf_hash) == HASH_SIZE):
            raise UsageError("a leaf hash must be 32 bytes (use leaf_hash(data) or append_leaf)")
        if self._size == MAX_TREE_SIZE:
            raise UsageError("the tree is full (2**64 - 1 leaves)")
        levels = self._levels
        index = self._size
        levels[0] += leaf_hash
        self._size = index + 1
        digest, level = leaf_hash, 0
        while index & 1:  # this node is a right child: its parent subtree is now complete
            digest = hashlib.sha256(_NODE_PREFIX + levels[level][-64:-32] + digest).digest()
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += digest
            index >>= 1
        return self._size - 1

    def append_leaf(self, data: bytes) -> int:
        """Append the leaf whose data is ``data``; return its 0-based index."""
        return self.append(leaf_hash(data))

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every leaf hash of ``leaf_hashes`` in order."""
        append = self.append
        for digest in leaf_hashes:
            append(digest)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index`` (``0 <= index < size``)."""
        _check_int("index", index)
        if not 0 <= index < self._size:
            raise UsageError(f"leaf index {index} is not in [0, {self._size})")
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` leaves (default: all of them); ``EMPTY_ROOT`` for 0."""
        n = self._prefix_size("size", size)
        return self._subtree(0, n) if n else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[bytes, ...]:
        """RFC 9162 ``PATH(index, D[size])``: the audit path of leaf ``index`` in tree ``size``.

        Requires ``0 <= index < size <= self.size`` (``size`` defaults to ``self.size``).
        """
        n = self._prefix_size("size", size)
        _check_int("index", index)
        if not 0 <= index < n:
            raise UsageError(f"leaf index {index} is not in [0, {n})")
        path: list[bytes] = []  # collected from the root down, returned from the leaf up
        start, m = 0, index
        while n > 1:
            k = _split(n)
            if m < k:  # PATH(m, D[0:k]) : MTH(D[k:n])
                path.append(self._subtree(start + k, n - k))
                n = k
            else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
                path.append(self._subtree(start, k))
                start, m, n = start + k, m - k, n - k
        path.reverse()
        return tuple(path)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> tuple[bytes, ...]:
        """RFC 9162 ``PROOF(old_size, D[new_size])``, the proof that tree ``old_size`` is a prefix.

        Requires ``0 <= old_size <= new_size <= self.size`` (``new_size`` defaults to
        ``self.size``). Empty when ``old_size`` is 0 or equals ``new_size`` (module docstring).
        """
        n = self._prefix_size("new_size", new_size)
        _check_int("old_size", old_size)
        if not 0 <= old_size <= n:
            raise UsageError(f"old_size {old_size} is not in [0, new_size={n}]")
        m = old_size
        if m in (0, n):
            return ()
        proof: list[bytes] = []  # collected from the root down, returned from the leaf up
        start, whole = 0, True  # ``whole`` is SUBPROOF's b: is D[start:start+n] the whole old tree
        while m != n:
            k = _split(n)
            if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                proof.append(self._subtree(start + k, n - k))
                n = k
            else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                proof.append(self._subtree(start, k))
                start, m, n, whole = start + k, m - k, n - k, False
        if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b = true it is {}
            proof.append(self._subtree(start, m))
        proof.reverse()
        return tuple(proof)

    # ---------------------------------------------------------------------- internals ---

    def _prefix_size(self, name: str, size: int | None) -> int:
        if size is None:
            return self._size
        _check_int(name, size)
        if not 0 <= size <= self._size:
            raise UsageError(f"{name} {size} is not in [0, {self._size}] (the tree's size)")
        return size

    def _node(self, level: int, index: int) -> bytes:
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _subtree(self, start: int, n: int) -> bytes:
        """``MTH(D[start:start + n])`` for a subtree the RFC recursion visits (``n >= 1``).

        Such a subtree starts at a multiple of the power of two above ``n``, so its left part
        (and the subtree itself when ``n`` is a power of two) is a stored complete subtree.
        """
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._node(level, start >> level)
        k = _split(n)
        return node_hash(self._subtree(start, k), self._subtree(start + k, n - k))


# ------------------------------------------------------------------------- verification ---


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2, step by step. Returns ``None``; raises :class:`ProofError` otherwise.
    """
    _check_int("index", index)
    _check_int("tree_size", tree_size)
    path = _check_proof(proof)
    _check_size("tree_size", tree_size)
    # 1. leaf_index >= tree_size fails (and a negative index is never in range).
    if not 0 <= index < tree_size:
        raise ProofError(
            ProofFailure.INDEX_OUT_OF_RANGE, f"leaf index {index} is not in [0, {tree_size})"
        )
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    _check_hashes(path)
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for consumed, p in enumerate(path):
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise ProofError(
                ProofFailure.WRONG_PROOF_LENGTH,
                f"inclusion proof has {len(path)} elements, leaf {index} of {tree_size} "
                f"needs {consumed}",
            )
        # b. If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)  # i. r = HASH(0x01 || p || r)
            # ii. If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)  # i. r = HASH(0x01 || r || p)
        # c. Right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Succeed iff sn is 0 and r equals root_hash.
    if sn != 0:
        raise ProofError(
            ProofFailure.WRONG_PROOF_LENGTH,
            f"inclusion proof has {len(path)} elements, too few for leaf {index} of {tree_size}",
        )
    if r != root:
        raise ProofError(
            ProofFailure.ROOT_MISMATCH, "the root computed from the inclusion proof differs"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(old_size, old_root)`` is a prefix of ``(new_size, new_root)``.

    RFC 9162 §2.1.4.2, step by step, for ``0 < old_size < new_size``; equal sizes and
    ``old_size == 0`` follow the module docstring. Returns ``None``; raises
    :class:`ProofError` otherwise.
    """
    _check_int("old_size", old_size)
    _check_int("new_size", new_size)
    path = _check_proof(proof)
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ProofError(
            ProofFailure.BAD_SIZES, f"old_size {old_size} is larger than new_size {new_size}"
        )
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_hashes(path)

    if old_size in (0, new_size):
        if path:
            raise ProofError(
                ProofFailure.WRONG_PROOF_LENGTH,
                f"the consistency proof from size {old_size} to {new_size} must be empty",
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError(
                ProofFailure.ROOT_MISMATCH, "the old root is not the empty tree's SHA-256('')"
            )
        if old_size == new_size and old_root != new_root:
            raise ProofError(
                ProofFailure.ROOT_MISMATCH, f"two different roots for the same size {old_size}"
            )
        return

    # 0 < first < second from here on: RFC 9162 §2.1.4.2 verbatim.
    first, second = old_size, new_size
    # 1. An empty consistency_path fails.
    if not path:
        raise ProofError(
            ProofFailure.WRONG_PROOF_LENGTH,
            f"the consistency proof from size {first} to {second} cannot be empty",
        )
    # 2. If first is an exact power of 2, prepend first_hash to consistency_path.
    if first & (first - 1) == 0:
        path = (old_root, *path)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of consistency_path.
    fr = sr = path[0]
    # 6. For each subsequent value c in consistency_path:
    for c in path[1:]:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise ProofError(
                ProofFailure.WRONG_PROOF_LENGTH,
                f"the consistency proof from size {first} to {second} has too many elements",
            )
        # b. If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)  # i. fr = HASH(0x01 || c || fr)
            sr = node_hash(c, sr)  # ii. sr = HASH(0x01 || c || sr)
            # iii. If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)  # i. sr = HASH(0x01 || sr || c)
        # c. Right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Succeed iff fr == first_hash, sr == second_hash and sn == 0.
    if sn != 0:
        raise ProofError(
            ProofFailure.WRONG_PROOF_LENGTH,
            f"the consistency proof from size {first} to {second} has too few elements",
        )
    if fr != old_root:
        raise ProofError(ProofFailure.ROOT_MISMATCH, "the old root computed from the proof differs")
    if sr != new_root:
        raise ProofError(ProofFailure.ROOT_MISMATCH, "the new root computed from the proof differs")


# ----------------------------------------------------------------------- argument checks ---


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an int, not {type(value).__name__}")


def _check_size(name: str, value: int) -> None:
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(ProofFailure.BAD_SIZES, f"{name} {value} is not in [0, 2**64)")


def _check_proof(proof: Sequence[bytes]) -> tuple[bytes, ...]:
    if isinstance(proof, (bytes, bytearray, memoryview, str)):
        raise UsageError("a proof is a sequence of 32-byte hashes, not one byte or text string")
    return tuple(proof)


def _check_hash(name: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ProofError(ProofFailure.MALFORMED_HASH, f"{name} must be 32 bytes, got {got}")


def _check_hashes(path: tuple[bytes, ...]) -> None:
    for position, element in enumerate(path):
        _check_hash(f"proof element {position}", element)
