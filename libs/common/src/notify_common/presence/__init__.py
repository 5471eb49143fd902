"""Presence: which gateway nodes hold a user's connections. This package owns the contract, both
sides: gateways write it (writer.py), routers and tools read it (reader.py), and every node's
liveness is kept and judged here (liveness.py); the Lua scripts are in scripts.py.

Layout (names built in keys.py; everything about one user shares `{u:<id>}`, about one node
`{n:<id>}`):
- `presence:{u:<id>}`: hash node -> that user's open connections on it;
- `conns:{u:<id>}`: the user's connections over all nodes (its 0 -> 1 and 1 -> 0 move role counts);
- `online-by-role`: hash role -> distinct online users holding it;
- `nodes`: sorted set of gateway nodes scored by their last heartbeat (unix ms);
- `node:{n:<id>}:users`, `node:{n:<id>}:roles`: a node's users, so a survivor can clean it up;
- `node:{n:<id>}:alive`: set with each announcement; gone means Redis lost the node's presence.

A node whose heartbeat is older than NODE_TTL_MS (`CommonConfig.node_ttl_ms`, one setting for
gateways and routers) is dead: every read ignores its entries at once, and a surviving gateway's
sweep removes them.
"""

from notify_common.presence.liveness import (
    DEFAULT_NODE_TTL_MS,
    heartbeat,
    live_nodes,
    live_nodes_command,
    live_nodes_from,
    mark_alive,
)
from notify_common.presence.reader import (
    connections_by_node,
    live_connections,
    online_by_role,
    recipient_from,
    recipient_read,
    user_presence,
)
from notify_common.presence.writer import (
    Change,
    reconcile,
    remove_node,
    sweep_dead_nodes,
    write_changes,
)

__all__ = [
    "DEFAULT_NODE_TTL_MS",
    "Change",
    "connections_by_node",
    "heartbeat",
    "live_connections",
    "live_nodes",
    "live_nodes_command",
    "live_nodes_from",
    "mark_alive",
    "online_by_role",
    "recipient_from",
    "recipient_read",
    "reconcile",
    "remove_node",
    "sweep_dead_nodes",
    "user_presence",
    "write_changes",
]
