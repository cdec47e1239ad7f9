"""A hostile SVG renders to pixels with no network and no file access.

Every way an SVG can name another resource — ``<image>``, ``<use>``, CSS ``@import`` and
``url()``, ``<feImage>``, XInclude, external XML entities — points at a loopback server that
counts connections and serves solid red, or at red files planted on this machine, or at
``/etc/hostname``. The render must be pixel-identical to the same SVG without the reference,
and the server must see no connection at all. A control case with the red image inlined as a
``data:`` URI proves that the comparison does see a loaded image.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pyvips
from starlette.testclient import TestClient

from config import load_settings
from tests.hardening.conftest import ALPHA, hardening_environ
from tests.support.http_source import HttpSource, body
from tests.transforms.images import decode

SVG_HEAD = (
    '<?xml version="1.0"?>{dtd}\n'
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"\n'
    '     xmlns:xi="http://www.w3.org/2001/XInclude" width="120" height="80">\n'
    '<rect width="120" height="80" fill="#ffffff"/>\n'
    '<rect x="10" y="10" width="40" height="30" fill="#3060a0"/>\n'
)
FULL = 'width="120" height="80" preserveAspectRatio="none"'

# {net} is the loopback server, {dir} a directory holding red.png, red.svg and secret.txt.
REFERENCES = {
    "image-href-http": '<image href="{net}/red.png" ' + FULL + "/>",
    "image-xlink-http": '<image xlink:href="{net}/red.png" ' + FULL + "/>",
    "image-file-url": '<image href="file://{dir}/red.png" ' + FULL + "/>",
    "image-bare-path": '<image href="{dir}/red.png" ' + FULL + "/>",
    "image-relative": '<image href="red.png" ' + FULL + "/>",
    "image-etc-hostname": '<image href="file:///etc/hostname" ' + FULL + "/>",
    "use-http": '<use xlink:href="{net}/red.svg#r"/>',
    "use-file": '<use href="file://{dir}/red.svg#r"/>',
    "css-import-http": '<style>@import url("{net}/red.css");</style>',
    "css-import-file": '<style>@import "file://{dir}/red.css";</style>',
    "css-url-http": '<style>.p {{ fill: url("{net}/red.svg#r") none; }}</style>'
    '<rect class="p" width="120" height="80"/>',
    "css-url-file": '<style>.p {{ fill: url("file://{dir}/red.svg#r") none; }}</style>'
    '<rect class="p" width="120" height="80"/>',
    "feimage-http": '<filter id="f"><feImage href="{net}/red.png"/></filter>'
    '<rect filter="url(#f)" width="120" height="80"/>',
    "feimage-file": '<filter id="f"><feImage href="file://{dir}/red.png"/></filter>'
    '<rect filter="url(#f)" width="120" height="80"/>',
    "xinclude-text-file": '<text x="5" y="70" font-size="20">'
    '<xi:include href="file://{dir}/secret.txt" parse="text"/></text>',
    "xinclude-etc-hostname": '<text x="5" y="70" font-size="20">'
    '<xi:include href="file:///etc/hostname" parse="text"/></text>',
    "xinclude-http": '<xi:include href="{net}/red.svg"/>',
}
ENTITIES = {
    "xxe-file": '<!DOCTYPE svg [<!ENTITY e SYSTEM "file://{dir}/secret.txt">]>',
    "xxe-etc-hostname": '<!DOCTYPE svg [<!ENTITY e SYSTEM "file:///etc/hostname">]>',
    "xxe-http": '<!DOCTYPE svg [<!ENTITY e SYSTEM "{net}/secret.txt">]>',
    "parameter-entity-http": '<!DOCTYPE svg [<!ENTITY % p SYSTEM "{net}/x.dtd"> %p;]>',
}
RED_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg">'
    '<rect id="r" width="120" height="80" fill="red"/></svg>'
)


def svg(reference: str = "", dtd: str = "") -> bytes:
    return (SVG_HEAD.format(dtd=dtd) + reference + "\n</svg>\n").encode()


def red_png() -> bytes:
    red = pyvips.Image.black(8, 8).new_from_image([255, 0, 0]).copy(interpretation="srgb")
    data: bytes = red.pngsave_buffer()
    return data


@pytest.fixture
def listener() -> Iterator[HttpSource]:
    """A loopback server serving red under every name the SVGs use; it counts connections."""
    with HttpSource() as server:
        for path, content, kind in [
            ("/red.png", red_png(), "image/png"),
            ("/red.svg", RED_SVG.encode(), "image/svg+xml"),
            ("/red.css", b"rect { fill: red; }", "text/css"),
            ("/secret.txt", b"SECRET-OVER-HTTP", "text/plain"),
            ("/x.dtd", b'<!ENTITY e "SECRET-DTD">', "application/xml-dtd"),
        ]:
            server.route(path, body(content, kind))
        yield server


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """Red files and a secret on this machine, where a file: reference could find them."""
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "red.png").write_bytes(red_png())
    (folder / "red.svg").write_text(RED_SVG)
    (folder / "red.css").write_text("rect { fill: red; }")
    (folder / "secret.txt").write_text("SECRET-ON-DISK " * 4)
    return folder


@pytest.fixture
def client(make_client: Callable[..., TestClient], data_dir: Path) -> TestClient:
    return make_client(load_settings(hardening_environ(data_dir)))


def store_svg(data_dir: Path, data: bytes) -> str:
    """Put the SVG in the storage/ folder; its storageKey."""
    key = f"svg/{hashlib.sha256(data).hexdigest()[:16]}.svg"
    target = data_dir / "storage" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return key


def render_png(client: TestClient, data_dir: Path, data: bytes, via: str = "storage") -> bytes:
    """Render the SVG to Png through the API, as a storage object or as an upload."""
    if via == "upload":
        files = {"file": ("drawing.svg", io.BytesIO(data), "image/svg+xml")}
        answer = client.post("/v1/uploads", files=files, headers=ALPHA)
        assert answer.status_code == 200, answer.text
        source = {"uploadId": answer.json()["uploadId"]}
    else:
        source = {"storageKey": store_svg(data_dir, data)}
    response = client.post("/v1/process", json={"source": source, "format": "Png"}, headers=ALPHA)
    assert response.status_code == 200, response.text
    image = client.get(response.json()["url"])
    assert image.status_code == 200
    return image.content


def difference(a: bytes, b: bytes) -> float:
    first, second = decode(a), decode(b)
    assert (first.width, first.height, first.bands) == (second.width, second.height, second.bands)
    return float((first - second).abs().max())


@pytest.mark.parametrize("via", ["storage", "upload"])
@pytest.mark.parametrize("name", list(REFERENCES))
def test_external_references_are_never_followed(
    client: TestClient,
    data_dir: Path,
    listener: HttpSource,
    planted: Path,
    name: str,
    via: str,
) -> None:
    reference = REFERENCES[name].format(net=listener.url("").rstrip("/"), dir=planted)
    baseline = render_png(client, data_dir, svg(), via)
    hostile = render_png(client, data_dir, svg(reference), via)
    assert difference(hostile, baseline) == 0, "the SVG drew something it referenced"
    assert b"SECRET" not in hostile
    assert listener.accepted == 0


def test_the_comparison_sees_an_image_that_did_load(client: TestClient, data_dir: Path) -> None:
    """Control: the same red image inlined as data: is drawn, and the difference shows it."""
    inline = base64.b64encode(red_png()).decode()
    reference = f'<image href="data:image/png;base64,{inline}" {FULL}/>'
    baseline = render_png(client, data_dir, svg())
    assert difference(render_png(client, data_dir, svg(reference)), baseline) == 255


@pytest.mark.parametrize("name", list(ENTITIES))
def test_external_entities_are_never_loaded(
    client: TestClient, data_dir: Path, listener: HttpSource, planted: Path, name: str
) -> None:
    """Refused as undecodable, or drawn without the entity: never with what it names."""
    dtd = ENTITIES[name].format(net=listener.url("").rstrip("/"), dir=planted)
    data = svg('<text x="5" y="70" font-size="20">&e;</text>', dtd)
    source = {"storageKey": store_svg(data_dir, data)}
    response = client.post("/v1/process", json={"source": source, "format": "Png"}, headers=ALPHA)
    if response.status_code == 200:
        rendered = client.get(response.json()["url"]).content
        assert difference(rendered, render_png(client, data_dir, svg())) == 0
    else:
        assert (response.status_code, response.json()["code"]) == (400, "UNSUPPORTED_IMAGE")
        assert "SECRET" not in response.text
    assert listener.accepted == 0


def test_entity_expansion_is_bounded(client: TestClient, data_dir: Path) -> None:
    """A billion-laughs SVG is refused at once rather than expanded."""
    levels = ['<!ENTITY l0 "laugh">'] + [
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = svg('<text x="5" y="70">&l9;</text>', "<!DOCTYPE svg [" + "".join(levels) + "]>")
    source = {"storageKey": store_svg(data_dir, data)}
    response = client.post("/v1/process", json={"source": source, "format": "Png"}, headers=ALPHA)
    assert (response.status_code, response.json()["code"]) == (400, "UNSUPPORTED_IMAGE")
