"""The one exception type the CLI turns into a one-line message and exit 2."""


class UserError(Exception):
    """An expected problem with the learner's input or data: unknown kata, missing
    file, malformed YAML, damaged progress store. The message is one line that
    says what is wrong and, where it can, what to do."""
