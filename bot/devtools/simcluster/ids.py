"""Identifiers the cluster makes up: uids, generated-name suffixes, event names, container and image ids.

One seeded random source, so a test that passes a seed gets the same pod names on every run.
"""

from __future__ import annotations

import hashlib
import random
import uuid

# k8s.io/apimachinery/pkg/util/rand: no vowels (no words), no confusable characters
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# k8s.io/apiserver/pkg/storage/names: a generated name is the base cut to 63 - 5 characters, then 5 random ones
MAX_NAME_LENGTH, RANDOM_LENGTH = 63, 5
MAX_GENERATED_NAME_LENGTH = MAX_NAME_LENGTH - RANDOM_LENGTH


class Ids:
    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        return "".join(self._random.choice(SAFE_ALPHABET) for _ in range(length))

    def generated_name(self, base: str) -> str:
        """`metadata.generateName` resolved as the API server's SimpleNameGenerator does (long bases are cut)."""
        return f"{base[:MAX_GENERATED_NAME_LENGTH]}{self.suffix(RANDOM_LENGTH)}"

    def event_name(self, object_name: str, at: float) -> str:
        """`<object>.<hex unix nanos>` as client-go's event recorder names events."""
        nanos = int(at * 1e9) + self._random.randrange(1_000_000)
        return f"{object_name}.{nanos:x}"


def safe_encode(text: str) -> str:
    """client-go's `rand.SafeEncodeString`: each byte mapped onto the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def sha256_hex(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def image_id(image: str) -> str:
    """`registry/repo@sha256:<digest>` as containerd reports the image a container runs."""
    repo = image.split("@")[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: repo.rfind(":")]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    return f"{repo}@sha256:{sha256_hex('image', image)}"


def container_id(pod_uid: str, container: str, attempt: int) -> str:
    return f"containerd://{sha256_hex('container', pod_uid, container, str(attempt))}"
