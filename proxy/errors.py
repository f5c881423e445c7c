"""Errors that the command line shows as one line, without a traceback."""


class VenomError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong option.

    The message is one line that names the problem and the file or value involved.
    proxy/, graph/, replay/ and adapters/ (AdapterError) raise it or a subclass; the CLI prints
    `error: <message>` for every one of them.
    """


class RecordingError(VenomError):
    """A file that is not a readable recording."""


class ConfigError(VenomError):
    """A configuration file or option that cannot be used."""
