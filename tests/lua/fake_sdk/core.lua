--[[ The fake Lightroom's core: cooperative tasks on a virtual clock, the plug-in sandbox,
import/require, LrTasks, LrFunctionContext and LrErrors.

Rules enforced as Lightroom documents them (shared/reference/lightroom-sdk.md):
- calls that yield (LrTasks.sleep/yield, LrHttp, metadata reads, modal dialogs) fail outside
  an asynchronous task and inside catalog:withWriteAccessDo;
- a plain pcall around a yield fails (Lua 5.1's own C-call boundary), LrTasks.pcall does not;
- plug-in code runs with Lightroom's globals only: no print, package, module, setfenv,
  getfenv, collectgarbage, xpcall; os has clock, date, time, tmpname; import knows only Lr*
  modules; require loads files from the plug-in folder only; plug-in code sets no globals.
]]

return function(H)
  H.clock = 0
  H.tasks = {}
  H.taskSeq = 0
  H.current = nil
  H.gateDepth = 0
  H.quit = false
  H.taskErrors = {}
  H.modules = {}
  H.pluginModules = {}

  local function pack(...)
    return { n = select("#", ...), ... }
  end
  H.pack = pack

  function H.deepcopy(v)
    if type(v) ~= "table" then
      return v
    end
    local copy = {}
    for k, x in pairs(v) do
      copy[H.deepcopy(k)] = H.deepcopy(x)
    end
    return copy
  end

  --- Every SDK call that may yield goes through here first.
  function H.mayYield(what)
    if H.gateDepth > 0 then
      error(what .. ": yielding is not allowed inside catalog:withWriteAccessDo", 3)
    end
    if not H.current then
      error(what .. " can only be called within an asynchronous task", 3)
    end
    coroutine.yield()
  end

  function H.sleep(seconds)
    if H.gateDepth > 0 then
      error("LrTasks.sleep: yielding is not allowed inside catalog:withWriteAccessDo", 3)
    end
    if not H.current then
      error("LrTasks.sleep can only be called within an asynchronous task", 3)
    end
    coroutine.yield({ sleep = seconds })
  end

  function H.startTask(fn, name)
    H.taskSeq = H.taskSeq + 1
    H.tasks[#H.tasks + 1] = {
      co = coroutine.create(fn), name = name or ("task " .. H.taskSeq), wake = H.clock, seq = H.taskSeq,
    }
  end

  --- Runs tasks until none is left or Lightroom "quits"; sleeping advances the clock.
  function H.run(maxSteps)
    local steps = 0
    while #H.tasks > 0 and not H.quit do
      steps = steps + 1
      if maxSteps and steps > maxSteps then
        error("fake Lightroom: tasks still running after " .. maxSteps .. " steps")
      end
      local pick, pickIndex
      for i, task in ipairs(H.tasks) do
        if not pick or task.wake < pick.wake or (task.wake == pick.wake and task.seq < pick.seq) then
          pick, pickIndex = task, i
        end
      end
      if pick.wake > H.clock then
        H.clock = pick.wake
      end
      H.current = pick
      local ok, request = coroutine.resume(pick.co)
      H.current = nil
      if not ok then
        table.remove(H.tasks, pickIndex)
        H.taskErrors[#H.taskErrors + 1] = { task = pick.name, error = tostring(request) }
      elseif coroutine.status(pick.co) == "dead" then
        table.remove(H.tasks, pickIndex)
      else
        H.taskSeq = H.taskSeq + 1
        pick.seq = H.taskSeq
        pick.wake = H.clock + (type(request) == "table" and request.sleep or 0)
      end
    end
  end

  -- LrTasks -------------------------------------------------------------------------

  local LrTasks = {}

  function LrTasks.startAsyncTask(fn, name)
    H.startTask(fn, name)
  end
  LrTasks.startAsyncTaskWithoutErrorHandler = LrTasks.startAsyncTask

  function LrTasks.yield()
    H.mayYield("LrTasks.yield")
  end

  function LrTasks.sleep(seconds)
    H.sleep(seconds)
  end

  function LrTasks.canYield()
    return H.current ~= nil and H.gateDepth == 0
  end

  --- A pcall through which yields pass: the function runs in its own coroutine and each of
  -- its yields is handed on to whoever resumes us.
  function LrTasks.pcall(fn, ...)
    local co = coroutine.create(fn)
    local result = pack(coroutine.resume(co, ...))
    while true do
      if not result[1] then
        return false, result[2]
      end
      if coroutine.status(co) == "dead" then
        return true, unpack(result, 2, result.n)
      end
      result = pack(coroutine.resume(co, coroutine.yield(unpack(result, 2, result.n))))
    end
  end

  function LrTasks.execute(command)
    H.mayYield("LrTasks.execute")
    H.executed[#H.executed + 1] = command
    return 0
  end
  H.executed = {}

  H.modules.LrTasks = LrTasks

  -- LrErrors ------------------------------------------------------------------------

  local CANCELED = "canceled by the user [LrErrors]"
  H.modules.LrErrors = {
    throwUserError = function(text)
      error(text, 0)
    end,
    throwCanceled = function()
      error(CANCELED, 0)
    end,
    isCanceledError = function(err)
      return err == CANCELED
    end,
  }

  -- LrFunctionContext ---------------------------------------------------------------

  local Context = {}
  Context.__index = Context

  function Context:addCleanupHandler(fn)
    self.cleanups[#self.cleanups + 1] = fn
  end

  function Context:addFailureHandler(fn)
    self.failures[#self.failures + 1] = fn
  end

  function Context:addOperationTitleForError(title)
    self.title = title
  end

  local function callWithContext(name, fn, ...)
    local context = setmetatable({ name = name, cleanups = {}, failures = {} }, Context)
    local result = pack(LrTasks.pcall(fn, context, ...))
    if not result[1] then
      for _, handler in ipairs(context.failures) do
        LrTasks.pcall(handler, false, result[2])
      end
    end
    for i = #context.cleanups, 1, -1 do
      LrTasks.pcall(context.cleanups[i], unpack(result, 1, result.n))
    end
    return result
  end

  H.modules.LrFunctionContext = {
    callWithContext = function(name, fn, ...)
      local result = callWithContext(name, fn, ...)
      if not result[1] then
        error(result[2], 0)
      end
      return unpack(result, 2, result.n)
    end,
    pcallWithContext = function(name, fn, ...)
      local result = callWithContext(name, fn, ...)
      return unpack(result, 1, result.n)
    end,
    postAsyncTaskWithContext = function(name, fn)
      H.startTask(function()
        local result = callWithContext(name, fn)
        if not result[1] then
          error(result[2], 0)
        end
      end, name)
    end,
  }

  -- The sandbox ---------------------------------------------------------------------

  function H.import(name)
    local module = H.modules[name]
    if type(name) ~= "string" or not name:match("^Lr%w+$") or not module then
      error("import: no Lightroom SDK namespace " .. tostring(name), 2)
    end
    return module
  end

  function H.LOC(text, ...)
    local args = { ... }
    local value = tostring(text):match("^%$%$%$[^=]*=(.*)$") or tostring(text)
    return (value:gsub("%^(%d)", function(n) return tostring(args[tonumber(n)] or "") end))
  end

  local function copyTable(t)
    local copy = {}
    for k, v in pairs(t) do
      copy[k] = v
    end
    return copy
  end

  local SAFE = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
    "type", "unpack", "setmetatable", "getmetatable", "rawget", "rawset", "rawequal", "loadstring",
  }

  function H.makeEnv()
    local env = {}
    for _, name in ipairs(SAFE) do
      env[name] = _G[name]
    end
    env._VERSION = _VERSION
    env.string = copyTable(string)
    env.table = copyTable(table)
    env.math = copyTable(math)
    env.coroutine = copyTable(coroutine)
    env.os = {
      clock = os.clock, date = os.date, tmpname = os.tmpname,
      time = function(t) return t and os.time(t) or (os.time() + math.floor(H.clock)) end,
    }
    env.io = { open = io.open, lines = io.lines }
    env.import = H.import
    env.require = H.require
    env.LOC = H.LOC
    env.WIN_ENV = H.windows or false
    env.MAC_ENV = not H.windows
    env._PLUGIN = H.plugin
    return setmetatable(env, {
      __newindex = function(_, key)
        error("plug-in code set the global '" .. tostring(key) .. "'; modules must use locals", 2)
      end,
      __index = function(_, key)
        error("'" .. tostring(key) .. "' is not a global in Lightroom's plug-in sandbox", 2)
      end,
    })
  end

  local function loadPluginFile(name, env)
    local path = H.plugin.path .. "/" .. name
    local chunk, err = loadfile(path)
    if not chunk then
      error("cannot load " .. name .. ": " .. tostring(err), 3)
    end
    setfenv(chunk, env)
    return chunk
  end

  function H.require(name)
    if type(name) ~= "string" or not name:match("^[%w_]+$") then
      error("require: plug-in modules are named by a plain file name, not " .. tostring(name), 2)
    end
    if H.pluginModules[name] == nil then
      local file = io.open(H.plugin.path .. "/" .. name .. ".lua", "rb")
      if not file then
        error("require: no module '" .. name .. "' in the plug-in folder", 2)
      end
      file:close()
      local value = loadPluginFile(name .. ".lua", H.env)()
      if type(value) ~= "table" then
        error("module " .. name .. " returned " .. type(value) .. ", not a table", 2)
      end
      H.pluginModules[name] = value
    end
    return H.pluginModules[name]
  end

  --- Info.lua's table, read in Lightroom's reduced Info environment.
  function H.loadInfo()
    local env = setmetatable({
      LOC = H.LOC, WIN_ENV = H.windows or false, MAC_ENV = not H.windows, _VERSION = _VERSION,
      string = copyTable(string),
    }, {
      __index = function(_, key)
        error("Info.lua used '" .. tostring(key) .. "', which Lightroom does not offer there", 2)
      end,
    })
    return loadPluginFile("Info.lua", env)()
  end

  --- Runs a plug-in script the way Lightroom runs a menu item's file.
  function H.runScript(file)
    loadPluginFile(file, H.env)()
  end

  --- Calls fn as a task and runs the scheduler; used for plug-in functions the test calls.
  function H.callInTask(fn, ...)
    local args = pack(...)
    local result
    H.startTask(function()
      result = pack(LrTasks.pcall(fn, unpack(args, 1, args.n)))
    end, "test call")
    H.run()
    if not result then
      error("the call did not finish (Lightroom quit?)")
    end
    if not result[1] then
      error(result[2], 0)
    end
    return unpack(result, 2, result.n)
  end
end
