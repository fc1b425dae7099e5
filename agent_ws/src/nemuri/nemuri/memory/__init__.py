"""nemuri's memory: the day log (one rosbag2 MCAP bag per waking day), pure Python.

Layered like rosbags, each layer usable and tested on its own:

1. `msgtypes`  nemuri_msgs/TickRecord registered in a rosbags typestore from the .msg files
2. `tickrow`   TickRow, the ROS-free row, and its validation; `serde` row <-> CDR bytes
3. `metadata`  rosbag2's metadata.yaml (v9), QoS and channel conventions;
   `storage`   the MCAP writer that flushes whole chunks, and the crash-tolerant reader
4. `daylog`    DayLog (append), read_day/DayReader, recover_day, list_days

No ROS import anywhere here: the core node, the sleep node and the tests use the same code.
"""

from .daylog import TOPIC, DayLog, DayReader, RecoveryReport, list_days, read_day, recover_day
from .errors import (
    CorruptDayLog,
    DayLogClosed,
    DayLogError,
    DayLogWriteError,
    InvalidTickRow,
    MessageDefinitionsNotFound,
    NotADayLog,
)
from .tickrow import TickRow

__all__ = [
    "TOPIC",
    "CorruptDayLog",
    "DayLog",
    "DayLogClosed",
    "DayLogError",
    "DayLogWriteError",
    "DayReader",
    "InvalidTickRow",
    "MessageDefinitionsNotFound",
    "NotADayLog",
    "RecoveryReport",
    "TickRow",
    "list_days",
    "read_day",
    "recover_day",
]
