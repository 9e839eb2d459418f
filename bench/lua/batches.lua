-- wrk script: one batch of transfers per request, through the transfers function.
-- Arguments after `--`: data file, batch size, key prefix. The data file (written by
-- bench/_http_load.py) returns {anon = key, currency = code, accounts = {{account_id,
-- token}, ...}}; each request sends `size` transfers of 0.01 from one random account,
-- with its owner's token, to random other accounts, under a fresh idempotency key.
-- A path in the URL given to wrk prefixes the request path.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

local data, accounts, count, size, prefix, sent
local base = wrk.path:gsub("/$", "")

function init(args)
  data = dofile(args[1])
  accounts = data.accounts
  count = #accounts
  size = tonumber(args[2])
  prefix = args[3] .. "-" .. tostring(thread_no) .. "-"
  sent = 0
  math.randomseed(os.time() * 1000 + thread_no)
end

function request()
  sent = sent + 1
  local src = math.random(1, count)
  local items = {}
  for i = 1, size do
    local dst = math.random(1, count - 1)
    if dst >= src then dst = dst + 1 end
    items[i] = '{"from_account_id":"' .. accounts[src][1] .. '","to_account_id":"'
      .. accounts[dst][1] .. '","amount":"0.01","currency":"' .. data.currency .. '"}'
  end
  return wrk.format("POST", base .. "/transfers/batch", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. accounts[src][2],
    ["Idempotency-Key"] = prefix .. sent,
  }, '{"transfers":[' .. table.concat(items, ",") .. ']}')
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
