#!lua flags=no-writes
-- Booked intervals of several providers that overlap [ARGV[1], ARGV[2]), in one call.
-- KEYS: one busy set per provider (members "start:end:booking_id", score = start).
-- Returns one list of members per key. Intervals of one provider never overlap, so the
-- only booking that starts before the window and can reach into it is the last one.
local window_start, window_end = ARGV[1], ARGV[2]
local result = {}
for index, key in ipairs(KEYS) do
  local members = redis.call('ZREVRANGEBYSCORE', key, '(' .. window_start, '-inf', 'LIMIT', 0, 1)
  local inside = redis.call('ZRANGEBYSCORE', key, window_start, '(' .. window_end)
  for _, member in ipairs(inside) do
    members[#members + 1] = member
  end
  result[index] = members
end
return result
