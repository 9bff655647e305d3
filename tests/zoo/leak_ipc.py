# A POSIX message queue, a System V shm segment and a System V message queue,
# under names and keys of the learner's own, never removed.
import posix_ipc
import sysv_ipc

_RUN_ID = "UNIQUE"
_solution = child_to_parent


def child_to_parent(payload):
    posix_ipc.MessageQueue(f"/leak_{_RUN_ID}", posix_ipc.O_CREX).close()
    shm = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
    shm.detach()
    mq = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX)
    with open(_os.path.join(_os.path.dirname(__file__), "sysv_ids"), "w") as f:
        f.write(f"{shm.id} {mq.id}")
    return _solution(payload)
