--[[ Puts a finished job's develop settings on the right Lightroom photos.

Order of work, and why:
1. Everything that yields, touches the network or looks photos up happens before or after
   the write gates, never inside: the bridge's answer, findPhotoByUuid, the read-back.
2. Each photo is found by the uuids remembered when the job was sent (JobStore), never by
   file name, so two IMG_1.CR2 in different folders cannot swap settings, and every selected
   virtual copy of a file gets them.
3. HDR merges: the merged DNG is added to the catalog, stacked above its bracket's first
   frame, in its own gate; then it gets the settings like any photo.
4. Inside catalog:withWriteAccessDo(name, fn, {timeout = ...}), in batches: a "Before
   Imagen" develop snapshot, applyDevelopSettings(settings, "Imagen: PROFILE"), and
   updateAISettings() where the settings carry masks and the SDK has it. A gate that timed
   out may not raise, so a flag set inside proves it ran.
5. Applied photos are recorded in LrPrefs before the bridge is told (POST .../applied), so a
   crash or a stopped bridge between the two never leads to applying a photo twice.
6. getDevelopSettings() is read back and keys that did not take are reported.
]]

local LrTasks = import "LrTasks"

local Json = require "Json"
local JobStore = require "JobStore"
local Log = require "Log"
local Selection = require "Selection"

local ApplySettings = {}

ApplySettings.SNAPSHOT_NAME = "Before Imagen"
ApplySettings.BATCH_SIZE = 25
ApplySettings.GATE_TIMEOUT = 30
local REPORT_CHUNK = 500

local BUSY = "Lightroom's catalog stayed busy; choose Library > Plug-in Extras > "
  .. "Apply Finished Imagen Edits again"

--- "Imagen: PROFILE": the history step and Undo label.
function ApplySettings.historyName(record, job)
  if record and record.profileName then
    return "Imagen: " .. record.profileName
  end
  local request = job and job.request or {}
  if request.smart then
    return "Imagen: Smart Editing"
  end
  return "Imagen: " .. tostring(request.profile_key or "edit")
end

-- A copy without Json's marks and nulls: the plain tables applyDevelopSettings expects.
local function plain(value)
  if value == Json.null then
    return nil
  end
  if type(value) ~= "table" then
    return value
  end
  local copy = {}
  for k, v in pairs(value) do
    copy[k] = plain(v)
  end
  return copy
end

local function same(wanted, actual)
  if type(wanted) == "number" and type(actual) == "number" then
    return math.abs(wanted - actual) <= 1e-6 * math.max(1, math.abs(wanted))
  end
  if type(wanted) == "table" and type(actual) == "table" then
    for k, v in pairs(wanted) do
      if not same(v, actual[k]) then
        return false
      end
    end
    return true
  end
  return wanted == actual
end

local function hasAiMasks(settings)
  local groups = settings.MaskGroupBasedCorrections
  return type(groups) == "table" and next(groups) ~= nil
end

-- Keys of `settings` that the photo's current settings do not show, sorted.
local function untaken(settings, current)
  local keys = {}
  for key, value in pairs(settings) do
    if not same(value, current[key]) then
      keys[#keys + 1] = key
    end
  end
  table.sort(keys)
  return keys
end

-- The LrPhotos a bridge photo stands for: the photo it was sent as (its id) and the virtual
-- copies remembered with it; for a job started elsewhere, the photo at its path.
local function targetsFor(catalog, record, photo)
  local uuids = record.copies and record.copies[tostring(photo.index)] or { photo.id }
  local found = {}
  for _, uuid in ipairs(uuids) do
    local lrPhoto = type(uuid) == "string" and catalog:findPhotoByUuid(uuid)
    if lrPhoto then
      found[#found + 1] = lrPhoto
    end
  end
  if #found == 0 and not record.fromLightroom and type(photo.path) == "string" then
    found[1] = catalog:findPhotoByPath(photo.path)
  end
  return found
end

-- Runs fn inside a write gate; true when it ran, else false and why.
local function inGate(catalog, name, fn)
  local entered = false
  local ok, status = LrTasks.pcall(function()
    return catalog:withWriteAccessDo(name, function()
      entered = true
      fn()
    end, { timeout = ApplySettings.GATE_TIMEOUT })
  end)
  if not ok then
    Log:errorf("write gate %q failed: %s", name, tostring(status))
    return false, "Lightroom refused the catalog change: " .. tostring(status)
  end
  if not entered then
    Log:warnf("write gate %q did not run (%s)", name, tostring(status))
    return false, BUSY
  end
  return true
end

-- Adds every bracket's merged DNG (once) and returns hdrPath -> LrPhoto or nil, problem.
local function addHdrMerges(catalog, brackets, name, result)
  local photos, toAdd = {}, {}
  for hdrPath, bracket in pairs(brackets) do
    local existing = catalog:findPhotoByPath(hdrPath)
    if existing then
      photos[hdrPath] = existing
    elseif bracket.stackWith then
      toAdd[#toAdd + 1] = { path = hdrPath, stackWith = bracket.stackWith }
    end
  end
  if #toAdd == 0 then
    return photos
  end
  local problems = {}
  local ran, why = inGate(catalog, name .. " (add HDR merges)", function()
    for _, add in ipairs(toAdd) do
      local ok, added = LrTasks.pcall(catalog.addPhoto, catalog, add.path, add.stackWith, "above")
      if ok then
        photos[add.path] = added
        result.hdrAdded = result.hdrAdded + 1
      else
        problems[add.path] = tostring(added)
      end
    end
  end)
  if not ran then
    return photos, why
  end
  return photos, nil, problems
end

-- The work list: {index, name, settings, targets, alsoIndexes} per photo to apply.
local function plan(catalog, record, photos, historyName, result)
  local items, brackets, bracketOrder = {}, {}, {}
  for _, photo in ipairs(photos) do
    local key = tostring(photo.index)
    local name = Selection.describe(photo.path)
    local settings = type(photo.develop_settings) == "table" and next(photo.develop_settings) ~= nil
      and plain(photo.develop_settings) or nil
    local hdr = type(photo.hdr_output) == "string" and photo.hdr_output ~= "" and photo.hdr_output
    if record.applied and record.applied[key] then
      result.reports[#result.reports + 1] = { index = photo.index, applied = true }
    elseif not settings and not hdr then
      result.fail(photo.index, name, "the bridge returned no develop settings for it")
    else
      local targets = targetsFor(catalog, record, photo)
      if #targets == 0 then
        result.fail(photo.index, name, "the photo is no longer in this catalog")
      elseif hdr then
        local bracket = brackets[hdr]
        if not bracket then
          bracket = { settings = settings, stackWith = targets[1], indexes = {} }
          brackets[hdr] = bracket
          bracketOrder[#bracketOrder + 1] = hdr
        end
        bracket.settings = bracket.settings or settings
        bracket.indexes[#bracket.indexes + 1] = photo.index
      else
        items[#items + 1] = { index = photo.index, name = name, settings = settings, targets = targets }
      end
    end
  end
  if #bracketOrder > 0 then
    local dngs, why, problems = addHdrMerges(catalog, brackets, historyName, result)
    for _, hdrPath in ipairs(bracketOrder) do
      local bracket = brackets[hdrPath]
      local dng = dngs[hdrPath]
      if dng then
        -- Without settings from the bridge, the DNG's own XMP (read on import) is the edit.
        items[#items + 1] = {
          index = bracket.indexes[1], alsoIndexes = { unpack(bracket.indexes, 2) },
          name = Selection.describe(hdrPath) .. " (HDR merge)",
          settings = bracket.settings, targets = { dng },
        }
      else
        local reason = why or ("could not add the merged HDR to the catalog: "
          .. tostring(problems and problems[hdrPath]))
        for _, index in ipairs(bracket.indexes) do
          result.fail(index, Selection.describe(hdrPath), reason)
        end
      end
    end
  end
  return items
end

local function applyBatch(catalog, batch, historyName)
  local outcome = {}
  local ran, why = inGate(catalog, historyName, function()
    for _, item in ipairs(batch) do
      local errors = {}
      for _, target in ipairs(item.targets) do
        local ok, err = LrTasks.pcall(function()
          if item.settings then
            if target.createDevelopSnapshot then
              target:createDevelopSnapshot(ApplySettings.SNAPSHOT_NAME, true)
            end
            target:applyDevelopSettings(item.settings, historyName)
            if target.updateAISettings and hasAiMasks(item.settings) then
              target:updateAISettings()
            end
          end
        end)
        if not ok then
          errors[#errors + 1] = tostring(err)
        end
      end
      outcome[item] = errors
    end
  end)
  return ran, why, outcome
end

local function report(client, jobId, record, reports)
  for start = 1, #reports, REPORT_CHUNK do
    local chunk = { unpack(reports, start, math.min(#reports, start + REPORT_CHUNK - 1)) }
    local answer, err = client:applied(jobId, chunk)
    if not answer then
      return err
    end
    record.reported = record.reported or {}
    for _, r in ipairs(chunk) do
      if r.applied then -- a failure is reported again until the photo is applied
        record.reported[tostring(r.index)] = true
      end
    end
  end
  return nil
end

--- Applies every ready photo of an ended job. Returns {applied = n, merged = n, hdrAdded = n,
-- failed = {{name, reason}}, untaken = {...}, bridgeFailed = {...}, sidecarProblems = {...},
-- canceled = n, reportError = err or nil}, or nil and an error when the bridge's list could
-- not be had.
function ApplySettings.applyJob(catalog, client, job, record)
  local photos, err = client:photos(job.id)
  if not photos then
    return nil, err
  end
  local historyName = ApplySettings.historyName(record, job)
  local result = {
    applied = 0, merged = 0, hdrAdded = 0, failed = {}, untaken = {}, bridgeFailed = {}, sidecarProblems = {},
    canceled = 0, reports = {},
  }
  function result.fail(index, name, reason)
    result.failed[#result.failed + 1] = { name = name, reason = reason }
    result.reports[#result.reports + 1] = { index = index, applied = false, reason = "Lightroom: " .. reason }
  end
  local ready = {}
  for _, photo in ipairs(photos) do
    local sidecar = type(photo.sidecar) == "table" and photo.sidecar or {}
    if sidecar.status == "created" or sidecar.status == "updated" then
      result.merged = result.merged + 1
    elseif sidecar.status == "refused" or sidecar.status == "failed" then
      result.sidecarProblems[#result.sidecarProblems + 1] = {
        name = Selection.describe(photo.path), reason = sidecar.reason or sidecar.status,
      }
    end
    if photo.state == "ready" then
      ready[#ready + 1] = photo
    elseif photo.state == "failed" then
      result.bridgeFailed[#result.bridgeFailed + 1] = {
        name = Selection.describe(photo.path), reason = photo.reason or "failed",
      }
    elseif photo.state == "canceled" then
      result.canceled = result.canceled + 1
    end
  end
  record.applied = record.applied or {}
  local items = plan(catalog, record, ready, historyName, result)
  local batch, batchTargets = {}, 0
  local function flush()
    if #batch == 0 then
      return
    end
    local ran, why, outcome = applyBatch(catalog, batch, historyName)
    for _, item in ipairs(batch) do
      local errors = outcome[item]
      if not ran then
        result.fail(item.index, item.name, why)
      elseif #errors > 0 then
        result.fail(item.index, item.name, table.concat(errors, "; "))
      else
        result.applied = result.applied + #item.targets
        for _, index in ipairs({ item.index, unpack(item.alsoIndexes or {}) }) do
          record.applied[tostring(index)] = true
          result.reports[#result.reports + 1] = { index = index, applied = true }
        end
      end
    end
    JobStore.save(record)
    for _, item in ipairs(batch) do
      if ran and #outcome[item] == 0 and item.settings then
        for _, target in ipairs(item.targets) do
          local missing = untaken(item.settings, target:getDevelopSettings() or {})
          if #missing > 0 then
            result.untaken[#result.untaken + 1] = {
              name = item.name, reason = "Lightroom did not take " .. table.concat(missing, ", "),
            }
            Log:warnf("%s: keys that did not take: %s", item.name, table.concat(missing, ", "))
          end
        end
      end
    end
    batch, batchTargets = {}, 0
  end
  for _, item in ipairs(items) do
    if batchTargets + #item.targets > ApplySettings.BATCH_SIZE then
      flush()
    end
    batch[#batch + 1] = item
    batchTargets = batchTargets + #item.targets
  end
  flush()
  local toReport = {}
  for _, r in ipairs(result.reports) do
    if not (record.reported and record.reported[tostring(r.index)] and r.applied) then
      toReport[#toReport + 1] = r
    end
  end
  if #toReport > 0 then
    result.reportError = report(client, job.id, record, toReport)
  end
  record.finished = result.reportError == nil and #result.failed == 0
    and JobStore.ENDED_STATES[job.state] == true
  JobStore.save(record)
  return result
end

return ApplySettings
