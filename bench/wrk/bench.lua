-- wrk script for the benchmark: rotates one request header (BENCH_WRK_HEADER, e.g.
-- Authorization or Cookie) over the values in the file BENCH_WRK_VALUES (one a line; none
-- = no header), and prints the numbers the driver reads as one "BENCH k=v ..." line.
local name = os.getenv("BENCH_WRK_HEADER") or ""
local file = os.getenv("BENCH_WRK_VALUES") or ""
local values = {}
if name ~= "" and file ~= "" then
  for line in io.lines(file) do
    if line ~= "" then values[#values + 1] = line end
  end
end
local i = 0

-- Each wrk thread starts at a different place in the list.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  if #values > 0 then i = ((tid or 1) * 31) % #values end
end

function request()
  if #values == 0 then
    return wrk.format("GET")
  end
  i = i % #values + 1
  return wrk.format("GET", nil, { [name] = values[i] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
