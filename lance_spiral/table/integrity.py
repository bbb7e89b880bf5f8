"""Name the damaged file when Lance cannot read a table (truncated manifest or data file).

Lance reports a truncated data file as an I/O error ("failed to fill whole buffer", sometimes
wrapped in ``ArrowInvalid``) and a truncated manifest as a Rust panic or a generic error, none
naming the file. Lance records each data file's size in the manifest, so after a failed read
:func:`damaged_files` compares those sizes with the storage and :func:`read_error` turns the
failure into a :class:`CorruptDataError` naming the files (or a :class:`TableError` when every
file looks whole).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
from lance import LanceDataset

from lance_spiral.arrow.sidefiles import filesystem
from lance_spiral.errors import CorruptDataError, LanceSpiralError, NotFoundError, TableError

__all__ = ["READ_ERRORS", "damaged_files", "guarded_read", "manifest_error", "read_error"]

_T = TypeVar("_T")
_U64 = 2**64 - 1
_MANIFEST = re.compile(r"(\d+)\.manifest")


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, pa.ArrowException)


def damaged_files(ds: LanceDataset, storage_options: dict[str, str] | None = None
                  ) -> list[str]:
    """Data and deletion files of ``ds`` that are missing or whose size differs from the manifest.

    Returns:
        ``"<path> (<what>)"`` descriptions, empty when every file looks whole.
    """
    fs, root = filesystem(ds.uri, storage_options)
    out: list[str] = []
    for frag in ds.get_fragments():
        meta = frag.metadata
        for df in meta.files:
            path = f"{root}/data/{df.path}"
            info = fs.get_file_info(path)
            want = getattr(df, "file_size_bytes", None)
            if info.type == pafs.FileType.NotFound:
                out.append(f"{path} (missing)")
            elif want and info.size != want:
                out.append(f"{path} ({info.size} bytes, the manifest says {want}: truncated or"
                           " overwritten)")
        dele = meta.deletion_file
        if dele is not None:
            path = f"{root}/{dele.path(frag.fragment_id)}"
            if fs.get_file_info(path).type == pafs.FileType.NotFound:
                out.append(f"{path} (missing deletion file)")
    return out


def read_error(exc: BaseException, ds: LanceDataset, what: str,
               storage_options: dict[str, str] | None = None) -> LanceSpiralError:
    """The library error for a failed read of ``ds``: the damaged files named when found."""
    try:
        damaged = damaged_files(ds, storage_options)
    except (OSError, ValueError):
        damaged = []
    if damaged:
        return CorruptDataError(f"{what} failed: table {ds.uri} has damaged files: "
                                + "; ".join(damaged[:5])
                                + (f" (and {len(damaged) - 5} more)" if len(damaged) > 5 else ""))
    return TableError(f"{what} failed on table {ds.uri}: {type(exc).__name__}: "
                      + str(exc).split(", /")[0][:300])


def guarded_read(ds: LanceDataset, what: str, fn: Callable[[], _T],
                 storage_options: dict[str, str] | None = None) -> _T:
    """Run a Lance read of ``ds``; a failure becomes :func:`read_error`'s error."""
    try:
        return fn()
    except LanceSpiralError:
        raise
    except READ_ERRORS as exc:
        raise read_error(exc, ds, what, storage_options) from exc
    except BaseException as exc:
        if _is_panic(exc):
            raise read_error(exc, ds, what, storage_options) from exc
        raise


def _manifest_version(name: str) -> int | None:
    m = _MANIFEST.fullmatch(name)
    if m is None:
        return None
    n = int(m.group(1))
    return _U64 - n if n > 2**63 else n  # V2 manifest paths count down from u64::MAX


def manifest_error(exc: BaseException, uri: str, version: int | None,
                   storage_options: dict[str, str] | None = None) -> LanceSpiralError:
    """The library error when ``lance.dataset`` fails: not found, or a named corrupt manifest."""
    try:
        fs, root = filesystem(uri, storage_options)
        infos = fs.get_file_info(pafs.FileSelector(f"{root}/_versions", allow_not_found=True))
    except (OSError, ValueError):
        infos = []
    manifests: dict[int, Any] = {}
    for info in infos:
        v = _manifest_version(info.base_name)
        if v is not None:
            manifests[v] = info
    where = f"no lance table at {uri}" + (f" with version {version}" if version is not None
                                          else "")
    if not manifests:
        return NotFoundError(f"{where} ({type(exc).__name__})")
    if version is not None and version not in manifests:
        return NotFoundError(f"{where}; versions: {min(manifests)}..{max(manifests)}")
    info = manifests[version if version is not None else max(manifests)]
    return CorruptDataError(
        f"the manifest {info.path} ({info.size} bytes) of table {uri} cannot be read: truncated"
        f" or corrupt ({type(exc).__name__}: {str(exc).split(', /')[0][:200]})")
