-- Mark a callback request resolved (idempotent).
-- KEYS[1] callback hash   ARGV[1] now (ISO 8601)
-- KEYS[2] outbox stream   ARGV[2..5] event id, type, time, data (JSON): the event
-- written with the change (see outbox.py)
-- Returns {outcome}.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'not_found'}
end
if status == 'resolved' then
  return {'unchanged'}
end
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ARGV[1], 'updated_at', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'type', ARGV[3], 'at', ARGV[4],
  'data', ARGV[5])
return {'resolved'}
