"""What a run shows a person: sample grids, curves, index.html, results page, browser check."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, launch_chromium, tiny_config
from cyclegan.cli.main import main
from cyclegan.training.trainer import train

ARTIFACTS = Path(os.environ.get("CYCLEGAN_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def run_with_report(tmp_path_factory):
    from conftest import write_images

    root = tmp_path_factory.mktemp("report")
    write_images(root / "data" / "trainA", 4, seed=1)
    write_images(root / "data" / "trainB", 5, seed=2)
    write_images(root / "data" / "testA", 2, seed=3)
    write_images(root / "data" / "testB", 3, seed=4)
    train(tiny_config(root / "data", root / "run", n_epochs=2, n_epochs_decay=1, report=True))
    return root


def test_each_epoch_adds_a_sample_grid_and_refreshes_curves_and_page(run_with_report):
    run = run_with_report / "run"
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "epoch_0001.png",
        "epoch_0002.png",
        "epoch_0003.png",
    ]
    grid = Image.open(run / "samples" / "epoch_0003.png")
    # 4 A rows + 4 B rows of 32 px; real | translated | reconstructed | identity
    assert grid.size == (4 * 32, 8 * 32)
    assert Image.open(run / "losses.png").size[0] > 500
    page = (run / "index.html").read_text()
    assert page.index("epoch_0003.png") < page.index("epoch_0001.png")  # newest first
    for needle in ("losses.png", "resnet_6blocks", "images/s (median)"):
        assert needle in page


def test_report_command_rebuilds_from_the_folder(run_with_report, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_with_report / "run", copy)
    (copy / "index.html").unlink()
    (copy / "losses.png").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "index.html").is_file() and (copy / "losses.png").is_file()
    assert main(["report", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_results_page_has_every_test_image_both_ways(run_with_report, tmp_path):
    out = tmp_path / "results"
    code = main(
        [
            "results",
            "--model",
            str(run_with_report / "run"),
            "--data",
            str(run_with_report / "data"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert len(list((out / "AtoB").iterdir())) == 2 and len(list((out / "BtoA").iterdir())) == 3
    strip = np.asarray(Image.open(out / "AtoB" / "img_000.png"))
    assert strip.shape == (36, 3 * 40, 3)  # input | translation | reconstruction, native size
    assert (out / "index.html").read_text().count("<img") == 5


def test_tensorboard_logging(tiny_data, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    train(tiny_config(tiny_data, tmp_path / "run", tensorboard=True, max_iters=3, report=True))
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_report_page_renders_in_chromium_with_every_image(run_with_report):
    pytest.importorskip("playwright", reason="playwright is not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page_url = (run_with_report / "run" / "index.html").as_uri()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(page_url)
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth])"
        )
        page.screenshot(path=str(ARTIFACTS / "report_page.png"), full_page=True)
        browser.close()
    assert len(images) == 4  # the curves and three epochs of samples
    assert all(width > 0 for _, width in images), images
    assert not failed, failed


@pytest.mark.parametrize(
    ("preprocess", "size"), [("none", (40, 36)), ("resize_and_crop", (32, 32))]
)
def test_sample_grid_shows_what_translate_gives(tmp_path, preprocess, size):
    """The grid's translation of a fixed image equals ``cyclegan translate``'s output for
    that image as the run sees it, at the size the run trains at (here 40 x 36 for
    ``none``, a centre 32 px crop of the 36 px resize otherwise), not squashed to
    ``crop_size``."""
    from conftest import write_images
    from cyclegan.data.imageio import load_image
    from cyclegan.data.samples import preprocess as preview
    from cyclegan.inference.translate import load_translator

    write_images(tmp_path / "data" / "trainA", 3, seed=1)
    write_images(tmp_path / "data" / "trainB", 3, seed=2)
    cfg = tiny_config(
        tmp_path / "data",
        tmp_path / "run",
        preprocess=preprocess,
        n_epochs=1,
        n_epochs_decay=0,
        report=True,
    )
    train(cfg)
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "epoch_0001.png"))
    width, height = size
    assert grid.shape == (6 * height, 4 * width, 3)  # 3 A rows and 3 B rows of 4 cells
    translator = load_translator(tmp_path / "run", device="cpu")
    first_a = sorted((tmp_path / "data" / "trainA").iterdir())[0]
    seen = preview(load_image(first_a, 3), cfg)  # for "none": the file itself
    expected = np.rint(translator.translate(seen, "AtoB") * 255)  # rounded as saved
    np.testing.assert_array_equal(grid[:height, width : 2 * width], expected)
