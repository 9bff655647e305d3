# A forked child signals whoever its parent is, again and again: the caller (the test
# process) dies, the child is re-parented to the supervisor and kills it, then is
# re-parented to the runner: the grader itself must survive.
import signal
import time


def child_to_parent(payload):
    _record_pid()
    pid = os.fork()
    if pid == 0:
        _record_pid()
        for _ in range(3000):
            try:
                os.kill(os.getppid(), signal.SIGKILL)
            except OSError:
                pass
            time.sleep(0.001)
        os._exit(0)
    time.sleep(5)
    return payload
