# Top-level code that never ends.
_record_pid()
while True:  # where: spin
    pass  # where: spin
