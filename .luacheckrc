-- luacheck for the Lightroom Classic plugin and its Lua test harness.
-- Lightroom runs plug-ins in a Lua 5.1 sandbox: the 5.1 standard library less package,
-- module, setfenv/getfenv, print, collectgarbage, newproxy and xpcall; os cut down to clock,
-- date, time and tmpname; plus the SDK's globals (import, _PLUGIN, LOC, MAC_ENV, WIN_ENV).

local lua51 = {
  "assert", "error", "getmetatable", "ipairs", "load", "loadstring", "next", "pairs", "pcall",
  "rawequal", "rawget", "rawset", "require", "select", "setmetatable", "tonumber", "tostring",
  "type", "unpack", "_VERSION", "coroutine", "debug", "io", "math", "string", "table", "dofile",
}

local lightroom = { read_globals = { "import", "_PLUGIN", "LOC", "MAC_ENV", "WIN_ENV" } }
for _, name in ipairs(lua51) do
  table.insert(lightroom.read_globals, name)
end
lightroom.read_globals.os = { fields = { "clock", "date", "time", "tmpname" } }

stds.lightroom = lightroom
-- Info.lua runs before the SDK is loaded: only these names exist there.
stds.lightroom_info = { read_globals = { "LOC", "MAC_ENV", "WIN_ENV", "_VERSION", "string" } }

std = "lightroom"
max_line_length = 120
files["lua_plugin/**/Info.lua"] = { std = "lightroom_info" }
-- The fake SDK is the harness's own Lua, run by lupa outside the sandbox it builds.
files["tests/lua/fake_sdk"] = { std = "lua51", self = false }
