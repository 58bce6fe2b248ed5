-- Cancel a booking: a status change that frees its interval. Cancelling twice is a no-op.
-- KEYS[1] booking hash   KEYS[2] provider busy set
-- ARGV[1] now (ISO 8601)   ARGV[2] reason ('' for none)   ARGV[3] the clinic's change channel
-- KEYS[3] outbox stream   ARGV[4..7] event id, type, time, data (JSON): the event
-- written with the change (see outbox.py)
-- Returns {outcome}.
local current = redis.call('HMGET', KEYS[1], 'status', 'member')
if not current[1] then
  return {'not_found'}
end
if current[1] == 'cancelled' then
  return {'unchanged'}
end
if current[1] ~= 'confirmed' then
  return {'not_active'}
end
redis.call('ZREM', KEYS[2], current[2])
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_at', ARGV[1], 'updated_at', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'cancel_reason', ARGV[2])
end
redis.call('XADD', KEYS[3], '*', 'id', ARGV[4], 'type', ARGV[5], 'at', ARGV[6],
  'data', ARGV[7])
redis.call('PUBLISH', ARGV[3], 'cancelled')
return {'cancelled'}
