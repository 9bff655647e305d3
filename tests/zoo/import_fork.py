# Top-level code that forks: the child goes on to import (and run) the suite.
_record_pid()
if os.fork() == 0:
    _record_pid()
