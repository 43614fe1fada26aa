"""Files that are never half-written, and locks for folders that two runs may share.

Every writer here writes to a temporary name in the target's folder and renames it over the target at the
end, so a reader (or a resumed run) sees either the old file or the whole new one, never a torn one. New
files get the usual permissions (``0666`` less the umask), not the private ``0600`` of ``mkstemp``. A full
disk, a quota or an unwritable folder becomes a :class:`StorageError` that names the file, whichever library
was writing: :func:`storage_error` is the one place that recognises such a failure (``torch.save`` reports a full
disk as a ``RuntimeError`` from its zip writer, safetensors as a ``SafetensorError`` with the OS error in its text),
and :func:`writing` applies it to writers that write in place (``save_pretrained``, W&B). Readers say the same
way which file does not hold what it should (:func:`reading`, :func:`load_torch`).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


class FileError(OSError):
    """A file that could not be written or read as expected; ``strerror`` (and ``str``) is the one-line message."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class StorageError(FileError):
    """A file or folder could not be written: disk full, quota, read-only or permission denied. Names the path."""


class CorruptFileError(FileError, ValueError):
    """A file that exists but does not hold what it should (torn, truncated, another format); names it. A
    ValueError too, as a bad value given on the command line is."""


_STORAGE_CODES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_FREE_SPACE_HINT = "; free some space and run the same command again (finished work is kept)"
_OS_ERROR_IN_TEXT = re.compile(r"\(os error (\d+)\)|\[Errno (\d+)\]")
_QUOTED_PATH = re.compile(r"'(/[^']+)'")
_QUOTED_PATH_WORDS = re.compile(r"\s*(?:for |at |in )?'/[^']+'")
_BUGS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError, ImportError)


def storage_error(
    exc: BaseException, path: str | os.PathLike | None, in_writer: bool = True
) -> StorageError | None:
    """The :class:`StorageError` that ``exc``, raised while writing ``path``, stands for; None for another failure.

    Recognised: an OS error code (in ``exc``, its causes, or the text of a library that words it, as safetensors'
    ``(os error 28)``), or, when ``in_writer`` (the failing call only writes), a library error (not a bug such as
    a TypeError) met on a file system that is all but full, which is how ``torch.save`` fails there.
    """
    code = _storage_code(exc)
    if code is None and in_writer and isinstance(exc, Exception) and not isinstance(exc, _BUGS) and _nearly_full(path):
        code = errno.ENOSPC
    if code is None:
        return None
    reason = os.strerror(code)
    reason = reason[0].lower() + reason[1:] + (_FREE_SPACE_HINT if code in (errno.ENOSPC, errno.EDQUOT) else "")
    if path is None:
        return StorageError(code, f"{reason} (while writing a file the writer did not name)")
    return StorageError(code, f"{path}: {reason}", str(path))


def _storage_code(exc: BaseException) -> int | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "errno", None)
        if code not in _STORAGE_CODES:
            found = _OS_ERROR_IN_TEXT.search(str(exc))
            code = int(next(g for g in found.groups() if g)) if found else None
        if code in _STORAGE_CODES:
            return code
        exc = exc.__cause__ or exc.__context__
    return None


def _nearly_full(path: str | os.PathLike | None) -> bool:
    if path is None:
        return False
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free < 16 * 2**20
    return False


@contextmanager
def writing(path: str | os.PathLike, in_writer: bool = True) -> Iterator[None]:
    """Turn a storage failure of a writer that writes in place (``save_pretrained``, W&B) into a
    :class:`StorageError` naming the file the error names, else ``path``; ``in_writer`` as :func:`storage_error`
    (False for a block that computes too, a stage's training)."""
    try:
        yield
    except StorageError:
        raise
    except Exception as e:
        error = storage_error(e, getattr(e, "filename", None) or path, in_writer)
        if error is None:
            raise
        raise error from e


@contextmanager
def reading(path: str | os.PathLike, expected: str, remedy: str = "", origin: str = "") -> Iterator[None]:
    """Turn any failure to read ``path`` as ``expected`` into a :class:`CorruptFileError` naming ``origin`` (the
    option or variable that gave it), the file, what it should hold and ``remedy`` (what remakes it). An error of
    the OS itself (a missing file, permission denied) stays what it is."""
    try:
        yield
    except Exception as e:
        if isinstance(e, FileError) or (isinstance(e, OSError) and e.errno is not None):
            raise
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0]
        named = [Path(q) for q in _QUOTED_PATH.findall(cause) if Path(q).is_relative_to(path)]
        if named:  # the reader named the file within the folder: name it once, up front
            path, cause = named[0], _QUOTED_PATH_WORDS.sub("", cause).strip(" .")
        cause = cause[:200]
        tail = f"; {remedy}" if remedy else ""
        head = f"{origin}: " if origin else ""
        raise CorruptFileError(errno.EINVAL, f"{head}{path}: not {expected} ({cause}){tail}", str(path)) from e


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it over ``path`` when the block succeeds.

    Args:
        path: the final file.
        suffix: suffix of the temporary name (some writers pick a format by it, e.g. ``.png``).

    Raises:
        StorageError: the disk is full or the folder cannot be written (the temporary file is removed).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise (storage_error(e, path) or e) from e
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = storage_error(e, path)
        if error is not None:
            raise error from e
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it replaces ``path`` (whole) when the block succeeds.

    Raises:
        StorageError: as :func:`atomic_path`; the staging folder is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as e:
        raise (storage_error(e, path) or e) from e
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        error = storage_error(e, path)
        if error is not None:
            raise error from e
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any, sort_keys: bool = True) -> None:
    """Write indented JSON atomically (values JSON cannot hold are written as ``str``)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=str) + "\n")


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV file (header row, then ``rows``) atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file atomically."""
    with atomic_path(dst, suffix=Path(dst).suffix) as tmp:
        shutil.copyfile(src, tmp)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike) -> Any:
    """``torch.load`` of tensors only, onto the CPU. A torn file or one of another kind raises ValueError in words
    of its own, not the unpickler's (``pop from empty list``, ``101``, or advice to load it unsafely)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError):
        raise
    except RuntimeError as e:  # torch's zip reader words a torn archive well
        raise ValueError((str(e).strip().splitlines() or ["torn"])[0]) from e
    except Exception as e:
        if "Unsupported global" in str(e):
            raise ValueError("it holds Python objects, not only tensors (a whole pickled model?)") from e
        raise ValueError("it cannot be unpickled: torn, or no torch file") from e


@contextmanager
def locked(path: str | os.PathLike, timeout: float = -1) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a file or a folder) across processes, waiting for it.

    The lock file is ``<path>.lock`` beside it, so locking a folder does not put anything inside it.
    Another process that asks for the same lock waits until this block ends; a crashed holder releases the
    lock with its process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield
