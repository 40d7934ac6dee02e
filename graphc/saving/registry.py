"""Class lookup for deserialization: graphc's own layers and models, plus user-registered classes.

Loading resolves a saved ``class_name`` only through this table, never by importing a module
named in the file, so a saved file cannot make graphc run code it did not already have.
"""
from __future__ import annotations

from .errors import FileFormatError

_CUSTOM: dict[str, type] = {}


def register_serializable(package: str = "Custom", name: str | None = None):
    """Class decorator: makes a user's layer or model class loadable by name.

    Args:
        package: a namespace for the name, so two libraries can use the same class name.
        name: the registered name; the class's ``__name__`` by default.

    The class is saved under ``"package>name"``; a loaded file naming it finds it here. Subclassed
    models are rebuilt through ``cls.from_config(config)`` (``cls(**config)`` by default) and get
    their weights back by path.

    Example:
        @graphc.saving.register_serializable(package="my_project")
        class Residual(graphc.layers.Layer): ...
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"register_serializable: package must be a non-empty string without '>', received {package!r}")

    def decorator(cls):
        if not isinstance(cls, type):
            raise TypeError(f"register_serializable: expected a class, received {cls!r}")
        key = f"{package}>{name or cls.__name__}"
        old = _CUSTOM.get(key)
        if old is not None and old is not cls and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"register_serializable: {key!r} is already registered for {old.__module__}.{old.__qualname__}")
        _CUSTOM[key] = cls
        cls._graphc_registered_name = key
        return cls

    return decorator


def registered_name(cls: type) -> str | None:
    """The name ``cls`` was registered under, or None for graphc's own classes."""
    key = cls.__dict__.get("_graphc_registered_name")
    return key if key and _CUSTOM.get(key) is cls else None


def get_registered_object(name: str) -> type | None:
    return _CUSTOM.get(name)


def builtin_classes() -> dict[str, type]:
    """graphc's own serializable classes by class name: every Layer subclass in graphc.layers and the models."""
    from graphc import layers, models
    from graphc.layers.layer import Layer

    out: dict[str, type] = {}
    for module in (layers, models):
        for attr in dir(module):
            obj = getattr(module, attr)
            if isinstance(obj, type) and issubclass(obj, Layer):
                out[obj.__name__] = obj
    return out


def resolve_class(class_name, registered: str | None, where: str) -> type:
    """The class for a saved object; a clear error for a name graphc does not know."""
    if registered is not None:
        if not isinstance(registered, str):
            raise FileFormatError(f"{where}: registered_name must be a string, found {registered!r}")
        cls = _CUSTOM.get(registered) or (_CUSTOM.get(class_name) if isinstance(class_name, str) else None)
        if cls is None:
            raise FileFormatError(
                f"{where}: unknown class {registered!r}. It is a custom class: import the module that defines it "
                "(decorated with @graphc.saving.register_serializable()) before loading. Registered custom classes: "
                f"{sorted(_CUSTOM) or 'none'}")
        return cls
    if not isinstance(class_name, str):
        raise FileFormatError(f"{where}: class_name must be a string, found {class_name!r}")
    builtins = builtin_classes()
    cls = builtins.get(class_name)
    if cls is None:
        matches = [k for k in _CUSTOM if k.split(">", 1)[1] == class_name]
        if len(matches) == 1:
            return _CUSTOM[matches[0]]
        raise FileFormatError(
            f"{where}: unknown layer class {class_name!r}. graphc knows {', '.join(sorted(builtins))}; "
            "a custom class must be registered with @graphc.saving.register_serializable() and imported before "
            "loading.")
    return cls
