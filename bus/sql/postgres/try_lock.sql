-- Tries to become the active relay: a session-level advisory lock, held by the dedicated
-- connection as long as it lives (it is released when the connection closes, also when
-- the process dies). The key is derived from the relay's name, so relays with different
-- names (different transports) do not exclude each other.
-- $1 'alpes.relay:' || the relay's name.
SELECT pg_try_advisory_lock(hashtextextended($1, 0))
