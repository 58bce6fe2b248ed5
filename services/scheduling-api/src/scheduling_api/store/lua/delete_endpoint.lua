-- Delete a webhook endpoint, its consumer group and its delivery progress.
-- KEYS[1] endpoint hash   KEYS[2] clinic endpoints index   KEYS[3] outbox stream
-- KEYS[4] retry state   KEYS[5] redelivery list
-- ARGV[1] endpoint id   ARGV[2] consumer group name
-- Returns {1} when it existed, {0} otherwise.
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4], KEYS[5])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XGROUP', 'DESTROY', KEYS[3], ARGV[2])
end
return {existed}
