"""Key validation: namespaces, and no way out of a store's root, encoded or not."""

from __future__ import annotations

import pytest

from cache.keys import (
    namespace_of,
    render_key,
    require_writable,
    source_key,
    storage_key,
    upload_key,
    validate_key,
)
from config.errors import InvalidRequest

SHA = "0123456789abcdef" * 4

VALID = [
    "renders/" + SHA,
    "sources/" + SHA,
    "uploads/abc_DEF-123",
    "storage/photos/2024/cat.jpg",
    "storage/with space/ünïcode.png",
    "storage/a%20b.jpg",  # decodes to 'a b.jpg': still a safe name
    "storage/..hidden/x..y",  # dots inside a segment are not traversal
]

INVALID = {
    "no namespace": "photos/cat.jpg",
    "namespace only": "renders",
    "empty rest": "renders/",
    "dot-dot": "storage/../etc/passwd",
    "dot-dot at end": "storage/photos/..",
    "single dot": "storage/./cat.jpg",
    "empty segment": "storage/photos//cat.jpg",
    "leading slash": "/storage/cat.jpg",
    "absolute rest": "storage//etc/passwd",
    "backslash": "storage/photos\\cat.jpg",
    "nul": "storage/cat\x00.jpg",
    "newline": "storage/cat\n.jpg",
    "del": "storage/cat\x7f.jpg",
    "c1 control": "storage/cat\x85.jpg",
    "encoded dot-dot": "storage/%2e%2e/etc/passwd",
    "encoded dot-dot mixed case": "storage/%2E%2e/x",
    "encoded slash dot-dot": "storage/photos%2f..%2fsecret",
    "encoded leading slash": "storage/%2fetc/passwd",
    "encoded backslash": "storage/photos%5ccat.jpg",
    "encoded nul": "storage/cat%00.jpg",
    "double-encoded dot-dot": "storage/%252e%252e/x",
    "segment too long": "storage/" + "a" * 256,
    "key too long": "storage/" + "/".join(["a" * 200] * 6),
}


@pytest.mark.parametrize("key", VALID)
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", INVALID.values(), ids=list(INVALID))
def test_unsafe_keys_are_a_400(key: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_key(key)
    assert info.value.status == 400
    assert "\x00" not in info.value.message and "\n" not in info.value.message


BAD_STORAGE_PATHS = [
    "",
    "../secret",
    "/etc/passwd",
    "a\\b",
    "a/./b",
    "a//b",
    "%2e%2e/secret",
    "%252e%252e/secret",
    "cat%00.jpg",
    "x" * 256,
]


@pytest.mark.parametrize("path", BAD_STORAGE_PATHS)
def test_storage_key_applies_the_same_rules_to_a_callers_path(path: str) -> None:
    with pytest.raises(InvalidRequest):
        storage_key(path)


def test_builders_produce_namespaced_keys() -> None:
    assert render_key(SHA) == f"renders/{SHA}"
    assert source_key(SHA) == f"sources/{SHA}"
    assert upload_key("u_1") == "uploads/u_1"
    assert storage_key("team/cat.jpg") == "storage/team/cat.jpg"
    assert namespace_of(storage_key("a/b")) == "storage"


@pytest.mark.parametrize("digest", ["", SHA.upper(), SHA[:-1], SHA + "0", "g" * 64])
def test_content_addressed_keys_need_a_sha256_hex_digest(digest: str) -> None:
    with pytest.raises(ValueError):
        render_key(digest)
    with pytest.raises(ValueError):
        source_key(digest)


def test_upload_ids_are_single_safe_segments() -> None:
    with pytest.raises(InvalidRequest):
        upload_key("../x")


def test_storage_is_read_only() -> None:
    assert require_writable("uploads/x") == "uploads/x"
    with pytest.raises(ValueError, match="read-only"):
        require_writable("storage/x")
