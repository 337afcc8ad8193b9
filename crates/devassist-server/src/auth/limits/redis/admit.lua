-- Admits one request of one caller, or says which limit refuses it and for how long.
-- One round trip, atomic: a refused request changes nothing; an admitted one takes its
-- request-per-minute cell and, with max_parallel, a lease.
--
-- KEYS: 1 rpm (GCRA's theoretical arrival time), 2 leases (sorted set, id -> expiry),
--       3 tpm (hash: level, at), 4 budget (hash: start, used); all in one hash slot.
-- ARGV: 1 now (ms), 2 rpm, 3 max_parallel, 4 tpm, 5 budget tokens, 6 budget period (ms),
--       7 lease id, 8 lease ttl (ms). A limit of 0 is no limit.
-- Returns {0} when admitted, else {limit, retry after (ms)}: 1 budget, 2 tpm,
-- 3 max_parallel, 4 rpm.
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local max_parallel = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local period = tonumber(ARGV[6])

if budget > 0 then
  local b = redis.call('HMGET', KEYS[4], 'start', 'used')
  local start, used = tonumber(b[1]), tonumber(b[2]) or 0
  if start and now < start + period and used >= budget then
    return {1, math.ceil(start + period - now)}
  end
end

if tpm > 0 then
  -- A token bucket that holds at most a minute's tokens and may be in debt.
  local t = redis.call('HMGET', KEYS[3], 'level', 'at')
  local level, at = tonumber(t[1]), tonumber(t[2])
  if level then
    level = math.min(tpm, level + math.max(0, now - at) * tpm / 60000)
    if level < 1 then
      return {2, math.ceil((1 - level) * 60000 / tpm)}
    end
  end
end

if max_parallel > 0 then
  -- Leases of a replica that died without giving them back expire.
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max_parallel then
    return {3, 1000}
  end
end

local tat
if rpm > 0 then
  -- GCRA, as governor's Quota::per_minute(rpm): a minute's worth at once, then one every
  -- 60/rpm seconds.
  local interval = 60000 / rpm
  tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now) + interval
  local allow_at = tat - interval * rpm
  if allow_at > now then
    return {4, math.ceil(allow_at - now)}
  end
end

if rpm > 0 then
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil(tat - now))
end
if max_parallel > 0 then
  local ttl = tonumber(ARGV[8])
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[7])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {0}
