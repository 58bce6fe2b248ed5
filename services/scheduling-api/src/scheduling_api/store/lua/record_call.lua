-- Store a call record once per call id, with its indexes and its call.completed event.
-- KEYS[1] record hash   KEYS[2] transcript key   KEYS[3] clinic calls index
-- KEYS[4] day index   KEYS[5] outcome index   KEYS[6] outbox stream
-- KEYS[7] phone index (only when the caller's number is known)
-- ARGV[1] record JSON (without transcript)   ARGV[2] transcript JSON ('' for none)
-- ARGV[3] score: started_at epoch seconds   ARGV[4] record ttl seconds
-- ARGV[5] transcript ttl seconds   ARGV[6] call_id   ARGV[7] event id
-- ARGV[8] event time (ISO 8601)   ARGV[9] event data JSON
-- Returns {outcome, stored record JSON}: 'created', or 'replayed' with the first record.
local stored = redis.call('HGET', KEYS[1], 'doc')
if stored then
  return {'replayed', stored}
end
local record_ttl = tonumber(ARGV[4])
local score = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('EXPIRE', KEYS[1], record_ttl)
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[5]))
end
-- Index entries of expired records are pruned as new ones arrive.
local oldest = '(' .. tostring(score - record_ttl)
for _, index in ipairs({3, 4, 5, 7}) do
  if KEYS[index] then
    redis.call('ZADD', KEYS[index], score, ARGV[6])
    redis.call('ZREMRANGEBYSCORE', KEYS[index], '-inf', oldest)
    redis.call('EXPIRE', KEYS[index], record_ttl)
  end
end
redis.call('XADD', KEYS[6], '*', 'id', ARGV[7], 'type', 'call.completed', 'at', ARGV[8],
  'data', ARGV[9])
return {'created', ARGV[1]}
