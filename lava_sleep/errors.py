"""Error types. Every ``UserError`` reaching the command line becomes one line on
stderr and a non-zero exit (never a traceback)."""


class UserError(Exception):
    """Bad input from the user: unknown name, bad path, corrupted file, impossible value."""


class SleepWeightError(UserError):
    """A Var given to the sleep Process that it cannot manage: not a weight matrix, a mask or
    bound of the wrong shape, too many Vars, or a fixed-point model on a float-valued Var."""
