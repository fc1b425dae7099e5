"""nemuri's bags: record any topics to rosbag2 MCAP, replay them, reproduce a day, no ROS here.

The ROS sides (the recorder and replay nodes) are `nemuri.bags.record` and
`nemuri.bags.replay`, imported only by who runs them; what this package imports is pure
Python, like memory/. Reading any bag (`reader`, crash-tolerant), `nemuri bag info`
(`info`) and `nemuri bag export` (`export`) are here too; the timeline PNG (`timeline`,
matplotlib) is imported by who draws it.
"""

from .errors import BagError, CorruptBag, NotABag, NoTickRecords
from .export import KEYS, Export, day_arrays, export_day
from .info import BagInfo, format_info, summarize
from .reader import TICK_TOPIC, Bag, BagFile, BagMessage, TopicInfo, open_bag
from .types import TopicType, TypeCatalog
from .writer import BagWriteError, BagWriter

__all__ = [
    "KEYS",
    "TICK_TOPIC",
    "Bag",
    "BagError",
    "BagFile",
    "BagInfo",
    "BagMessage",
    "BagWriteError",
    "BagWriter",
    "CorruptBag",
    "Export",
    "NoTickRecords",
    "NotABag",
    "TopicInfo",
    "TopicType",
    "TypeCatalog",
    "day_arrays",
    "export_day",
    "format_info",
    "open_bag",
    "summarize",
]
