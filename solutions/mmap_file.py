"""Reference solution of the `mmap-file` kata: an append-only log in a file-backed MAP_SHARED mapping."""

from __future__ import annotations

import mmap
import os
import struct

MAGIC = b"MMAPLOG1"
HEADER = struct.Struct("<8sQ")  # magic, end: the offset just past the last committed record
END = struct.Struct("<Q")  # the end field alone, at offset 8
LENGTH = struct.Struct("<I")  # the length prefix of one record


class LogTruncatedError(OSError):
    """The file is shorter than its committed records: someone truncated it under the mapping.
    Given: raise it, do not change it."""


class MappedLog:
    """An append-only log of records in a file, mapped MAP_SHARED by every process that opens it."""

    def __init__(self, fd: int, path: str):
        self._fd = fd
        self.path = path
        self._map = mmap.mmap(fd, os.fstat(fd).st_size)  # MAP_SHARED: stores go to the page cache, seen by all

    @classmethod
    def create(cls, path: str, capacity: int) -> MappedLog:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)  # FileExistsError if it exists
        try:
            os.ftruncate(fd, HEADER.size + capacity)  # a new file is empty: size it before mapping it
            log = cls(fd, path)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        HEADER.pack_into(log._map, 0, MAGIC, HEADER.size)
        return log

    @classmethod
    def open(cls, path: str) -> MappedLog:
        fd = os.open(path, os.O_RDWR)  # FileNotFoundError if it does not exist
        try:
            size = os.fstat(fd).st_size
            if size < HEADER.size:  # never map (or touch) what the file does not hold
                raise ValueError(f"{path} is {size} bytes: too short for a log's {HEADER.size}-byte header")
            log = cls(fd, path)
        except BaseException:
            os.close(fd)
            raise
        magic, end = HEADER.unpack_from(log._map, 0)
        if magic != MAGIC or not HEADER.size <= end <= size:
            log.close()
            raise ValueError(f"{path} is not a log (magic {magic!r}, end {end}, size {size})")
        return log

    def _committed_end(self) -> tuple[int, int]:
        """(end, file size), checked against the file *before* the mapping is touched: a page
        wholly past the end of the file is SIGBUS, which Python cannot catch."""
        size = os.fstat(self._fd).st_size
        if size < HEADER.size:
            raise LogTruncatedError(f"{self.path} was truncated to {size} bytes under the mapping")
        (end,) = END.unpack_from(self._map, 8)
        if end > size:
            raise LogTruncatedError(f"{self.path} was truncated to {size} bytes, its records end at {end}")
        return end, size

    def _remap(self, size: int) -> None:
        """Map the whole file again, now that it has `size` bytes."""
        self._map.close()
        self._map = mmap.mmap(self._fd, size)

    def append(self, record: bytes) -> None:
        end, size = self._committed_end()
        new_end = end + LENGTH.size + len(record)
        if new_end > size:
            # grow geometrically, so that n appends cost O(log n) remaps, not n
            size = max(new_end, 2 * size)
            os.ftruncate(self._fd, size)  # first the file, then the mapping over it
        if new_end > len(self._map):
            self._remap(size)
        LENGTH.pack_into(self._map, end, len(record))
        self._map[end + LENGTH.size : new_end] = record
        # Commit last: a reader (or a writer that dies mid-record) never exposes a torn record.
        END.pack_into(self._map, 8, new_end)

    def records(self) -> list[bytes]:
        end, size = self._committed_end()
        if end > len(self._map):  # another process grew the file: map its new size
            self._remap(size)
        view = self._map
        out = []
        offset = HEADER.size
        while offset < end:
            (length,) = LENGTH.unpack_from(view, offset)
            start = offset + LENGTH.size
            if start + length > end:
                raise ValueError(f"{self.path}: a record at {offset} runs past the committed end {end}")
            out.append(view[start : start + length])
            offset = start + length
        return out

    def sync(self) -> None:
        self._map.flush()  # msync(MS_SYNC): durable on disk; other processes saw the stores already

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self._fd)

    def __enter__(self) -> MappedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
