"""The `mmap-file` kata: an append-only log in a file-backed MAP_SHARED mapping.

Read the spec first: `kata start mmap-file` printed where it is, or `kata show mmap-file`.
Run `kata grade mmap-file` after each step; every task is graded on its own.
You need the standard library only: os, mmap, struct.

The file format (fixed: the grader reads and writes it too):
    offset 0   8 bytes  magic b"MMAPLOG1"
    offset 8   8 bytes  end: little-endian unsigned, the offset just past the last committed record
    offset 16  records: a 4-byte little-endian length, then that many bytes, back to back
"""

from __future__ import annotations


class LogTruncatedError(OSError):
    """The file is shorter than its committed records: someone truncated it under the mapping.
    Given: raise it, do not change it."""


class MappedLog:
    """An append-only log of records in a file, mapped MAP_SHARED by every process that opens it."""

    def __init__(self, fd: int, path: str):
        """Map the open file `fd` (of the log at `path`). create() and open() call this; how you
        construct the object is up to you."""
        raise NotImplementedError

    @classmethod
    def create(cls, path: str, capacity: int) -> MappedLog:
        """Create the file `path` exclusively (FileExistsError if it exists) with mode 0o600, size it
        with ftruncate to 16 + capacity bytes (ValueError if capacity < 0), map it MAP_SHARED and
        write the header (magic, end = 16)."""
        raise NotImplementedError

    @classmethod
    def open(cls, path: str) -> MappedLog:
        """Open and map an existing log read-write (FileNotFoundError if none). ValueError if the
        file is shorter than the header, has the wrong magic, or its end is outside the file."""
        raise NotImplementedError

    def append(self, record: bytes) -> None:
        """Add one record (any bytes-like object) after the last: length, data, and only then the new
        end. Grow the file (ftruncate, at least double) and map it again when it does not fit.
        LogTruncatedError if the file was truncated under the mapping (check with fstat first)."""
        raise NotImplementedError

    def records(self) -> list[bytes]:
        """Every committed record, in order, as bytes; map the file again if another process grew it.
        LogTruncatedError if the file was truncated under the mapping (check with fstat first)."""
        raise NotImplementedError

    def sync(self) -> None:
        """msync the mapping: the records are on disk when it returns."""
        raise NotImplementedError

    def close(self) -> None:
        """Unmap and close the fd; the file stays."""
        raise NotImplementedError

    def __enter__(self) -> MappedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
