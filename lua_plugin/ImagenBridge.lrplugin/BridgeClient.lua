--[[ The bridge's localhost API (docs/api.md) over LrHttp: JSON, bearer token, clear errors.

Every call returns the decoded answer, or nil and an error {code=, message=, status=}:
  not_paired     no pairing file yet
  not_running    nothing answers at the bridge's address
  unauthorized   the bridge refused the token (401)
  timeout        the bridge did not answer in time
  incompatible   the bridge speaks another API version
  canceled       Lightroom canceled the request
  bad_response   an answer that is not the API's JSON
  http_error     the bridge answered with an error; message is its own
The message always says what to do. LrHttp must run inside a task; so must every call here.
]]

local LrHttp = import "LrHttp"
local LrTasks = import "LrTasks"

local Json = require "Json"
local Log = require "Log"
local Pairing = require "Pairing"

local BridgeClient = {}
BridgeClient.__index = BridgeClient

BridgeClient.API_VERSION = 1
BridgeClient.DEFAULT_TIMEOUT = 30
-- LrHttp's timeout is per connection phase: a long poll needs its wait plus headroom.
BridgeClient.POLL_WAIT = 5
local POLL_HEADROOM = 20

local function failure(code, message, status)
  return nil, { code = code, message = message, status = status }
end

--- A client for the paired bridge, or nil and an error.
function BridgeClient.connect()
  local pairing, message = Pairing.load()
  if not pairing then
    return failure("not_paired", message)
  end
  return BridgeClient.new(pairing.baseUrl, pairing.token)
end

function BridgeClient.new(baseUrl, token)
  return setmetatable({ baseUrl = baseUrl, token = token }, BridgeClient)
end

local NOT_RUNNING = {
  cannotConnectToHost = true, cannotFindHost = true, networkConnectionLost = true,
  notConnectedToInternet = true, badURL = false,
}

function BridgeClient:notRunningMessage()
  return "The Imagen bridge is not running at " .. self.baseUrl .. ". Start it with "
    .. "`imagen-bridge serve` in a terminal (or File > Plug-in Manager > Imagen Bridge > "
    .. "Start bridge), then try again."
end

local function urlEncode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local function query(params)
  local parts = {}
  for _, pair in ipairs(params) do
    if pair[2] ~= nil then
      parts[#parts + 1] = urlEncode(pair[1]) .. "=" .. urlEncode(pair[2])
    end
  end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

function BridgeClient:_interpret(method, path, body, hdrs, timeout)
  if type(hdrs) ~= "table" then
    return failure("bad_response", "The bridge sent no usable answer to " .. method .. " " .. path .. ".")
  end
  if hdrs.error then
    local code = type(hdrs.error) == "table" and hdrs.error.errorCode or tostring(hdrs.error)
    Log:warnf("%s %s: network error %s", method, path, tostring(code))
    if code == "timedOut" then
      return failure("timeout", string.format(
        "The Imagen bridge at %s did not answer within %d seconds. It may be busy or stuck: "
          .. "look at its log, or restart it (`imagen-bridge serve`).", self.baseUrl, timeout))
    elseif code == "cancelled" then
      return failure("canceled", "The request to the bridge was canceled.")
    elseif NOT_RUNNING[code] then
      return failure("not_running", self:notRunningMessage())
    end
    return failure("network", "Could not talk to the Imagen bridge at " .. self.baseUrl
      .. " (" .. tostring(code) .. "). Is it running? Start it with `imagen-bridge serve`.")
  end
  local status = tonumber(hdrs.status)
  local data = body and body ~= "" and Json.decode(body) or nil
  if status == 401 then
    return failure("unauthorized", "The Imagen bridge refused this plugin's token. Pair them "
      .. "again: run `imagen-bridge install-plugin` in a terminal, then restart Lightroom.", 401)
  end
  if status and status >= 200 and status < 300 then
    if type(data) ~= "table" then
      return failure("bad_response", "The bridge's answer to " .. method .. " " .. path
        .. " is not JSON. Is something else listening at " .. self.baseUrl .. "?", status)
    end
    return data
  end
  local err = type(data) == "table" and type(data.error) == "table" and data.error or {}
  local message = type(err.message) == "string" and err.message
    or ("The bridge answered " .. tostring(status) .. " to " .. method .. " " .. path .. ".")
  return nil, { code = "http_error", apiCode = err.code, message = message, status = status }
end

--- One request; body is a Lua table sent as JSON, or nil.
function BridgeClient:request(method, path, body, timeout, extraHeaders)
  timeout = timeout or BridgeClient.DEFAULT_TIMEOUT
  local headers = {
    { field = "Authorization", value = "Bearer " .. self.token },
    { field = "Accept", value = "application/json" },
  }
  for _, header in ipairs(extraHeaders or {}) do
    headers[#headers + 1] = header
  end
  local payload = ""
  if body ~= nil then
    local ok, encoded = LrTasks.pcall(Json.encode, body)
    if not ok then
      return failure("bad_request", "Could not encode the request for the bridge: " .. tostring(encoded))
    end
    payload = encoded
    headers[#headers + 1] = { field = "Content-Type", value = "application/json" }
  elseif method ~= "GET" then
    -- LrHttp adds "Content-Type: text/plain" unless told to skip it; the bridge refuses that.
    headers[#headers + 1] = { field = "Content-Type", value = "skip" }
  end
  local url = self.baseUrl .. path
  local responseBody, hdrs
  if method == "GET" then
    responseBody, hdrs = LrHttp.get(url, headers, timeout)
  else
    responseBody, hdrs = LrHttp.post(url, payload, headers, method, timeout)
  end
  return self:_interpret(method, path, responseBody, hdrs, timeout)
end

--- GET /v1/health, checked for a compatible api_version.
function BridgeClient:health()
  local health, err = self:request("GET", "/health", nil, 10)
  if not health then
    return nil, err
  end
  if health.api_version ~= BridgeClient.API_VERSION then
    return failure("incompatible", string.format(
      "The Imagen bridge at %s (version %s) speaks API version %s; this plugin needs version %d. "
        .. "Install matching versions: run `imagen-bridge install-plugin` from the bridge you use, "
        .. "then restart Lightroom.",
      self.baseUrl, tostring(health.version), tostring(health.api_version), BridgeClient.API_VERSION))
  end
  return health
end

function BridgeClient:profiles(refresh)
  local data, err = self:request("GET", "/profiles" .. query({ { "refresh", refresh and "true" or nil } }))
  if not data then
    return nil, err
  end
  return data.profiles or {}
end

--- POST /v1/jobs; the idempotency key makes a retried submit answer the job it created.
function BridgeClient:createJob(body, idempotencyKey)
  return self:request("POST", "/jobs", body, 120, { { field = "Idempotency-Key", value = idempotencyKey } })
end

function BridgeClient:job(id, since, wait)
  local params = { { "since", since }, { "wait", since and (wait or BridgeClient.POLL_WAIT) or nil } }
  local timeout = since and ((wait or BridgeClient.POLL_WAIT) + POLL_HEADROOM) or nil
  return self:request("GET", "/jobs/" .. urlEncode(id) .. query(params), nil, timeout)
end

function BridgeClient:jobs(states, limit)
  local params = {}
  for _, state in ipairs(states or {}) do
    params[#params + 1] = { "state", state }
  end
  params[#params + 1] = { "limit", limit or 50 }
  local data, err = self:request("GET", "/jobs" .. query(params))
  if not data then
    return nil, err
  end
  return data.jobs or {}
end

function BridgeClient:photos(id, state, withSettings)
  local params = { { "state", state }, { "settings", withSettings == false and "false" or nil } }
  local data, err = self:request("GET", "/jobs/" .. urlEncode(id) .. "/photos" .. query(params), nil, 120)
  if not data then
    return nil, err
  end
  return data.photos or {}
end

function BridgeClient:cancel(id)
  return self:request("POST", "/jobs/" .. urlEncode(id) .. "/cancel")
end

--- POST /v1/jobs/{id}/deliver: spec = {to=, folder=, tags={...}}; answers the job, running.
function BridgeClient:deliver(id, spec)
  local body = { to = spec.to, folder = spec.folder, tags = Json.array(spec.tags or {}) }
  return self:request("POST", "/jobs/" .. urlEncode(id) .. "/deliver", body)
end

--- reports: list of {index=, applied=, reason=}.
function BridgeClient:applied(id, reports)
  return self:request("POST", "/jobs/" .. urlEncode(id) .. "/applied", { photos = Json.array(reports) })
end

return BridgeClient
