"""An unfinished edit."""


def child_to_parent(payload):
    return payload +
