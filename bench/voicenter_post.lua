-- wrk script: POST one Voicenter CDR per request, each with its own ivruniqueid (BENCH-<thread>-<n>), as JSON,
-- XML-RPC or form (`wrk ... -s voicenter_post.lua <url> -- <format> [ack-file-prefix]`).
-- Run with as many threads as connections: each thread then has one connection and no pipelining, so its
-- n-th response answers its n-th request, and the ids it saw acknowledged (Err 0) are known exactly. Each
-- thread writes the numbers of the responses that were not Err 0 to <prefix>-<thread>.nack, and done()
-- prints per thread how many responses came back, so the bench judges losses by id.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  fmt = args[1] or "json"
  prefix = args[2]
  answered = 0
  if fmt == "json" then
    ctype, okmark = "application/json", '"Err": 0'
  elseif fmt == "xmlrpc" then
    ctype, okmark = "text/xml", "<name>Err</name>\n<value><int>0</int>"
  else
    ctype, okmark = "application/x-www-form-urlencoded", "Err=0&"
  end
end

local function body(id)
  if fmt == "json" then
    return string.format(
      '{"ivruniqueid":"%s","type":"Queue","status":"ANSWER","time":1795132800,"duration":42,' ..
      '"dialtime":3,"caller":"0501234567","did":"0722776772","queueid":111,"queuename":"Sales Queue",' ..
      '"representative_code":"1001","representative_name":"Noa Levi","seconds_waiting_in_queue":7,' ..
      '"IVR":[{"layer_id":1234,"layer_name":"Main IVR","Dtmf":2,"dtmf_order":1}]}', id)
  elseif fmt == "xmlrpc" then
    local function member(name, kind, value)
      return string.format("<member><name>%s</name><value><%s>%s</%s></value></member>", name, kind, value, kind)
    end
    return "<?xml version='1.0'?><methodCall><methodName>cdr.notify</methodName><params><param><value><struct>" ..
      member("ivruniqueid", "string", id) .. member("type", "string", "Queue") ..
      member("status", "string", "ANSWER") .. member("time", "int", "1795132800") ..
      member("duration", "int", "42") .. member("dialtime", "int", "3") ..
      member("caller", "string", "0501234567") .. member("did", "string", "0722776772") ..
      member("queueid", "int", "111") .. member("queuename", "string", "Sales Queue") ..
      member("representative_code", "string", "1001") .. member("representative_name", "string", "Noa Levi") ..
      member("seconds_waiting_in_queue", "int", "7") ..
      "<member><name>IVR</name><value><array><data><value><struct>" ..
      member("layer_id", "int", "1234") .. member("layer_name", "string", "Main IVR") ..
      member("Dtmf", "int", "2") .. member("dtmf_order", "int", "1") ..
      "</struct></value></data></array></value></member></struct></value></param></params></methodCall>"
  else
    return "ivruniqueid=" .. id .. "&type=Queue&status=ANSWER&time=1795132800&duration=42&dialtime=3" ..
      "&caller=0501234567&did=0722776772&queueid=111&queuename=Sales+Queue&representative_code=1001" ..
      "&representative_name=Noa+Levi&seconds_waiting_in_queue=7" ..
      "&IVR=%5B%7B%22layer_id%22%3A1234%2C%22layer_name%22%3A%22Main+IVR%22%2C%22Dtmf%22%3A2%2C" ..
      "%22dtmf_order%22%3A1%7D%5D"
  end
end

function request()
  -- Named after the response that will answer it: one connection per thread, no pipelining, so request() is
  -- called once the previous response is in. (wrk calls request() once more, unsent, to check the script; a
  -- request re-sent after a broken connection keeps its id, as Voicenter's re-sends do.)
  return wrk.format("POST", nil, {["Content-Type"] = ctype}, body(string.format("BENCH-%d-%d", tid, answered + 1)))
end

function response(status, headers, text)
  answered = answered + 1
  if status ~= 200 or not string.find(text, okmark, 1, true) then
    if prefix then
      local fh = io.open(string.format("%s-%d.nack", prefix, tid), "a")
      fh:write(answered, "\n")
      fh:close()
    end
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    table.insert(counts, string.format('"%d": %d', thread:get("tid"), thread:get("answered")))
  end
  io.write(string.format('RESULT {"requests": %d, "non2xx": %d, "socket_errors": %d, "seconds": %.3f, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "answered": {%s}}\n', summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(counts, ", ")))
end
