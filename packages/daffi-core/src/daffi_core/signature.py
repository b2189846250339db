"""The callback-signature model: Python callables to protobuf and back.

Nodes announce what ``describe`` builds; callers check arguments against what
``to_inspect`` rebuilds; tools render stubs from the same messages. Nothing here
imports user code or unpickles anything.
"""

from __future__ import annotations

import builtins
import collections.abc
import enum
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["G_PARAMETER", "annotation", "describe", "render", "to_inspect"]

#: A callback parameter of this name receives the callee's ``Global`` and is not announced.
G_PARAMETER = "g"

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: pb.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: pb.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL: pb.Parameter.VAR_POSITIONAL,
    inspect.Parameter.KEYWORD_ONLY: pb.Parameter.KEYWORD_ONLY,
    inspect.Parameter.VAR_KEYWORD: pb.Parameter.VAR_KEYWORD,
}
_KINDS_BACK = {v: k for k, v in _KINDS.items()}


def describe(func: Callable[..., Any], name: str | None = None, *, skip_first: bool = False) -> pb.CallbackSignature:
    """The announcement of ``func`` under ``name`` (``skip_first`` drops ``self``/``cls``)."""
    sig = _evaluated(func, inspect.signature(func))
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    takes_g = any(p.name == G_PARAMETER for p in params)
    out = pb.CallbackSignature(
        name=name or func.__name__,
        doc=inspect.getdoc(func) or "",
        is_async=inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func),
        is_generator=inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func),
        takes_g=takes_g,
        module=getattr(func, "__module__", "") or "",
        qualname=getattr(func, "__qualname__", "") or "",
    )
    for p in params:
        if p.name == G_PARAMETER:
            continue
        param = pb.Parameter(name=p.name, kind=_KINDS[p.kind])
        if p.default is not inspect.Parameter.empty:
            param.has_default = True
            param.default = _safe_repr(p.default)
        if p.annotation is not inspect.Parameter.empty:
            param.annotation.CopyFrom(annotation(p.annotation))
        out.parameters.append(param)
    if sig.return_annotation is not inspect.Signature.empty:
        out.returns.CopyFrom(annotation(sig.return_annotation))
        if out.is_generator:
            item = _yield_type(sig.return_annotation)
            if item is not None:
                out.yields.CopyFrom(annotation(item))
    return out


_ITERATORS = {
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
}


def _yield_type(returns: object) -> object | None:
    """``Y`` of ``Iterator[Y]``, ``Generator[Y, S, R]`` and their async forms."""
    if typing.get_origin(returns) in _ITERATORS:
        args = typing.get_args(returns)
        return args[0] if args else None
    return None


def _evaluated(func: Callable[..., Any], sig: inspect.Signature) -> inspect.Signature:
    """Resolve string annotations (``from __future__ import annotations``) one by one, where they resolve."""
    namespace = getattr(inspect.unwrap(func), "__globals__", {})

    def resolve(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return eval(value, namespace)  # the callee's own annotation text, in its own module
        except Exception:
            return value

    return sig.replace(
        parameters=[p.replace(annotation=resolve(p.annotation)) for p in sig.parameters.values()],
        return_annotation=resolve(sig.return_annotation),
    )


class _Default:
    """Stands for a remote default value, which the caller never needs to know."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def to_inspect(sig: pb.CallbackSignature) -> inspect.Signature:
    """An ``inspect.Signature`` with the remote parameters, for binding arguments locally."""
    params = [
        inspect.Parameter(
            p.name,
            _KINDS_BACK[p.kind],
            default=_Default(p.default) if p.has_default else inspect.Parameter.empty,
        )
        for p in sig.parameters
    ]
    return inspect.Signature(params)


def render(sig: pb.CallbackSignature) -> str:
    """``def name(a: int, b: int = 2) -> int`` (``async def`` for async callbacks)."""
    parts: list[str] = []
    star_done = False
    for index, p in enumerate(sig.parameters):
        if p.kind == pb.Parameter.KEYWORD_ONLY and not star_done:
            parts.append("*")
        if p.kind in (pb.Parameter.VAR_POSITIONAL, pb.Parameter.KEYWORD_ONLY):
            star_done = True
        prefix = {pb.Parameter.VAR_POSITIONAL: "*", pb.Parameter.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name
        if p.HasField("annotation"):
            text += f": {p.annotation.text}"
        if p.has_default:
            text += f" = {p.default}" if p.HasField("annotation") else f"={p.default}"
        parts.append(text)
        nxt = sig.parameters[index + 1] if index + 1 < len(sig.parameters) else None
        if p.kind == pb.Parameter.POSITIONAL_ONLY and (nxt is None or nxt.kind != pb.Parameter.POSITIONAL_ONLY):
            parts.append("/")
    returns = f" -> {sig.returns.text}" if sig.HasField("returns") else ""
    keyword = "async def" if sig.is_async else "def"
    return f"{keyword} {sig.name}({', '.join(parts)}){returns}"


def annotation(obj: object) -> pb.Annotation:
    """Source text of an annotation object and the modules its names come from."""
    modules: set[str] = set()
    notes: list[str] = []
    text = _render(obj, modules, notes)
    out = pb.Annotation(text=text, modules=sorted(modules - {"builtins"}))
    if notes:
        out.unresolved = True
        out.note = "; ".join(notes)
    return out


def _render(obj: object, modules: set[str], notes: list[str]) -> str:
    if obj is None or obj is type(None):
        return "None"
    if obj is Any:
        modules.add("typing")
        return "typing.Any"
    if isinstance(obj, str):
        notes.append(f"string annotation {obj!r} cannot be resolved without the callee's namespace")
        return obj
    if isinstance(obj, typing.ForwardRef):
        notes.append(f"forward reference {obj.__forward_arg__!r}")
        return obj.__forward_arg__
    origin = typing.get_origin(obj)
    args = typing.get_args(obj)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(obj, types.UnionType)):
        return " | ".join(_render(a, modules, notes) for a in args)
    if origin is typing.Literal:
        modules.add("typing")
        return f"typing.Literal[{', '.join(_literal(a, modules, notes) for a in args)}]"
    if origin is collections.abc.Callable and args:
        params, result = args[0], args[-1]
        inner = "..." if params is Ellipsis else "[" + ", ".join(_render(a, modules, notes) for a in params) + "]"
        modules.add("collections.abc")
        return f"collections.abc.Callable[{inner}, {_render(result, modules, notes)}]"
    if origin is not None and args:
        head = _render(origin, modules, notes)
        if origin is typing.Annotated:  # keep the type, drop the metadata
            return _render(args[0], modules, notes)
        rendered = [("..." if a is Ellipsis else "()" if a == () else _render(a, modules, notes)) for a in args]
        return f"{head}[{', '.join(rendered)}]"
    if isinstance(obj, type):
        return _qualified(obj, modules, notes)
    if isinstance(obj, typing.TypeVar):
        notes.append(f"type variable {obj.__name__} is local to the callee")
        modules.add("typing")
        return "typing.Any"
    text = repr(obj)
    if text.startswith("typing."):
        modules.add("typing")
        return text
    notes.append(f"annotation {text!r} has no importable name")
    return text


def _qualified(cls: type, modules: set[str], notes: list[str]) -> str:
    module = cls.__module__
    qualname = cls.__qualname__
    if module == "builtins" and getattr(builtins, qualname, None) is cls:
        return qualname
    if "<locals>" in qualname:
        notes.append(f"{qualname} is defined inside a function")
    elif module == "__main__":
        notes.append(f"{qualname} is defined in the callee's __main__ script")
    modules.add(module)
    return f"{module}.{qualname}"


def _literal(value: object, modules: set[str], notes: list[str]) -> str:
    if isinstance(value, enum.Enum):
        return f"{_qualified(type(value), modules, notes)}.{value.name}"
    return repr(value)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a default whose __repr__ fails still has to be announced
        return f"<{type(value).__name__}>"
