"""The one exception type a user should ever see: a one-line message naming the bad value and the fix."""


class MbpError(Exception):
    """A user-facing error. Its message is one line: what was wrong, with which value, and what to do.

    The CLI prints it as `error: <message>` and exits with code 2; the dashboard shows it as a
    friendly error. Anything else that escapes is a bug.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always a single line
