--[[ "Start bridge": runs the paired `imagen-bridge serve` in the background, from a task,
so Lightroom never waits for it. ]]

local LrTasks = import "LrTasks"

local Log = require "Log"

local BridgeLauncher = {}

local function quote(arg)
  if WIN_ENV then
    return '"' .. arg:gsub('"', "") .. '"'
  end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

--- The shell command that starts the bridge detached, or nil and what to do.
function BridgeLauncher.command(pairing)
  local argv = pairing and pairing.serveCommand
  if type(argv) ~= "table" or #argv == 0 then
    return nil, "No bridge command is paired. Run `imagen-bridge install-plugin` in a terminal, "
      .. "or start the bridge yourself with `imagen-bridge serve`."
  end
  local parts = {}
  for i, arg in ipairs(argv) do
    if type(arg) ~= "string" then
      return nil, "The paired bridge command is damaged. Run `imagen-bridge install-plugin` again."
    end
    parts[i] = quote(arg)
  end
  local joined = table.concat(parts, " ")
  if WIN_ENV then
    -- cmd.exe strips one pair of outer quotes from the whole line.
    return '"start "" /B ' .. joined .. '"'
  end
  return joined .. " >/dev/null 2>&1 &"
end

--- Starts the bridge; onDone(ok, message) is called from the task when the launch returned.
function BridgeLauncher.start(pairing, onDone)
  local command, problem = BridgeLauncher.command(pairing)
  if not command then
    onDone(false, problem)
    return
  end
  LrTasks.startAsyncTask(function()
    Log:infof("starting the bridge: %s", command)
    local status = LrTasks.execute(command)
    if status == 0 then
      onDone(true, "The bridge is starting; Test connection in a few seconds.")
    else
      onDone(false, "Starting the bridge failed (exit status " .. tostring(status) .. "). Start it in a "
        .. "terminal with `imagen-bridge serve` to see why.")
    end
  end, "Start Imagen bridge")
end

return BridgeLauncher
