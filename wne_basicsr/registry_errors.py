"""Clear errors for unknown names: an option ``type`` that no BasicSR registry holds, an option key that a dataset or
an arch does not take; each lists the close known names."""
from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Collection, Mapping

from basicsr.utils.registry import ARCH_REGISTRY, Registry

from wne_basicsr.errors import OptionError


class UnregisteredTypeError(OptionError, KeyError):
    """A ``type`` option names nothing in its registry: a KeyError as BasicSR raises, and an OptionError (one line at
    start-up), with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0])


def close_names(name: str, names: list[str], count: int = 5) -> list[str]:
    """Registered names close to ``name``, case-insensitively, best first."""
    by_lower = {n.lower(): n for n in names}
    return [by_lower[n] for n in difflib.get_close_matches(str(name).lower(), list(by_lower), n=count, cutoff=0.6)]


def check_known_keys(opt: dict, known: Collection[str], where: str) -> None:
    """Raise an OptionError naming the keys of ``opt`` that are not in ``known``, each with its close known keys."""
    unknown = sorted(str(key) for key in opt if key not in known)
    if not unknown:
        return
    guesses = with_close_names(unknown, known)
    listing = '' if all('did you mean' in g for g in guesses) else f'; known options: {", ".join(sorted(known))}'
    raise OptionError(f'{where}: unknown option{"s" if len(unknown) > 1 else ""} {", ".join(guesses)}{listing}')


def with_close_names(unknown: list[str], known: Collection[str]) -> list[str]:
    """Each of ``unknown`` quoted, followed by ``(did you mean …?)`` with its close names in ``known`` if any."""
    guesses = []
    for key in unknown:
        close = close_names(key, sorted(known), count=3)
        guesses.append(f'{key!r} (did you mean {" or ".join(close)}?)' if close else repr(key))
    return guesses


def check_arch_options(opt: object, where: str) -> None:
    """Raise an OptionError naming ``where`` unless the arch options ``opt`` ({type, ...}) fit the ``__init__`` of
    their registered arch: no unknown key (close names suggested), no required argument missing.

    An unregistered type is left to the registry's own error, and an arch that takes ``**kwargs`` is not checked.
    """
    if not isinstance(opt, Mapping) or 'type' not in opt:
        raise OptionError(f'option {where} must be an arch\'s options with a "type" key (a registered arch, e.g. '
                          f'{{type: DnCNN, num_in_ch: 1}}), got {opt!r}')
    if not isinstance(opt['type'], str) or opt['type'] not in ARCH_REGISTRY:
        return
    params = inspect.signature(ARCH_REGISTRY.get(opt['type'])).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    accepted = f'its arguments are {", ".join(names)}' if names else 'it takes no arguments'
    unknown = [str(key) for key in opt if key != 'type' and key not in names]
    if unknown:
        raise OptionError(f'{where}: {opt["type"]} has no argument{"s" if len(unknown) > 1 else ""} '
                          f'{", ".join(with_close_names(unknown, names))}; {accepted}')
    missing = [p.name for p in params if p.name in names and p.default is p.empty and p.name not in opt]
    if missing:
        raise OptionError(f'{where}: {opt["type"]} needs the argument{"s" if len(missing) > 1 else ""} '
                          f'{", ".join(missing)}; {accepted}')


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
