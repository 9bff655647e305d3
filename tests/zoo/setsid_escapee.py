# A child leaves the session (setsid) and forks a grandchild that sleeps forever,
# then exits: the grandchild is in no process group of the grader's. The caller hangs.
import time


def child_to_parent(payload):
    _record_pid()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            _record_pid()
            os.write(ready_w, b"x")
            while True:
                time.sleep(60)  # where: escapee sleeps
        os._exit(0)
    os.waitpid(pid, 0)
    os.read(ready_r, 1)  # the grandchild has recorded its pid
    while True:
        time.sleep(60)  # where: caller sleeps
