# The caller ends its own process, like a child would.
def child_to_parent(payload):
    os._exit(0)
