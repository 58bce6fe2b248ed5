-- Create a booking atomically: idempotency check, refusal, overlap check, write.
-- KEYS[1] provider busy set   KEYS[2] booking hash   KEYS[3] idempotency hash
-- KEYS[4] clinic bookings index   KEYS[5] phone index   KEYS[6] day index
-- ARGV[1] start   ARGV[2] end   ARGV[3] booking_id   ARGV[4] request fingerprint
-- ARGV[5] idempotency ttl seconds   ARGV[6] immutable booking document (JSON)
-- ARGV[7] now (ISO 8601)   ARGV[8] refusal computed by the caller ('' when bookable)
-- ARGV[9] the clinic's change channel (told after every change to its book)
-- KEYS[7] outbox stream   ARGV[10..13] event id, type, time, data (JSON): the event
-- written with the change (see outbox.py)
-- Returns {outcome, booking_id}; on a conflict with a booking of exactly the same interval,
-- that booking's id (the caller decides whether it is the same patient's).
local seen = redis.call('HMGET', KEYS[3], 'fingerprint', 'booking_id')
if seen[1] then
  if seen[1] == ARGV[4] then
    return {'replayed', seen[2]}
  end
  return {'key_reused', seen[2]}
end
if ARGV[8] ~= '' then
  return {ARGV[8], ''}
end

-- Intervals of one provider never overlap, so sorted by start they are sorted by end
-- too: the booking with the latest start before our end is the only one to check.
local start_ts = tonumber(ARGV[1])
local previous = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'LIMIT', 0, 1)
if previous[1] then
  local other_start, other_end, other_id = string.match(previous[1], '^(%d+):(%d+):(.+)$')
  if tonumber(other_end) > start_ts then
    if other_start == ARGV[1] and other_end == ARGV[2] then
      return {'conflict', other_id}
    end
    return {'conflict', ''}
  end
end

local member = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3]
redis.call('ZADD', KEYS[1], start_ts, member)
redis.call('HSET', KEYS[2], 'doc', ARGV[6], 'status', 'confirmed', 'updated_at', ARGV[7],
  'member', member)
redis.call('ZADD', KEYS[4], start_ts, ARGV[3])
redis.call('ZADD', KEYS[5], start_ts, ARGV[3])
redis.call('ZADD', KEYS[6], start_ts, ARGV[3])
redis.call('HSET', KEYS[3], 'fingerprint', ARGV[4], 'booking_id', ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('XADD', KEYS[7], '*', 'id', ARGV[10], 'type', ARGV[11], 'at', ARGV[12],
  'data', ARGV[13])
redis.call('PUBLISH', ARGV[9], 'booked')
return {'created', ARGV[3]}
