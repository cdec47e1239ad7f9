"""An asset whose render is gone and cannot be made again answers 404, never a 400.

A 400 tells a caller to fix their request; whoever follows an asset URL (a browser, a CDN) sent
nothing to fix. What changed since the asset was minted — an operator lowering the limits, a
token from a version whose vocabulary this one does not read — makes the asset unavailable.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from config import load_settings
from origin.tokens import RENDER_VERSION, AssetToken, SourceRef, TokenSigner
from tests.hardening.conftest import (
    ALPHA,
    FIXTURES,
    SIGNING,
    drain,
    hardening_environ,
    put_in_storage,
)
from tests.hardening.published import check_answer

PHOTO = "photo-medium-1024x768-camera.jpg"


def assert_gone(response: Any) -> None:
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND"), response.text
    check_answer("/v1/assets/{assetId}", response)


def test_lower_limits_make_an_unrendered_asset_404(
    make_client: Callable[..., TestClient], data_dir: Path
) -> None:
    key = put_in_storage(data_dir, PHOTO)
    first = make_client(load_settings(hardening_environ(data_dir)))
    answer = first.post(
        "/v1/resize", json={"source": {"storageKey": key}, "width": 50}, headers=ALPHA
    ).json()
    drain(first)
    # The render is gone, and so is the ingested copy: the original must be read again.
    shutil.rmtree(data_dir / "store" / "renders")
    shutil.rmtree(data_dir / "store" / "sources")
    for limit in ({"max_source_pixels": "100000"}, {"max_source_bytes": "4096"}):
        later = make_client(load_settings(hardening_environ(data_dir, **limit)))
        response = later.get(f"/v1/assets/{answer['assetId']}")
        assert_gone(response)
        assert "can no longer be rendered" in response.json()["message"]
        assert key not in response.text  # the sealed source is not named


def test_a_token_whose_spec_this_version_cannot_read_is_404(
    make_client: Callable[..., TestClient], data_dir: Path
) -> None:
    key = put_in_storage(data_dir, PHOTO)
    client = make_client(load_settings(hardening_environ(data_dir)))
    sha = hashlib.sha256((FIXTURES / PHOTO).read_bytes()).hexdigest()
    for spec in ({"resize": "Cover"}, {"format": {"type": "Jxl"}}, {"sharpen": 2}):
        token = AssetToken(
            RENDER_VERSION, SourceRef("storage", key, sha), spec, "{}", 4_000_000_000, "alpha", True
        )
        asset_id = TokenSigner([SIGNING]).mint(token)
        assert_gone(client.get(f"/v1/assets/{asset_id}"))
        assert client.head(f"/v1/assets/{asset_id}").status_code == 404
