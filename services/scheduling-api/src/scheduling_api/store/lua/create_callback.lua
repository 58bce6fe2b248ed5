-- Store a new callback request with its index entry and its callback.created event.
-- KEYS[1] callback hash   KEYS[2] clinic callbacks index
-- ARGV[1] immutable document (JSON)   ARGV[2] status   ARGV[3] now (ISO 8601)
-- ARGV[4] score: created_at epoch seconds   ARGV[5] callback_id
-- KEYS[3] outbox stream   ARGV[6..9] event id, type, time, data (JSON): the event
-- written with the change (see outbox.py)
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'status', ARGV[2], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[5])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[6], 'type', ARGV[7], 'at', ARGV[8],
  'data', ARGV[9])
return {'created'}
