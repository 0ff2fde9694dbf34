"""The one exception type for user mistakes.

Anything raised as `UserError` is printed by the CLI as a single line and ends the
process with exit code 2; every other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input: a file, a column, a row, a name or an option.

    The message must say what is wrong and where (file, column, row), in one line.
    """
