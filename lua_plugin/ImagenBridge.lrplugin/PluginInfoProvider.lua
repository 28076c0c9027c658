--[[ The plug-in's section in File > Plug-in Manager: where the bridge is, whether it
answers and with which version, Test connection, Start bridge, Show log file, pairing. ]]

local LrFileUtils = import "LrFileUtils"
local LrPathUtils = import "LrPathUtils"
local LrShell = import "LrShell"
local LrTasks = import "LrTasks"
local LrView = import "LrView"

local BridgeClient = require "BridgeClient"
local BridgeLauncher = require "BridgeLauncher"
local Pairing = require "Pairing"

local PluginInfoProvider = {}

--- Where Lightroom writes this plugin's log: LrClassicLogs since LrC 14, Documents before.
function PluginInfoProvider.logFile()
  local name = "ImagenBridge.log"
  local folder
  if WIN_ENV then
    -- appData is ...\AppData\Roaming\Adobe\Lightroom; the logs are under AppData\Local.
    local appData = LrPathUtils.getStandardFilePath("appData")
    local root = LrPathUtils.parent(LrPathUtils.parent(LrPathUtils.parent(appData)))
    folder = LrPathUtils.child(root, "Local\\Adobe\\Lightroom\\Logs\\LrClassicLogs")
  else
    folder = LrPathUtils.child(LrPathUtils.getStandardFilePath("home"), "Library/Logs/Adobe/Lightroom/LrClassicLogs")
  end
  local path = LrPathUtils.child(folder, name)
  if LrFileUtils.exists(path) then
    return path
  end
  return LrPathUtils.child(LrPathUtils.getStandardFilePath("documents"), name)
end

local function refresh(props)
  local pairing, problem = Pairing.load()
  props.pairing = pairing
  if not pairing then
    props.address = "(not paired)"
    props.pairingText = problem
    props.status = "Not paired"
    props.bridgeVersion = "-"
    return
  end
  props.address = pairing.baseUrl
  props.pairingText = "Paired by " .. Pairing.path() .. " (address from " .. pairing.source .. ")."
  props.status = "Checking..."
  LrTasks.startAsyncTask(function()
    local client = BridgeClient.new(pairing.baseUrl, pairing.token)
    local health, err = client:health()
    if health then
      props.status = string.format("Connected (%s backend)", tostring(health.backend))
      props.bridgeVersion = string.format("%s (API %s)", tostring(health.version), tostring(health.api_version))
    else
      props.status = err.message
      props.bridgeVersion = "-"
    end
  end, "Test Imagen bridge connection")
end

function PluginInfoProvider.startDialog(props)
  refresh(props)
end

function PluginInfoProvider.sectionsForTopOfDialog(f, props)
  local bind = LrView.bind
  local function row(label, key)
    return f:row {
      f:static_text { title = label, width = LrView.share "imagen_label" },
      f:static_text { title = bind(key), fill_horizontal = 1, height_in_lines = -1 },
    }
  end
  return {
    {
      title = "Imagen Bridge",
      bind_to_object = props,
      row("Bridge address:", "address"),
      row("Status:", "status"),
      row("Bridge version:", "bridgeVersion"),
      row("Pairing:", "pairingText"),
      f:row {
        f:push_button { title = "Test connection", action = function() refresh(props) end },
        f:push_button {
          title = "Start bridge",
          action = function()
            BridgeLauncher.start(props.pairing, function(_, message)
              props.status = message
            end)
          end,
        },
        f:push_button {
          title = "Show log file",
          action = function() LrShell.revealInShell(PluginInfoProvider.logFile()) end,
        },
      },
      f:static_text {
        title = "To pair again (a new token, another port, a moved bridge), run "
          .. "`imagen-bridge install-plugin` in a terminal and restart Lightroom.",
        height_in_lines = 2, fill_horizontal = 1,
      },
    },
  }
end

return PluginInfoProvider
