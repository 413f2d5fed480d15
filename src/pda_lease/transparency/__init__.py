r"""Transparency-log primitives, pure like the kernel (no I/O, clock or randomness).

RFC 9162 Merkle trees with inclusion and consistency proofs (``merkle``), and C2SP signed notes
carrying ``tlog-checkpoint``\ s signed with Ed25519 (``checkpoint``). The durable audit log is
built into a transparency log on top of these; nothing here reads or writes a file.
"""

from pda_lease.transparency.checkpoint import (
    Checkpoint,
    NoteError,
    NoteErrorReason,
    NoteSigner,
    OpenedNote,
    VerifiedCheckpoint,
    VerifierKey,
    ed25519_key_id,
    open_checkpoint,
    open_note,
    sign_note,
)
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

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "Frontier",
    "MerkleTree",
    "NoteError",
    "NoteErrorReason",
    "NoteSigner",
    "OpenedNote",
    "ProofError",
    "ProofFailure",
    "VerifiedCheckpoint",
    "VerifierKey",
    "ed25519_key_id",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "root",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]
