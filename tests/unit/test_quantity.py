"""Kubernetes memory quantities as bytes and back, and the ×1.5 memory bump the resources branch proposes."""

from __future__ import annotations

import pytest

from runbooks.quantity import QuantityError, bump, format_bytes, parse_bytes

KI, MI, GI, TI = 2**10, 2**20, 2**30, 2**40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("256Mi", 268_435_456, id="Mi"),
        pytest.param("1Gi", 1_073_741_824, id="Gi"),
        pytest.param("1Ki", 1024, id="Ki"),
        pytest.param("2Ti", 2 * 1_099_511_627_776, id="Ti"),
        pytest.param("1Pi", 2**50, id="Pi"),
        pytest.param("1Ei", 2**60, id="Ei"),
        pytest.param("1.5Gi", 1_610_612_736, id="fractional-Gi"),
        pytest.param("0.5Gi", 536_870_912, id="half-Gi"),
        pytest.param("512M", 512_000_000, id="M-is-decimal"),
        pytest.param("1G", 1_000_000_000, id="G-is-decimal"),
        pytest.param("1k", 1000, id="k"),
        pytest.param("1T", 10**12, id="T"),
        pytest.param("2P", 2 * 10**15, id="P"),
        pytest.param("1E", 10**18, id="E-suffix-is-exa"),
        pytest.param("1e9", 1_000_000_000, id="exponent"),
        pytest.param("1E9", 1_000_000_000, id="exponent-upper"),
        pytest.param("129e6", 129_000_000, id="exponent-129e6"),
        pytest.param("1.5e3", 1500, id="fractional-exponent"),
        pytest.param("128974848", 128_974_848, id="plain-bytes"),
        pytest.param("0", 0, id="zero"),
        pytest.param("1500m", 2, id="milli-rounded-up"),
        pytest.param("100m", 1, id="milli-below-one-byte-rounds-up"),
        pytest.param("1.5", 2, id="fractional-bytes-rounded-up"),
        pytest.param(" 256Mi\n", 268_435_456, id="surrounding-whitespace"),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("Mi", id="suffix-only"),
        pytest.param("256MB", id="MB"),
        pytest.param("256mi", id="lowercase-mi"),
        pytest.param("1Gb", id="Gb"),
        pytest.param("256 Mi", id="space-before-suffix"),
        pytest.param("-1Gi", id="negative"),
        pytest.param("lots", id="word"),
        pytest.param("0x100", id="hex"),
        pytest.param("1.2.3Gi", id="two-dots"),
        pytest.param("1Gi1", id="trailing-digit"),
    ],
)
def test_parse_bytes_rejects_what_kubernetes_rejects_and_names_the_text(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_bytes(text)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        pytest.param(402_653_184, "384Mi", id="384Mi"),
        pytest.param(GI, "1Gi", id="1Gi"),
        pytest.param(4 * GI, "4Gi", id="4Gi"),
        pytest.param(1536 * MI, "1536Mi", id="1.5Gi-as-Mi"),
        pytest.param(KI, "1Ki", id="1Ki"),
        pytest.param(1536, "1536", id="not-whole-Ki"),
        pytest.param(3 * TI, "3Ti", id="3Ti"),
        pytest.param(2**60, "1Ei", id="1Ei"),
        pytest.param(1000, "1000", id="below-1Ki"),
        pytest.param(1023, "1023", id="1023"),
        pytest.param(MI + 1, str(MI + 1), id="odd-bytes"),
        pytest.param(0, "0", id="zero"),
    ],
)
def test_format_bytes_is_the_shortest_exact_binary_form(n: int, expected: str) -> None:
    assert format_bytes(n) == expected


@pytest.mark.parametrize("text", ["64Mi", "384Mi", "1Gi", "1536Mi", "3Ti", "1Ki", "1000"])
def test_binary_quantities_round_trip(text: str) -> None:
    assert format_bytes(parse_bytes(text)) == text


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        pytest.param(256 * MI, 384 * MI, id="256Mi->384Mi"),
        pytest.param(512 * MI, 768 * MI, id="512Mi->768Mi"),
        pytest.param(GI, 1536 * MI, id="1Gi->1536Mi"),
        pytest.param(2 * GI, 3 * GI, id="2Gi->3Gi"),
        pytest.param(100 * MI, 192 * MI, id="100Mi->192Mi-rounded-up"),
        pytest.param(128 * MI, 192 * MI, id="128Mi->192Mi"),
        pytest.param(500_000_000, 768 * MI, id="500M->768Mi"),
    ],
)
def test_bump_is_one_and_a_half_times_rounded_up_to_64Mi(current: int, expected: int) -> None:
    assert bump(current) == expected


def test_bump_accepts_another_factor_and_step() -> None:
    assert bump(256 * MI, factor=2.0) == 512 * MI
    assert bump(100 * MI, step=MI) == 150 * MI
    assert bump(100 * MI, factor=1.25, step=MI) == 125 * MI


@pytest.mark.parametrize(
    "current", [1, 10 * MI, 64 * MI, 65 * MI, 100 * MI, 127 * MI, 129 * MI, 700 * MI, 3 * GI + 1, 10**9]
)
def test_bump_is_a_whole_step_above_one_and_a_half_times_current(current: int) -> None:
    target = bump(current)
    assert target % (64 * MI) == 0
    assert target >= current * 1.5
    assert target > current


@pytest.mark.parametrize("current", [pytest.param(10 * MI, id="10Mi"), pytest.param(65 * MI, id="65Mi")])
def test_bump_is_at_least_half_again_and_a_whole_step(current: int) -> None:
    # the docstring's contract: "`current` × `factor`, rounded up to a whole `step` (64Mi); always more than current"
    result = bump(current)
    assert result >= current * 1.5
    assert result % (64 * MI) == 0
    assert result > current


def test_bump_with_factor_one_still_grows() -> None:
    assert bump(256 * MI, factor=1.0) == 320 * MI
