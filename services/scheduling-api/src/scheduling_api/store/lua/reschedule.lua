-- Move a confirmed booking to a new slot atomically: the old interval is released only
-- when the new one is taken, and the two bookings are linked both ways.
-- KEYS[1] old booking hash   KEYS[2] old provider busy set   KEYS[3] new provider busy set
-- KEYS[4] new booking hash   KEYS[5] idempotency hash   KEYS[6] clinic bookings index
-- KEYS[7] phone index   KEYS[8] new day index
-- ARGV[1] new start   ARGV[2] new end   ARGV[3] new booking_id
-- ARGV[4] request fingerprint ('' when no Idempotency-Key)   ARGV[5] idempotency ttl
-- ARGV[6] new immutable document (JSON)   ARGV[7] now   ARGV[8] refusal ('' = bookable)
-- ARGV[9] the clinic's change channel
-- KEYS[9] outbox stream   ARGV[10..13] event id, type, time, data (JSON): the event
-- written with the change (see outbox.py)
-- Returns {outcome, booking_id or status}.
if ARGV[4] ~= '' then
  local seen = redis.call('HMGET', KEYS[5], 'fingerprint', 'booking_id')
  if seen[1] then
    if seen[1] == ARGV[4] then
      return {'replayed', seen[2]}
    end
    return {'key_reused', seen[2]}
  end
end

local old = redis.call('HMGET', KEYS[1], 'status', 'member')
if not old[1] then
  return {'not_found', ''}
end
if old[1] ~= 'confirmed' then
  return {'not_active', old[1]}
end
if ARGV[8] ~= '' then
  return {ARGV[8], ''}
end

-- Same ordering argument as book.lua, skipping the booking being moved (it may overlap
-- its own new time, e.g. 10:00 -> 10:30 for an hour-long visit).
local start_ts = tonumber(ARGV[1])
local previous = redis.call('ZREVRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '-inf', 'LIMIT', 0, 2)
for _, member in ipairs(previous) do
  if member ~= old[2] then
    if tonumber(string.match(member, '^%d+:(%d+):')) > start_ts then
      return {'conflict', ''}
    end
    break
  end
end

local member = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3]
redis.call('ZREM', KEYS[2], old[2])
redis.call('ZADD', KEYS[3], start_ts, member)
redis.call('HSET', KEYS[1], 'status', 'rescheduled', 'rescheduled_to', ARGV[3],
  'updated_at', ARGV[7])
redis.call('HSET', KEYS[4], 'doc', ARGV[6], 'status', 'confirmed', 'updated_at', ARGV[7],
  'member', member)
redis.call('ZADD', KEYS[6], start_ts, ARGV[3])
redis.call('ZADD', KEYS[7], start_ts, ARGV[3])
redis.call('ZADD', KEYS[8], start_ts, ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[5], 'fingerprint', ARGV[4], 'booking_id', ARGV[3])
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
redis.call('XADD', KEYS[9], '*', 'id', ARGV[10], 'type', ARGV[11], 'at', ARGV[12],
  'data', ARGV[13])
redis.call('PUBLISH', ARGV[9], 'rescheduled')
return {'rescheduled', ARGV[3]}
