"""The base of every error nablab raises about its input.

A :class:`NablabError` is the user's to fix (a bad flag, file or parameter): the command line
prints its one-line message and exits with code 2. Any other exception escaping a command is a
bug in nablab, reported as such.
"""


class NablabError(ValueError):
    """Bad input: the message names what is wrong, where, and what was expected."""


class UnsupportedError(NablabError):
    """A combination nablab does not support yet (the message says which, and what to use)."""
