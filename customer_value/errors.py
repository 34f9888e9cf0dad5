"""Errors whose message is meant for the person using the dashboard or the command line."""


class UserFacingError(Exception):
    """A problem the user can fix; the message names what, where, and what to do.

    The command line prints it as one line on standard error; pages show it in
    an error box. Anything else escaping is a bug.
    """
