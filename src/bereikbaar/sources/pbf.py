"""A vectorised reader of the OSM PBF format: ways with their node locations, in NumPy.

pyosmium hands every way node to Python as an object (about 3 µs each); a
national road network has ten million of them. This reader decodes the
protobuf varints of each data block at once with NumPy instead, so its cost is
about one pass over the file: zlib, then array operations. It reads what the
road network loader needs (dense nodes; ways with their tags and node ids) and
raises :class:`UnsupportedPbfError` for anything else (lzma/zstd blobs, non-dense
nodes), so that the caller can fall back to pyosmium.

The PBF format: a sequence of (4-byte length, ``BlobHeader``, ``Blob``); each
``OSMData`` blob holds a zlib-compressed ``PrimitiveBlock`` with a string table
and groups of ``DenseNodes``, ``Way`` or ``Relation`` messages. Every field of a
``Way`` (and of its ``Info``) is a varint or a packed run of varints, so a group
of ways is one long run of varints: it is decoded in one vectorised call and the
message structure is then walked with integer arrays.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

from ..exceptions import InputError, where
from . import limits

__all__ = ["PbfWays", "UnsupportedPbfError", "decode_varints", "read_pbf_ways"]

IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]
T = TypeVar("T")

UNDEFINED_COORDINATE: Final = 2147483647
"""Fixed-point coordinate of a node that is not in the file (as libosmium)."""

_MAX_BLOB: Final = 64 * 1024 * 1024


class UnsupportedPbfError(ValueError):
    """The file uses a PBF feature this reader does not decode (use pyosmium)."""


def decode_varints(buf: npt.NDArray[np.uint8]) -> tuple[UIntArray, IntArray]:
    """Decode a run of protobuf varints.

    Parameters
    ----------
    buf
        Bytes that are a concatenation of complete varints.

    Returns
    -------
    values, starts
        The unsigned values and the byte offset where each starts.

    Examples
    --------
    >>> v, s = decode_varints(np.frombuffer(bytes([1, 0xAC, 0x02, 0x7F]), dtype=np.uint8))
    >>> v.tolist(), s.tolist()
    ([1, 300, 127], [0, 1, 3])
    """
    n = len(buf)
    if n == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    last = (buf & 0x80) == 0
    if not last[-1]:
        msg = "truncated varint"
        raise UnsupportedPbfError(msg)
    ends = np.flatnonzero(last)
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    token = np.cumsum(np.r_[0, last[:-1]].astype(np.int64))
    pos = np.arange(n, dtype=np.int64) - starts[token]
    if pos.max(initial=0) > 9:
        msg = "varint longer than 10 bytes"
        raise UnsupportedPbfError(msg)
    parts = (buf & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    values = np.bitwise_or.reduceat(parts, starts)
    return values, starts


def _zigzag_decode(v: UIntArray) -> IntArray:
    return (v >> np.uint64(1)).astype(np.int64) ^ -(v & np.uint64(1)).astype(np.int64)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, int, int]]:
    """Top-level fields of a small message: (number, wire type, start, end or value)."""
    out = []
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            out.append((number, 0, value, value))
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            out.append((number, 2, pos, pos + size))
            pos += size
        elif wire == 1:
            out.append((number, 1, pos, pos + 8))
            pos += 8
        elif wire == 5:
            out.append((number, 5, pos, pos + 4))
            pos += 4
        else:
            msg = f"unexpected wire type {wire}"
            raise UnsupportedPbfError(msg)
    if pos != n:
        msg = "message overruns its length"
        raise UnsupportedPbfError(msg)
    return out


def _inflate(data: bytes, path: Path) -> bytes:
    """A zlib blob, refused when it unpacks beyond the format's limit (a decompression bomb)."""
    inflater = zlib.decompressobj()
    raw = inflater.decompress(data, limits.MAX_PBF_BLOB_BYTES)
    if inflater.unconsumed_tail or len(inflater.decompress(b"", 1)):
        msg = (
            f"{where(path)}: een blok pakt uit tot meer dan {limits.MAX_PBF_BLOB_BYTES:,} bytes,"
            " de grens van het PBF-formaat; het bestand is beschadigd of vijandig"
            " (decompressiebom)"
        )
        raise InputError(msg)
    return raw


def _blobs(path: Path) -> Iterator[tuple[str, bytes]]:
    """(type, raw block bytes) of every blob, decompressed, one at a time."""
    with path.open("rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            if len(head) < 4:
                msg = "truncated blob header length"
                raise UnsupportedPbfError(msg)
            (size,) = struct.unpack(">I", head)
            header = f.read(size)
            kind = ""
            datasize = -1
            for number, _, a, b in _fields(header):
                if number == 1:
                    kind = header[a:b].decode("ascii", "replace")
                elif number == 3:
                    datasize = a
            if datasize < 0 or datasize > _MAX_BLOB:
                msg = "bad blob size"
                raise UnsupportedPbfError(msg)
            blob = f.read(datasize)
            if len(blob) != datasize:
                msg = "truncated blob"
                raise UnsupportedPbfError(msg)
            raw: bytes | None = None
            for number, _, a, b in _fields(blob):
                if number == 1:
                    raw = blob[a:b]
                elif number == 3:
                    raw = _inflate(blob[a:b], path)
                elif number in (4, 5, 6, 7):
                    msg = "blob compression other than zlib"
                    raise UnsupportedPbfError(msg)
            if raw is None:
                msg = "empty blob"
                raise UnsupportedPbfError(msg)
            yield kind, raw


@dataclass
class PbfWays:
    """What :func:`read_pbf_ways` returns: kept ways as flat arrays.

    Attributes
    ----------
    refs
        Node ids of the kept ways, concatenated.
    x7, y7
        Node longitude/latitude as fixed-point integers (1e-7 degree);
        :data:`UNDEFINED_COORDINATE` where the node is not in the file.
    size
        Number of nodes per kept way.
    attrs
        The rule's result per kept way.
    n_seen
        Ways that had any of the filter keys.
    """

    refs: IntArray
    x7: IntArray
    y7: IntArray
    size: IntArray
    attrs: list[object]
    n_seen: int


def _packed(tokens: UIntArray, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    """Token indices of the packed runs ``[lo, hi)`` (concatenated) and the run of each."""
    count = hi - lo
    run = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    first = np.repeat(lo - (np.cumsum(count) - count), count)
    return first + np.arange(int(count.sum()), dtype=np.int64), run


def _dense(
    buf: bytes, gran: int, lat_off: int, lon_off: int
) -> tuple[IntArray, IntArray, IntArray]:
    ids = lat = lon = None
    for number, wire, a, b in _fields(buf):
        if wire != 2 or number not in (1, 8, 9):
            continue
        values, _ = decode_varints(np.frombuffer(buf, dtype=np.uint8, count=b - a, offset=a))
        column = np.cumsum(_zigzag_decode(values))
        if number == 1:
            ids = column
        elif number == 8:
            lat = column
        else:
            lon = column
    if ids is None or lat is None or lon is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # libosmium: (offset + granularity * value) / 100 in integer arithmetic (truncating)
    lat_n = lat_off + gran * lat
    lon_n = lon_off + gran * lon
    y7 = np.sign(lat_n) * (np.abs(lat_n) // 100)
    x7 = np.sign(lon_n) * (np.abs(lon_n) // 100)
    return ids, x7, y7


def _ways(
    buf: bytes,
    strings: list[bytes],
    filter_keys: set[int],
    rule: Callable[[dict[str, str]], T | None],
) -> tuple[IntArray, IntArray, list[T], int]:
    """Kept ways of one group: node ids, refs per way, rule results; and the count seen."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    tokens, starts = decode_varints(raw)
    k = len(tokens)
    nb = np.diff(np.r_[starts, len(raw)])
    # for every token taken as a field key: the token index of the next field
    wire = (tokens & np.uint64(7)).astype(np.int64)
    length = np.zeros(k, dtype=np.int64)
    length[:-1] = tokens[1:].astype(np.int64)
    end_byte = np.zeros(k, dtype=np.int64)
    end_byte[:-1] = starts[1:] + nb[1:] + length[:-1]
    nxt = np.where(wire == 2, np.searchsorted(starts, end_byte), np.arange(k) + 2)
    nxt = np.maximum(nxt, np.arange(k) + 1)  # a damaged length never loops back
    nxt_list = nxt.tolist()
    tok_list = tokens.tolist()
    # the chain of group fields (one step per way) in Python, ...
    way_start: list[int] = []
    i = 0
    while i < k:
        if tok_list[i] == 0x1A:  # group field 3: a Way
            way_start.append(i)
        i = nxt_list[i]
    n_ways = len(way_start)
    ws = np.asarray(way_start, dtype=np.int64)
    we = nxt[ws]
    # ... then the fields of all ways at once, one field per way and step
    parts_f: list[IntArray] = []
    parts_w: list[IntArray] = []
    cur = ws + 2
    way_ids = np.arange(n_ways, dtype=np.int64)
    active = cur < we
    while active.any():
        cur, way_ids, end = cur[active], way_ids[active], we[way_ids[active]]
        parts_f.append(cur)
        parts_w.append(way_ids)
        cur = nxt[cur]
        if bool((cur > end).any()):
            msg = "way message overruns its length"
            raise UnsupportedPbfError(msg)
        active = cur < end
    if parts_f:
        f_all = np.concatenate(parts_f)
        fw_all = np.concatenate(parts_w)
        order = np.lexsort((f_all, fw_all))
        fields, field_way = f_all[order], fw_all[order]
    else:
        fields = field_way = np.zeros(0, dtype=np.int64)
    f, fw = fields, field_way
    fnum = (tokens[f] >> np.uint64(3)).astype(np.int64)
    fwire = wire[f]
    if len(f) and not bool(np.isin(fwire, (0, 2)).all()):
        msg = "unexpected wire type in a way"
        raise UnsupportedPbfError(msg)

    def packed_field(number: int) -> tuple[IntArray, IntArray, IntArray]:
        sel = (fnum == number) & (fwire == 2)
        fi = f[sel]
        idx, run = _packed(tokens, fi + 2, nxt[fi])
        return idx, fw[sel][run], fw[sel]

    key_idx, key_way, _ = packed_field(2)
    val_idx, val_way, _ = packed_field(3)
    ref_idx, ref_way, _ = packed_field(8)
    if len(key_idx) != len(val_idx) or not np.array_equal(key_way, val_way):
        msg = "way keys and values differ in number"
        raise UnsupportedPbfError(msg)
    key_sid = tokens[key_idx].astype(np.int64)
    val_sid = tokens[val_idx].astype(np.int64)
    has_key = np.zeros(n_ways, dtype=bool)
    if filter_keys and len(key_sid):
        hit = np.isin(key_sid, np.fromiter(filter_keys, dtype=np.int64))
        has_key[key_way[hit]] = True
    seen = np.flatnonzero(has_key)
    if len(seen) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [], 0
    # tags per seen way; the rule runs once per distinct tag set in the block
    tag_lo = np.searchsorted(key_way, seen, side="left")
    tag_hi = np.searchsorted(key_way, seen, side="right")
    ks, vs = key_sid.tolist(), val_sid.tolist()
    ref_lo = np.searchsorted(ref_way, seen, side="left")
    ref_hi = np.searchsorted(ref_way, seen, side="right")
    cache: dict[tuple[int, ...], T | None] = {}
    keep = np.zeros(len(seen), dtype=bool)
    kept_attrs: list[T] = []
    for pos, (lo, hi) in enumerate(zip(tag_lo.tolist(), tag_hi.tolist(), strict=True)):
        key = (*ks[lo:hi], -1, *vs[lo:hi])
        if key in cache:
            attrs = cache[key]
        else:
            tags: dict[str, str] = {}
            for a, b in zip(ks[lo:hi], vs[lo:hi], strict=True):
                name = strings[a].decode("utf-8", "replace")
                if name not in tags:
                    tags[name] = strings[b].decode("utf-8", "replace")
            attrs = rule(tags)
            cache[key] = attrs
        if attrs is not None:
            keep[pos] = True
            kept_attrs.append(attrs)
    # node ids of the kept ways: delta-coded per way (segmented cumulative sum)
    lo_k, hi_k = ref_lo[keep], ref_hi[keep]
    sel, run = _packed(tokens, lo_k, hi_k)
    delta = _zigzag_decode(tokens[ref_idx[sel]])
    total = np.cumsum(delta)
    count = hi_k - lo_k
    first = np.cumsum(count) - count
    base = np.zeros(len(count), dtype=np.int64)
    nonempty = count > 0
    base[nonempty] = total[first[nonempty]] - delta[first[nonempty]]
    refs = total - base[run]
    return refs, count, kept_attrs, len(seen)


def read_pbf_ways(
    path: str | Path,
    keys: tuple[str, ...],
    rule: Callable[[dict[str, str]], T | None],
) -> PbfWays:
    """Read the ways of a PBF file that have one of ``keys`` and pass ``rule``.

    Parameters
    ----------
    path
        An ``.osm.pbf`` file.
    keys
        Tag keys a way must have (any of them) to be looked at, as pyosmium's
        ``KeyFilter``.
    rule
        Called with a way's tags; ``None`` drops the way, anything else is kept
        as the way's attributes. Called once per distinct tag set per block.

    Returns
    -------
    PbfWays
        Kept ways in file order with their node ids and fixed-point locations.

    Raises
    ------
    UnsupportedPbfError
        A feature this reader does not decode, or a damaged file.
    """
    path = Path(path)
    node_parts: list[tuple[IntArray, IntArray, IntArray]] = []
    way_refs: list[IntArray] = []
    way_size: list[IntArray] = []
    attrs: list[object] = []
    n_seen = 0
    key_bytes = {k.encode() for k in keys}
    header_seen = False
    for kind, block in _blobs(path):
        if kind == "OSMHeader":
            header_seen = True
        if kind != "OSMData":
            continue
        if not header_seen:
            msg = "data before the OSMHeader block: not an OSM PBF file"
            raise UnsupportedPbfError(msg)
        gran, lat_off, lon_off = 100, 0, 0
        table: tuple[int, int] | None = None
        groups: list[tuple[int, int]] = []
        for number, wire, a, b in _fields(block):
            if number == 1 and wire == 2:
                table = (a, b)
            elif number == 2 and wire == 2:
                groups.append((a, b))
            elif number == 17:
                gran = a
            elif number == 19:
                lat_off = _signed(a)
            elif number == 20:
                lon_off = _signed(a)
        strings: list[bytes] | None = None
        for a, b in groups:
            group = block[a:b]
            if not group:
                continue
            first = group[0]
            if first == 0x12:  # dense nodes
                for number, wire, c, d in _fields(group):
                    if number == 2 and wire == 2:
                        node_parts.append(_dense(group[c:d], gran, lat_off, lon_off))
            elif first == 0x1A:  # ways
                if strings is None:
                    strings = _string_table(block, table)
                filter_keys = {i for i, s in enumerate(strings) if s in key_bytes}
                group_refs, group_size, kept, seen = _ways(group, strings, filter_keys, rule)
                way_refs.append(group_refs)
                way_size.append(group_size)
                attrs.extend(kept)
                n_seen += seen
            elif first == 0x0A:  # non-dense nodes
                msg = "non-dense nodes"
                raise UnsupportedPbfError(msg)
            # relations (0x22) and changesets (0x2a) are not needed
    if not header_seen:
        msg = "no OSMHeader block: not an OSM PBF file"
        raise UnsupportedPbfError(msg)
    size: IntArray = np.concatenate(way_size) if way_size else np.zeros(0, dtype=np.int64)
    refs: IntArray = np.concatenate(way_refs) if way_refs else np.zeros(0, dtype=np.int64)
    if node_parts:
        ids = np.concatenate([p[0] for p in node_parts])
        nx = np.concatenate([p[1] for p in node_parts])
        ny = np.concatenate([p[2] for p in node_parts])
    else:
        ids = nx = ny = np.zeros(0, dtype=np.int64)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, nx, ny = ids[order], nx[order], ny[order]
    pos = np.searchsorted(ids, refs)
    pos_c = np.minimum(pos, max(len(ids) - 1, 0))
    found = (pos < len(ids)) & (ids[pos_c] == refs) if len(ids) else np.zeros(len(refs), bool)
    x7 = np.where(found, nx[pos_c] if len(ids) else 0, UNDEFINED_COORDINATE).astype(np.int64)
    y7 = np.where(found, ny[pos_c] if len(ids) else 0, UNDEFINED_COORDINATE).astype(np.int64)
    return PbfWays(refs=refs, x7=x7, y7=y7, size=size, attrs=attrs, n_seen=n_seen)


def _signed(value: int) -> int:
    """A varint read as unsigned, reinterpreted as int64 (protobuf ``int64``)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _string_table(block: bytes, span: tuple[int, int] | None) -> list[bytes]:
    if span is None:
        return []
    buf = block[span[0] : span[1]]
    out: list[bytes] = []
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        size, pos = _read_varint(buf, pos)
        if key != 0x0A:
            msg = "unexpected field in string table"
            raise UnsupportedPbfError(msg)
        out.append(buf[pos : pos + size])
        pos += size
    return out
