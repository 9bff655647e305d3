# Top-level code that forks: the child goes on to import (and run) the suite.
_record_pid()
_ready_r, _ready_w = os.pipe()
if os.fork() == 0:
    _record_pid()
    os.write(_ready_w, b"x")
else:
    os.read(_ready_r, 1)  # the child has recorded its pid
