"""``gitreg.core.record`` behaves as ``dataclasses.dataclass`` for every class it makes (#26).

The write path's records (entities, policy, index and pack internals) are built by
``record.dataclass`` so a cold write does not import ``dataclasses`` and ``inspect``. Each
test below builds the same class both ways and compares what a caller sees: the
constructor, ``repr``, equality, hashing, freezing, ``replace``, copying, pickling, and the
``dataclasses`` functions a user may call on gitreg's public types.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

import gitreg
from gitreg.core import record
from gitreg.core.config import Config, Policy, Requirement
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage

Maker = Callable[..., Any]
BOTH: list[tuple[str, dict[str, bool] | None]] = [
    ("frozen+slots", {"frozen": True, "slots": True}),
    ("frozen", {"frozen": True}),
    ("mutable", None),
    ("mutable+slots", {"slots": True}),
]


def _makers(kind: str) -> tuple[Maker, Maker]:
    """``dataclasses``' decorator and ``record``'s for ``kind``, made when a test runs (not
    at import: a decorator made at import would hide a change to ``record.dataclass``'s
    arguments from the tests)."""
    options = dict(BOTH)[kind]
    if options is None:
        return dataclasses.dataclass, record.dataclass
    return dataclasses.dataclass(**options), record.dataclass(**options)


def _kinds(maker: Maker, fields: Any) -> type:
    """One class with every kind of field the write path's records use."""

    class Item:
        """A record under test."""

        name: str
        version: int
        stage: Stage = Stage.NONE
        tags: Mapping[str, str] = fields(default_factory=dict)
        note: str | None = fields(default=None, compare=False)
        aliases: tuple[str, ...] = ()

        def label(self) -> str:
            return f"{self.name}/{self.version}"

    made: type = maker(Item)
    return made


@pytest.fixture(params=BOTH, ids=[b[0] for b in BOTH])
def pair(request: pytest.FixtureRequest) -> tuple[type, type, str]:
    kind = request.param[0]
    real, mine = _makers(kind)
    return _kinds(real, dataclasses.field), _kinds(mine, record.field), kind


def test_constructor_defaults_repr_and_equality_match_dataclasses(
    pair: tuple[type, type, str],
) -> None:
    real, mine, _kind = pair
    for args, kwargs in [
        (("m", 1), {}),
        (("m",), {"version": 2, "stage": Stage.PRODUCTION, "tags": {"k": "v"}}),
        ((), {"name": "m", "version": 3, "note": "x", "aliases": ("a", "b")}),
    ]:
        a, b = real(*args, **kwargs), mine(*args, **kwargs)
        assert repr(a) == repr(b)
        assert [getattr(a, f) for f in record.fields(a)] == [
            getattr(b, f) for f in record.fields(b)
        ]
        assert b == mine(*args, **kwargs)
        assert b.label() == a.label()
    assert mine("m", 1).tags is not mine("m", 1).tags  # a fresh dict each time
    assert mine("m", 1, note="x") == mine("m", 1, note="y")  # compare=False
    assert mine("m", 1) != mine("m", 2)
    assert mine("m", 1) != real("m", 1)  # another class: never equal, as dataclasses
    assert mine("m", 1).__eq__(object()) is NotImplemented
    with pytest.raises(TypeError):
        mine("m")
    with pytest.raises(TypeError):
        mine("m", 1, bogus=1)
    assert mine.__match_args__ == real.__match_args__


def test_hashing_and_freezing_match_dataclasses(pair: tuple[type, type, str]) -> None:
    real, mine, kind = pair
    a, b = real("m", 1, tags=()), mine("m", 1, tags=())
    if kind.startswith("frozen"):
        assert hash(b) == hash(mine("m", 1, tags=(), note="other"))
        assert hash(b) == hash(a)  # the compared fields' tuple, as dataclasses hashes
        assert hash(b) != hash(mine("m", 2, tags=()))
        assert {b, mine("m", 1, tags=())} == {b}
        for target in (a, b):
            with pytest.raises(dataclasses.FrozenInstanceError if target is a else AttributeError):
                target.version = 2
            with pytest.raises(AttributeError):
                del target.name
        with pytest.raises(record.FrozenInstanceError):
            b.version = 2
    else:
        assert type(b).__hash__ is None
        assert type(a).__hash__ is None
        b.version = 2
        assert b == mine("m", 2, tags=())
    if "slots" in kind:
        assert type(b).__slots__ == type(a).__slots__
        assert not hasattr(b, "__dict__")
        with pytest.raises((AttributeError, TypeError)):
            b.extra = 1


def test_replace_copy_pickle_and_dataclasses_functions(pair: tuple[type, type, str]) -> None:
    real, mine, _kind = pair
    b = mine("m", 1, tags={"k": "v"}, note="n")
    moved = record.replace(b, stage=Stage.STAGING)
    assert (moved.stage, moved.name, moved.tags, moved.note) == (
        Stage.STAGING,
        "m",
        {"k": "v"},
        "n",
    )
    assert b.stage is Stage.NONE  # the original is untouched
    assert record.replace(real("m", 1), version=5) == real("m", 5)  # a dataclass too
    with pytest.raises(TypeError, match="bogus"):
        record.replace(b, bogus=1)
    for twin in (copy.copy(b), copy.deepcopy(b)):
        assert twin == b
        assert repr(twin) == repr(b)
    # What a user of gitreg's public types may call: the dataclasses functions.
    assert dataclasses.is_dataclass(b)
    assert dataclasses.is_dataclass(mine)
    assert [f.name for f in dataclasses.fields(b)] == [f.name for f in dataclasses.fields(real)]
    assert dataclasses.asdict(b) == dataclasses.asdict(real("m", 1, tags={"k": "v"}, note="n"))
    assert dataclasses.astuple(b) == dataclasses.astuple(real("m", 1, tags={"k": "v"}, note="n"))
    assert dataclasses.replace(b, version=7) == mine("m", 7, tags={"k": "v"}, note="n")
    assert record.fields(mine) == tuple(f.name for f in dataclasses.fields(real))


@record.dataclass(frozen=True, slots=True)
class Pinned:
    """A frozen, slotted record at module level (pickle finds classes by name)."""

    name: str
    tags: Mapping[str, str] = record.field(default_factory=dict)


@record.dataclass
class Loose:
    """A mutable record at module level."""

    name: str
    count: int = 0


def test_records_pickle_as_dataclasses_do() -> None:
    for made in (Pinned("m", {"k": "v"}), Loose("m", 2)):
        twin = pickle.loads(pickle.dumps(made))
        assert twin == made
        assert repr(twin) == repr(made)
    with pytest.raises(AttributeError):
        pickle.loads(pickle.dumps(Pinned("m"))).name = "x"  # type: ignore[misc]


def test_a_method_the_class_writes_is_kept_and_post_init_runs() -> None:
    seen: list[int] = []

    @record.dataclass
    class Counter:
        """Counts its construction."""

        start: int
        step: int = 1

        def __post_init__(self) -> None:
            seen.append(self.start)

        def __repr__(self) -> str:
            return "counter"

    assert repr(Counter(3)) == "counter"
    assert seen == [3]
    assert record.replace(Counter(3), step=2).step == 2
    assert seen == [3, 3, 3]


def _record_classes() -> list[type]:
    """Every class in gitreg that ``record.dataclass`` made."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(gitreg.__path__, "gitreg."):
        if info.name.startswith(("gitreg.site", "gitreg.mlflow", "gitreg.cli")):
            continue  # they have no records; some need optional packages to import
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and "__record_fields__" in vars(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def test_every_record_in_gitreg_reads_as_a_dataclass() -> None:
    classes = _record_classes()
    names = {c.__name__ for c in classes}
    assert {"ModelVersion", "RegisteredModel", "Policy", "Config", "Requirement"} <= names
    for cls in classes:
        assert dataclasses.is_dataclass(cls), cls
        assert tuple(f.name for f in dataclasses.fields(cls)) == record.fields(cls), cls


def test_public_entities_keep_their_behaviour() -> None:
    mv = ModelVersion("churn", 3, "s3://b/churn/3", tags={"k": "v"}, aliases=("champion",))
    assert repr(mv).startswith("ModelVersion(name='churn', version=3, source='s3://b/churn/3'")
    assert mv == ModelVersion("churn", 3, "s3://b/churn/3", tags={"k": "v"}, aliases=("champion",))
    assert dataclasses.asdict(mv)["tags"] == {"k": "v"}
    assert dataclasses.replace(mv, current_stage=Stage.PRODUCTION).current_stage is Stage.PRODUCTION
    assert pickle.loads(pickle.dumps(mv)) == mv
    with pytest.raises(dataclasses.FrozenInstanceError.__mro__[1]):  # AttributeError
        mv.version = 4  # type: ignore[misc]
    model = RegisteredModel("churn", versions=(mv,))
    assert record.replace(model, description="d").versions == (mv,)
    assert Config().policy == Policy()
    assert Requirement(metrics=("f1 >= 0.9",)) != Requirement()
    assert dataclasses.fields(Requirement)[-1].compare is False  # signing: not compared


def _described(cls: type) -> list[tuple[Any, ...]]:
    """What ``dataclasses.fields`` tells a caller about each field."""
    return [
        (f.name, f.type, f.default, f.default_factory, f.compare) for f in dataclasses.fields(cls)
    ]


def test_dataclasses_fields_describe_a_record_as_they_describe_the_dataclass(
    pair: tuple[type, type, str],
) -> None:
    real, mine, _kind = pair
    assert _described(mine) == _described(real)
    assert _described(mine("m", 1)) == _described(real("m", 1))


def _family(maker: Maker, fields: Any) -> tuple[type, type]:
    """A record and a record subclass of it, with a class variable each."""

    class Base:
        """A base record."""

        KIND: ClassVar[str] = "base"
        name: str
        count: int = 1

    base: type = maker(Base)

    class Sub(base):  # type: ignore[valid-type,misc]
        """It adds a field with a factory, and overrides a default."""

        KIND: typing.ClassVar[str] = "sub"  # written the other way
        count: int = 2
        tags: Mapping[str, str] = fields(default_factory=dict)

    return base, maker(Sub)


@pytest.mark.parametrize("kind", ["frozen", "mutable"])
def test_a_subclass_and_its_class_variables_are_read_as_dataclasses_read_them(kind: str) -> None:
    makers = _makers(kind)
    (_real_base, real_sub), (mine_base, mine_sub) = (
        _family(makers[0], dataclasses.field),
        _family(makers[1], record.field),
    )
    assert record.fields(mine_sub) == tuple(f.name for f in dataclasses.fields(real_sub))
    assert _described(mine_sub) == _described(real_sub)
    assert repr(mine_sub("m")) == repr(real_sub("m"))
    assert mine_sub("m").count == 2
    assert mine_base("m").count == 1
    assert mine_sub.KIND == "sub"
    assert mine_base.KIND == "base"
    assert mine_sub("m") != mine_base("m", 2)  # another class: never equal
    assert record.replace(mine_sub("m"), count=5) == mine_sub("m", 5)


def test_the_finer_points_match_dataclasses(pair: tuple[type, type, str]) -> None:
    """Class attributes for defaults, ``__match_args__``, the unknown-field error, a field
    given both kinds of default, deleting a field, and the default (no arguments) maker."""
    real, mine, kind = pair
    assert mine.__match_args__ == real.__match_args__
    if "slots" not in kind:
        assert "version" not in vars(mine)
        assert vars(mine)["stage"] is vars(real)["stage"] is Stage.NONE
        assert vars(mine)["aliases"] == vars(real)["aliases"] == ()
        assert vars(mine)["note"] is vars(real)["note"] is None  # field(default=None)
        assert "tags" not in vars(mine)  # a factory leaves no class attribute
        assert "tags" not in vars(real)
    with pytest.raises(TypeError) as mine_error:
        record.replace(mine("m", 1), bogus=1)
    with pytest.raises(TypeError) as real_error:
        dataclasses.replace(real("m", 1), bogus=1)
    assert str(mine_error.value).split(".")[-1] == str(real_error.value).split(".")[-1]
    assert type(mine("m", 1)).__name__ in str(mine_error.value)
    with pytest.raises(ValueError, match=r"^cannot specify both default and default_factory$"):
        record.field(default=1, default_factory=dict)
    b = mine("m", 1)
    if kind.startswith("frozen"):
        with pytest.raises(record.FrozenInstanceError, match="cannot delete field 'name'"):
            del b.name
    else:
        a = real("m", 1)
        del a.note, b.note
        assert hasattr(b, "note") == hasattr(a, "note")


def test_a_record_with_its_own_hash_or_no_fields() -> None:
    @record.dataclass(frozen=True)
    class Keyed:
        """A frozen record that hashes by its key alone."""

        key: str
        value: int = 0

        def __hash__(self) -> int:
            return hash(self.key)

    assert hash(Keyed("k", 1)) == hash("k")

    @record.dataclass
    class Empty:
        """No fields at all."""

    assert Empty() == Empty()
    assert repr(Empty()).endswith("Empty()")
    assert hasattr(Empty(), "__dict__")  # record.dataclass without arguments: no slots


@pytest.mark.parametrize("kind", [b[0] for b in BOTH])
def test_a_record_of_one_field_as_a_dataclass_of_one(kind: str) -> None:
    real_maker, mine_maker = _makers(kind)

    class One:
        """A single field: its getter gives one value, not a tuple of them."""

        name: str

    real, mine = real_maker(One), mine_maker(One)
    a, b = real("model"), mine("model")
    assert repr(b) == repr(a)
    assert b == mine("model")
    assert b != mine("other")
    if kind.startswith("frozen"):
        assert hash(b) == hash(mine("model"))
        assert hash(b) != hash(mine("other"))
    assert record.replace(b, name="other") == mine("other")
    twin = copy.copy(b)
    assert twin == b
