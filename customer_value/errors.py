"""Errors whose message is meant for the person using the dashboard or the command line."""


class UserFacingError(Exception):
    """A problem the user can fix; the message names what, where, and what to do.

    The command line prints it as one line on standard error; pages show it in
    an error box. Anything else escaping is a bug.
    """


class DataChangedError(UserFacingError):
    """Figures read in two steps straddled a load or an undo: parts of them may come from either version."""

    def __init__(self) -> None:
        super().__init__("The data changed while these figures were computed (a load or an undo just finished); "
                         "reload the page")
