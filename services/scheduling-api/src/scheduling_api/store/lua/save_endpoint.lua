-- Create or update a webhook endpoint, and its consumer group on the outbox once.
-- KEYS[1] endpoint hash   KEYS[2] clinic endpoints index   KEYS[3] outbox stream
-- ARGV[1] url   ARGV[2] events (comma-separated)   ARGV[3] description   ARGV[4] secret
-- ARGV[5] seeded ('1' or '')   ARGV[6] created_at (kept when the endpoint exists)
-- ARGV[7] endpoint id   ARGV[8] consumer group name
-- The group starts at '$': an endpoint gets the events after it was created.
local created_at = redis.call('HGET', KEYS[1], 'created_at') or ARGV[6]
redis.call('HSET', KEYS[1], 'url', ARGV[1], 'events', ARGV[2], 'description', ARGV[3],
  'secret', ARGV[4], 'seeded', ARGV[5], 'created_at', created_at)
redis.call('ZADD', KEYS[2], 'NX', redis.call('TIME')[1], ARGV[7])
local made = redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[8], '$', 'MKSTREAM')
if type(made) == 'table' and made.err and not string.find(made.err, 'BUSYGROUP') then
  return redis.error_reply(made.err)
end
return {'saved'}
