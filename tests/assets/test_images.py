"""run.log_image: every accepted input round-trips, identical images are stored once, bad input is refused."""

from __future__ import annotations

import io

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runicorn as rn
from runicorn.store import hash_bytes

from assets_support import bare, manifest_entries, object_bytes, object_ids, store_of, view

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (6, 5), dtype=np.uint8)


def stored_image(run, row: dict) -> Image.Image:
    data = store_of(run.storage_root).get(bare(row["id"]))
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("make_input, expected", [
    (lambda: Image.fromarray(RGB), RGB),
    (lambda: Image.fromarray(RGBA), RGBA),
    (lambda: GRAY, GRAY),
    (lambda: GRAY[..., None], GRAY),
    (lambda: RGB, RGB),
    (lambda: RGBA, RGBA),
    (lambda: RGB.astype(np.float32) / 255.0, RGB),
    (lambda: GRAY.astype(np.float64) / 255.0, GRAY),
    (lambda: GRAY > 127, np.where(GRAY > 127, 255, 0).astype(np.uint8)),
    (lambda: RGB.astype(np.int64), RGB),
    (lambda: np.asfortranarray(RGB), RGB),
    (lambda: RGB[:, ::-1], RGB[:, ::-1]),
], ids=["pil-rgb", "pil-rgba", "hxw", "hxwx1", "hxwx3", "hxwx4", "float-rgb", "float-gray", "bool", "int64",
        "fortran-order", "negative-stride"])
def test_arrays_and_pil_images_round_trip_losslessly_as_png(make_input, expected, storage):
    with rn.init(path="img") as run:
        returned = run.log_image("sample", make_input(), step=3, caption="a caption")
    [row] = view(run).images()
    assert row["id"] == "blake3:" + returned
    assert row["key"] == "sample" and row["_step"] == 3 and row["caption"] == "a caption" and row["format"] == "png"
    assert (row["height"], row["width"]) == expected.shape[:2]
    image = stored_image(run, row)
    assert image.format == "PNG"
    assert np.array_equal(np.asarray(image), expected)


def test_encoded_bytes_and_file_paths_are_stored_as_they_are(storage, tmp_path):
    data = png_bytes(RGB)
    path = tmp_path / "picture.png"
    path.write_bytes(png_bytes(RGBA))
    jpeg = io.BytesIO()
    Image.fromarray(RGB).save(jpeg, format="JPEG", quality=80)
    with rn.init(path="img") as run:
        from_bytes = run.log_image("bytes", data)
        from_path = run.log_image("path", path)
        from_str_path = run.log_image("str-path", str(path))
        from_jpeg = run.log_image("jpeg-bytes", jpeg.getvalue(), format="png")  # already encoded: kept
        from_memoryview = run.log_image("view", memoryview(data))
    assert from_bytes == hash_bytes(data) == from_memoryview
    assert from_path == hash_bytes(path.read_bytes()) == from_str_path
    assert from_jpeg == hash_bytes(jpeg.getvalue())
    rows = {row["key"]: row for row in view(run).images()}
    assert rows["jpeg-bytes"]["format"] == "jpeg"
    assert (rows["path"]["width"], rows["path"]["height"]) == (5, 6)
    assert store_of(storage).get(from_path) == path.read_bytes()


@pytest.mark.parametrize("format_name, pil_format", [("png", "PNG"), ("PNG", "PNG"), ("jpeg", "JPEG"),
                                                     ("jpg", "JPEG"), ("webp", "WEBP"), ("bmp", "BMP"),
                                                     ("gif", "GIF")])
def test_every_format_name_encodes(format_name, pil_format, storage):
    with rn.init(path="img") as run:
        run.log_image("x", RGB, format=format_name)
    [row] = view(run).images()
    assert stored_image(run, row).format == pil_format


def test_jpeg_of_an_image_with_alpha_is_flattened_to_rgb(storage):
    transparent = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black: white once flattened
    with rn.init(path="img") as run:
        run.log_image("rgba", transparent, format="jpeg", quality=95)
        run.log_image("pil-la", Image.new("LA", (4, 4)), format="jpeg")
        run.log_image("palette", Image.new("P", (4, 4)), format="jpeg")
    rows = {row["key"]: row for row in view(run).images()}
    image = stored_image(run, rows["rgba"])
    assert image.format == "JPEG" and image.mode == "RGB"
    assert np.asarray(image).min() >= 250
    assert stored_image(run, rows["pil-la"]).mode in ("RGB", "L")
    assert stored_image(run, rows["palette"]).format == "JPEG"


def test_quality_changes_jpeg_bytes(storage):
    picture = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with rn.init(path="img") as run:
        low = run.log_image("q", picture, format="jpeg", quality=10)
        high = run.log_image("q", picture, format="jpeg", quality=95)
    assert low != high


def test_identical_images_are_stored_once(storage):
    with rn.init(path="img") as run:
        first = run.log_image("a", RGB, step=1)
        second = run.log_image("a", RGB.copy(), step=2)
        third = run.log_image("b", Image.fromarray(RGB), step=3)
    assert first == second == third
    # Images are published by the run's writer at its next flush; after finish the store holds one copy.
    assert object_bytes(storage) == (Path(storage) / "store" / "objects" / first[:2] / first[2:]).stat().st_size
    rows = view(run).images()
    assert [r["_step"] for r in rows] == [1, 2, 3] and {r["id"] for r in rows} == {"blake3:" + first}


def test_step_defaults_to_the_current_step(storage):
    with rn.init(path="img") as run:
        run.log({"loss": 1.0}, step=7)
        run.log_image("s", GRAY)
    assert view(run).images()[0]["_step"] == 7


def test_images_are_gc_roots_named_by_the_manifest(storage):
    with rn.init(path="img") as run:
        ids = {run.log_image("k", RNG.integers(0, 256, (3, 3), dtype=np.uint8), step=i) for i in range(3)}
    entries = manifest_entries(run, "image")
    assert {bare(e["id"]) for e in entries} == ids and all(e["type"] == "blob" for e in entries)
    assert ids <= {r.id for r in view(run).roots()}
    assert ids == object_ids(storage)


@pytest.mark.parametrize("bad, error, pattern", [
    (np.zeros((4, 4, 2), dtype=np.uint8), ValueError, "shape"),
    (np.zeros((2, 4, 4, 3), dtype=np.uint8), ValueError, "shape"),
    (np.zeros(16, dtype=np.uint8), ValueError, "shape"),
    (np.full((4, 4), 1.5), ValueError, r"\[0, 1\]"),
    (np.full((4, 4), -0.1), ValueError, r"\[0, 1\]"),
    (np.full((4, 4), np.nan), ValueError, "NaN"),
    (np.full((4, 4), np.inf), ValueError, "infinity"),
    (np.full((4, 4), 300), ValueError, "255"),
    (np.full((4, 4), -1), ValueError, "255"),
    (np.zeros((4, 4), dtype=np.complex64), TypeError, "dtype"),
    (b"definitely not an image", ValueError, "not an encoded image"),
    (b"", ValueError, "not an encoded image"),
    (png_bytes(RGB)[:-20], ValueError, "truncated"),
    ([[0, 1], [1, 0]], TypeError, "list"),
    (None, TypeError, "NoneType"),
    (42, TypeError, "int"),
], ids=["hxwx2", "4d", "1d", "float-above-1", "float-below-0", "nan", "inf", "int-above-255", "negative-int",
        "complex", "garbage-bytes", "empty-bytes", "truncated-png", "list", "none", "int"])
def test_bad_images_raise_clear_errors(bad, error, pattern, storage):
    with rn.init(path="img") as run:
        with pytest.raises(error, match=pattern):
            run.log_image("bad", bad)
    assert view(run).images() == [] and object_bytes(storage) == 0


def test_bad_files_format_and_quality_raise_clear_errors(storage, tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG but not really")
    jpeg = io.BytesIO()
    Image.fromarray(RGB).save(jpeg, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    with rn.init(path="img") as run:
        with pytest.raises(FileNotFoundError, match="missing.png"):
            run.log_image("bad", tmp_path / "missing.png")
        with pytest.raises(ValueError, match="garbage.png"):
            run.log_image("bad", garbage)
        with pytest.raises(ValueError, match="truncated.jpg.*damaged or truncated"):
            run.log_image("bad", truncated)
        with pytest.raises(FileNotFoundError):
            run.log_image("bad", tmp_path)  # a folder
        for bad_format in ("tiff", "exr", "", None):
            with pytest.raises(ValueError, match="format"):
                run.log_image("bad", RGB, format=bad_format)
        for bad_quality in (0, 101, -5, "90", 90.0, True, None):
            with pytest.raises(ValueError, match="quality"):
                run.log_image("bad", RGB, format="jpeg", quality=bad_quality)
        with pytest.raises(ValueError, match="key"):
            run.log_image("", RGB)
        with pytest.raises(TypeError, match="caption"):
            run.log_image("k", RGB, caption=3)
        with pytest.raises(TypeError, match="step"):
            run.log_image("k", RGB, step="one")
    assert view(run).images() == []


def test_torch_tensors_round_trip(storage):
    torch = pytest.importorskip("torch")
    chw = torch.from_numpy(RGB).permute(2, 0, 1).contiguous()
    with rn.init(path="img") as run:
        run.log_image("chw-uint8", chw)
        run.log_image("hwc-float", torch.from_numpy(RGB.astype(np.float32) / 255.0))
        run.log_image("hw", torch.from_numpy(GRAY))
    for row in view(run).images():
        expected = GRAY if row["key"] == "hw" else RGB
        assert np.array_equal(np.asarray(stored_image(run, row)), expected), row["key"]
