# Every signal blocked (faulthandler cannot answer), then the caller spins and
# its child, which inherits the mask, waits in read() for data that never comes.
import signal


def child_to_parent(payload):
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        _record_pid()
        os.read(read_end, 1)
        os._exit(0)
    _record_pid()
    while True:
        pass
