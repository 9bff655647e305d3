"""Top-level code that needs something the sandbox does not have."""

import os

SETTINGS = os.environ["PIPE_KATA_SETTINGS"]


def child_to_parent(payload):
    return payload
