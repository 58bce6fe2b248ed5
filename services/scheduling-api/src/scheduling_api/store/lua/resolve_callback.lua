-- Mark a callback request resolved (idempotent).
-- KEYS[1] callback hash   ARGV[1] now (ISO 8601)
-- Returns {outcome}.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'not_found'}
end
if status == 'resolved' then
  return {'unchanged'}
end
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ARGV[1], 'updated_at', ARGV[1])
return {'resolved'}
