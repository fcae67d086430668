"""The one reader of checkpoint files: data, never code.

Checkpoints come from shared drives and model zoos, so they are untrusted input, and unpickling
is code execution: a pickle's ``__reduce__`` may call ``os.system``. Every path that reads a
checkpoint (``model.checkpoint=``, the converters, the VOS releases, training resume) comes
here, and the format is told by the file's content, never by its suffix:

- a torch file (``torch.save``: a zip holding ``data.pkl``, or the legacy pre-1.6 stream) goes
  through ``torch.load(weights_only=True)``, with numpy's array/dtype/scalar reconstructors
  allow-listed (training code bases store numpy values next to the weights);
- any other pickle (Caffe2 ``{"blobs": ...}``, detectron2 ``{"model": ..., "__author__": ...}``,
  written by Python 2 or 3) goes through an unpickler with ``encoding="latin1"`` that admits
  numpy arrays, dtypes and scalars, plain containers (dict, OrderedDict, list, tuple, set) and
  scalars only.

A file that would build anything else raises UnsafeCheckpointError naming the file and the
type; nothing falls back silently. ``trust=True`` (``model.trust_checkpoint=true``) allows a
full unpickle of a file the user vouches for, with a warning that names what it builds. Files
that are no checkpoint at all (missing, a directory, empty, text, another zip, truncated) raise
CheckpointFileError with one line saying which.
"""

from __future__ import annotations

import codecs
import collections
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from staticdyn.errors import CheckpointFileError, UnsafeCheckpointError

try:  # numpy >= 2 moved the reconstructors; files written with numpy 1 name the old module
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

#: What a checkpoint may hold, for the messages.
EXPECTED = ("expected a torch file (torch.save: .pyth/.pth/.pt) or a pickle of numpy arrays "
            "(Caffe2/detectron2 .pkl)")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HEAD = 4096  # bytes sniffed to tell text from binary


class _Refused(Exception):
    """Raised inside the unpickler at the first global outside ALLOWED (carries its name)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


_LATIN1 = ("latin1", "latin-1", "iso-8859-1", "iso8859-1")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 writes bytes into protocol-2 pickles, and nothing more:
    another codec name is refused, since looking a codec up may import modules."""
    if not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
        raise _Refused(f"_codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


_NUMPY: dict[str, Any] = {
    "numpy.ndarray": np.ndarray,
    "numpy.dtype": np.dtype,
    **{f"{mod}.{name}": getattr(_multiarray, name)
       for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
       for name in ("_reconstruct", "scalar")},
    # protocol >= 5 pickles rebuild arrays from an in-band buffer
    **{f"{mod}._frombuffer": _numeric._frombuffer
       for mod in ("numpy.core.numeric", "numpy._core.numeric")},
}
#: numpy's per-dtype classes (``numpy.dtypes.Float32DType``): never named by a pickle, but torch's
#: weights-only loader checks the class of every object it fills in, dtypes included.
_NUMPY_DTYPE_CLASSES = [getattr(np.dtypes, n) for n in np.dtypes.__all__]

#: ``module.name`` -> object: every global a pickle of weights may name.
ALLOWED: dict[str, Any] = {
    **_NUMPY,
    "collections.OrderedDict": collections.OrderedDict,
    **{f"builtins.{c.__name__}": c for c in (dict, list, tuple, set, frozenset)},
    **{f"builtins.{c.__name__}": c for c in (int, float, complex, bool, str, bytes, bytearray)},
    "_codecs.encode": _latin1_encode,
}


class _NeedsTrust(Exception):
    """A file needs more than weights data: what it builds, and how to load it in full."""

    def __init__(self, builds: str, load: Callable[[IO[bytes]], Any]):
        super().__init__(builds)
        self.builds, self.load = builds, load


class _DataUnpickler(pickle.Unpickler):
    """Builds numpy arrays, plain containers and scalars; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # Python 2 pickles
            module = "builtins"
        full = f"{module}.{name}"
        if full not in ALLOWED:
            raise _Refused(full)
        return ALLOWED[full]


def _fail(path: Path, problem: str) -> CheckpointFileError:
    return CheckpointFileError(f"checkpoint '{path}' {problem}; {EXPECTED}")


def _check_path(path: Path) -> int:
    """Size of ``path``, after the errors a wrong ``model.checkpoint`` value gives."""
    if not path.exists():
        raise CheckpointFileError(f"checkpoint file not found: {path}; {EXPECTED}")
    if path.is_dir():
        raise _fail(path, "is a directory, not a file")
    size = path.stat().st_size
    if size == 0:
        raise _fail(path, "is empty (0 bytes: an interrupted copy or download?)")
    return size


def _text_line(head: bytes) -> str | None:
    """The first line of ``head`` when it reads as text, else None."""
    if b"\x00" in head:
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if any(not (c.isprintable() or c in "\t\r\n") for c in text):
        return None
    return text.strip().splitlines()[0][:60] if text.strip() else ""


def _not_a_checkpoint(path: Path, head: bytes, size: int, exc: BaseException) -> Exception:
    if isinstance(exc, EOFError) or "truncated" in str(exc):
        return _fail(path, f"is truncated: its pickle ends early ({size} bytes; re-copy it)")
    line = _text_line(head)
    if line is not None:
        return _fail(path, f"is a text file (starting {line!r}), not a checkpoint")
    return _fail(path, f"is neither a torch file nor a pickle (starts with {head[:8]!r})")


def read_checkpoint(path: str | Path, *, trust: bool = False) -> Any:
    """The object a checkpoint file holds, read as data (see the module docstring).

    ``trust``: the user vouches for the file (``model.trust_checkpoint=true``); a file that
    needs more than weights data is then unpickled in full, with a warning. Raises
    UnsafeCheckpointError (without it) or CheckpointFileError, each one line.
    """
    path = Path(path)
    size = _check_path(path)
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
    try:
        if head.startswith(_ZIP_MAGIC):
            return _read_zip(path, size)
        return _read_pickle(path, head, size)
    except _NeedsTrust as need:
        if not trust:
            raise UnsafeCheckpointError(str(path), need.builds) from None
        warnings.warn(
            f"checkpoint '{path}' builds {need.builds}; unpickling it in full because "
            "trust_checkpoint=true: this runs whatever code the file contains",
            UserWarning, stacklevel=2,
        )
        with path.open("rb") as fh:
            try:
                return need.load(fh)
            except Exception as exc:
                raise _fail(path, f"cannot be unpickled even in full ({type(exc).__name__}: "
                                  f"{_first_line(exc)})") from None


def _read_zip(path: Path, size: int) -> Any:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise _fail(path, f"is a truncated or damaged zip archive ({size} bytes; re-copy it)"
                    ) from None
    if any(n.rsplit("/", 1)[-1] == "constants.pkl" for n in names):
        raise _fail(path, "is a TorchScript archive (torch.jit.save), whose state is code; "
                          "save the weights with torch.save(model.state_dict(), ...)")
    if not any(n.rsplit("/", 1)[-1] == "data.pkl" for n in names):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise _fail(path, f"is a zip archive but not a torch file (no data.pkl; holds "
                          f"[{shown}])")
    return _torch_load(path)


def _read_pickle(path: Path, head: bytes, size: int) -> Any:
    with path.open("rb") as fh:
        try:
            obj = _DataUnpickler(fh, encoding="latin1").load()
        except _Refused as refused:
            raise _NeedsTrust(refused.name, lambda f: pickle.load(f, encoding="latin1")
                              ) from None
        except Exception as exc:  # any parse failure of a non-pickle: say what the file is
            raise _not_a_checkpoint(path, head, size, exc) from None
    if type(obj) is int and obj == torch.serialization.MAGIC_NUMBER:
        return _torch_load(path)  # legacy (pre-zip) torch.save stream
    return obj


@contextmanager
def _numpy_allowed() -> Iterator[None]:
    """torch's weights-only loader, told that numpy's reconstructors are data too."""
    allowed = [(obj, name) for name, obj in _NUMPY.items()] + _NUMPY_DTYPE_CLASSES
    with torch.serialization.safe_globals(allowed):
        yield


def _torch_load(path: Path) -> Any:
    with _numpy_allowed():
        try:
            with path.open("rb") as fh:  # a file object: torch must not dispatch on the suffix
                return torch.load(fh, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            builds = _torch_refusal(path, exc)
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise _fail(path, f"is a damaged torch file ({_first_line(exc)}; re-copy it)"
                        ) from None
    raise _NeedsTrust(builds, lambda f: torch.load(f, map_location="cpu", weights_only=False))


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _torch_refusal(path: Path, exc: pickle.UnpicklingError) -> str:
    """What torch's weights-only loader refused to build, as ``module.name`` where it can tell."""
    msg = str(exc)
    names = re.findall(r"GLOBAL (\S+) (?:was not an allowed global|whose module)", msg)
    names += re.findall(r"but got <class '([\w.]+)'>", msg)
    if zipfile.is_zipfile(path):
        try:
            names += sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:  # the message above still names what torch refused
            pass
    if names:
        return ", ".join(dict.fromkeys(names))
    detail = msg.rsplit("WeightsUnpickler error:", 1)[-1]
    return f"an object torch's weights-only loader refuses ({_first_line(ValueError(detail))})"
