"""The error every check raises for input a user can fix (openrs.__main__ prints it and exits 2)."""


class ConfigError(ValueError):
    """A config value that cannot work; the message names key, value and the fix."""
