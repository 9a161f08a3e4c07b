-- wrk script: every request holds a DIFFERENT (unit, night), so all of them can succeed.
--
--   wrk ... -s prereserve.lua URL -- <base_index> <threads> <unit_ids_csv> <first_epoch_day> <tag>
--
-- Request k of thread t (of T threads) gets the global index i = base + k*T + t; it books
-- unit ids[i mod #ids] for the single night first_day + floor(i / #ids). Consecutive runs pass
-- a base past the previous run's last index, so no two requests of a whole bench ever collide.
-- The phone is unique per request ("+54911" .. tag .. i) so no per-contact limit could bite.

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local base, nthreads, ids, nids, first_day, tag
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  base = tonumber(args[1])
  nthreads = tonumber(args[2])
  ids = {}
  for id in string.gmatch(args[3], "%d+") do table.insert(ids, tonumber(id)) end
  nids = #ids
  first_day = tonumber(args[4])
  tag = args[5] or "0"
  tid = tid or 0
end

local function day(d) return os.date("!%Y-%m-%d", d * 86400) end

function request()
  local i = base + counter * nthreads + tid
  counter = counter + 1
  local unit = ids[(i % nids) + 1]
  local night = first_day + math.floor(i / nids)
  local body = string.format(
    '{"accommodation_id":%d,"check_in":"%s","check_out":"%s","guests":2,"channel":"api",' ..
    '"contact_name":"Bench","contact_phone":"+54911%s%08d"}',
    unit, day(night), day(night + 1), tag, i)
  return wrk.format("POST", "/api/v1/reservations/pre-reserve", headers, body)
end
