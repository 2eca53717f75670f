"""``cyclegan serve``: the API answers with the translation ``translate`` would give, bad
uploads get a message and a 4xx status, and the page works in a real browser."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REFERENCE, guarded_client, launch_chromium, need, served
from cyclegan.config import NetworkConfig
from cyclegan.inference.translate import load_translator
from cyclegan.settings import Server

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install '.[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from cyclegan.apps.serve import create_app  # noqa: E402


@pytest.fixture(scope="module")
def translator(tiny_run):
    return load_translator(tiny_run, device="cpu", precision="fp32")


def _png(size=(45, 31), seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_translation_is_what_translate_gives(translator):
    client = TestClient(create_app(translator))
    assert "CycleGAN" in client.get("/").text
    info = client.get("/api/model").json()
    assert info["directions"] == ["AtoB", "BtoA"] and info["network"] == translator.network.__dict__
    upload = _png()
    for direction in ("AtoB", "BtoA"):
        answer = client.post(f"/api/translate?direction={direction}", content=upload)
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        assert answer.headers["x-size"] == "45x31"
        got = np.asarray(Image.open(io.BytesIO(answer.content)))
        want = np.asarray(translator.translate(Image.open(io.BytesIO(upload)), direction))
        assert np.array_equal(got, want)


def test_16bit_colour_tiff_upload_is_read_at_full_depth(translator):
    tifffile = pytest.importorskip("tifffile")
    deep = np.random.default_rng(1).integers(0, 65536, (31, 45, 3), dtype=np.uint16)
    upload = io.BytesIO()
    tifffile.imwrite(upload, deep, photometric="rgb")
    answer = TestClient(create_app(translator)).post("/api/translate", content=upload.getvalue())
    assert answer.status_code == 200
    want = translator.translate((deep / 65535).astype(np.float32))  # float in, float out
    want = np.clip(np.rint(want * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(answer.content))), want)


def test_bad_uploads_are_answered_with_a_reason(translator):
    client = guarded_client(create_app(translator, server=Server(max_pixels=2000)), max_body=10_000)
    cases = [
        (b"", 400, "empty file"),
        (b"not an image at all", 400, "not an image Pillow can read"),
        (_png()[:200], 400, "broken or truncated"),
        (_png((60, 40)), 413, "more than the limit of 2000"),
        (b"x" * 20_000, 413, "request body over 10000 bytes"),
    ]
    for body, status, message in cases:
        answer = client.post("/api/translate", content=body, headers={"X-Filename": "p%20q.png"})
        assert answer.status_code == status, (message, answer.text)
        assert message in answer.json()["detail"]
    answer = client.post("/api/translate?direction=sideways", content=_png((20, 20)))
    assert answer.status_code == 400 and "use AtoB or BtoA" in answer.json()["detail"]
    assert (
        "p q.png"
        in client.post("/api/translate", content=b"zz", headers={"X-Filename": "p%20q.png"}).json()[
            "detail"
        ]
    )


def test_running_out_of_device_memory_is_a_503_with_a_reason(tiny_run, monkeypatch):
    translator = load_translator(tiny_run, device="cpu", precision="fp32")

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    monkeypatch.setattr(translator, "translate_tensor", out_of_memory)
    answer = TestClient(create_app(translator)).post("/api/translate", content=_png())
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("the device ran out of memory for this image")


def test_one_direction_model_refuses_the_other():
    pth = need(REFERENCE / "generators/resnet_6blocks_ngf8.pth")
    translator = load_translator(pth, NetworkConfig(net_g="resnet_6blocks", ngf=8), "cpu")
    client = TestClient(create_app(translator))
    assert client.get("/api/model").json()["directions"] == ["AtoB"]
    answer = client.post("/api/translate?direction=BtoA", content=_png())
    assert answer.status_code == 400 and "holds only the AtoB generator" in answer.json()["detail"]


@pytest.mark.slow
def test_page_translates_a_chosen_file_in_chromium(translator, tmp_path):
    from test_report import ARTIFACTS

    pytest.importorskip("playwright", reason="playwright is not installed")
    from playwright.sync_api import sync_playwright

    (tmp_path / "horse.png").write_bytes(_png((64, 48)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    from cyclegan.apps.webguard import guard

    # as `cyclegan serve` runs it, with a token: the page opened with ?token= works on
    guarded = guard(create_app(translator), "127.0.0.1", "tok-123", (), 2**20)
    with served(guarded) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(url + "?token=tok-123")
        page.wait_for_function(
            "n => document.getElementById('model').textContent.includes('ngf ' + n)",
            arg=translator.network.ngf,
        )
        page.set_input_files("#file", str(tmp_path / "horse.png"))  # translates at once
        page.wait_for_function("document.getElementById('output').naturalWidth > 0")
        assert page.evaluate("document.getElementById('output').naturalWidth") == 64
        assert page.text_content("#status").startswith("done in")
        assert page.get_attribute("#download", "download") == "horse_AtoB.png"
        first = page.get_attribute("#output", "src")
        page.check("input[value=BtoA]")  # another direction: translated again
        page.wait_for_function(
            "src => document.getElementById('output').src !== src && "
            "document.getElementById('output').naturalWidth > 0",
            arg=first,
        )
        assert page.get_attribute("#download", "download") == "horse_BtoA.png"
        page.screenshot(path=str(ARTIFACTS / "serve_page.png"))
        page.set_input_files("#file", {"name": "bad.png", "mimeType": "image/png", "buffer": b"no"})
        page.wait_for_function("document.getElementById('status').className === 'error'")
        assert "bad.png: not an image" in page.text_content("#status")
        browser.close()
