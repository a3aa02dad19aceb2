"""Errors the command line reports as one line."""


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""
