"""Clear errors for an option ``type`` that no BasicSR registry holds: the error lists the close registered names."""
from __future__ import annotations

import difflib
import functools

from basicsr.utils.registry import Registry


class UnregisteredTypeError(KeyError):
    """A ``type`` option names nothing in its registry (a KeyError, as BasicSR raises, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0])


def close_names(name: str, names: list[str], count: int = 5) -> list[str]:
    """Registered names close to ``name``, case-insensitively, best first."""
    by_lower = {n.lower(): n for n in names}
    return [by_lower[n] for n in difflib.get_close_matches(str(name).lower(), list(by_lower), n=count, cutoff=0.6)]


def unregistered_message(registry: Registry, name: object) -> str:
    """Explain that ``name`` is not in ``registry``, with close names or, failing those, every registered name."""
    names = sorted(registry.keys())
    close = close_names(str(name), names)
    listing = f'did you mean {", ".join(close)}?' if close else f'registered: {", ".join(names) or "none"}.'
    return (f'option type: {name!r} is not registered in BasicSR\'s {registry._name} registry; {listing} '
            '(a plugin type is registered when its module is imported: `import wne_basicsr` registers our archs, '
            'datasets, losses and metrics, `import wne_basicsr.models` our models)')


def explain_unregistered_types() -> None:
    """Make ``Registry.get`` raise UnregisteredTypeError (with close names) for unknown names; idempotent."""
    if getattr(Registry.get, 'explains_unregistered', False):
        return
    original = Registry.get

    @functools.wraps(original)
    def get(self: Registry, name: str, suffix: str = 'basicsr'):
        if name not in self and f'{name}_{suffix}' not in self:
            raise UnregisteredTypeError(unregistered_message(self, name))
        return original(self, name, suffix)

    get.explains_unregistered = True
    Registry.get = get
