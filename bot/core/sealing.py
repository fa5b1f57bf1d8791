"""Sealing literal values typed into Slack (set_env) so they are never stored or shown in clear.

The value is encrypted (Fernet: AES-128-CBC + HMAC) with a key derived from the Slack signing secret, which every
replica already has, and decrypted only at the moment the patch is sent to the cluster.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(Exception):
    """A sealed value that cannot be opened (another key, or tampered with)."""


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"crashloop-bot", info=b"set_env literal").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, value: str) -> str:
    return _fernet(secret).encrypt(value.encode()).decode()


def unseal(secret: str, token: str) -> str:
    try:
        return _fernet(secret).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SealError("the sealed value cannot be opened with this key") from exc
