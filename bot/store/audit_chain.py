"""The keyed hash chain of the audit log: how a row's hash is computed, and which key wrote it.

A plain hash chain only proves that nobody edited a row *and forgot to recompute the hashes*; anyone with write
access can recompute them. So every row written since migration 0007 carries an HMAC-SHA256 made with a key the
database never sees (CRASHLOOP_AUDIT_KEY, an env var or a file in the secrets directory):

    hash = hmac_sha256(row_key, prev_hash + canonical_json(every column but seq, prev_hash and hash)).hexdigest()
    row_key = hmac_sha256(secret, "crashloop audit row"), key_id = hmac_sha256(secret, "crashloop audit key id")[:16]

`seq` is left out on purpose: the order is the chain itself (prev_hash), and `verify` checks that seq follows it,
which lets it tell a renumbered or reordered row from an edited one. `key_id` is in every keyed row (and hashed),
so a verifier knows which key to use and can hold retired keys after a rotation.

Rows written before 0007 have key_id NULL and keep their documented plain SHA-256 hash (seq included). The
migration re-keys none of them: it cannot prove they were not edited before it ran. The first keyed row's HMAC
covers their head hash, so from that row on they are *sealed*: any later change to them breaks that link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MIN_SECRET_LENGTH = 32


class AuditKeyError(Exception):
    """No usable audit key is configured, so rows can be neither written nor verified."""


@dataclass(frozen=True)
class AuditKey:
    """One audit secret, split into the sub-keys it is used as (rows, checkpoints) and its public id."""

    key_id: str
    row_key: bytes
    checkpoint_key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> AuditKey:
        raw = secret.strip().encode()
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"the audit key must be at least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )
        return cls(
            key_id=_mac(raw, b"crashloop audit key id")[:16],
            row_key=bytes.fromhex(_mac(raw, b"crashloop audit row")),
            checkpoint_key=bytes.fromhex(_mac(raw, b"crashloop audit checkpoint")),
        )

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r})"


@dataclass(frozen=True)
class AuditKeyring:
    """The key new rows are written with, and the retired keys old rows may still be verified with."""

    current: AuditKey
    retired: tuple[AuditKey, ...] = ()

    @classmethod
    def from_secrets(cls, current: str, retired: Iterable[str] = ()) -> AuditKeyring:
        return cls(AuditKey.from_secret(current), tuple(AuditKey.from_secret(s) for s in retired if s.strip()))

    def get(self, key_id: str) -> AuditKey | None:
        return next((k for k in (self.current, *self.retired) if k.key_id == key_id), None)


def canonical(values: Mapping[str, Any]) -> str:
    """The one JSON text of `values` that is hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def keyed_hash(key: AuditKey, prev_hash: str, values: Mapping[str, Any]) -> str:
    """The HMAC of a row (values: every column but seq, prev_hash and hash)."""
    return hmac.new(key.row_key, (prev_hash + canonical(values)).encode(), hashlib.sha256).hexdigest()


def legacy_hash(prev_hash: str, values: Mapping[str, Any]) -> str:
    """The plain SHA-256 of a pre-0007 row (values: every column but prev_hash and hash, seq included)."""
    return hashlib.sha256((prev_hash + canonical(values)).encode()).hexdigest()


def sign(key: bytes, values: Mapping[str, Any]) -> str:
    """An HMAC over canonical JSON (checkpoints)."""
    return hmac.new(key, canonical(values).encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _mac(key: bytes, label: bytes) -> str:
    return hmac.new(key, label, hashlib.sha256).hexdigest()
