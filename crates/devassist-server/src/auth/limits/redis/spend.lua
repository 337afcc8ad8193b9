-- Counts the tokens an answer used against a caller's tokens per minute and token budget.
--
-- KEYS: 1 tpm (hash: level, at), 2 budget (hash: start, used).
-- ARGV: 1 now (ms), 2 tokens, 3 tpm, 4 budget period (ms). A limit of 0 is no limit.
local now = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local period = tonumber(ARGV[4])

if tpm > 0 then
  local t = redis.call('HMGET', KEYS[1], 'level', 'at')
  local level, at = tonumber(t[1]) or tpm, tonumber(t[2]) or now
  level = math.min(tpm, level + math.max(0, now - at) * tpm / 60000) - tokens
  redis.call('HSET', KEYS[1], 'level', level, 'at', now)
  -- Once full again the bucket is as good as new: let it go.
  redis.call('PEXPIRE', KEYS[1], math.ceil((tpm - level) * 60000 / tpm) + 1000)
end

if period > 0 then
  local b = redis.call('HMGET', KEYS[2], 'start', 'used')
  local start, used = tonumber(b[1]), tonumber(b[2]) or 0
  if not start or now >= start + period then
    start, used = now, 0
  end
  used = used + tokens
  redis.call('HSET', KEYS[2], 'start', start, 'used', used)
  -- The budget lives until its period ends: shared by every replica, kept across restarts.
  redis.call('PEXPIRE', KEYS[2], math.max(1, math.ceil(start + period - now)))
end
return 0
