"""Photographers' files: orientation, metadata, colour profiles, output formats and value rules.

Every camera-like file here is made at test time with Pillow and tifffile (no binaries in the
repository); metadata is checked with a second reader (Pillow, tifftools) besides gacn's own.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import tifffile
import tifftools
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational
from test_cli import assert_one_line_error, run

import gacn
from gacn.io import (
    InputError,
    apply_orientation,
    normalize_layout,
    read_image,
    read_metadata,
    write_image,
)

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
       b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"><dc:creator><rdf:Seq><rdf:li>Ann Example'
       b'</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>')


MAKER_NOTE_TEXT = b"Canon EOS R5\0"


def camera_exif(orientation: int, width: int, height: int, endian: str = ">") -> bytes:
    """EXIF as a camera writes it: make, model, lens, exposure, date, orientation, and a maker note
    that, as Canon's, is an IFD whose values are found by offsets from the start of the EXIF."""
    exif = Image.Exif()
    exif.endian = endian
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "Canon", "EOS R5"
    photo = exif.get_ifd(0x8769)
    photo[0x829A] = IFDRational(1, 125)  # ExposureTime
    photo[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal
    photo[0xA434] = "RF100mm F2.8 L MACRO IS USM"  # LensModel
    photo[0xA002], photo[0xA003] = width, height  # PixelX/YDimension
    # one entry (tag 6, ASCII) whose text follows the IFD, at byte 18 of the note
    note = struct.pack(endian + "HHHLLL", 1, 6, 2, len(MAKER_NOTE_TEXT), 18, 0) + MAKER_NOTE_TEXT
    photo[0x927C] = note
    raw = exif.tobytes()
    start = raw.index(note) + 10  # the text's offset, after "Exif\0\0", the note's count, tag, type and count
    offset = raw.index(note) - 6 + 18  # where the text is, from the TIFF header
    return raw[:start] + struct.pack(endian + "L", offset) + raw[start + 4:]


def with_thumbnail(exif: bytes) -> bytes:
    """``exif`` (from Pillow, which writes no IFD1) with an IFD1 holding a JPEG thumbnail, as cameras do."""
    tiff = bytearray(exif.removeprefix(b"Exif\0\0"))
    bom = "<" if tiff[:2] == b"II" else ">"
    tiff += b"\0" * (len(tiff) % 2)
    thumb = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    ifd1 = len(tiff)
    (count,) = struct.unpack_from(bom + "H", tiff, 8)
    struct.pack_into(bom + "L", tiff, 8 + 2 + 12 * count, ifd1)  # IFD0's next-IFD pointer
    tiff += struct.pack(bom + "HHHLLHHLLL", 2, 0x0201, 4, 1, ifd1 + 30, 0x0202, 4, 1, len(thumb), 0) + thumb
    return b"Exif\0\0" + bytes(tiff)


def exif_of(path: Path) -> tuple[dict, dict, dict]:
    """The first IFD, Exif sub-IFD and IFD1 (thumbnail) of the EXIF gacn reads, decoded by Pillow."""
    raw = read_metadata(path).exif
    exif = Image.Exif()
    if raw:
        exif.load(raw)
    return dict(exif), exif.get_ifd(ExifTags.IFD.Exif), exif.get_ifd(ExifTags.IFD.IFD1)


def maker_note_text(raw: bytes) -> tuple[bytes, int]:
    """The text of the first entry of a Canon-style maker note, found through its offset from the
    start of the EXIF (tifftools reading), and where the note lies."""
    info = tifftools.read_tiff(io.BytesIO(raw))
    note = info["ifds"][0]["tags"][0x8769]["ifds"][0][0]["tags"][0x927C]
    data = bytes(note["data"])
    _, _, count, offset = struct.unpack_from(info["endianPack"] + "HHLL", data, 2)
    return data[offset - note["offset"]:offset - note["offset"] + count], note["offset"]


def xmp_values(xmp: bytes) -> dict[str, str]:
    """The properties of an XMP packet, ``{namespace}name`` -> text (attributes, simple elements,
    and the joined items of arrays)."""
    values = {}
    for description in ET.fromstring(xmp).iter(RDF + "Description"):
        values |= description.attrib
        for prop in description:
            values[prop.tag] = "".join(prop.itertext())
    return values


DC, TIFF_NS, GACN = "{http://purl.org/dc/elements/1.1/}", "{http://ns.adobe.com/tiff/1.0/}", \
    "{https://github.com/gacn/gacn/ns/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@pytest.fixture
def portrait_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Two JPEGs stored 96x128 (landscape) with EXIF orientation 6: displayed 128x96 portrait."""
    photo = cv2.resize(skimage.data.astronaut(), (128, 96), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(photo, (0, 0), 3)
    paths = []
    for k, img in enumerate((np.where(np.arange(128)[None, :, None] < 64, photo, blur),
                             np.where(np.arange(128)[None, :, None] < 64, blur, photo))):
        path = tmp_path / f"IMG_{k}.jpg"
        Image.fromarray(img).save(path, quality=95, exif=with_thumbnail(camera_exif(6, 128, 96, "<")),
                                  icc_profile=ICC, xmp=XMP)
        paths.append(path)
    return paths[0], paths[1], photo


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    stored = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3) * 2
    path = tmp_path / "o.png"
    Image.fromarray(stored).save(path, exif=camera_exif(orientation, 7, 5))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert np.array_equal(read_image(path), expected)
    assert np.array_equal(apply_orientation(stored, orientation), expected)


def test_portrait_jpegs_fuse_upright_with_orientation_1(tmp_path: Path,
                                                         portrait_pair: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = portrait_pair
    assert read_image(a).shape == (128, 96, 3)  # upright: stored 96x128, orientation 6
    out = tmp_path / "fused.jpg"
    proc = run("fuse", a, b, "-o", out)
    assert proc.returncode == 0, proc.stderr
    written = Image.open(out)
    assert written.size == (96, 128)  # width x height: portrait
    assert written.getexif()[0x0112] == 1
    fused_api = gacn.fuse([a, b]).image
    assert np.abs(np.asarray(written).astype(int) - fused_api).mean() < 2.0  # JPEG re-encoding only


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("ext", ["jpg", "png", "tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_metadata_carried_into_every_format(tmp_path: Path, portrait_pair: tuple[Path, Path, np.ndarray],
                                            ext: str, dtype: type, channels: int) -> None:
    a, _, _ = portrait_pair
    image = read_image(a).astype(dtype) * (257 if dtype == np.uint16 else 1)
    image = image if channels == 3 else image[..., 1]
    out = tmp_path / f"out.{ext}"
    write_image(out, image, read_metadata(a), frames=7)
    ifd0, photo, ifd1 = exif_of(out)
    assert ifd0[0x010F] == "Canon" and ifd0[0x0110] == "EOS R5"  # Make, Model
    assert photo[0xA434] == "RF100mm F2.8 L MACRO IS USM"  # LensModel
    assert photo[0x9003] == "2024:05:01 10:00:00"  # DateTimeOriginal
    assert (photo[0x829A].numerator, photo[0x829A].denominator) == (1, 125)  # ExposureTime
    assert ifd0[0x0112] == 1 and ifd0[0x0131] == f"gacn {gacn.__version__}"  # Orientation, Software
    assert (photo[0xA002], photo[0xA003]) == (96, 128)  # PixelX/YDimension
    assert ifd1 == {} and exif_of(a)[2][0x0201]  # no thumbnail; the source had one
    text, where = maker_note_text(read_metadata(out).exif)
    assert text == MAKER_NOTE_TEXT and where != maker_note_text(read_metadata(a).exif)[1]  # moved, still readable
    xmp = xmp_values(read_metadata(out).xmp)
    assert xmp[DC + "creator"] == "Ann Example" and xmp[GACN + "FrameCount"] == "7"
    assert TIFF_NS + "Orientation" not in xmp and xmp_values(read_metadata(a).xmp)[TIFF_NS + "Orientation"] == "6"
    pil = Image.open(out)  # a second reader
    assert pil.getexif()[0x010F] == "Canon" and pil.getexif()[0x0112] == 1
    assert pil.info["icc_profile"] == ICC and read_metadata(out).icc == ICC
    if ext == "png":  # a named profile chunk: libpng ignores one without a name
        assert out.read_bytes().count(b"iCCPICC Profile\0") == 1
    assert read_image(out).shape == image.shape  # stored upright


def test_16bit_tiff_keeps_its_icc_profile_through_fuse(tmp_path: Path) -> None:
    photo = cv2.resize(skimage.data.astronaut(), (96, 64)).astype(np.uint16) * 257
    blur = cv2.GaussianBlur(photo, (0, 0), 3)
    paths = [tmp_path / "a.tif", tmp_path / "b.tif"]
    tifffile.imwrite(paths[0], np.where(np.arange(96)[None, :, None] < 48, photo, blur), iccprofile=ICC)
    tifffile.imwrite(paths[1], np.where(np.arange(96)[None, :, None] < 48, blur, photo), iccprofile=ICC)
    before = [p.read_bytes() for p in paths]
    out = tmp_path / "f.tif"
    assert run("fuse", *paths, "-o", out).returncode == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].dtype == np.uint16 and tif.pages[0].iccprofile == ICC
    assert [p.read_bytes() for p in paths] == before  # inputs untouched
    stripped = tmp_path / "s.tif"
    assert run("fuse", *paths, "-o", stripped, "--strip-metadata").returncode == 0
    with tifffile.TiffFile(stripped) as tif:
        assert tif.pages[0].iccprofile is None and "Software" not in tif.pages[0].tags
    assert np.array_equal(tifffile.imread(out), tifffile.imread(stripped))


@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_of_a_tiff_source_is_carried(tmp_path: Path, endian: str) -> None:
    """A 16-bit TIFF written with EXIF (in the byte order of the camera's, which its pixels and
    maker note share) is read back whole, and its EXIF goes on into the next output."""
    source = tmp_path / "camera.jpg"
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(source, exif=camera_exif(1, 16, 12, endian), xmp=XMP)
    pixels = np.random.default_rng(5).integers(0, 65536, (12, 16, 3)).astype(np.uint16)
    tif = tmp_path / "fused.tif"
    write_image(tif, pixels, read_metadata(source), frames=2)
    assert tif.read_bytes()[:2] == (b"II" if endian == "<" else b"MM")
    assert np.array_equal(read_image(tif), pixels)
    out = tmp_path / "again.jpg"
    write_image(out, read_image(tif), read_metadata(tif), frames=3)
    ifd0, photo, _ = exif_of(out)
    assert ifd0[0x010F] == "Canon" and photo[0xA434] == "RF100mm F2.8 L MACRO IS USM"
    assert (photo[0xA002], photo[0xA003]) == (16, 12)
    assert maker_note_text(read_metadata(out).exif)[0] == MAKER_NOTE_TEXT
    xmp = read_metadata(out).xmp
    assert xmp.count(b"FrameCount") == 1 and xmp_values(xmp)[GACN + "FrameCount"] == "3"


def test_unreadable_metadata_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "odd.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta not closed")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path, exif=b"Exif\0\0II*\0\xff\xff\xff\x7f", pnginfo=info)
    metadata = read_metadata(path)
    assert metadata.exif is None and metadata.xmp == b"<x:xmpmeta not closed" and metadata.orientation == 1
    out = tmp_path / "out.png"
    write_image(out, np.zeros((4, 4), np.uint8), metadata, frames=2)
    assert exif_of(out)[0][0x0112] == 1
    assert xmp_values(read_metadata(out).xmp) == {GACN + "FrameCount": "2", RDF + "about": ""}


def test_strip_metadata_writes_pixels_only(tmp_path: Path, portrait_pair: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = portrait_pair
    out = tmp_path / "f.png"
    assert run("fuse", a, b, "-o", out, "--strip-metadata").returncode == 0
    stripped = read_metadata(out)
    assert stripped.exif is None and stripped.xmp is None and stripped.icc is None
    assert read_image(out).shape == (128, 96, 3)  # still upright


# --------------------------------------------------------------------------- output formats


def test_unknown_output_extension_is_refused_before_work(tmp_path: Path,
                                                          portrait_pair: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = portrait_pair
    proc = run("fuse", a, b, "-o", tmp_path / "out.xyz")
    assert_one_line_error(proc, "unknown output format '.xyz'")
    assert_one_line_error(run("fuse", a, b, "-o", tmp_path / "f.png", "--map", tmp_path / "m.bmp"), "'.bmp'")
    assert list(tmp_path.iterdir()) == [a, b] or sorted(tmp_path.iterdir()) == sorted([a, b])
    with pytest.raises(InputError, match="unknown output format"):
        write_image(tmp_path / "x.webp", np.zeros((8, 8), np.uint8))


def test_jpeg_quality_and_16bit_into_jpeg(tmp_path: Path) -> None:
    image = (cv2.resize(skimage.data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA).astype(np.uint16) * 256
             + 4 * np.arange(64, dtype=np.uint16)[:, None, None])  # uses all 16 bits
    low, high = tmp_path / "low.JPG", tmp_path / "high.jpeg"
    write_image(low, image, jpeg_quality=30)
    write_image(high, image)
    assert low.stat().st_size < high.stat().st_size
    back = read_image(high)
    assert back.dtype == np.uint8  # 16-bit into JPEG: rounded to 8 bits, x / 257
    assert np.abs(back.astype(int) - np.rint(image / 257.0)).mean() < 3.0  # JPEG loss only
    with pytest.raises(InputError, match="1..95"):
        write_image(high, image, jpeg_quality=100)


def test_16bit_colour_png_round_trips_exactly(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    write_image(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)  # Pillow alone would give 8 bits


def test_write_removes_the_temporaries_of_killed_runs(tmp_path: Path) -> None:
    """The hidden ``.NAME.part<pid>`` files that a killed run left are removed by the next write of
    the same output; those of a process still running, and of other outputs, are kept."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    names = [f".f.png.part{ended.pid}", f".f.png.part{ended.pid}-pixels", f".f.png.part{os.getppid()}",
             f".g.png.part{ended.pid}", ".f.png.partial"]
    for name in names:
        (tmp_path / name).write_bytes(b"torn")
    write_image(tmp_path / "f.png", np.zeros((4, 4), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["f.png", *names[2:]])


# --------------------------------------------------------------------------- value rules


def test_float_rules() -> None:
    ok = np.full((4, 4), 0.5, np.float64)
    assert normalize_layout(ok) is ok
    for bad, needle in ((np.array([[np.nan, 0.5]]), "NaN"), (np.array([[np.inf, 0.5]]), "NaN or infinite"),
                        (np.array([[-0.1, 0.5]]), "0..1"), (np.array([[0.2, 1.5]]), "0..1")):
        with pytest.raises(InputError, match=needle):
            normalize_layout(bad)


def test_nan_float_tiff_is_a_clean_error(tmp_path: Path) -> None:
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, image)
    image[3, 4] = np.nan
    bad = tmp_path / "nan.tif"
    tifffile.imwrite(bad, image)
    assert_one_line_error(run("fuse", good, bad, "-o", tmp_path / "o.tif"), "NaN")


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.complex64])
def test_other_dtypes_are_refused(dtype: type) -> None:
    with pytest.raises(InputError, match="unsupported dtype"):
        normalize_layout(np.zeros((8, 8), dtype))


def test_layouts(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (6, 5, 3)).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, np.full((6, 5), 7, np.uint8)])).save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)  # alpha dropped
    Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), "LA").save(tmp_path / "la.png")
    assert np.array_equal(read_image(tmp_path / "la.png"), rgb[..., 0])  # gray + alpha -> gray
    palette = Image.fromarray(rgb).quantize(4)
    palette.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(palette.convert("RGB")))
    Image.fromarray(rgb[..., 0] > 100).save(tmp_path / "bits.png")
    assert set(np.unique(read_image(tmp_path / "bits.png"))) <= {0, 255}
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "g16.pgm")  # Pillow reads it as int32
    assert np.array_equal(read_image(tmp_path / "g16.pgm"), rgb[..., 0].astype(np.uint16) * 257)
    assert normalize_layout(np.arange(4, dtype=">u2").reshape(2, 2)).dtype == np.uint16  # big-endian
    tifffile.imwrite(tmp_path / "i32.tif", rgb[..., 0].astype(np.int32))
    with pytest.raises(InputError, match="unsupported dtype int32"):
        read_image(tmp_path / "i32.tif")
    table = np.zeros((3, 256), np.uint16)
    table[:, :4] = [[0, 65535, 0, 0], [0, 0, 65535, 0], [0, 0, 0, 65535]]
    tifffile.imwrite(tmp_path / "pal.tif", np.array([[0, 1], [2, 3]], np.uint8), photometric="palette", colormap=table)
    assert read_image(tmp_path / "pal.tif").tolist() == [[[0, 0, 0], [65535, 0, 0]], [[0, 65535, 0], [0, 0, 65535]]]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_image(tmp_path / "planar.tif"), rgb)
    tifffile.imwrite(tmp_path / "f64.tif", rgb[..., 0] / 255.0)
    assert read_image(tmp_path / "f64.tif").dtype == np.float64


def test_refused_kinds_of_file(tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    tifffile.imwrite(tmp_path / "cmyk.tif", np.dstack([rgb, rgb[..., :1]]), photometric="separated")
    tifffile.imwrite(tmp_path / "pages.tif", np.stack([rgb, rgb]), photometric="rgb")
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name, needle in (("cmyk.jpg", "CMYK"), ("cmyk.tif", "CMYK"), ("pages.tif", "2 full-size pages"),
                         ("anim.gif", "2 frames")):
        with pytest.raises(InputError, match=needle):
            read_image(tmp_path / name)
    frames[0].save(tmp_path / "still.gif")
    assert read_image(tmp_path / "still.gif").shape == (16, 16, 3)
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:  # a full page plus a reduced-size preview
        tif.write(rgb, photometric="rgb")
        tif.write(rgb[::4, ::4], photometric="rgb", subfiletype=1)
    assert np.array_equal(read_image(tmp_path / "thumb.tif"), rgb)


def test_mixed_bit_depths_fuse_in_the_first_frames_depth(tmp_path: Path) -> None:
    photo = cv2.resize(skimage.data.camera(), (64, 64), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(photo, (0, 0), 3)
    left = np.arange(64)[None, :] < 32
    a8, b8 = np.where(left, photo, blur), np.where(left, blur, photo)
    a_path, b_path = tmp_path / "a.png", tmp_path / "b16.tif"
    Image.fromarray(a8).save(a_path)
    tifffile.imwrite(b_path, b8.astype(np.uint16) * 257)
    mixed = gacn.fuse([a_path, b_path]).image
    same = gacn.fuse([a8, b8]).image
    assert mixed.dtype == np.uint8 and np.array_equal(mixed, same)


@pytest.mark.parametrize(("method", "strategy"), [
    ("fast", "running"), ("gacn", "running"), ("gacn", "serial"), ("gacn", "calibration")])
def test_mixed_bit_depth_stack_is_scaled_to_the_first_frame(method: str, strategy: str) -> None:
    from gacn.fusion.synthetic import make_stack

    frames = list(make_stack(n_frames=3, size=(64, 80), max_blur=3.0, seed=4).frames)
    options = dict(method=method, strategy=strategy, align=False)
    same = gacn.fuse(frames, **options).image
    mixed = gacn.fuse([frames[0].astype(np.uint16) * 257, *frames[1:]], **options).image
    assert mixed.dtype == np.uint16
    assert np.abs(mixed.astype(int) - same.astype(int) * 257).max() <= 257  # one 8-bit step
