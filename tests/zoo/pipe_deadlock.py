# Parent and child each wait to read what the other has not written yet.
def child_to_parent(payload):
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _record_pid()
        os.read(to_child_r, 1)  # where: child reads (waiting for the parent...)
        os.write(to_parent_w, payload)
        os._exit(0)
    _record_pid()
    data = os.read(to_parent_r, 1 << 16)  # where: caller reads (...which waits for the child)
    os.write(to_child_w, b"x")
    return data
