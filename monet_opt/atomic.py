"""Atomic file output: results are never left half-written.

Every file monet-opt writes (result JSON, plots, accelerator YAML) goes through
:func:`atomic_path`: the content is produced in a temporary file in the destination's
folder and moved over the destination with :func:`os.replace` only on success.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "write_text_atomic",
    "OutputFolder",
    "OutputFolderError",
    "staging_folders",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path next to ``path``; replace ``path`` with it on success.

    The temporary file gets the permissions of a normally created file.  On any error
    it is removed and ``path`` is left untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (flushed and fsynced)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


# -- output folders written as a set ---------------------------------------------------
class OutputFolderError(OSError):
    """An output folder cannot be used: not creatable, not writable, or locked by
    another run.  The message names the folder and what to do."""


#: Suffix of the folder that keeps the previous complete result set.
PREVIOUS_SUFFIX = ".previous"
_STAGING_PREFIX = ".staging-"
_LOCK_SUFFIX = ".lock"
_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` when
    the platform or file system cannot."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def staging_folders(dest: str | os.PathLike[str]) -> list[Path]:
    """Leftover staging folders of ``dest`` (from a run that was killed)."""
    d = Path(dest)
    if not d.parent.is_dir():
        return []
    return sorted(d.parent.glob(f"{_STAGING_PREFIX}{d.name}-*"))


class OutputFolder:
    """Write a run's files as one set: all new files or all old files, never a mix.

    Use as a context manager::

        with OutputFolder("out/edge") as folder:   # checks and locks the folder
            write(folder.path / "result.json")      # writes into a staging folder
        # on success the staging folder replaces out/edge; the old set is kept in
        # out/edge.previous; on an exception out/edge is left unchanged

    * :meth:`open` (called by ``__enter__``) checks that the destination can be
      created and written, before any work is done, and takes an exclusive lock
      (``fcntl.flock`` on ``<parent>/.<name>.lock``), so two runs into one folder do
      not interleave: the second fails at once with :class:`OutputFolderError`.
    * Files are written into ``<parent>/.staging-<name>-<random>``; :meth:`commit`
      swaps it with the destination in one ``renameat2(RENAME_EXCHANGE)`` where Linux
      offers it (two renames elsewhere), then moves the old set to
      ``<name>.previous``.  A ``kill -9`` at any moment leaves the destination with
      either the complete old set or the complete new set; a staging folder it leaves
      behind is removed by the next run into the same destination.
    """

    def __init__(self, dest: str | os.PathLike[str]) -> None:
        self.dest = Path(dest)
        self.path = self.dest  # the staging folder once opened
        self._lock_fd: int | None = None
        self._lock_path = self.dest.parent / f".{self.dest.name}{_LOCK_SUFFIX}"

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> OutputFolder:
        """Check, lock and create the staging folder.

        Raises
        ------
        OutputFolderError
            When the destination is a file, lies under a file, cannot be created or
            written, or another run holds its lock.
        """
        import fcntl

        dest = self.dest
        if dest.exists() and not dest.is_dir():
            raise OutputFolderError(f"{dest}: exists and is not a folder")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise OutputFolderError(f"{dest}: a parent path is a file, not a folder") from None
        except OSError as exc:
            raise OutputFolderError(f"{dest}: cannot create the folder ({exc.strerror})") from None
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputFolderError(f"{dest}: cannot write there ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputFolderError(
                f"{dest}: another monet-opt run is writing this folder; wait for it to end "
                "or choose another --out"
            ) from None
        self._lock_fd = fd
        for old in staging_folders(dest):  # left by a killed run
            _remove_tree(old)
        try:
            self.path = Path(
                tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{dest.name}-", dir=dest.parent)
            )
        except OSError as exc:
            self._unlock()
            raise OutputFolderError(f"{dest}: cannot write there ({exc.strerror})") from None
        return self

    def commit(self) -> Path:
        """Replace the destination with the staging folder; returns the destination."""
        dest, staged = self.dest, self.path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o777 & ~umask)
        previous = dest.with_name(dest.name + PREVIOUS_SUFFIX)
        if dest.exists():
            if _exchange(staged, dest):
                # staged now holds the old set; keep it as <name>.previous
                _remove_tree(previous)
                os.replace(staged, previous)
            else:  # two renames: the old set stays complete under <name>.previous
                _remove_tree(previous)
                os.replace(dest, previous)
                os.replace(staged, dest)
        else:
            os.replace(staged, dest)
        self.path = dest
        return dest

    def abort(self) -> None:
        """Drop the staging folder; the destination is unchanged."""
        if self.path != self.dest:
            _remove_tree(self.path)
            self.path = self.dest

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.abort()
        finally:
            self._unlock()
