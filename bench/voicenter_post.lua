-- wrk script: POST one Voicenter JSON CDR per request, each with its own ivruniqueid.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"ivruniqueid":"BENCH-%d-%d","type":"Queue","status":"ANSWER","time":1795132800,"duration":42,' ..
    '"dialtime":3,"caller":"0501234567","did":"0722776772","queueid":111,"queuename":"Sales Queue",' ..
    '"representative_code":"1001","representative_name":"Noa Levi","seconds_waiting_in_queue":7,' ..
    '"IVR":[{"layer_id":1234,"layer_name":"Main IVR","Dtmf":2,"dtmf_order":1}]}', tid, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "non2xx": %d, "socket_errors": %d, "seconds": %.3f, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f}\n', summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
