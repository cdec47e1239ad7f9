"""Property-based fuzzing of every endpoint's body, of uploads and of the asset id.

The app runs under Starlette's TestClient with ``raise_server_exceptions=True``, so an uncaught
exception anywhere fails the example; no answer may be a 500, and every answer must be one the
published OpenAPI document describes (status listed, JSON body valid). Bodies mix the real field
names and plausible values with garbage. Sources are real: small images in storage/, an upload,
and a URL on a loopback server reachable only as ``img.test`` (the allow-list refuses every
other host before anything is looked up). A 200 is followed by a GET of the asset it names.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from origin.tokens import RENDER_VERSION, AssetToken, SourceRef, TokenSigner
from tests.hardening.conftest import (
    ALPHA,
    FIXTURES,
    SIGNING,
    LoopbackResolver,
    hardening_environ,
    put_in_storage,
)
from tests.hardening.published import check_answer
from tests.support.http_source import HttpSource, body
from transforms import PACKS

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UPLOAD = "{upload}"  # replaced by a real upload id when the body is sent
STORAGE = {
    "fz/tiny.png": "tiny-1x1.png",
    "fz/alpha.png": "png-rgba-transparency.png",
    "fz/anim.gif": "gif-animated.gif",
    "fz/grey.jpg": "grayscale-gray-icc.jpg",
    "fz/lossy.webp": "webp-lossy.webp",
    "fz/strip.png": "panorama-940x2.png",
    "fz/truncated.jpg": "truncated.jpg",
    "fz/bomb.svg": "bomb-svg-10000000x10000000.svg",
}
SMALL_FILES = [
    "tiny-1x1.png",
    "gif-static.gif",
    "webp-lossy.webp",
    "webp-animated-alpha.webp",
    "grayscale-gray-icc.jpg",
    "tiff-lzw.tif",
    "svg-plain.svg",
    "svg-with-scripts.svg",
    "png-rgba-transparency.png",
    "panorama-940x2.png",
]

# -- values ---------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and Infinity too: Python's json reads them
    | st.text(max_size=12)
)
garbage = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """A plausible value seven times in eight; else an invalid one, or garbage."""
    wrong = garbage if invalid is None else st.one_of(invalid, garbage)
    return st.integers(0, 7).flatmap(lambda roll: wrong if roll == 0 else valid)


def names(*values: str) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


FORMAT_NAME = mostly(
    names("Jpeg", "jpeg", "JPG", "Png", "webp", "Avif", " png "), names("Gif", "Heic", "")
)
QUALITY = mostly(st.integers(1, 100), st.sampled_from([0, 101, 50.5, True]))
FORMAT = mostly(
    FORMAT_NAME
    | st.fixed_dictionaries(
        {},
        optional={
            "type": FORMAT_NAME,
            "quality": QUALITY,
            "compressionPriority": mostly(names("Speed", "Balanced", "quality"), names("Fast")),
            "targetFileSizeBytes": mostly(st.integers(256, 400_000), st.integers(0, 255)),
        },
    )
)
# Up to 320 px: the renders stay quick. 8192 and its neighbours are tested elsewhere.
SIZE = mostly(st.integers(1, 320), st.sampled_from([-1, 0, 8193, 2**31, 10**30, 1.5, False]))
CAP = mostly(st.integers(0, 400), st.sampled_from([-1, 65536, 2.5]))
BYTES = mostly(st.integers(256, 400_000), st.sampled_from([0, 255, (1 << 30) + 1]))
FIT = mostly(names("Cover", "contain", "FitBlurBackground", "DownscaleOnly"), names("Fill"))
GRAVITY = mostly(names("Center", "top", "BottomRight", "Smart", "Entropy"), names("North"))
COLOUR = mostly(names("#fff", "#FFFFFF80", "000", "#12345678"), names("red", "", "#12345"))
PAD = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            side: mostly(st.integers(0, 40), st.sampled_from([-1, 4097]))
            for side in ("top", "right", "bottom", "left")
        },
    )
)
EFFECTS = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "grayscale": mostly(st.booleans()),
            "blurRadius": mostly(st.floats(0, 100), st.sampled_from([-1, 101])),
            "backgroundColor": COLOUR,
            "pad": PAD,
        },
    )
)
RESIZE = mostly(
    st.fixed_dictionaries(
        {}, optional={"width": SIZE, "height": SIZE, "fit": FIT, "gravity": GRAVITY}
    )
)
SOURCE = mostly(
    st.one_of(
        st.fixed_dictionaries({"storageKey": names(*STORAGE)}),
        st.fixed_dictionaries({"uploadId": st.just(UPLOAD)}),
        st.fixed_dictionaries({"url": names("{image}", "{missing}", "{empty}")}),
    ),
    st.one_of(
        st.fixed_dictionaries({"storageKey": names("missing.png", "../x", "fz//a", "")}),
        st.fixed_dictionaries({"uploadId": names("up_missing", "../up", "")}),
        st.fixed_dictionaries({"url": names("http://elsewhere.test/x", "file:///etc/passwd")}),
        st.dictionaries(names("url", "uploadId", "storageKey", "path"), garbage, max_size=3),
    ),
)
OUTPUT = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "ttlSeconds": mostly(st.integers(60, 2_592_000), st.sampled_from([0, 59, 2_592_001])),
            "public": mostly(st.booleans()),
            "idempotencyKey": mostly(st.text(min_size=1, max_size=10), st.just("")),
        },
    )
)
METADATA = mostly(
    st.dictionaries(st.text(max_size=8), mostly(st.text(max_size=30)), max_size=20),
    st.dictionaries(st.text(max_size=8), st.text(max_size=80), min_size=21, max_size=22),
)
COMMON = {"output": OUTPUT, "metadata": METADATA}
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "compress": {"quality": QUALITY, "format": FORMAT},
    "convert": {"quality": QUALITY, "format": FORMAT},
    "compress-to-size": {"maxSizeBytes": BYTES, "format": FORMAT},
    "resize": {"width": SIZE, "height": SIZE, "fit": FIT, "gravity": GRAVITY, "format": FORMAT},
    "downsize": {"maxWidth": CAP, "maxHeight": CAP, "maxSizeBytes": BYTES, "format": FORMAT},
    "process": {"resize": RESIZE, "format": FORMAT, "effects": EFFECTS},
    "packs": {"format": FORMAT},
}


# What each endpoint needs to get anywhere; the odd bodies below may lack it.
REQUIRED = {
    "convert": ("format",),
    "compress-to-size": ("maxSizeBytes",),
    "resize": ("width",),
    "downsize": ("maxWidth",),
}


def bodies(endpoint: str) -> st.SearchStrategy[Any]:
    fields = {**COMMON, **FIELDS[endpoint]}
    required = {"source": SOURCE, **{k: fields[k] for k in REQUIRED.get(endpoint, ())}}
    optional = {k: v for k, v in fields.items() if k not in required}
    with_source = st.fixed_dictionaries(required, optional=optional)
    # Rarely: no source, an unknown field, or no object at all.
    odd = st.fixed_dictionaries({}, optional={"source": SOURCE, "junk": garbage, **fields})
    return mostly(with_source, odd)


# -- the app --------------------------------------------------------------------------------


class Origin:
    """One app for the module: its client, an upload id and the loopback image server."""

    def __init__(self, client: TestClient, server: HttpSource, upload_id: str) -> None:
        self.client = client
        self.server = server
        self.upload_id = upload_id

    def fill_in(self, text: str) -> str:
        for placeholder, value in {
            UPLOAD: self.upload_id,
            "{image}": f"http://img.test:{self.server.port}/image.png",
            "{missing}": f"http://img.test:{self.server.port}/missing.png",
            "{empty}": f"http://img.test:{self.server.port}/empty",
        }.items():
            text = text.replace(placeholder, value)
        return text

    def post_json(self, path: str, value: Any) -> Any:
        raw = self.fill_in(json.dumps(value, allow_nan=True))
        headers = {**ALPHA, "Content-Type": "application/json"}
        return self.client.post(path, content=raw.encode(), headers=headers)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    for key, name in STORAGE.items():
        put_in_storage(data_dir, name, key)
    environ = hardening_environ(
        data_dir,
        render_workers="2",
        render_queue="8",
        rate_limit_per_minute="1000000",
        source_allowlist="img.test",
        allow_private_sources="true",
    )
    resolver = LoopbackResolver({"img.test": [["127.0.0.1"]]})
    with HttpSource() as server:
        server.route("/image.png", body((FIXTURES / "png-rgba-transparency.png").read_bytes()))
        server.route("/empty", body(b""))
        app = create_app(load_settings(environ), resolver=resolver)
        with TestClient(app, raise_server_exceptions=True) as client:
            raw = (FIXTURES / "webp-lossy-alpha.webp").read_bytes()
            answer = client.post("/v1/uploads", content=raw, headers=ALPHA)
            assert answer.status_code == 200, answer.text
            yield Origin(client, server, answer.json()["uploadId"])


def settle(origin: Origin, template: str, response: Any) -> None:
    """No 500, a documented answer, and a 200's asset is served as described."""
    assert response.status_code != 500, response.text
    event(f"{response.status_code} {response.json().get('code', '')}")
    check_answer(template, response)
    if response.status_code == 200 and "assetId" in response.json():
        answer = response.json()
        image = origin.client.get(f"/v1/assets/{answer['assetId']}", headers=ALPHA)
        check_answer("/v1/assets/{assetId}", image)
        assert image.status_code == 200
        assert image.headers["content-type"] == answer["mimeType"]
        assert len(image.content) == answer["sizeBytes"]


# -- the properties -------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [e for e in FIELDS if e != "packs"])
def test_processing_bodies(origin: Origin, endpoint: str) -> None:
    @FUZZ
    @given(value=bodies(endpoint))
    def run(value: Any) -> None:
        settle(origin, f"/v1/{endpoint}", origin.post_json(f"/v1/{endpoint}", value))

    run()


@settings(FUZZ, max_examples=80)  # packs render 1080 px and more: fewer, heavier examples
@given(
    pack=st.sampled_from(sorted(PACKS)) | names("nope", "INSTAGRAM-FEED", "..", "%2e", "a b"),
    value=bodies("packs"),
)
def test_pack_bodies(origin: Origin, pack: str, value: Any) -> None:
    response = origin.post_json(f"/v1/packs/{pack}", value)
    settle(origin, "/v1/packs/{packId}", response)


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_raw_bodies_that_may_not_be_json(origin: Origin, raw: bytes) -> None:
    headers = {**ALPHA, "Content-Type": "application/json"}
    response = origin.client.post("/v1/process", content=raw, headers=headers)
    settle(origin, "/v1/process", response)


MAGIC = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x18ftypavif",
    b"<svg xmlns='http://www.w3.org/2000/svg'",
    b"<?xml version='1.0'?><svg",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A small corpus file with bytes flipped, cut, or spliced in."""
    data = bytearray((FIXTURES / draw(st.sampled_from(SMALL_FILES))).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


UPLOADS = st.one_of(
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=400)).map(lambda t: t[0] + t[1]),
    mutated(),
)


@FUZZ
@given(data=UPLOADS, multipart=st.booleans(), content_type=names("image/png", "text/plain", ""))
def test_uploads(origin: Origin, data: bytes, multipart: bool, content_type: str) -> None:
    if multipart:
        files = {"file": ("x.bin", io.BytesIO(data), content_type or "application/octet-stream")}
        response = origin.client.post("/v1/uploads", files=files, headers=ALPHA)
    else:
        headers = {**ALPHA, "Content-Type": content_type} if content_type else ALPHA
        response = origin.client.post("/v1/uploads", content=data, headers=headers)
    assert response.status_code != 500, response.text
    check_answer("/v1/uploads", response)
    if response.status_code == 200:
        # What was accepted renders (or is refused in the documented way), never a 500.
        upload_id = response.json()["uploadId"]
        process = origin.post_json("/v1/process", {"source": {"uploadId": upload_id}})
        settle(origin, "/v1/process", process)


@FUZZ
@given(
    fields=st.lists(
        st.tuples(names("file", "File", "other", ""), st.binary(max_size=64)), max_size=3
    ),
    boundary=names("b", "x" * 80, ""),
)
def test_odd_multipart(origin: Origin, fields: list[tuple[str, bytes]], boundary: str) -> None:
    parts = b"".join(
        b"--"
        + boundary.encode()
        + b'\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"; filename="f"\r\n\r\n'
        + value
        + b"\r\n"
        for name, value in fields
    )
    raw = parts + b"--" + boundary.encode() + b"--\r\n"
    headers = {**ALPHA, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = origin.client.post("/v1/uploads", content=raw, headers=headers)
    assert response.status_code != 500, response.text
    check_answer("/v1/uploads", response)


# -- asset ids ------------------------------------------------------------------------------

URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@pytest.fixture(scope="module")
def minted(origin: Origin) -> str:
    response = origin.post_json(
        "/v1/resize", {"source": {"storageKey": "fz/alpha.png"}, "width": 30}
    )
    assert response.status_code == 200, response.text
    asset_id: str = response.json()["assetId"]
    return asset_id


@st.composite
def mutated_id(draw: st.DrawFn, asset_id: str) -> str:
    text = list(asset_id)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "cut", "dot"]))
        if action == "replace":
            text[at] = draw(st.sampled_from(URLSAFE))
        elif action == "delete":
            del text[at]
        elif action == "insert":
            text.insert(at, draw(st.sampled_from(URLSAFE)))
        elif action == "cut":
            del text[at:]
        else:
            text = text[1:] if text and text[0] == "." else ["."] + text
        if not text:
            text = ["A"]
    return "".join(text)


def signed_garbage(payload: Any) -> str:
    """A token the real key signed, whose payload is garbage: how a buggy or old minter looks."""
    signer = TokenSigner([SIGNING])
    dumped: str = signer._serializer.dumps(payload)
    return dumped


def sealed_with_spec(spec: Any, expires_at: Any = 4_000_000_000) -> str:
    """A well-sealed token whose spec is garbage (only the signing key could make one)."""
    sha = hashlib.sha256((FIXTURES / STORAGE["fz/alpha.png"]).read_bytes()).hexdigest()
    source = SourceRef("storage", "fz/alpha.png", sha)
    token = AssetToken(RENDER_VERSION, source, spec, "{}", expires_at, "alpha", True)
    return TokenSigner([SIGNING]).mint(token)


@FUZZ
@given(data=st.data())
def test_asset_ids(origin: Origin, minted: str, data: st.DataObject) -> None:
    asset_id = data.draw(
        st.one_of(
            st.text(alphabet=URLSAFE, max_size=300),
            st.text(max_size=60).map(lambda text: quote(text, safe="")),
            mutated_id(minted),
            st.builds(signed_garbage, garbage),
            st.builds(
                signed_garbage,
                st.lists(garbage, min_size=6, max_size=6),
            ),
            st.builds(sealed_with_spec, garbage),
            st.builds(sealed_with_spec, st.dictionaries(names(*FIELDS["process"]), garbage)),
            st.builds(sealed_with_spec, st.just({}), garbage),
        )
    )
    for method in ("GET", "HEAD"):
        response = origin.client.request(method, "/v1/assets/" + asset_id)
        assert response.status_code != 500, response.text
        check_answer("/v1/assets/{assetId}", response)


HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)


@FUZZ
@given(key=HEADER_TEXT, etag=HEADER_TEXT, content_type=HEADER_TEXT)
def test_odd_headers(origin: Origin, minted: str, key: str, etag: str, content_type: str) -> None:
    """Any X-API-Key, If-None-Match or Content-Type: a documented answer, never a 500."""
    # Bytes: the client would refuse to send non-ASCII text, a server sees it all the same.
    key_raw, etag_raw, type_raw = (t.encode("latin-1") for t in (key, etag, content_type))
    asset = origin.client.get(
        f"/v1/assets/{minted}", headers={"X-API-Key": key_raw, "If-None-Match": etag_raw}
    )
    assert asset.status_code in (200, 304), asset.text
    check_answer("/v1/assets/{assetId}", asset)
    headers = {"X-API-Key": key_raw, "Content-Type": type_raw}
    post = origin.client.post("/v1/compress", content=b"{}", headers=headers)
    assert post.status_code in (400, 401), post.text
    check_answer("/v1/compress", post)
    upload = origin.client.post("/v1/uploads", content=b"x", headers=headers)
    assert upload.status_code in (400, 401), upload.text
    check_answer("/v1/uploads", upload)
