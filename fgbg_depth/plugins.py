"""Plug-ins through entry points: a package names a factory in a group (`fgbg_depth.backends` for depth,
`fgbg_depth.matting` for cut-out models), and `pip install` of it makes the name usable. Loading one
turns every failure of someone else's code into one line that names the plug-in and its package."""

from __future__ import annotations

from .errors import FgBgError


def installed(group: str, reserved=()) -> dict:
    """{name: entry point} of a group's installed plug-ins; built-in names cannot be taken."""
    from importlib.metadata import entry_points
    return {ep.name: ep for ep in entry_points(group=group) if ep.name not in reserved}


def describe_entry_point(kind: str, name: str, ep) -> str:
    """"depth plug-in 'x' (module:make, from package)": how messages name a plug-in."""
    return f"{kind} '{name}' ({ep.value}" + (f", from {ep.dist.name}" if getattr(ep, "dist", None) else "") + ")"


def load(kind: str, name: str, ep, options: dict, required: tuple[str, ...]):
    """The object `ep`'s factory makes from `options`, checked for the attributes the protocol needs."""
    where = describe_entry_point(kind, name, ep)
    try:
        factory = ep.load()
    except Exception as exc:
        raise FgBgError(f"{where} does not load: {type(exc).__name__}: {_first_line(exc)}") from None
    try:
        made = factory(**options)
    except FgBgError:
        raise
    except Exception as exc:
        raise FgBgError(f"{where} failed to start: {type(exc).__name__}: {_first_line(exc)}") from None
    lacking = [a for a in required if not hasattr(made, a)]
    if lacking:
        raise FgBgError(f"{where} made an object without {', '.join(lacking)}; see the {kind.split()[0]} protocol")
    return made


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else ""
