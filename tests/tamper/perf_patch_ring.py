# A ring made slow on purpose (a busy wait in every put), that also slows os.read in its own
# process: a baseline timed there (a pipe read with os.read) would look even slower.
import time as _time

_clock = _time.perf_counter
_put = RingBuffer.put


def _slow_put(self, data, timeout=None):
    end = _clock() + 0.00005
    while _clock() < end:
        pass
    return _put(self, data, timeout)


RingBuffer.put = _slow_put
_read = _os.read


def _slow_read(fd, n):
    _time.sleep(0.0002)
    return _read(fd, n)


_os.read = _slow_read
