--[[ The fake Lightroom's system modules: LrHttp (real HTTP through the test's Python
client), LrPathUtils, LrFileUtils, LrPrefs, LrLogger, LrShell.

LrHttp rules: only inside a task and outside write gates (it yields); headers are a list of
{field =, value =} tables; without a Content-Type header Lightroom adds "text/plain", and the
value "skip" leaves the header out; the answer is (body, hdrs) with hdrs.status and the
response headers as {field, value} entries, or (nil, {error = {errorCode, name, nativeCode}}).
LrPrefs stores copies: a nested table changed in place is not saved until it is assigned
again, as the SDK warns.
]]

return function(H)
  H.requests = {}
  H.logLines = {}
  H.revealed = {}

  local function checkHeaders(what, headers)
    if headers == nil then
      return {}
    end
    if type(headers) ~= "table" then
      error(what .. ": headers must be a list of { field = ..., value = ... } tables", 3)
    end
    local count = 0
    for _ in pairs(headers) do
      count = count + 1
    end
    if count ~= #headers then
      error(what .. ": headers must be a list of { field = ..., value = ... } tables, not a dictionary", 3)
    end
    for _, h in ipairs(headers) do
      if type(h) ~= "table" or type(h.field) ~= "string" or type(h.value) ~= "string" then
        error(what .. ": each header is a { field = 'Name', value = 'text' } table", 3)
      end
    end
    return headers
  end

  local function request(what, method, url, headers, body, timeout)
    if H.gateDepth > 0 then
      error(what .. " is not allowed inside catalog:withWriteAccessDo", 3)
    end
    if H.beforeRequest then
      H.beforeRequest(method, url) -- the test may make Lightroom quit right here
    end
    H.mayYield(what)
    headers = checkHeaders(what, headers)
    if timeout ~= nil and type(timeout) ~= "number" then
      error(what .. ": timeout must be a number of seconds", 3)
    end
    local sent, hasType = {}, false
    for _, h in ipairs(headers) do
      if h.field:lower() == "content-type" then
        hasType = true
      end
      if h.value ~= "skip" then
        sent[#sent + 1] = { h.field, h.value }
      end
    end
    if not hasType then
      sent[#sent + 1] = { "Content-Type", "text/plain" }
    end
    H.requests[#H.requests + 1] = { method = method, url = url, headers = sent, body = body }
    local status, responseBody, responseHeaders = H.pyHttp(method, url, sent, body or "", timeout or 30)
    if type(status) ~= "number" then
      return nil, { error = { errorCode = status, name = status, nativeCode = -1 } }
    end
    local hdrs = { status = status }
    for _, pair in ipairs(responseHeaders or {}) do
      hdrs[#hdrs + 1] = { field = pair[1], value = pair[2] }
    end
    return responseBody, hdrs
  end

  H.modules.LrHttp = {
    get = function(url, headers, timeout)
      return request("LrHttp.get", "GET", url, headers, nil, timeout)
    end,
    post = function(url, body, headers, method, timeout)
      if type(body) ~= "string" then
        error("LrHttp.post: the body must be a string here", 2)
      end
      return request("LrHttp.post", method or "POST", url, headers, body, timeout)
    end,
    openUrlInBrowser = function(url)
      H.revealed[#H.revealed + 1] = url
    end,
  }

  -- LrPathUtils / LrFileUtils -------------------------------------------------------

  -- The separator of the path's own style (a test may run Windows paths on a POSIX disk).
  local function sep(path)
    if path:find("\\", 1, true) and not path:find("/", 1, true) then
      return "\\"
    end
    return "/"
  end

  H.modules.LrPathUtils = {
    child = function(path, name)
      if path:sub(-1) == "/" or path:sub(-1) == "\\" then
        return path .. name
      end
      return path .. sep(path) .. name
    end,
    parent = function(path)
      local parent = path:match("^(.*)[/\\][^/\\]+[/\\]?$")
      if parent == "" then
        return sep(path)
      end
      return parent
    end,
    leafName = function(path)
      return path:match("([^/\\]+)[/\\]?$") or path
    end,
    extension = function(path)
      return path:match("%.([^./\\]+)$") or ""
    end,
    removeExtension = function(path)
      return (path:gsub("%.[^./\\]+$", ""))
    end,
    standardizePath = function(path)
      return path
    end,
    getStandardFilePath = function(name)
      local path = (H.state.standardPaths or {})[name]
      if not path then
        error("LrPathUtils.getStandardFilePath: unknown name " .. tostring(name), 2)
      end
      return path
    end,
  }

  H.modules.LrFileUtils = {
    exists = function(path)
      return H.fileKind(path)
    end,
    readFile = function(path)
      return H.readFile(path)
    end,
  }

  H.modules.LrShell = {
    revealInShell = function(path)
      H.revealed[#H.revealed + 1] = path
    end,
  }

  -- LrPrefs -------------------------------------------------------------------------

  local prefs
  H.modules.LrPrefs = {
    prefsForPlugin = function(pluginId)
      if pluginId ~= nil and pluginId ~= H.plugin.id then
        error("LrPrefs.prefsForPlugin: another plug-in's preferences", 2)
      end
      if not prefs then
        H.state.prefs = H.state.prefs or {}
        local methods = {
          pairs = function()
            return next, H.deepcopy(H.state.prefs), nil
          end,
        }
        prefs = setmetatable({}, {
          __index = function(_, key)
            if methods[key] then
              return methods[key]
            end
            return H.deepcopy(H.state.prefs[key])
          end,
          __newindex = function(_, key, value)
            local kind = type(value)
            if kind == "function" or kind == "userdata" or kind == "thread" then
              error("LrPrefs cannot store a " .. kind, 2)
            end
            H.state.prefs[key] = H.deepcopy(value)
          end,
        })
      end
      return prefs
    end,
  }

  -- LrLogger ------------------------------------------------------------------------

  local Logger = {}
  Logger.__index = Logger
  function Logger:enable() end
  for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
    Logger[level] = function(self, ...)
      local parts = {}
      for i = 1, select("#", ...) do
        parts[i] = tostring((select(i, ...)))
      end
      H.logLines[#H.logLines + 1] = level .. " " .. self.name .. ": " .. table.concat(parts, " ")
    end
    Logger[level .. "f"] = function(self, format, ...)
      H.logLines[#H.logLines + 1] = level .. " " .. self.name .. ": " .. string.format(format, ...)
    end
  end
  H.modules.LrLogger = setmetatable({}, {
    __call = function(_, name)
      return setmetatable({ name = name }, Logger)
    end,
  })
end
