# SIGKILL to the caller's whole process group.
import signal


def child_to_parent(payload):
    os.killpg(0, signal.SIGKILL)
