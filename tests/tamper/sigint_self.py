# SIGINT to the caller's own process: Python's default handler raises KeyboardInterrupt.
import signal
import time


def child_to_parent(payload):
    _record_pid()
    _os.kill(_os.getpid(), signal.SIGINT)
    time.sleep(5)
