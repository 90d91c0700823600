"""EXIF, XMP and ICC metadata of image files, read and written with permissively licensed libraries.

Which library carries what (all MIT, BSD, Apache or PSF licensed):

* Reading: Pillow for JPEG, PNG (``eXIf`` and ``iTXt`` chunks), WebP and the other formats it
  opens; tifftools (Apache-2.0) for TIFF, whose EXIF is its first IFD with its Exif, GPS and
  Interoperability sub-IFDs, its XMP tag 700 and its ICC tag 34675.
* EXIF is kept as TIFF-structured bytes, as a JPEG's APP1 segment (after ``Exif\\0\\0``) and a
  PNG's ``eXIf`` chunk hold it; tifftools parses and serialises it, so every tag keeps its type.
  JPEG and PNG outputs get the bytes through Pillow (or a hand-written ``eXIf`` chunk for the
  16-bit colour PNGs that OpenCV encodes); TIFF outputs get the tags merged into the first IFD
  of tifffile's file by tifftools, which rewrites it with the sub-IFDs.
* XMP packets are edited with the standard library's ``xml.dom.minidom``, which keeps the
  namespace prefixes of the source (expat refuses entity expansion bombs).
* Maker notes are copied byte for byte. The ones stored as an IFD whose values are found by
  offsets from the start of the EXIF data (Canon; Sony and Panasonic after a 12-byte header)
  have those offsets moved with the note, as exiv2 and ExifTool do, so they stay readable.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

#: The custom XMP namespace for the frame count of a fused stack.
XMP_NS = ("https://github.com/gacn/gacn/ns/1.0/", "gacn")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_EXIF_PREFIX = b"Exif\0\0"
#: First-IFD tags that describe the stored pixels or data of their own file, not the photo:
#: size, layout, strips and tiles, SubIFDs, colour map, embedded JPEG, XMP (700) and ICC (34675),
#: which outputs get from their own pixels or separately.
_LAYOUT_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 288, 289, 317, 320, 322, 323, 324, 325,
    330, 338, 339, 347, 513, 514, 530, 531, 700, 34675,
}
_ORIENTATION, _SOFTWARE, _XMP_TAG = 274, 305, 700
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _MAKER_NOTE = 34665, 34853, 40965, 37500
_PIXEL_X, _PIXEL_Y = 40962, 40963
#: Tags that point to sub-IFDs: SubIFDs, GlobalParametersIFD, Exif, GPS, Interoperability.
_POINTERS = {330, 400, _EXIF_IFD, _GPS_IFD, _INTEROP_IFD}
#: The sub-IFDs carried, by the IFD that points to them (the first IFD is 0).
_SUB_IFDS = {0: (_EXIF_IFD, _GPS_IFD), _EXIF_IFD: (_INTEROP_IFD,), _GPS_IFD: (), _INTEROP_IFD: ()}
#: Bytes per value of the TIFF field types 1..13.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#: XMP properties left out of outputs: they describe the source's pixels, or a former fusion.
_XMP_DROPPED = {
    ("http://ns.adobe.com/tiff/1.0/", "Orientation"),
    ("http://ns.adobe.com/exif/1.0/", "PixelXDimension"),
    ("http://ns.adobe.com/exif/1.0/", "PixelYDimension"),
    (XMP_NS[0], "FrameCount"),
}
_EMPTY_XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{_RDF}"/></x:xmpmeta>'
_PACKET = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>', '<?xpacket end="w"?>')


@dataclass
class Metadata:
    """What an output carries over from its reference frame.

    Attributes
    ----------
    exif : bytes or None
        The EXIF of the source, TIFF-structured (header, first IFD with its Exif, GPS and
        Interoperability sub-IFDs), as a JPEG's APP1 segment holds it after ``Exif\\0\\0``.
        :func:`output_exif` leaves out the orientation, the thumbnail and the tags that
        describe the source's pixel layout.
    xmp : bytes or None
        The XMP packet of the source.
    icc : bytes or None
        The ICC colour profile of the source.
    orientation : int
        The EXIF orientation of the source (1..8; 1 when absent or invalid).
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    icc: bytes | None = None
    orientation: int = 1


@functools.cache
def _tifftools() -> Any:
    """Import tifftools on first use, with its log muted: a damaged IFD is reported by the
    reader of the pixels, or its metadata is left out, rather than logged line by line."""
    import tifftools

    logging.getLogger("tifftools").setLevel(logging.CRITICAL)
    return tifftools


def read_metadata(path: str | os.PathLike) -> Metadata:
    """Read the EXIF, XMP, ICC profile and orientation of an image file.

    A file whose metadata cannot be parsed gives an empty :class:`Metadata` (its pixels may
    still be readable; :func:`gacn.io.read_image` reports the file if they are not), and EXIF
    that cannot be parsed is left out.

    Examples
    --------
    >>> read_metadata("no-such-file.png").orientation
    1
    """
    path = Path(path)
    tifftools = _tifftools()
    try:
        with open(path, "rb") as fh:
            is_tiff = fh.read(4) in _TIFF_MAGIC
        metadata = _read_tiff(path) if is_tiff else _read_pillow(path)
    except (OSError, ValueError, SyntaxError, KeyError, IndexError, struct.error, tifftools.TifftoolsError):
        return Metadata()
    ifd0 = _parse_exif(metadata.exif)
    if ifd0 is None:
        metadata.exif = None
        return metadata
    value = ifd0.get(_ORIENTATION, {}).get("data")  # a list of numbers, or a string if mistyped
    if isinstance(value, list) and len(value) == 1 and value[0] in range(1, 9):
        metadata.orientation = int(value[0])
    return metadata


def _read_pillow(path: Path) -> Metadata:
    """Metadata of a file Pillow opens (only its header is read, not its pixels)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decompression bombs and damaged EXIF: the pixel reader decides
        with Image.open(path) as im:
            info = dict(im.info)
    exif = info.get("exif")
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")  # JPEG and WebP; PNG's iTXt chunk
    return Metadata(exif=exif.removeprefix(_EXIF_PREFIX) if exif else None,
                    xmp=xmp.encode() if isinstance(xmp, str) else xmp, icc=info.get("icc_profile") or None)


def _read_tiff(path: Path) -> Metadata:
    """Metadata of a TIFF: its first IFD without the layout tags, serialised alone, plus XMP and ICC."""
    tifftools = _tifftools()
    info = tifftools.read_tiff(str(path))
    tags = info["ifds"][0]["tags"]
    xmp, icc = tags.get(_XMP_TAG), tags.get(34675)
    exif = _carried(tags, 0, _LAYOUT_TAGS)
    return Metadata(exif=_serialize(exif, info["bigEndian"]) if exif else None,
                    xmp=bytes(xmp["data"]) if xmp else None, icc=bytes(icc["data"]) if icc else None)


def _parse_exif(exif: bytes | None) -> dict[int, dict] | None:
    """The tags of the first IFD of TIFF-structured EXIF in tifftools' form (those :func:`_carried`
    keeps), None if it is unreadable."""
    if not exif:
        return None
    tifftools = _tifftools()
    try:
        info = tifftools.read_tiff(io.BytesIO(exif))
    except (ValueError, KeyError, IndexError, struct.error, tifftools.TifftoolsError):
        return None
    return _carried(info["ifds"][0]["tags"], 0, set()) if info["ifds"] else None


def _carried(tags: dict[int, dict], ifd: int, dropped: set[int]) -> dict[int, dict]:
    """The tags of an IFD without ``dropped``, without sub-IFDs other than EXIF's own and without the
    tags whose value could not be read (it lay outside the data), recursively."""
    kept = {}
    for code, taginfo in tags.items():
        if code in dropped:
            continue
        if "ifds" in taginfo or code in _POINTERS or taginfo.get("datatype") in (13, 18):  # IFD, IFD8
            if code not in _SUB_IFDS[ifd] or not taginfo.get("ifds") or not taginfo["ifds"][0]:
                continue
            taginfo = dict(taginfo, ifds=[[{"tags": _carried(taginfo["ifds"][0][0]["tags"], code, set())}]])
        elif "data" not in taginfo:
            continue
        kept[code] = taginfo
    return kept


def _exif_ifd(tags: dict[int, dict]) -> dict[int, dict]:
    """The tags of the Exif sub-IFD (empty if there is none)."""
    return tags[_EXIF_IFD]["ifds"][0][0]["tags"] if _EXIF_IFD in tags else {}


def _serialize(tags: dict[int, dict], big_endian: bool) -> bytes:
    """TIFF-structured EXIF holding ``tags`` (tifftools' form) as the first IFD."""
    out = io.BytesIO()
    _tifftools().write_tiff({"ifds": [{"tags": tags}], "bigEndian": big_endian, "bigtiff": False}, out)
    _fix_written(out, _exif_ifd(tags).get(_MAKER_NOTE))
    return out.getvalue()


def _fix_written(fh: BinaryIO, note: dict | None) -> None:
    """Finish the EXIF that tifftools wrote into ``fh``: type the sub-IFD pointers LONG, as the
    EXIF standard has them (tifftools writes type 13, IFD, which some readers skip), and move
    the offsets of the maker note that ``note`` (tifftools' record of it in the source) was."""
    info = _tifftools().read_tiff(fh)
    bom, tags = info["endianPack"], info["ifds"][0]["tags"]
    exif = _exif_ifd(tags)
    if not info["bigtiff"]:
        for pointer in (tags.get(_EXIF_IFD), tags.get(_GPS_IFD), exif.get(_INTEROP_IFD)):
            if pointer is not None:
                fh.seek(pointer["datapos"] - 6)  # an entry: tag, type, count, value
                fh.write(struct.pack(bom + "H", 4))
    written = exif.get(_MAKER_NOTE, {})
    if note is not None and "offset" in note and "offset" in written and written["datatype"] in (1, 7):  # bytes
        fh.seek(written["offset"])
        fh.write(_rebase_maker_note(bytes(written["data"]), note["offset"], written["offset"], bom))


def _rebase_maker_note(note: bytes, old: int, new: int, bom: str) -> bytes:
    """A maker note moved from offset ``old`` to ``new`` of its EXIF data, its inner offsets moved too.

    Only notes that are an IFD, at once (Canon) or after a 12-byte header (Sony, Panasonic),
    whose values all lie inside the note when their offsets are read from the start of the
    EXIF data, are changed; other notes (Nikon, Olympus, Fujifilm...) are self-contained.

    Examples
    --------
    >>> note = struct.pack("<HHHLLL", 1, 6, 2, 5, 100 + 18, 0) + b"EOS\\0\\0"
    >>> struct.unpack_from("<L", _rebase_maker_note(note, 100, 300, "<"), 10)[0]
    318
    """
    if old == new or new + len(note) >= 2**32:
        return note
    for start in (0, 12):
        fields = _note_offsets(note, start, bom)
        if fields and all(old <= offset and offset + size <= old + len(note) for _, offset, size in fields):
            moved = bytearray(note)
            for pos, offset, _ in fields:
                struct.pack_into(bom + "L", moved, pos, offset - old + new)
            return bytes(moved)
    return note


def _note_offsets(note: bytes, start: int, bom: str) -> list[tuple[int, int, int]]:
    """(position, offset, size) of the values stored out of line by an IFD at ``start`` of a maker
    note; empty when no plausible IFD is there."""
    if len(note) < start + 2:
        return []
    (count,) = struct.unpack_from(bom + "H", note, start)
    end = start + 2 + 12 * count
    if not 0 < count <= 1000 or end > len(note):
        return []
    fields = []
    for pos in range(start + 2, end, 12):
        _, kind, n, offset = struct.unpack_from(bom + "HHLL", note, pos)
        if kind not in _TYPE_SIZES:
            return []
        if n * _TYPE_SIZES[kind] > 4:
            fields.append((pos + 8, offset, n * _TYPE_SIZES[kind]))
    return fields


def output_exif(exif: bytes | None, width: int, height: int, software: str) -> bytes:
    """The EXIF of an output: the source's, upright, without thumbnail and layout tags, with the
    pixel dimensions updated and ``software`` as its software tag.

    Returns
    -------
    bytes
        TIFF-structured EXIF, in the byte order of the source (a maker note keeps its own).
    """
    tifftools = _tifftools()
    source = _parse_exif(exif) or {}
    tags = _carried(source, 0, _LAYOUT_TAGS | {_ORIENTATION, _SOFTWARE})
    tags[_ORIENTATION] = {"datatype": tifftools.Datatype.SHORT, "data": [1]}
    tags[_SOFTWARE] = {"datatype": tifftools.Datatype.ASCII, "data": software}
    photo = _exif_ifd(tags)
    if _PIXEL_X in photo:
        photo[_PIXEL_X] = {"datatype": tifftools.Datatype.LONG, "data": [width]}
        photo[_PIXEL_Y] = {"datatype": tifftools.Datatype.LONG, "data": [height]}
    return _serialize(tags, exif_byteorder(exif) == ">")


def exif_byteorder(exif: bytes | None) -> str:
    """``'>'`` for big-endian EXIF, ``'<'`` for little-endian or none."""
    return ">" if exif and exif.startswith(b"MM") else "<"


def add_to_tiff(pixels: Path, out: Path, exif: bytes, xmp: bytes | None) -> None:
    """Write the TIFF ``pixels`` again as ``out`` with the EXIF tags and sub-IFDs of ``exif`` (from
    :func:`output_exif`) and the XMP packet ``xmp`` in its first IFD.

    ``pixels`` must have the byte order of ``exif`` (tifftools copies the pixel data as stored,
    and a maker note keeps the order of its EXIF).
    """
    tifftools = _tifftools()
    tags = _parse_exif(exif) or {}
    try:
        info = tifftools.read_tiff(str(pixels))
        info["ifds"][0]["tags"].update(tags)
        if xmp:
            info["ifds"][0]["tags"][_XMP_TAG] = {"datatype": tifftools.Datatype.BYTE, "data": xmp}
        tifftools.write_tiff(info, str(out))
    except tifftools.TifftoolsError as exc:
        raise OSError(f"tifftools cannot add the metadata: {exc}") from None
    with open(out, "r+b") as fh:
        _fix_written(fh, _exif_ifd(tags).get(_MAKER_NOTE))


def output_xmp(xmp: bytes | None, frames: int | None) -> bytes | None:
    """The XMP packet of an output: the source's without orientation and pixel dimensions, with
    ``gacn:FrameCount`` = ``frames`` when given; None when there is nothing to write.

    A source packet that is not well-formed RDF is left out.

    Examples
    --------
    >>> b'gacn:FrameCount="3"' in output_xmp(None, 3)
    True
    """
    from xml.dom import minidom
    from xml.parsers.expat import ExpatError

    try:
        doc = minidom.parseString(xmp) if xmp else None
    except ExpatError:
        doc = None
    if doc is None or not doc.getElementsByTagNameNS(_RDF, "RDF"):
        if frames is None:
            return None
        doc = minidom.parseString(_EMPTY_XMP)
    rdf = doc.getElementsByTagNameNS(_RDF, "RDF")[0]
    for node in doc.getElementsByTagNameNS("*", "*"):
        for uri, name in _XMP_DROPPED:
            if node.hasAttributeNS(uri, name):
                node.removeAttributeNS(uri, name)
        if (node.namespaceURI, node.localName) in _XMP_DROPPED and node.parentNode is not None:
            node.parentNode.removeChild(node)
    if frames is not None:
        rdf_prefix = f"{rdf.prefix}:" if rdf.prefix else ""
        description = doc.createElementNS(_RDF, f"{rdf_prefix}Description")
        description.setAttributeNS(_RDF, f"{rdf_prefix}about", "")
        description.setAttribute(f"xmlns:{XMP_NS[1]}", XMP_NS[0])
        description.setAttributeNS(XMP_NS[0], f"{XMP_NS[1]}:FrameCount", str(frames))
        rdf.appendChild(description)
    return (_PACKET[0] + doc.documentElement.toxml() + _PACKET[1]).encode()
