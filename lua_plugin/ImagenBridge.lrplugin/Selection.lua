--[[ The selected photos as files to send: one entry per file on disk.

Reads metadata in one catalog:batchGetRawMetadata call with documented keys only (the SDK
throws on others), outside any write gate. Videos, unsupported formats and offline or
missing files are skipped with a reason. A virtual copy shares its master's file: the file
is sent once, and every selected photo of it (master and copies) gets the settings back.
Paths go to the bridge as Lightroom knows them; the bridge reads the files itself.
]]

local LrPathUtils = import "LrPathUtils"

local Selection = {}

Selection.METADATA_KEYS = { "path", "fileFormat", "isVirtualCopy", "masterPhoto", "uuid", "isVideo" }

-- Lightroom's fileFormat -> the bridge's image type (Imagen edits DNG as a raw).
local IMAGE_TYPE = { RAW = "RAW", DNG = "RAW", JPG = "JPEG" }

--- How a skipped or failed photo is named in summaries: its file name and folder.
function Selection.describe(path, isVirtualCopy)
  if type(path) ~= "string" or path == "" then
    return "(a photo without a file path)"
  end
  local name = LrPathUtils.leafName(path) .. " in " .. LrPathUtils.parent(path)
  return isVirtualCopy and (name .. " (virtual copy)") or name
end

local function fileKey(path)
  -- Windows file systems ignore case: C:\A\x.CR2 and c:\a\X.cr2 are one file.
  return WIN_ENV and path:lower() or path
end

--- {files = {{path, imageType, fileFormat, id, targets = {uuid...}}...},
--   skipped = {{name, reason}...}, counts = {RAW = n, JPEG = n}} for the given LrPhotos.
function Selection.collect(catalog, photos)
  local metadata = catalog:batchGetRawMetadata(photos, Selection.METADATA_KEYS)
  local result = { files = {}, skipped = {}, counts = { RAW = 0, JPEG = 0 } }
  local byFile, available = {}, {}
  for _, photo in ipairs(photos) do
    local meta = metadata[photo] or {}
    local path, format = meta.path, meta.fileFormat
    local name = Selection.describe(path, meta.isVirtualCopy)
    local imageType = IMAGE_TYPE[format]
    if meta.isVideo or format == "VIDEO" then
      result.skipped[#result.skipped + 1] = { name = name, reason = "a video; Imagen edits photos" }
    elseif not imageType then
      result.skipped[#result.skipped + 1] = {
        name = name, reason = "a " .. tostring(format) .. " file; Imagen edits raw, DNG and JPEG files",
      }
    elseif type(path) ~= "string" or path == "" then
      result.skipped[#result.skipped + 1] = { name = name, reason = "Lightroom knows no file for it" }
    else
      local key = fileKey(path)
      if available[key] == nil then
        local source = (meta.isVirtualCopy and meta.masterPhoto) or photo
        available[key] = source:checkPhotoAvailability() and true or false
      end
      if not available[key] then
        result.skipped[#result.skipped + 1] = {
          name = name, reason = "the file is offline or missing (reconnect the drive or locate the folder)",
        }
      else
        local entry = byFile[key]
        if not entry then
          entry = { path = path, imageType = imageType, fileFormat = format, id = meta.uuid, targets = {} }
          byFile[key] = entry
          result.files[#result.files + 1] = entry
          result.counts[imageType] = result.counts[imageType] + 1
        end
        entry.targets[#entry.targets + 1] = meta.uuid
      end
    end
  end
  return result
end

--- Splits files by image type: those of `imageType`, and skips for the others.
function Selection.only(selection, imageType)
  local files, skipped = {}, {}
  for _, entry in ipairs(selection.files) do
    if entry.imageType == imageType then
      files[#files + 1] = entry
    else
      skipped[#skipped + 1] = {
        name = Selection.describe(entry.path),
        reason = string.format("a %s file in a %s edit; send it in its own edit", entry.imageType, imageType),
      }
    end
  end
  return files, skipped
end

return Selection
