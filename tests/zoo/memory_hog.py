# Allocates until stopped. bytes(n) is calloc'd: address space grows until the
# memory limit (RLIMIT_AS) says no, but pages are never touched, so RAM is spared.
def child_to_parent(payload):
    hoard = []
    while True:
        hoard.append(bytes(64 << 20))
