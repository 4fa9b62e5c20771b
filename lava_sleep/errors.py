"""Error types. Every ``UserError`` reaching the command line becomes one line on
stderr and a non-zero exit (never a traceback)."""


class UserError(Exception):
    """Bad input from the user: unknown name, bad path, corrupted file, impossible value."""
