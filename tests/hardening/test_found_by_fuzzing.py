"""Defects the fuzzer found, each pinned by a plain test that fails if the fix is undone."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from starlette.testclient import TestClient

from config import load_settings
from config.errors import TargetSizeUnreachable
from origin.tokens import RENDER_VERSION, AssetToken, SourceRef, TokenSigner
from tests.hardening.conftest import (
    ALPHA,
    FIXTURES,
    SIGNING,
    hardening_environ,
    put_in_storage,
)
from tests.hardening.published import check_answer
from transforms import Fit, Gravity, Resize, parse_spec, render
from transforms.geometry import plan_geometry
from transforms.target_size import MAX_ENCODES, search_quality


@pytest.mark.parametrize("fmt", ["Jpeg", "Avif"])
@pytest.mark.parametrize("cap", [256, 300])
def test_a_size_cap_a_tiny_strip_cannot_meet_is_a_400_not_a_crash(
    make_client: Callable[..., TestClient], data_dir: Path, fmt: str, cap: int
) -> None:
    """A 940x2 strip barely changes size with quality: the search ran out of encodes before
    the floor, and the shrink step read the floor's size that was never measured (KeyError,
    a 500)."""
    key = put_in_storage(data_dir, "panorama-940x2.png")
    client = make_client(load_settings(hardening_environ(data_dir)))
    response = client.post(
        "/v1/compress-to-size",
        json={"source": {"storageKey": key}, "maxSizeBytes": cap, "format": fmt},
        headers=ALPHA,
    )
    if response.status_code == 200:
        assert response.json()["sizeBytes"] <= cap
    else:
        assert (response.status_code, response.json()["code"]) == (400, "TARGET_SIZE_UNREACHABLE")


def test_a_search_that_finds_nothing_has_tried_the_floor() -> None:
    """Sizes that do not follow quality at all: the budget runs out, then the floor is tried."""
    tried: list[int] = []

    def encode(quality: int) -> bytes:
        tried.append(quality)
        return b"x" * 1000

    state = search_quality(encode, 500, first=90, slope=0.6, low=30, high=100)
    assert state.best is None and 30 in state.sizes
    assert len(tried) <= MAX_ENCODES + 1


def test_the_floor_is_tried_and_can_be_the_answer() -> None:
    """Only the floor fits: it is found even when the budget would have stopped short of it."""

    def encode(quality: int) -> bytes:
        return b"x" * (400 if quality <= 30 else 1000)

    state = search_quality(encode, 500, first=90, slope=0.6, low=30, high=100)
    assert state.best is not None and state.best[0] == 30


def test_render_of_the_strip_never_raises_anything_but_our_errors() -> None:
    data = (FIXTURES / "panorama-940x2.png").read_bytes()
    for fmt in ("Jpeg", "Webp", "Avif"):
        for cap in (256, 300, 400):
            spec = parse_spec({"format": {"type": fmt, "targetFileSizeBytes": cap}})
            try:
                result = render(data, spec)
            except TargetSizeUnreachable:
                continue
            assert len(result.data) <= cap


@pytest.mark.parametrize("expires_at", [10**12, 2**63, float("inf"), float("nan"), -5])
def test_a_signed_token_with_an_impossible_expiry_is_a_404(
    make_client: Callable[..., TestClient], data_dir: Path, expires_at: float
) -> None:
    """Formatting its Expires header raised (OverflowError, OSError, ValueError): a 500."""
    key = put_in_storage(data_dir, "tiny-1x1.png")
    client = make_client(load_settings(hardening_environ(data_dir)))
    sha = hashlib.sha256((FIXTURES / "tiny-1x1.png").read_bytes()).hexdigest()
    token = AssetToken(
        RENDER_VERSION, SourceRef("storage", key, sha), {}, "{}", expires_at, "alpha", True
    )  # type: ignore[arg-type]
    asset_id = TokenSigner([SIGNING]).mint(token)
    for method in ("GET", "HEAD"):
        assert client.request(method, f"/v1/assets/{asset_id}").status_code == 404


def test_an_unknown_pack_is_a_documented_404(
    make_client: Callable[..., TestClient], data_dir: Path
) -> None:
    """The pack endpoint answered 404 NOT_FOUND, which its OpenAPI entry did not list."""
    key = put_in_storage(data_dir, "tiny-1x1.png")
    client = make_client(load_settings(hardening_environ(data_dir)))
    response = client.post("/v1/packs/myspace", json={"source": {"storageKey": key}}, headers=ALPHA)
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
    check_answer("/v1/packs/{packId}", response)


@pytest.mark.parametrize("pack", ["instagram-feed", "linkedin-post"])
def test_a_smart_crop_of_a_thin_strip_is_quick(
    make_client: Callable[..., TestClient], data_dir: Path, pack: str
) -> None:
    """Packs crop with gravity Smart. libvips enlarged the whole 940x2 strip to cover the box
    (634500x1350 for instagram-feed) before looking for its interesting part: 100 s and 3 GB
    for a 270-byte PNG, a pixel bomb that the source pixel cap never saw."""
    key = put_in_storage(data_dir, "panorama-940x2.png")
    client = make_client(load_settings(hardening_environ(data_dir)))
    started = time.monotonic()
    response = client.post(f"/v1/packs/{pack}", json={"source": {"storageKey": key}}, headers=ALPHA)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("gravity", [Gravity.SMART, Gravity.ENTROPY])
@pytest.mark.parametrize(
    ("source", "box"),
    [((940, 2), (1080, 1350)), ((1, 4000), (1080, 1350)), ((100_000, 1000), (8192, 8192))],
)
def test_a_smart_crop_that_enlarges_looks_at_the_source_size_only(
    gravity: Gravity, source: tuple[int, int], box: tuple[int, int]
) -> None:
    plan = plan_geometry(*source, Resize(*box, Fit.COVER, gravity))
    window = plan.smart_window
    assert window is not None
    assert (window.source_width, window.source_height) == source
    assert window.width <= source[0] and window.height <= source[1]
    # The window has the box's shape, to a pixel.
    assert abs(window.width * box[1] - window.height * box[0]) <= max(box)
    assert (plan.scale_width, plan.scale_height) == box


def test_a_smart_crop_that_shrinks_is_left_to_libvips() -> None:
    plan = plan_geometry(6000, 4000, Resize(500, 500, Fit.COVER, Gravity.SMART))
    assert plan.smart_window is None and plan.smart_crop == "attention"


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("pack", ["tiktok", "instagram-story"])
def test_a_tall_image_fits_a_blurred_background(
    make_client: Callable[..., TestClient], data_dir: Path, suffix: str, pack: str
) -> None:
    """A valid 1000x3000 image (a tall screenshot, an infographic) in a FitBlurBackground pack
    was refused as "truncated or corrupt": the backdrop and the front read the sequentially
    decoded source in different row orders ("out of order read")."""
    noise = pyvips.Image.gaussnoise(1000, 3000).cast("uchar")
    tall = noise.bandjoin([noise, noise]).copy(interpretation="srgb")
    target = data_dir / "storage" / f"tall{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tall.write_to_file(str(target))
    client = make_client(load_settings(hardening_environ(data_dir)))
    body = {"source": {"storageKey": f"tall{suffix}"}}
    response = client.post(f"/v1/packs/{pack}", json=body, headers=ALPHA)
    assert response.status_code == 200, response.text
    assert (response.json()["width"], response.json()["height"]) == (1080, 1920)


def flat_png(width: int, height: int) -> bytes:
    image = pyvips.Image.black(width, height).new_from_image([90, 120, 200])
    data: bytes = image.copy(interpretation="srgb").pngsave_buffer()
    return data


@pytest.mark.parametrize(
    ("size", "body", "fmt"),
    [
        ((3, 900), {"width": 2000}, "Png"),
        ((3, 900), {"width": 300}, "Webp"),
        ((1, 1000), {"width": 8192}, "Jpeg"),
        ((900, 3), {"height": 1000}, "Avif"),
    ],
)
def test_one_side_may_not_drag_the_other_past_the_limit(
    make_client: Callable[..., TestClient],
    data_dir: Path,
    size: tuple[int, int],
    body: dict[str, int],
    fmt: str,
) -> None:
    """With one side given the other follows the aspect ratio: a 3x900 PNG asked for width
    2000 became a 2000x600000 (1.2 gigapixel) render; Webp, Avif and Jpeg failed on the size
    with "could not be decoded ... truncated or corrupt"."""
    target = data_dir / "storage" / "strip.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(flat_png(*size))
    client = make_client(load_settings(hardening_environ(data_dir)))
    started = time.monotonic()
    response = client.post(
        "/v1/resize",
        json={"source": {"storageKey": "strip.png"}, **body, "format": fmt},
        headers=ALPHA,
    )
    assert time.monotonic() - started < 2
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert "a side may be at most 8192" in response.json()["message"]


@pytest.mark.parametrize(
    ("size", "resize", "expected"),
    [
        ((1024, 768), {"width": 3000}, (3000, 2250)),  # enlarging within the limit
        ((100, 10), {"width": 8192}, (8192, 819)),
        ((500, 10_000), {"width": 250}, (250, 5000)),
        ((400, 12_000), {"width": 300}, (300, 9000)),  # shrinking keeps a side over the limit
        ((400, 12_000), {}, (400, 12_000)),  # no resize at all
    ],
)
def test_long_sides_that_are_the_sources_own_are_kept(
    size: tuple[int, int], resize: dict[str, int], expected: tuple[int, int]
) -> None:
    spec = parse_spec({"resize": resize or None, "format": "Png"})
    result = render(flat_png(*size), spec)
    assert (result.width, result.height) == expected


@pytest.mark.parametrize(("fmt", "limit"), [("Webp", 16383), ("Avif", 16384)])
def test_an_image_too_wide_for_the_encoder_is_refused_for_what_it_is(
    make_client: Callable[..., TestClient], data_dir: Path, fmt: str, limit: int
) -> None:
    """A valid 17000x600 panorama converted to Webp or Avif was refused as "could not be
    decoded ... may be truncated or corrupt": the encoder's size limit, blamed on the source."""
    target = data_dir / "storage" / "panorama.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    image = pyvips.Image.black(17000, 600).new_from_image([90, 120, 200])
    image.copy(interpretation="srgb").write_to_file(str(target))
    client = make_client(load_settings(hardening_environ(data_dir)))
    body = {"source": {"storageKey": "panorama.jpg"}, "format": fmt}
    response = client.post("/v1/convert", json=body, headers=ALPHA)
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert f"at most {limit} pixels on a side" in response.json()["message"]
    assert "corrupt" not in response.json()["message"]
    fine = client.post("/v1/convert", json={**body, "format": "Jpeg"}, headers=ALPHA)
    assert fine.status_code == 200 and fine.json()["width"] == 17000
