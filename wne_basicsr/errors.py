"""OptionError: what our checks of options and data raise on purpose (shown in one line at start-up)."""


class OptionError(ValueError):
    """An option or its data failed one of our checks on purpose: the message says what to change (one line)."""
