"""Records for the write path: what ``dataclasses.dataclass`` makes, at a fraction of its cost.

A cold ``gitreg register`` defines some 25 record classes (entities, policy, index and pack
internals). With ``dataclasses`` that was a third of the command: importing the module pulls
in ``inspect`` (with ``ast``, ``dis`` and ``tokenize``, about 14 ms cold) and each class costs
0.3-1 ms to process (#26). ``record`` writes the same methods from one small generated source
per class, with no ``inspect``:

- ``__init__`` with the fields in order, their defaults and ``field(default_factory=...)``,
  then ``__post_init__`` when the class has one;
- ``__repr__`` (``Name(a=1, b='x')``), ``__eq__`` over the compared fields of the same
  class, ``__hash__`` over them when frozen (``None`` when not), ``__match_args__``;
- ``frozen=True``: assigning or deleting a field raises ``FrozenInstanceError`` (an
  ``AttributeError``, as dataclasses'); ``slots=True``: the class is rebuilt with
  ``__slots__``, and a frozen one pickles and copies as dataclasses' does.

A method the class body defines itself is kept. ``replace`` and ``fields`` stand for
``dataclasses.replace`` and ``dataclasses.fields`` (names only) and accept real dataclasses
too; ``tests/test_record.py`` builds each record beside the dataclass it replaces and
compares ``repr``, equality, hashing, defaults, freezing, copying and ``replace``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from gitreg.core.record_code import compiled

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: object) -> Callable[[Any], Any]:
        return lambda function: function


_T = TypeVar("_T")
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
_FACTORY: Any = type("_Factory", (), {"__repr__": lambda self: "<factory>"})()


class FrozenInstanceError(AttributeError):
    """A field of a frozen record was assigned or deleted (as ``dataclasses``' error)."""


class _Field:
    """What ``field(...)`` says about one field."""

    __slots__ = ("compare", "default", "default_factory")

    def __init__(self, default: Any, default_factory: Any, compare: bool) -> None:
        self.default, self.default_factory, self.compare = default, default_factory, compare


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, compare: bool = True) -> Any:
    """A field's default (a value, or a factory called for each instance) and whether
    equality and hashing compare it; as ``dataclasses.field``."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory, compare)


@overload
@dataclass_transform(field_specifiers=(field,))
def dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
@dataclass_transform(field_specifiers=(field,))
def dataclass(
    *, frozen: bool = False, slots: bool = False, eq: bool = True
) -> Callable[[type[_T]], type[_T]]: ...


def dataclass(
    cls: type[_T] | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a record class, as ``dataclasses.dataclass(frozen=, slots=, eq=)``."""

    def wrap(cls: type[_T]) -> type[_T]:
        return _build(cls, frozen=frozen, slots=slots, eq=eq)

    return wrap if cls is None else wrap(cls)


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of ``obj`` with ``changes``; a record's or a dataclass's, as
    ``dataclasses.replace``."""
    method = getattr(type(obj), "__record_replace__", None)
    if method is None:
        import dataclasses  # a dataclass: it is loaded already

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    made: _T = method(obj, changes)
    return made


def fields(obj: object) -> tuple[str, ...]:
    """The names of a record's (or a dataclass's) fields, in order."""
    names: tuple[str, ...] | None = getattr(obj, "__record_fields__", None)
    if names is None:
        import dataclasses

        return tuple(f.name for f in dataclasses.fields(obj))  # type: ignore[arg-type]
    return names


def _specs(cls: type) -> dict[str, _Field]:
    """The fields of ``cls`` and its record bases, in order, with their defaults."""
    found: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        found.update(getattr(base, "__record_specs__", {}))
    own = vars(cls)  # not inspect.get_annotations: no inspect here
    for name, annotation in own.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar", "InitVar")):
            continue
        value = own.get(name, _MISSING)
        found[name] = value if isinstance(value, _Field) else _Field(value, _MISSING, True)
    return found


def _init_source(names: list[str], specs: dict[str, _Field], frozen: bool, post: bool) -> str:
    """``__init__``'s source: the one method generated per class (``_init`` binds its names)."""
    params, body = [], []
    for name in names:
        spec, value = specs[name], name
        if spec.default_factory is not _MISSING:
            params.append(f"{name}=_FACTORY")
            value = f"_f_{name}() if {name} is _FACTORY else {name}"
        elif spec.default is not _MISSING:
            params.append(f"{name}=_d_{name}")
        else:
            params.append(name)
        body.append(f" _set(self, {name!r}, {value})" if frozen else f" self.{name} = {value}")
    if post:
        body.append(" self.__post_init__()")
    return "\n".join([f"def __init__(self, {', '.join(params)}):", *(body or [" pass"])])


def _init(names: list[str], specs: dict[str, _Field], frozen: bool, post: bool) -> Any:
    scope: dict[str, Any] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    for name in names:
        scope[f"_d_{name}"] = specs[name].default
        scope[f"_f_{name}"] = specs[name].default_factory
    made: dict[str, Any] = {}
    exec(compiled(_init_source(names, specs, frozen, post)), scope, made)
    return made["__init__"]


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function of a record giving the values of ``names`` as a tuple (in C for 2 or more)."""
    if len(names) > 1:
        many: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
        return many
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


# The methods that are the same for every record: they read the class's field getters.
def _repr(self: Any) -> str:
    cls = type(self)
    shown = ", ".join(
        f"{name}={value!r}"
        for name, value in zip(cls.__record_fields__, cls.__record_values__(self), strict=True)
    )
    return f"{cls.__qualname__}({shown})"


def _eq(self: Any, other: object) -> Any:
    cls: Any = self.__class__
    key = cls.__record_key__
    if other.__class__ is cls:
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__class__.__record_key__(self))


def _replace(self: Any, changes: dict[str, Any]) -> Any:
    cls = type(self)
    if not cls.__record_names__.issuperset(changes):
        _unknown(self, changes)
    values = dict(zip(cls.__record_fields__, cls.__record_values__(self), strict=True))
    values.update(changes)
    return cls(**values)


def _unknown(obj: object, changes: dict[str, Any]) -> None:
    extra = sorted(set(changes) - set(fields(obj)))
    raise TypeError(
        f"{type(obj).__name__}.__init__() got an unexpected keyword argument {extra[0]!r}"
    )


def _build(cls: type[_T], *, frozen: bool, slots: bool, eq: bool) -> type[_T]:
    specs = _specs(cls)
    names = list(specs)
    init = _init(names, specs, frozen, post=hasattr(cls, "__post_init__"))
    own = cls.__dict__
    explicit_hash = own.get("__hash__") is not None
    for name, spec in specs.items():  # as dataclasses: a default stays a class attribute
        if name in own and not slots:
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    if slots:
        cls = _slotted(cls, names)
    cls.__record_fields__ = tuple(names)  # type: ignore[attr-defined]
    cls.__record_specs__ = specs  # type: ignore[attr-defined]
    cls.__record_names__ = frozenset(names)  # type: ignore[attr-defined]
    cls.__record_values__ = _getter(names)  # type: ignore[attr-defined]
    cls.__record_key__ = _getter([n for n in names if specs[n].compare])  # type: ignore[attr-defined]
    cls.__record_replace__ = _replace  # type: ignore[attr-defined]
    cls.__dataclass_fields__ = _DataclassFields()  # type: ignore[attr-defined]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    _set_new(cls, "__init__", init)
    _set_new(cls, "__repr__", _repr)
    if "__match_args__" not in own:
        cls.__match_args__ = tuple(names)  # type: ignore[attr-defined,misc]
    if eq:
        _set_new(cls, "__eq__", _eq)
        if not explicit_hash:
            cls.__hash__ = _hash if frozen else None  # type: ignore[method-assign,assignment]
    if frozen:
        _freeze(cls, names, slots)
    return cls


class _DataclassFields:
    """``__dataclass_fields__``, made on first use: ``dataclasses.fields``, ``asdict``,
    ``astuple``, ``replace`` and ``is_dataclass`` take a record for the dataclass it stands
    for, and only a caller that uses them imports ``dataclasses``."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        import dataclasses

        made: dict[str, Any] = {}
        for name, spec in owner.__record_specs__.items():  # type: ignore[attr-defined]
            one: Any = dataclasses.field(
                default=spec.default if spec.default is not _MISSING else dataclasses.MISSING,
                default_factory=(
                    spec.default_factory
                    if spec.default_factory is not _MISSING
                    else dataclasses.MISSING
                ),
                compare=spec.compare,
            )
            one.name, one.type = name, _annotation(owner, name)
            one._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
            made[name] = one
        type.__setattr__(owner, "__dataclass_fields__", made)  # made once per class
        return made


def _annotation(owner: type, name: str) -> Any:
    """The annotation of field ``name``: the class's own, or the base's that declared it."""
    for cls in owner.__mro__:
        own = vars(cls).get("__annotations__", {})
        if name in own:
            return own[name]
    return "Any"


def _set_new(cls: type, name: str, method: Any) -> None:
    """Set a record's method unless the class body wrote its own (as dataclasses)."""
    if name not in cls.__dict__:
        setattr(cls, name, method)


def _slotted(cls: type[_T], names: list[str]) -> type[_T]:
    """``cls`` rebuilt with ``__slots__`` for its own fields (the bases' are theirs)."""
    inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "__record_fields__", ())}
    body = dict(cls.__dict__)
    for name in names:
        body.pop(name, None)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(n for n in names if n not in inherited)
    maker: Any = type(cls)  # the class's metaclass, as dataclasses
    made = cast("type[_T]", maker(cls.__name__, cls.__bases__, body))
    made.__qualname__ = cls.__qualname__
    return made


def _freeze(cls: type, names: list[str], slots: bool) -> None:
    frozen = frozenset(names)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in frozen:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in frozen:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    _set_new(cls, "__setattr__", __setattr__)
    _set_new(cls, "__delattr__", __delattr__)
    if slots:  # pickle and copy set the fields past the frozen __setattr__ (as dataclasses)
        _set_new(cls, "__getstate__", _getstate)
        _set_new(cls, "__setstate__", _setstate)


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in self.__record_fields__]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, value in zip(self.__record_fields__, state, strict=True):
        object.__setattr__(self, name, value)
