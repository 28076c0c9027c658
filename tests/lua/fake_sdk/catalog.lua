--[[ The fake catalog: LrApplication, LrCatalog and LrPhoto over H.state.photos.

Rules enforced:
- getRawMetadata / batchGetRawMetadata take only the keys the SDK documents, else throw;
  they may yield (so: inside a task, outside write gates);
- photo look-ups (findPhotoByUuid/ByPath, getTargetPhotos) throw inside a write gate;
- catalog changes (applyDevelopSettings, createDevelopSnapshot, updateAISettings, addPhoto)
  throw outside withWriteAccessDo;
- withWriteAccessDo without timeout params throws while another write is open; with them it
  waits up to the timeout and returns "aborted" (without raising) if access never came;
- a non-raw photo ignores Temperature/Tint (Lightroom uses IncrementalTemperature there),
  and keys in H.state.ignoredKeys never take: the plug-in's read-back must notice.

A photo record: {uuid, path, fileFormat, isVideo, isVirtualCopy, masterUuid, copyName,
available, develop = {}, snapshots = {}, history = {}, aiUpdates = 0, stackWith, position}.
]]

return function(H)
  -- The raw metadata keys LrPhoto:getRawMetadata documents (Mossop/lightroom-lua stubs).
  local RAW_KEYS = {}
  for key in ([[fileSize rating dimensions croppedDimensions shutterSpeed aperture exposureBias
    flash isoSpeedRating focalLength focalLength35mm dateTimeOriginal dateTimeDigitized dateTime
    gps gpsAltitude countVirtualCopies virtualCopies masterPhoto isVirtualCopy
    countStackInFolderMembers stackInFolderMembers isInStackInFolder stackInFolderIsCollapsed
    stackPositionInFolder topOfStackInFolderContainingPhoto colorNameForLabel fileFormat width
    height aspectRatio isCropped lastEditTime editCount copyrightState uuid path isVideo
    durationInSeconds keywords customMetadata pickStatus trimmedDurationInSeconds durationRatio
    trimmedDurationRatio locationIsPrivate smartPreviewInfo gpsImgDirection bitDepth
    altTextAccessibility extDescrAccessibility isExported]]):gmatch("%S+") do
    RAW_KEYS[key] = true
  end
  local NON_RAW_IGNORED = { Temperature = true, Tint = true }
  local FORMATS = { dng = "DNG", jpg = "JPG", jpeg = "JPG", tif = "TIFF", tiff = "TIFF", psd = "PSD" }

  H.writeHeldUntil = -1
  H.gates = {}
  local objects = {}
  local Photo = {}
  Photo.__index = Photo

  local function record(uuid)
    for _, r in ipairs(H.state.photos) do
      if r.uuid == uuid then
        return r
      end
    end
  end

  local function photoObject(uuid)
    if not objects[uuid] then
      objects[uuid] = setmetatable({ _uuid = uuid }, Photo)
    end
    return objects[uuid]
  end
  H.photoObject = photoObject

  local function needGate(what)
    if H.gateDepth == 0 then
      error(what .. " must be called inside catalog:withWriteAccessDo", 3)
    end
  end

  local function noLookupInGate(what)
    if H.gateDepth > 0 then
      error(what .. ": photo look-ups are not allowed inside catalog:withWriteAccessDo", 3)
    end
  end

  local function rawValue(r, key)
    if not RAW_KEYS[key] then
      error("LrPhoto:getRawMetadata: unknown key '" .. tostring(key) .. "'", 3)
    end
    local master = r.isVirtualCopy and record(r.masterUuid) or r
    if key == "path" then
      return master.path
    elseif key == "fileFormat" then
      return master.fileFormat
    elseif key == "isVirtualCopy" then
      return r.isVirtualCopy == true
    elseif key == "masterPhoto" then
      return r.isVirtualCopy and photoObject(r.masterUuid) or nil
    elseif key == "uuid" then
      return r.uuid
    elseif key == "isVideo" then
      return master.fileFormat == "VIDEO" or r.isVideo == true
    end
    return nil
  end

  function Photo:getRawMetadata(key)
    H.mayYield("LrPhoto:getRawMetadata")
    return rawValue(record(self._uuid), key)
  end

  function Photo:checkPhotoAvailability()
    H.mayYield("LrPhoto:checkPhotoAvailability")
    local r = record(self._uuid)
    return r.available ~= false
  end

  function Photo:getDevelopSettings()
    return H.deepcopy(record(self._uuid).develop or {})
  end

  function Photo:applyDevelopSettings(settings, historyName, flatten)
    needGate("LrPhoto:applyDevelopSettings")
    if type(settings) ~= "table" then
      error("LrPhoto:applyDevelopSettings: settings must be a table", 2)
    end
    local r = record(self._uuid)
    local master = r.isVirtualCopy and record(r.masterUuid) or r
    r.develop = r.develop or {}
    for key, value in pairs(settings) do
      local kind = type(value)
      if kind ~= "number" and kind ~= "string" and kind ~= "boolean" and kind ~= "table" then
        error("LrPhoto:applyDevelopSettings: " .. key .. " has a " .. kind .. " value", 2)
      end
      local ignored = (H.state.ignoredKeys or {})[key]
        or (master.fileFormat ~= "RAW" and master.fileFormat ~= "DNG" and NON_RAW_IGNORED[key])
      if not ignored then
        r.develop[key] = H.deepcopy(value)
      end
    end
    r.history = r.history or {}
    r.history[#r.history + 1] = { name = historyName, flatten = flatten and true or false }
  end

  function Photo:createDevelopSnapshot(name, updateInPlace)
    needGate("LrPhoto:createDevelopSnapshot")
    local r = record(self._uuid)
    r.snapshots = r.snapshots or {}
    if r.snapshots[name] and not updateInPlace then
      return false
    end
    r.snapshots[name] = H.deepcopy(r.develop or {})
    return true
  end

  function Photo:updateAISettings()
    needGate("LrPhoto:updateAISettings")
    local r = record(self._uuid)
    r.aiUpdates = (r.aiUpdates or 0) + 1
  end

  function Photo:type()
    return "LrPhoto"
  end

  -- LrCatalog -----------------------------------------------------------------------

  local Catalog = {}
  Catalog.__index = Catalog

  function Catalog:getTargetPhotos()
    noLookupInGate("LrCatalog:getTargetPhotos")
    local photos = {}
    for _, uuid in ipairs(H.state.selection or {}) do
      photos[#photos + 1] = photoObject(uuid)
    end
    return photos
  end

  function Catalog:batchGetRawMetadata(photos, keys)
    H.mayYield("LrCatalog:batchGetRawMetadata")
    if type(keys) ~= "table" then
      error("LrCatalog:batchGetRawMetadata: keys must be a list of key names", 2)
    end
    local result = {}
    for _, photo in ipairs(photos) do
      local r = record(photo._uuid)
      local values = {}
      for _, key in ipairs(keys) do
        values[key] = rawValue(r, key)
      end
      result[photo] = values
    end
    return result
  end

  function Catalog:findPhotoByUuid(uuid)
    noLookupInGate("LrCatalog:findPhotoByUuid")
    return record(uuid) and photoObject(uuid) or nil
  end

  function Catalog:findPhotoByPath(path)
    noLookupInGate("LrCatalog:findPhotoByPath")
    for _, r in ipairs(H.state.photos) do
      if not r.isVirtualCopy and r.path == path then
        return photoObject(r.uuid)
      end
    end
    return nil
  end

  function Catalog:addPhoto(path, stackWith, position)
    needGate("LrCatalog:addPhoto")
    local ext = tostring(path):match("%.([^./\\]+)$")
    local format = ext and (FORMATS[ext:lower()] or (H.isRawExtension(ext) and "RAW"))
    if not H.fileExists(path) or not format then
      error("LrCatalog:addPhoto: cannot add " .. tostring(path) .. " (missing or unsupported)", 2)
    end
    for _, r in ipairs(H.state.photos) do
      if r.path == path then
        error("LrCatalog:addPhoto: " .. path .. " is already in the catalog", 2)
      end
    end
    H.uuidSeq = (H.uuidSeq or 0) + 1
    local uuid = string.format("ADDED-%04d-%d", H.uuidSeq, #H.state.photos)
    H.state.photos[#H.state.photos + 1] = {
      uuid = uuid, path = path, fileFormat = format, available = true, develop = {},
      stackWith = stackWith and stackWith._uuid or nil, position = position or "below", added = true,
    }
    return photoObject(uuid)
  end

  function Catalog:withWriteAccessDo(actionName, fn, timeoutParams)
    if type(actionName) ~= "string" then
      error("LrCatalog:withWriteAccessDo: the first argument is the action name for the Undo menu", 2)
    end
    if H.gateDepth > 0 then
      error("LrCatalog:withWriteAccessDo: could not execute action '" .. actionName
        .. "'. It was blocked by another write access call, and no timeout parameters were provided.", 2)
    end
    if not H.current then
      error("LrCatalog:withWriteAccessDo can only be called within an asynchronous task", 2)
    end
    if H.clock < H.writeHeldUntil then
      if type(timeoutParams) ~= "table" then
        error("LrCatalog:withWriteAccessDo: could not execute action '" .. actionName
          .. "'. It was blocked by another write access call, and no timeout parameters were provided.", 2)
      end
      if type(timeoutParams.timeout) ~= "number" then
        error("LrCatalog:withWriteAccessDo: timeoutParams must contain a 'timeout' number", 2)
      end
      local deadline = H.clock + timeoutParams.timeout
      while H.clock < H.writeHeldUntil and H.clock < deadline do
        H.sleep(math.min(0.5, deadline - H.clock))
      end
      if H.clock < H.writeHeldUntil then
        if timeoutParams.callback then
          timeoutParams.callback()
        end
        return "aborted"
      end
    end
    H.gateDepth = 1
    -- A plain pcall: a yield inside the gate fails just as it does in Lightroom.
    local ok, err = pcall(fn)
    H.gateDepth = 0
    H.gates[#H.gates + 1] = actionName
    if not ok then
      error(err, 0)
    end
    return "executed"
  end

  function Catalog:type()
    return "LrCatalog"
  end

  local catalog = setmetatable({}, Catalog)
  H.modules.LrApplication = {
    activeCatalog = function()
      return catalog
    end,
    versionTable = function()
      return { major = 14, minor = 0, revision = 0, build = 0 }
    end,
    versionString = function()
      return "14.0"
    end,
  }
end
