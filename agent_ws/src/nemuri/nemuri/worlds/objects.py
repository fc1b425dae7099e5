"""The things a caretaker can show the robot: named colour + shape combinations.

No MuJoCo here, so a curriculum can be written and checked (names, colours, shapes) without
a simulator. Every colour and shape name is a word of nemuri's vocabulary, so a lesson can
name an object by its shape, its colour or both.

`object_catalogue(n)` enumerates objects in a fixed order: the first 8 differ in both colour
and shape (the default lesson set, K = 8 in DESIGN.md), later blocks of 8 reuse the shapes
with shifted colours, so any n up to 8 * len(COLOURS) gives distinct combinations (48 for a
long curriculum) and the same n always gives the same objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# name -> RGBA; saturated and far apart so a 96x96 camera can tell them apart under one light.
COLOURS: Final[dict[str, tuple[float, float, float, float]]] = {
    "red": (0.85, 0.10, 0.10, 1.0),
    "green": (0.10, 0.70, 0.20, 1.0),
    "blue": (0.15, 0.30, 0.90, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "purple": (0.55, 0.20, 0.75, 1.0),
    "cyan": (0.10, 0.80, 0.85, 1.0),
    "pink": (1.00, 0.50, 0.70, 1.0),
    "white": (0.97, 0.97, 0.97, 1.0),
    "brown": (0.50, 0.30, 0.12, 1.0),
    "grey": (0.50, 0.50, 0.50, 1.0),
}

# name -> (MuJoCo geom kind, size in MuJoCo's convention, metres). All about 8-12 cm across,
# so an object shown at the default spot spans 15-25 pixels of the 96x96 frame.
# "cone" is a mesh (MjsMesh.make_cone), the rest are primitives. Kinds: sphere, box,
# cylinder, capsule, ellipsoid, cone.
SHAPES: Final[dict[str, tuple[str, tuple[float, ...]]]] = {
    "ball": ("sphere", (0.045,)),
    "cube": ("box", (0.038, 0.038, 0.038)),
    "cylinder": ("cylinder", (0.032, 0.05)),
    "capsule": ("capsule", (0.026, 0.032)),
    "egg": ("ellipsoid", (0.036, 0.036, 0.052)),
    "brick": ("box", (0.065, 0.028, 0.024)),
    "cone": ("cone", (0.045, 0.055)),  # base radius, half-height
    "plate": ("cylinder", (0.058, 0.01)),
}


@dataclass(frozen=True)
class ObjectSpec:
    """One showable object: its name (``<colour>_<shape>``), shape and colour."""

    name: str
    shape: str
    colour: str
    rgba: tuple[float, float, float, float]

    @property
    def half_height(self) -> float:
        """Distance from the object's centre to the table when it rests upright on it."""
        kind, size = SHAPES[self.shape]
        if kind == "sphere":
            return size[0]
        if kind == "capsule":
            return size[0] + size[1]
        if kind == "cylinder":
            return size[1]
        if kind == "cone":
            return size[1]
        return size[2]  # box, ellipsoid


def make_object(colour: str, shape: str) -> ObjectSpec:
    """The object of that colour and shape; raises ValueError on an unknown name."""
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; expected one of {tuple(COLOURS)}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {tuple(SHAPES)}")
    return ObjectSpec(name=f"{colour}_{shape}", shape=shape, colour=colour, rgba=COLOURS[colour])


def object_catalogue(n: int = 8) -> tuple[ObjectSpec, ...]:
    """The first n objects of the fixed enumeration (see the module docstring)."""
    colours, shapes = tuple(COLOURS), tuple(SHAPES)
    limit = len(colours) * len(shapes)
    if not 0 < n <= limit:
        raise ValueError(f"n must be in 1..{limit}, got {n}")
    out = []
    for k in range(n):
        block, s = divmod(k, len(shapes))
        out.append(make_object(colours[(s + block) % len(colours)], shapes[s]))
    return tuple(out)


def catalogue_with(names: Sequence[str]) -> tuple[ObjectSpec, ...]:
    """The shortest object catalogue, in blocks of 8, holding every object a course names.

    Day n of the shipped course shows the n-th block of 8; every object in the world costs
    a little per tick even parked, so the world carries no more blocks than it needs. An
    object in no catalogue is left for the caretaker to refuse, naming it.
    """
    limit = len(COLOURS) * len(SHAPES)
    for n in range(8, limit, 8):
        catalogue = object_catalogue(n)
        if set(names) <= {o.name for o in catalogue}:
            return catalogue
    return object_catalogue(limit)
