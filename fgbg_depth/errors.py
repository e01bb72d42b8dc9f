"""The one exception type whose message is shown to the user as a one-line error."""


class FgBgError(Exception):
    """A problem the user can fix; the CLI prints `fgbg-depth: error: <message>` and exits 2."""


class InputSkipped(Exception):
    """One input file cannot be used; the run goes on without it and records why."""
