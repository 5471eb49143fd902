"""The Lua scripts of presence, each touching one user's keys (one `{u:<id>}` hash tag, so one
slot in Redis Cluster). The writes move the per-user total (`user_connections`) so that role
counts change exactly once per 0 -> 1 and 1 -> 0. Every write script writes first with a command
Redis refuses when full (maxmemory), so a refused script has changed nothing: a retry is exact.
"""

from __future__ import annotations

from notify_common.scripts import Script

CONNECT = Script("""
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return redis.call('INCR', KEYS[2])
""")
"""KEYS: user_presence, user_connections; ARGV: node. Returns the user's total connections."""

DISCONNECT = Script("""
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n < 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return -1 end
if n == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
""")
"""As CONNECT. Returns the user's remaining total, or -1 if the node's entry was already gone
(cleaned up)."""

ADJUST = Script("""
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local left = redis.call('INCRBY', KEYS[2], ARGV[2])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
""")
"""Reconcile: move one user's count on a node by ARGV[2] (either sign). Returns the user's total
over all nodes after the move."""

DROP_NODE = Script("""
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return -1 end
local left = redis.call('DECRBY', KEYS[2], tonumber(c))
redis.call('HDEL', KEYS[1], ARGV[1])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
""")
"""Drop a whole node's entry for one user. Returns the remaining total, or -1 if already gone."""

READ_RECIPIENT = Script("""
local presence = redis.call('HGETALL', KEYS[1])
local prefs = redis.call('HGETALL', KEYS[2])
local n = tonumber(ARGV[1])
local count = 0
if n > 0 then
  count = redis.call('INCRBY', KEYS[3], n)
  redis.call('EXPIRE', KEYS[3], ARGV[2], 'NX')
end
local deadline = tonumber(ARGV[4])
redis.pcall('ZREMRANGEBYSCORE', KEYS[4], '-inf', deadline - tonumber(ARGV[5]))
redis.pcall('ZADD', KEYS[4], deadline, ARGV[3])
redis.pcall('PEXPIRE', KEYS[4], ARGV[5])
return {presence, prefs, count}
""")
"""The router's read of one recipient: presence hash, preferences hash, and the rate-limit
counter moved by ARGV[1] (occurrences to count) with a TTL of ARGV[2] s set atomically; in the
same step, the routing's mark (ARGV[3] token, ARGV[4] deadline ms, ARGV[5] its TTL ms; stale
marks dropped) that catch-up waits for (in_flight.py). KEYS: user_presence, preferences, rate,
routing_marks (all `{u:<id>}`). One call instead of three per user. The mark's writes may fail
when Redis is full (pcall): the read still answers, and the batch's own writes fail anyway."""
