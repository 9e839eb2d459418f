-- wrk script: one transfer per request, through PostgREST RPC or the transfers function.
-- Arguments after `--`: data file, mode (uniform|hot), kind (rpc|function), key prefix.
-- The data file (written by bench/_http_load.py) returns {anon = key, currency = code,
-- accounts = {{account_id, token}, ...}}; each request moves 0.01 from an account of
-- one user, with that user's token, under a fresh idempotency key. A path in the URL
-- given to wrk (the gateway's /rest/v1) prefixes the request paths.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

local data, accounts, count, mode, kind, prefix, sent
local base = wrk.path:gsub("/$", "")

function init(args)
  data = dofile(args[1])
  accounts = data.accounts
  count = #accounts
  mode = args[2]
  kind = args[3]
  prefix = args[4] .. "-" .. tostring(thread_no) .. "-"
  sent = 0
  math.randomseed(os.time() * 1000 + thread_no)
end

local function pick()
  if mode == "hot" then
    return accounts[math.random(2, count)], accounts[1]
  end
  local src = math.random(1, count)
  local dst = math.random(1, count - 1)
  if dst >= src then dst = dst + 1 end
  return accounts[src], accounts[dst]
end

function request()
  sent = sent + 1
  local src, dst = pick()
  local key = prefix .. sent
  if kind == "rpc" then
    local body = '{"p_from_account_id":"' .. src[1] .. '","p_to_account_id":"' .. dst[1]
      .. '","p_amount":"0.01","p_currency":"' .. data.currency
      .. '","p_idempotency_key":"' .. key .. '"}'
    return wrk.format("POST", base .. "/rpc/transfer_funds", {
      ["Content-Type"] = "application/json",
      ["apikey"] = data.anon,
      ["Authorization"] = "Bearer " .. src[2],
    }, body)
  end
  local body = '{"from_account_id":"' .. src[1] .. '","to_account_id":"' .. dst[1]
    .. '","amount":"0.01","currency":"' .. data.currency .. '"}'
  return wrk.format("POST", base .. "/transfers", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. src[2],
    ["Idempotency-Key"] = key,
  }, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
