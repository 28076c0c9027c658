--[[ Where the bridge is and the token it wants.

`imagen-bridge install-plugin` writes pairing.json into the installed plugin folder
(mode 0600; Lightroom itself cannot chmod, so the plugin never writes the token anywhere):

  {"port": 8717, "token": "...", "config_dir": "/Users/jörg/Library/Application Support/imagen-bridge",
   "serve_command": ["/path/to/imagen-bridge", "serve"], "bridge_version": "0.1.0"}

While the bridge serves, <config_dir>/server.json names its live address; it wins over the
paired port, so a bridge started on another port is still found.
]]

local LrPathUtils = import "LrPathUtils"
local LrFileUtils = import "LrFileUtils"

local Json = require "Json"

local Pairing = {}

Pairing.FILE_NAME = "pairing.json"
Pairing.DEFAULT_PORT = 8717

local function readJsonFile(path)
  if not path or LrFileUtils.exists(path) ~= "file" then
    return nil
  end
  local text = LrFileUtils.readFile(path)
  if not text then
    return nil, "cannot read " .. path
  end
  local value, err = Json.decode(text)
  if type(value) ~= "table" then
    return nil, path .. " is not valid JSON (" .. tostring(err or "not an object") .. ")"
  end
  return value
end

function Pairing.path()
  return LrPathUtils.child(_PLUGIN.path, Pairing.FILE_NAME)
end

local function validPort(port)
  return type(port) == "number" and port >= 1 and port <= 65535 and port == math.floor(port)
end

--- The pairing: {token=, port=, configDir=, serveCommand=, baseUrl=, source=}, or nil and a
-- message that says what to do.
function Pairing.load()
  local file = Pairing.path()
  local data, err = readJsonFile(file)
  if not data then
    return nil, err and ("The plugin's pairing file is damaged: " .. err
      .. ". Run `imagen-bridge install-plugin` again, then restart Lightroom.")
      or ("The plugin is not paired with the Imagen bridge yet (no " .. file .. "). Run "
      .. "`imagen-bridge install-plugin` in a terminal, then restart Lightroom.")
  end
  if type(data.token) ~= "string" or data.token == "" then
    return nil, "The pairing file " .. file .. " holds no token. Run `imagen-bridge install-plugin` again."
  end
  local port = validPort(data.port) and data.port or Pairing.DEFAULT_PORT
  local pairing = {
    token = data.token,
    port = port,
    configDir = type(data.config_dir) == "string" and data.config_dir or nil,
    serveCommand = data.serve_command,
    baseUrl = string.format("http://127.0.0.1:%d/v1", port),
    source = "paired port",
  }
  if pairing.configDir then
    local server = readJsonFile(LrPathUtils.child(pairing.configDir, "server.json"))
    if server and validPort(server.port) then
      pairing.port = server.port
      pairing.baseUrl = string.format("http://127.0.0.1:%d/v1", server.port)
      pairing.source = "server.json"
    end
  end
  return pairing
end

return Pairing
