"""Exceptions the library raises for bad input, so callers (CLI, components) can report one clear line."""


class RealmError(Exception):
    """Base class: the message names the file or value at fault and what is wrong with it."""


class RealmConfigError(RealmError, ValueError):
    """A configuration is missing, malformed, or describes another kind of model."""


class CheckpointError(RealmError, ValueError):
    """A weights file is missing, truncated, or does not fit the model it is loaded into."""
