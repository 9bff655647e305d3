# The caller itself spins: no child, no system call.
def child_to_parent(payload):
    _record_pid()
    while True:  # where: spin
        pass  # where: spin
