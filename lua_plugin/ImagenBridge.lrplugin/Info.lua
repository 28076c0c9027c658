--[[ Imagen Bridge for Lightroom Classic.

Runs in Lightroom's reduced Info.lua environment (LOC, MAC_ENV, WIN_ENV, string only):
nothing here may require or import. The VERSION matches the bridge's package version.
]]

local editTitle = LOC "$$$/ImagenBridge/Menu/Edit=Edit with Imagen..."
local applyTitle = LOC "$$$/ImagenBridge/Menu/Apply=Apply Finished Imagen Edits"
local jobsTitle = LOC "$$$/ImagenBridge/Menu/Jobs=Imagen Jobs..."
local deliverTitle = LOC "$$$/ImagenBridge/Menu/Deliver=Deliver Exported Photos..."

local menuItems = {
  { title = editTitle, file = "EditWithImagen.lua", enabledWhen = "photosSelected" },
  { title = applyTitle, file = "ApplyFinished.lua" },
  { title = jobsTitle, file = "ImagenJobs.lua" },
  { title = deliverTitle, file = "DeliverExported.lua" },
}

return {
  LrSdkVersion = 14.0,
  LrSdkMinimumVersion = 6.0,
  LrToolkitIdentifier = "org.imagenbridge.lightroom",
  LrPluginName = LOC "$$$/ImagenBridge/PluginName=Imagen Bridge",
  LrPluginInfoUrl = "https://imagen-ai.com",
  LrPluginInfoProvider = "PluginInfoProvider.lua",
  -- Library > Plug-in Extras
  LrLibraryMenuItems = menuItems,
  -- File > Plug-in Extras
  LrExportMenuItems = menuItems,
  VERSION = { major = 0, minor = 1, revision = 0, build = 1, display = "0.1.0" },
}
