# SIGTERM ignored in the caller and its child; both sleep forever.
import signal
import time


def child_to_parent(payload):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        _record_pid()
        while True:
            time.sleep(60)  # where: child sleeps
    _record_pid()
    os.waitpid(pid, 0)  # where: caller waits
