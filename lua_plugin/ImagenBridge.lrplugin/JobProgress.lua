--[[ Follows a bridge job in an LrProgressScope: one caption per stage, fed by the bridge's
long poll (GET /v1/jobs/{id}?since=REV&wait=S), so Lightroom stays responsive between
answers. The scope's cancel button cancels the bridge job, or (options.detach) only stops
waiting for it.
]]

local LrTasks = import "LrTasks"

local JobStore = require "JobStore"
local Log = require "Log"

local JobProgress = {}

JobProgress.ENDED = JobStore.ENDED_STATES
-- Connection failures in a row tolerated (with a growing pause) before giving up.
local RETRIES = 3

local function plural(n, one, many)
  return string.format("%d %s", n, n == 1 and one or many)
end

local function megabytes(bytes)
  return string.format("%.0f MB", (tonumber(bytes) or 0) / 1e6)
end

--- The caption for a job's current stage.
function JobProgress.caption(job)
  local c = job.counts or {}
  local total = tonumber(job.photos_total) or 0
  if job.state == "queued" then
    return "Waiting for the bridge to start"
  elseif (c.uploading or 0) > 0 or (c.queued or 0) > 0 then
    local caption = string.format("Uploading to Imagen: %s of %d left",
      plural((c.uploading or 0) + (c.queued or 0), "photo", "photos"), total)
    if (tonumber(job.bytes_total) or 0) > 0 then
      caption = caption .. string.format(" (%s of %s)", megabytes(job.bytes_done), megabytes(job.bytes_total))
    end
    return caption
  elseif (c.editing or 0) > 0 then
    return "Imagen is editing " .. plural(c.editing, "photo", "photos")
  elseif (c.downloading or 0) > 0 then
    return "Downloading " .. plural(c.downloading, "edited photo", "edited photos")
  elseif (c.merging or 0) > 0 then
    return "Merging " .. plural(c.merging, "sidecar", "sidecars")
  elseif JobProgress.ENDED[job.state] then
    return "Imagen is done"
  end
  return "Working"
end

-- Shows the job's progress; the caption only when it changed. Returns the caption.
-- A custom caption (a later step, such as delivery) leaves the photo counts out.
local function show(scope, job, shown, options)
  local caption = (options.caption or JobProgress.caption)(job)
  if caption ~= shown then
    scope:setCaption(caption)
  end
  local c = job.counts or {}
  local total = tonumber(job.photos_total) or 0
  if total > 0 and not options.caption then
    scope:setPortionComplete((c.ready or 0) + (c.applied or 0) + (c.failed or 0) + (c.canceled or 0), total)
  end
  return caption
end

--- Waits for the job to end. Returns the ended job; or nil and an error; or nil, nil and
-- the last job seen when the photographer canceled (the bridge job is canceled too, unless
-- options.detach). options.caption(job) replaces JobProgress.caption.
function JobProgress.watch(client, jobId, scope, options)
  options = options or {}
  local since, last, failures, shown = nil, nil, 0, nil
  while true do
    if scope:isCanceled() and options.detach then
      Log:infof("job %s: stopped waiting in Lightroom", jobId)
      return nil, nil, last
    elseif scope:isCanceled() then
      Log:infof("job %s: canceled in Lightroom", jobId)
      local canceled, err = client:cancel(jobId)
      if not canceled then
        return nil, err
      end
      return nil, nil, canceled
    end
    local job, err = client:job(jobId, since)
    if job then
      failures = 0
      last = job
      since = tonumber(job.revision) or since
      shown = show(scope, job, shown, options)
      if JobProgress.ENDED[job.state] then
        return job
      end
    elseif err.code == "not_running" or err.code == "timeout" or err.code == "network" then
      failures = failures + 1
      Log:warnf("job %s: %s (try %d)", jobId, err.code, failures)
      if failures > RETRIES then
        return nil, err, last
      end
      shown = "Waiting for the bridge to answer..."
      scope:setCaption(shown)
      LrTasks.sleep(2 ^ failures)
    else
      return nil, err, last
    end
  end
end

return JobProgress
