-- wrk script: GET one cabin's iCal export, optionally revalidating with If-None-Match.
--
--   wrk ... -s ical.lua http://127.0.0.1:PORT/ical/<slug>/<token>.ics [-- '"<etag>"']
--
-- Without an argument every answer is the full calendar (200); with the current ETag every
-- answer should be 304 Not Modified. wrk cannot tell 200 from 304 (both count as non-error), so
-- load.sh cross-checks with the server's ical_exports_total{result} counter.
function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["If-None-Match"] = args[1]
  end
end
