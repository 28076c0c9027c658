--[[ The plugin's one logger. Lightroom writes it to ImagenBridge.log in its log folder
(LrClassicLogs since LrC 14); the Plug-in Manager's "Show log file" reveals it.
Never log the token. ]]

local LrLogger = import "LrLogger"

local log = LrLogger("ImagenBridge")
log:enable("logfile")

return log
