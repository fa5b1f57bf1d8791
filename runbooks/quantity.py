"""Kubernetes memory quantities ("256Mi", "1Gi", "512M", "1e9") as bytes and back.

The resources branch proposes new limits (×1.5, rounded up, capped by config) and must read and write them the
way Kubernetes does; a small exact parser keeps that arithmetic honest without a dependency.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
MI = 2**20
GI = 2**30


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_bytes(quantity: str) -> int:
    """Bytes in a memory quantity; raises QuantityError with the offending text."""
    match = _QUANTITY.match(quantity.strip())
    if not match:
        raise QuantityError(f"not a Kubernetes quantity: {quantity!r} (expected e.g. 512Mi, 1Gi, 1000M)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"not a Kubernetes quantity: {quantity!r}") from exc
    if suffix == "m":
        return math.ceil(value / 1000)
    factor = _BINARY.get(suffix) or _DECIMAL[suffix]
    return math.ceil(value * factor)


def format_bytes(n: int) -> str:
    """The shortest exact binary-suffixed form, e.g. 402653184 → "384Mi"."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[suffix]
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)


def bump(current: int, factor: float = 1.5, step: int = 64 * MI) -> int:
    """`current` × `factor`, rounded up to a whole `step` (64Mi); always more than `current`."""
    target = max(math.ceil(current * factor), current + 1)
    return math.ceil(target / step) * step
