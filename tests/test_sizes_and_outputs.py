"""Sizes no memory holds are refused from the header, before any work; existing outputs
follow one rule (issue "A run is never lost"). Each case here failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from cyclegan.cli.main import main
from cyclegan.errors import TooLarge
from cyclegan.inference import budget

rasterio = pytest.importorskip("rasterio", reason="the geo extra (rasterio) is not installed")
from rasterio.transform import Affine  # noqa: E402


def _sparse_geotiff(path, width, height, count=4, dtype="uint16"):
    """A GeoTIFF whose header claims ``width`` x ``height`` and whose tiles are absent
    (GDAL's sparse files): a few KB on disk."""
    profile = dict(
        driver="GTiff", width=width, height=height, count=count, dtype=dtype,
        crs="EPSG:32633", transform=Affine(10.0, 0, 500_000.0, 0, -10.0, 4_000_000.0),
        tiled=True, blockxsize=256, blockysize=16 if height < 256 else 256,
        sparse_ok=True, compress="deflate", BIGTIFF="YES",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile):
        pass
    return path


def _last_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def test_a_raster_too_wide_to_stream_is_refused_from_its_header(tiny_run, tmp_path, capsys):
    """2,000,000,000 x 16 pixels: the overlap rows across its width alone would take
    about a terabyte; it was an allocation traceback in NumPy."""
    big = _sparse_geotiff(tmp_path / "wide.tif", 2_000_000_000, 16, count=3, dtype="uint8")
    out = tmp_path / "out"
    code = main(["translate", "--model", str(tiny_run), "--input", str(big), "--output", str(out)])
    assert code == 1
    line = _last_line(capsys)
    assert "wide.tif" in line and "2000000000x16" in line and "GiB" in line, line
    assert not list(out.glob("*.tif"))  # (its manifest records the failure)


def test_a_raster_too_large_for_memory_is_refused_by_the_python_api(tmp_path):
    """The in-memory path holds a raster whole: 100,000 x 100,000 x 4 bands is refused
    from the header, pointing at the streaming path."""
    from test_rasters import random_translator

    big = _sparse_geotiff(tmp_path / "big.tif", 100_000, 100_000)
    with pytest.raises(TooLarge, match="held in memory.*translate_raster"):
        random_translator().translate(big)


def test_bench_sizes_that_cannot_fit_are_refused(capsys):
    assert main(["bench", "--size", "100000"]) == 1
    line = _last_line(capsys)
    assert "--size 100000" in line and "smaller --size" in line, line
    assert main(["bench", "--size", "64", "--infer-sizes", "300000"]) == 1
    assert "--infer-sizes 300000" in _last_line(capsys)


def test_the_estimates_refuse_only_what_cannot_fit(monkeypatch):
    monkeypatch.setattr(budget, "available_bytes", lambda: 8 * 2**30)
    fits = budget.streamed_raster_bytes(16000, 16000, 4, 4, 512, 64)
    assert fits < 2**30  # what the raster benchmark streams in 0.63 GiB
    budget.check_fits(fits, "x", "y")
    with pytest.raises(TooLarge, match="needs at least"):
        budget.check_fits(budget.streamed_raster_bytes(2 * 10**9, 16, 3, 3, 512, 64), "x", "y")
    assert np.isfinite(budget.available_bytes())


def test_an_existing_output_is_refused_without_overwrite(tiny_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["translate", "--model", str(tiny_run), "--input", str(tiny_data / "testA"),
            "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    first = {p: p.read_bytes() for p in out.glob("*.png")}
    for p in first:  # edited since: no longer the translation the manifest records
        p.write_bytes(b"the user's own edit")
    assert main(args) == 1
    line = _last_line(capsys)
    assert "and 1 more files exist already" in line and "--overwrite" in line, line
    assert all(p.read_bytes() == b"the user's own edit" for p in first)
    assert main([*args, "--overwrite"]) == 0
    assert {p: p.read_bytes() for p in out.glob("*.png")} == first


def test_an_existing_raster_output_is_refused_without_overwrite(tmp_path):
    from cyclegan.errors import ConfigError
    from cyclegan.inference.stream import translate_raster
    from test_rasters import random_translator, uint16_scene, write_geotiff

    src = write_geotiff(tmp_path / "scene.tif", uint16_scene(64, 80))
    dst = tmp_path / "out.tif"
    dst.write_bytes(b"mine")
    with pytest.raises(ConfigError, match="exists already"):
        translate_raster(random_translator(), src, dst)
    assert dst.read_bytes() == b"mine"
    translate_raster(random_translator(), src, dst, overwrite=True)
    assert rasterio.open(dst).count == 1


def test_an_integer_output_dtype_fills_its_whole_range(tmp_path):
    """A float32 target (dB, -25 to 5) written as uint8: the network's 0-1 scaled to
    0-255, the same picture as the float output (it once came out a constant 255)."""
    from cyclegan.inference.stream import translate_raster
    from test_rasters import random_translator, uint16_scene, write_geotiff

    src = write_geotiff(tmp_path / "scene.tif", uint16_scene(64, 80))
    as_db = translate_raster(random_translator(), src, tmp_path / "db.tif")
    as_u8 = translate_raster(random_translator(), src, tmp_path / "u8.tif", output_dtype="uint8")
    db = rasterio.open(as_db).read(1, masked=True)
    u8 = rasterio.open(as_u8).read(1, masked=True)
    assert rasterio.open(as_u8).dtypes[0] == "uint8"
    expected = np.rint((db - -25.0) / 30.0 * 255)
    assert np.abs(u8.astype(float) - expected).max() <= 1  # float32 rounding, one level
    assert u8.max() - u8.min() > 10


def test_output_dtype_choices_do_not_list_none(capsys):
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    help_text = capsys.readouterr().out
    start = help_text.index("--output-dtype")
    assert "None" not in help_text[start : start + 200]


def test_results_never_write_over_a_run_folder(tiny_run, tiny_data, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = (run / "index.html").read_bytes()
    code = main(["results", "--model", str(run), "--data", str(tiny_data), "--out", str(run)])
    assert code == 1
    assert "is a run folder" in _last_line(capsys)
    assert (run / "index.html").read_bytes() == before


def test_export_refuses_an_existing_file_without_overwrite(tiny_run, tmp_path, capsys):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"an older export")
    assert main(["export", "--model", str(tiny_run), "--output", str(target)]) == 1
    assert "--overwrite" in _last_line(capsys)
    assert target.read_bytes() == b"an older export"


def test_a_scenes_own_nodata_is_nodata_in_the_output(tmp_path):
    """A 4-band uint16 scene declaring nodata 0 with a 40 x 40 nodata corner, through a
    model whose domain A was trained without nodata, into 3-band uint8 pictures: the
    corner was translated colours under a nodata tag (issue 22's first defect)."""
    import torch

    from cyclegan.config import NetworkConfig
    from cyclegan.data.bands import BandStats
    from cyclegan.data.domain import Domain
    from cyclegan.inference.stream import translate_raster
    from cyclegan.inference.translate import Translator
    from cyclegan.model.networks import build_generator
    from test_rasters import uint16_scene, write_geotiff

    torch.manual_seed(0)
    net = NetworkConfig(input_nc=4, output_nc=3, ngf=8, net_g="resnet_6blocks")
    gens = {"AtoB": build_generator(net, 4, 3), "BtoA": build_generator(net, 3, 4)}
    no_nodata = BandStats((500.0,) * 4, (3500.0,) * 4, "uint16", None)
    domains = {"A": Domain(4, no_nodata), "B": Domain(3, None)}
    translator = Translator(net, gens, torch.device("cpu"), "test", domains=domains)
    data = uint16_scene(120, 150)
    data[:, :40, :40] = 0
    src = write_geotiff(tmp_path / "scene.tif", data, nodata=0)
    for tile in (None, 64):  # one whole pass, and streamed in tiles
        from cyclegan.settings import Tiling

        dst = translate_raster(
            translator, src, tmp_path / f"out_{tile}.tif", tiling=Tiling(tile=tile)
        )
        with rasterio.open(dst) as out:
            nodata, pixels, valid = out.nodata, out.read(), out.read_masks(1)
        assert nodata is not None
        assert (pixels[:, :40, :40] == nodata).all()
        # exactly the input's nodata: the corner and one pixel of the scene's own (a
        # valid pixel that came out as the nodata value is moved one level off it)
        assert ((valid == 0) == (data == 0).any(axis=0)).all()
        with rasterio.open(dst) as out:
            assert [c.name for c in out.colorinterp] == ["red", "green", "blue"]


@pytest.mark.parametrize("kind", ["mask band", "float nodata value"])
def test_nodata_from_a_mask_band_or_a_float_value_is_nodata_in_the_output(tmp_path, kind):
    """The two Sentinel-1 cases of issue 22: a GDAL mask band (no nodata value at all),
    and float32 VV/VH with nodata -9999; both came out with no nodata."""
    import torch

    from cyclegan.config import NetworkConfig
    from cyclegan.data.bands import BandStats
    from cyclegan.data.domain import Domain
    from cyclegan.inference.stream import translate_raster
    from cyclegan.inference.translate import Translator
    from cyclegan.model.networks import build_generator
    from cyclegan.settings import Tiling

    torch.manual_seed(0)
    net = NetworkConfig(input_nc=2, output_nc=3, ngf=8, net_g="resnet_6blocks")
    gens = {"AtoB": build_generator(net, 2, 3), "BtoA": build_generator(net, 3, 2)}
    radar = BandStats((-25.0, -30.0), (5.0, 0.0), "float32", None)
    domains = {"A": Domain(2, radar), "B": Domain(3, None)}
    translator = Translator(net, gens, torch.device("cpu"), "test", domains=domains)
    scene = np.random.default_rng(0).uniform(-25, 0, (2, 100, 130)).astype("float32")
    profile = dict(driver="GTiff", width=130, height=100, count=2, dtype="float32",
                   crs="EPSG:32633", transform=Affine(10.0, 0, 5e5, 0, -10.0, 4e6))  # fmt: skip
    src = tmp_path / "s1.tif"
    if kind == "mask band":
        valid = np.full((100, 130), 255, np.uint8)
        valid[:30, :50] = 0
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(src, "w", **profile) as f:
            f.write(scene)
            f.write_mask(valid)
    else:
        scene[:, :30, :50] = -9999.0
        with rasterio.open(src, "w", nodata=-9999.0, **profile) as f:
            f.write(scene)
    for tile in (None, 64):
        dst = tmp_path / f"out_{tile}.tif"
        translate_raster(translator, src, dst, tiling=Tiling(tile=tile))
        with rasterio.open(dst) as out:
            pixels, ok = out.read(), out.read_masks(1)
            assert out.nodata is not None, kind
        assert (pixels[:, :30, :50] == out.nodata).all() and not ok[:30, :50].any()
        expected = np.zeros((100, 130), bool)
        expected[:30, :50] = True
        assert ((ok == 0) == expected).all()


def test_a_large_raster_output_has_overviews_and_true_colour_bands(tmp_path):
    """A GIS opens a large result through its overviews; a 4-band output is not called
    gray in band 1."""
    from cyclegan.data.bands import BandStats
    from cyclegan.data.domain import Domain
    from cyclegan.inference.stream import translate_raster
    from test_rasters import random_translator, uint16_scene, write_geotiff

    translator = random_translator()  # A: 4-band uint16, B: 1-band dB
    write_geotiff(tmp_path / "big.tif", uint16_scene(1100, 1300))
    one_band = translate_raster(translator, tmp_path / "big.tif", tmp_path / "db.tif")
    with rasterio.open(one_band) as out:
        assert out.overviews(1) == [2, 4]  # down to one 256 px block
        assert [c.name for c in out.colorinterp] == ["gray"]
    small = write_geotiff(tmp_path / "small.tif", np.full((1, 60, 70), -10, "float32"))
    optical = BandStats((500.0,) * 4, (3500.0,) * 4, "uint16", 0.0, rgb=(3, 2, 1))
    translator.domains["A"] = Domain(4, optical)  # B, G, R, NIR; shown as 3, 2, 1
    back = translate_raster(translator, small, tmp_path / "four.tif", "BtoA")
    with rasterio.open(back) as out:
        assert out.overviews(1) == []  # a few blocks need none
        assert [c.name for c in out.colorinterp] == ["blue", "green", "red", "undefined"]
