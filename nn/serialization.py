"""Weight files: an ``.npz`` (a zip of ``.npy`` arrays) plus a JSON metadata member.

A file is untrusted input. ``load`` never unpickles, and checks everything it can from the
zip's central directory and the metadata (names, then shapes and dtypes, then each member's
declared size) before it inflates a byte of array data, so a zip bomb or a forged ``.npy``
header is refused by arithmetic, not by running out of memory. Only a regular file is opened
(symlinks are followed): a FIFO would block and a device such as /dev/zero never ends. ``load``
returns new arrays, each read and verified (the zip CRC catches flipped bits); it writes
nothing, so ``Module.load`` hands them to ``load_state_dict``, the one path that writes
parameters, and a failed load leaves the model bit-identical.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.lib.format as npy

from autograd import Tensor

META = "tapegrad.json"  # the metadata member
FORMAT = "tapegrad.weights"
VERSION = 1
_HEADER_MAX = 10_000  # numpy's own limit on a .npy header's dict (max_header_size)
_PREFIX = 6 + 2 + 4  # magic, version and header length (2 bytes in version 1.0, 4 in 2.0)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so equal models give byte-identical files

# What a hostile or damaged archive can make zipfile, zlib, json or numpy raise.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                struct.error, zlib.error, NotImplementedError, RuntimeError, KeyError,
                UnicodeDecodeError, OverflowError, RecursionError, SyntaxError, TypeError)


class LoadError(ValueError):
    """A weight file cannot be loaded; the message names the file and the reason."""

    def __init__(self, path: Any, reason: str) -> None:
        self.path = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else path
        self.reason = reason
        super().__init__(f"cannot load weights from '{self.path}': {reason}")


Spec = tuple[tuple[int, ...], np.dtype]  # the shape an array must have, and the model's dtype
_NUMBER_DTYPE = re.compile(r"[<>|=]?[fiub][1248]")  # the only dtype strings a file may name


def castable(given: np.dtype, model: np.dtype) -> bool:
    """The one dtype rule of ``load`` and ``load_state_dict``: a value is cast to the model's
    dtype (as PyTorch's ``param.copy_(value)`` does), floating into floating and integer into
    integer; anything else is refused."""
    if model.kind == "f":
        return given.kind == "f"
    return given.kind in "iu" and model.kind in "iu"


def foreign_array(x: Any) -> bool:
    """Whether ``x`` is an array of a library other than numpy (torch, CuPy, ...)."""
    return not isinstance(x, (np.ndarray, np.generic, Tensor)) and hasattr(x, "__dlpack__")


def host_array(x: Any) -> np.ndarray:
    """``x`` as a numpy array: another library's array (a GPU's too) is copied to the host."""
    return Tensor(x).to("numpy").data if foreign_array(x) else np.asarray(x)


def save(state: Mapping[str, Any], path: str | bytes | os.PathLike) -> None:
    """Write the named arrays ``state`` (a ``state_dict``, arrays of any library) to exactly
    ``path`` as host arrays (see ``Module.save``)."""
    path = os.fsdecode(path)
    state = {k: host_array(v) for k, v in state.items()}
    meta = {"format": FORMAT, "version": VERSION,
            "arrays": [{"name": k, "shape": list(v.shape), "dtype": v.dtype.str}
                       for k, v in state.items()]}
    # a temporary in the same directory, so that os.replace is an atomic rename; opened with
    # open() rather than mkstemp so that it gets the usual permissions (umask), not 0600
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    try:
        f = open(tmp, "xb")
    except OSError as e:  # named by the user's path, not by the hidden temporary
        reason = (f"the directory '{folder}' does not exist" if not os.path.isdir(folder)
                  else e.strerror or str(e))
        raise type(e)(e.errno, f"cannot save weights to '{path}': {reason}") from None
    try:
        with f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr(zipfile.ZipInfo(META, _ZIP_TIME), json.dumps(meta, indent=1))
                for name, arr in state.items():
                    info = zipfile.ZipInfo(name + ".npy", _ZIP_TIME)
                    with zf.open(info, "w", force_zip64=arr.nbytes > 1 << 30) as member:
                        # (not ascontiguousarray: it makes a 0-d array, such as a counter, 1-d)
                        npy.write_array(member, np.asarray(arr, order="C"), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as e:  # e.g. path is a directory
            raise type(e)(e.errno, f"cannot save weights to '{path}': "
                                   f"{e.strerror or e}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _sniff(head: bytes) -> str:
    """Why a file that is not a zip archive was refused, from its first bytes."""
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        return "it is a pickle, which is refused (loading one can run arbitrary code)"
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, not an .npz archive written by Module.save"
    if not head:
        return "the file is empty"
    return "not an .npz archive (a foreign file, or truncated)"


def _read_meta(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], nparams: int,
               fail: Any) -> list[dict[str, Any]]:
    """The metadata's array entries, validated for form (not yet against the model)."""
    info = members[META]
    limit = 4096 + 1024 * nparams  # generous for names and shapes; refuses a bomb here too
    if info.file_size > limit:
        fail(f"the metadata member declares {info.file_size} bytes (at most {limit} expected)")
    try:
        meta = json.loads(zf.read(info).decode("utf-8"))
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        fail(f"corrupted metadata ({type(e).__name__}: {e})")
    except (ValueError, RecursionError) as e:  # JSON and UTF-8 errors are ValueErrors
        fail(f"the metadata is not valid JSON ({type(e).__name__})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fail(f"not a tapegrad weight file (metadata format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        fail(f"unsupported format version {meta.get('version')!r} (this is version {VERSION})")
    arrays = meta.get("arrays")
    ok = isinstance(arrays, list) and all(
        isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("dtype"), str)
        and isinstance(a.get("shape"), list)
        and all(type(s) is int and s >= 0 for s in a["shape"]) for a in arrays)
    if not ok:
        fail("malformed metadata (each array needs a name, a shape and a dtype)")
    return arrays


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple, dtype: np.dtype,
                fail: Any) -> np.ndarray:
    """Read one member whose declared size has been checked: header first, then data."""
    name = info.filename
    with zf.open(info) as f:
        version = npy.read_magic(f)
        if version == (1, 0):
            hshape, fortran, hdtype = npy.read_array_header_1_0(f, max_header_size=_HEADER_MAX)
        elif version == (2, 0):
            hshape, fortran, hdtype = npy.read_array_header_2_0(f, max_header_size=_HEADER_MAX)
        else:
            fail(f"'{name}' has an unsupported .npy version {version}")
        if hdtype.hasobject:
            fail(f"'{name}' holds pickled objects, which are refused")
        if hshape != shape or hdtype != dtype:
            fail(f"'{name}' has a forged or inconsistent header: shape {hshape} and dtype "
                 f"{hdtype.str}, but the metadata says {shape} and {dtype.str}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            fail(f"'{name}' holds {info.file_size - f.tell()} bytes of data, {nbytes} expected")
        buf = f.read(nbytes)
        if len(buf) != nbytes or f.read(1):  # reading to the end makes zipfile check the CRC
            fail(f"'{name}' is truncated")
    order: Any = "F" if fortran else "C"
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _load_arrays(zf: zipfile.ZipFile, expected: Mapping[str, Spec], fail: Any
                 ) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    members = {i.filename: i for i in infos}
    if len(members) != len(infos):
        fail("the archive has duplicate member names")
    if META not in members:
        fail(f"not a tapegrad weight file (no '{META}' metadata member)")
    arrays = _read_meta(zf, members, len(expected), fail)

    # 1. names: the metadata against the model, then the archive against the metadata
    names = [a["name"] for a in arrays]
    missing = [n for n in expected if n not in names]
    unexpected = [n for n in names if n not in expected]
    if missing or unexpected:
        fail("the names differ from the model's: "
             + "; ".join(([f"missing {missing}"] if missing else [])
                         + ([f"unexpected {unexpected}"] if unexpected else [])))
    if len(set(names)) != len(names) or \
            sorted(members) != sorted([META] + [n + ".npy" for n in names]):
        fail("the archive's members do not match its metadata (corrupted or altered)")

    # 2. shapes and dtypes; from here on, each array's spec is its shape and the file's dtype
    specs: dict[str, Spec] = {}
    for a in arrays:
        shape, dtype = expected[a["name"]]
        if tuple(a["shape"]) != shape:
            fail(f"shape of '{a['name']}' differs: file has {tuple(a['shape'])}, "
                 f"model has {shape}")
        given = np.dtype(a["dtype"] if _NUMBER_DTYPE.fullmatch(a["dtype"]) else "O")
        if not castable(given, dtype):
            fail(f"dtype of '{a['name']}' cannot be cast: file has {a['dtype']!r}, model has "
                 f"{dtype.str!r} ({dtype}), so {'floating' if dtype.kind == 'f' else 'integer'}"
                 " values are expected")
        specs[a["name"]] = (shape, given)

    # 3. declared sizes, from the central directory, before inflating anything
    end = os.fstat(zf.fp.fileno()).st_size  # type: ignore[union-attr]  # (opened from a file)
    for a in arrays:
        info = members[a["name"] + ".npy"]
        shape, dtype = specs[a["name"]]
        nbytes = math.prod(shape) * dtype.itemsize
        if not nbytes < info.file_size <= nbytes + _PREFIX + _HEADER_MAX:
            fail(f"'{info.filename}' declares {info.file_size} bytes, but {nbytes} bytes of "
                 f"data plus a header of at most {_PREFIX + _HEADER_MAX} are expected")
        if info.flag_bits & 0x1:
            fail(f"'{info.filename}' is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                fail(f"'{info.filename}' is stored with {info.compress_size} bytes but "
                     f"declares {info.file_size}")
        elif info.compress_type != zipfile.ZIP_DEFLATED:
            fail(f"'{info.filename}' uses an unsupported compression ({info.compress_type})")
        if info.header_offset + info.compress_size > end:
            fail(f"'{info.filename}' extends past the end of the file (truncated)")

    # 4. the data, into temporaries
    return {a["name"]: _read_array(zf, members[a["name"] + ".npy"], *specs[a["name"]], fail)
            for a in arrays}


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))
# O_NONBLOCK: should a FIFO be swapped in after the check, opening it must not wait for a
# writer; O_NOCTTY: nor may a terminal become this process's controlling terminal
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _refuse_irregular(mode: int, fail: Any) -> None:
    """Only a regular file has an end: a FIFO would block reading, /dev/zero never ends."""
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "something else")
        fail(f"cannot open it: it is {kind}, not a regular file")


def _open_regular(path: str | bytes, fail: Any) -> Any:
    """``path`` opened for binary reading, refused unless it is a regular file: checked (through
    symlinks) before opening, and again on the descriptor, in case it was swapped meanwhile."""
    try:
        _refuse_irregular(os.stat(path).st_mode, fail)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise LoadError(path, f"cannot open it ({e.strerror or e})") from None
    try:
        _refuse_irregular(os.fstat(fd).st_mode, fail)
        return os.fdopen(fd, "rb")  # (O_NONBLOCK changes nothing for a regular file)
    except BaseException:
        os.close(fd)
        raise


def load(path: str | bytes | os.PathLike, expected: Mapping[str, Spec]
         ) -> dict[str, np.ndarray]:
    """The arrays of a file written by ``save``, by name, after checking that it holds exactly
    the ``expected`` names, each with its shape and a dtype ``castable`` to the expected one;
    ``LoadError`` otherwise (see ``Module.load``). Arrays keep the file's dtype (the caller
    casts). Writes nothing."""
    path = os.fspath(path)

    def fail(reason: str) -> None:
        raise LoadError(path, reason)

    f = _open_regular(path, fail)
    with f:
        try:
            head = f.read(8)
            f.seek(0)
            try:
                zf = zipfile.ZipFile(f)
            except zipfile.BadZipFile:
                fail(_sniff(head))
            with zf:
                return _load_arrays(zf, expected, fail)
        except LoadError:
            raise
        except _READ_ERRORS as e:
            raise LoadError(path, f"the file is corrupted ({type(e).__name__}: {e})") from None
