--[[ What the menu items do, start to end. Each runs in its own task with a function context,
so an error closes every progress scope and ends in one clear message; the catalog is only
ever changed by ApplySettings.
]]

local LrApplication = import "LrApplication"
local LrBinding = import "LrBinding"
local LrDialogs = import "LrDialogs"
local LrErrors = import "LrErrors"
local LrFunctionContext = import "LrFunctionContext"
local LrProgressScope = import "LrProgressScope"
local LrTasks = import "LrTasks"
local LrView = import "LrView"

local ApplySettings = require "ApplySettings"
local BridgeClient = require "BridgeClient"
local DeliverDialog = require "DeliverDialog"
local Deliveries = require "Deliveries"
local EditDialog = require "EditDialog"
local JobProgress = require "JobProgress"
local JobStore = require "JobStore"
local Json = require "Json"
local Log = require "Log"
local Selection = require "Selection"
local Summary = require "Summary"

local Flow = {}

local APPLY_LATER = "Choose Library > Plug-in Extras > Apply Finished Imagen Edits once it runs again: "
  .. "the job goes on where it stopped, and its photos are applied then."

-- Runs fn(context) in a task; any error becomes one message naming the action.
local function run(title, fn)
  LrFunctionContext.postAsyncTaskWithContext(title, function(context)
    local ok, err = LrTasks.pcall(fn, context)
    if not ok and not LrErrors.isCanceledError(err) then
      Log:errorf("%s failed: %s", title, tostring(err))
      LrDialogs.message(title, "Something went wrong: " .. tostring(err)
        .. "\n\nNothing more was changed in your catalog. The log file has the details "
        .. "(File > Plug-in Manager > Imagen Bridge > Show log file).", "critical")
    end
  end)
end

-- A client whose bridge answers with a compatible version, or nil after telling why.
local function connect(title)
  local client, err = BridgeClient.connect()
  if client then
    local health
    health, err = client:health()
    if health then
      return client
    end
  end
  LrDialogs.message(title, err.message, "critical")
  return nil
end

local function idempotencyKey()
  return string.format("lr-%d-%06d-%06d", os.time(), math.random(0, 999999), math.random(0, 999999))
end

local function addApplyResult(summary, result)
  if result.applied > 0 then
    summary:add(string.format("Applied Imagen's edit to %d photo(s). Each has a develop snapshot "
      .. "\"%s\" to go back to.", result.applied, ApplySettings.SNAPSHOT_NAME))
  end
  if result.hdrAdded > 0 then
    summary:add(string.format("Added %d HDR merge(s) to the catalog, stacked above their brackets.",
      result.hdrAdded))
  end
  if result.merged > 0 then
    summary:add(string.format("%d XMP sidecar(s) merged next to the originals.", result.merged))
  end
  if result.exported > 0 then
    summary:add(string.format("%d exported JPEG(s), such as %s.", result.exported, tostring(result.firstExport)))
  end
  if result.canceled > 0 then
    summary:add(string.format("%d photo(s) were canceled before Imagen finished them.", result.canceled))
  end
  summary:list("Not applied:", result.failed)
  summary:list("Imagen could not edit:", result.bridgeFailed)
  summary:list("Sidecars not merged:", result.sidecarProblems)
  summary:list("Applied, but some settings did not take:", result.untaken)
  if result.reportError then
    summary.problems = true
    summary:add("")
    summary:add("The photos were applied, but the bridge could not be told: "
      .. result.reportError.message .. " The next Apply Finished Imagen Edits tells it (without applying twice).")
  end
end

--- Follows a job until it ends (progress, cancel), then applies it when wanted; adds the
-- outcome to summary.
function Flow.follow(context, client, catalog, job, record, summary, apply)
  if not JobStore.ENDED_STATES[job.state] then
    local scope = LrProgressScope { title = "Imagen: " .. tostring(record.label or job.id), functionContext = context }
    scope:setCancelable(true)
    scope:setCaption(JobProgress.caption(job))
    local ended, err, last = JobProgress.watch(client, job.id, scope)
    scope:done()
    if err then
      summary.problems = true
      summary:add(err.message)
      summary:add("")
      summary:add("Imagen job " .. job.id .. " is remembered. " .. APPLY_LATER)
      return
    end
    if not ended then
      record.finished = true
      JobStore.save(record)
      local ready = last and last.counts and last.counts.ready or 0
      summary:add("Canceled: the Imagen job was stopped and nothing was changed in your catalog.")
      if ready > 0 then
        summary:add(string.format("%d photo(s) Imagen had already finished were not applied; "
          .. "Library > Plug-in Extras > Imagen Jobs... can still apply them.", ready))
      end
      return
    end
    job = ended
  end
  if job.state == "failed" then
    summary.problems = true
    local message = type(job.error) == "table" and job.error.message or "no reason given"
    summary:add("Imagen could not run the job: " .. tostring(message))
  end
  if not apply then
    local ready = job.counts and job.counts.ready or 0
    summary:add(string.format("Imagen finished %d photo(s). Apply them with Library > Plug-in Extras > "
      .. "Apply Finished Imagen Edits.", ready))
    return
  end
  local result, err = ApplySettings.applyJob(catalog, client, job, record)
  if not result then
    summary.problems = true
    summary:add(err.message)
    summary:add(APPLY_LATER)
    return
  end
  addApplyResult(summary, result)
end

local function edit(context)
  local title = "Edit with Imagen"
  local catalog = LrApplication.activeCatalog()
  local photos = catalog:getTargetPhotos()
  if #photos == 0 then
    LrDialogs.message(title, "Select the photos to edit first.", "info")
    return
  end
  local client = connect(title)
  if not client then
    return
  end
  local selection = Selection.collect(catalog, photos)
  local summary = Summary.new(title)
  if #selection.files == 0 then
    summary:add("None of the selected photos can be sent to Imagen.")
    summary:list("Not sent:", selection.skipped)
    summary:show()
    return
  end
  local profiles, err = client:profiles()
  if not profiles then
    LrDialogs.message(title, err.message, "critical")
    return
  end
  local label = string.format("Lightroom, %s", os.date("%Y-%m-%d %H:%M"))
  local choices, body, profileName = EditDialog.present(context, {
    profiles = profiles, counts = selection.counts, skippedCount = #selection.skipped,
  }, label)
  if not choices then
    return
  end
  local files, otherType = Selection.only(selection, choices.imageType)
  local skipped = {}
  for _, list in ipairs({ selection.skipped, otherType }) do
    for _, item in ipairs(list) do
      skipped[#skipped + 1] = item
    end
  end
  body.photos = Json.array()
  local copies = {}
  for i, file in ipairs(files) do
    body.photos[i] = { path = file.path, id = file.id }
    if #file.targets > 1 then -- a file shared with virtual copies: remember them all
      copies[tostring(i - 1)] = file.targets
    end
  end
  local key = idempotencyKey()
  local job
  job, err = client:createJob(body, key)
  if not job and (err.code == "timeout" or err.code == "network" or err.code == "not_running") then
    -- Once more with the same key: the bridge answers with the job if the first try made one.
    job, err = client:createJob(body, key)
  end
  if not job then
    LrDialogs.message(title, "The bridge did not take the job: " .. err.message, "critical")
    return
  end
  Log:infof("job %s: %d files sent", job.id, #files)
  local record = {
    id = job.id, label = label, createdAt = os.time(), applyWhenDone = choices.applyWhenDone,
    profileName = profileName, fromLightroom = true, copies = copies, applied = {}, reported = {},
  }
  JobStore.save(record)
  summary:add(string.format("Sent %d file(s) to Imagen (job %s).", #files, job.id))
  Flow.follow(context, client, catalog, job, record, summary, choices.applyWhenDone)
  summary:list("Not sent:", skipped)
  summary:show()
end

local function applyFinished(context)
  local title = "Apply Finished Imagen Edits"
  local client = connect(title)
  if not client then
    return
  end
  local catalog = LrApplication.activeCatalog()
  local summary = Summary.new(title)
  local open = JobStore.open()
  if #open == 0 then
    LrDialogs.message(title, "No Imagen edits are waiting to be applied.", "info")
    return
  end
  for _, record in ipairs(open) do
    local job, err = client:job(record.id)
    summary:add("")
    summary:add("Job " .. tostring(record.label or record.id) .. ":")
    if job then
      Flow.follow(context, client, catalog, job, record, summary, true)
    elseif err.status == 404 then
      summary:add("The bridge no longer knows this job; it is forgotten here.")
      JobStore.forget(record.id)
    else
      summary.problems = true
      summary:add(err.message)
      break
    end
  end
  summary:show()
end

local function jobLine(job)
  local c = job.counts or {}
  return string.format("%s  %s: %s, %d of %d ready, %d applied, %d failed",
    tostring(job.created_at or ""):sub(1, 16), tostring(job.label or job.id), tostring(job.state),
    c.ready or 0, job.photos_total or 0, c.applied or 0, c.failed or 0)
end

-- The bridge and its newest jobs, or nil after telling the photographer why not.
local function recentJobs(title)
  local client = connect(title)
  if not client then
    return nil
  end
  local list, err = client:jobs(nil, 50)
  if not list then
    LrDialogs.message(title, err.message, "critical")
    return nil
  end
  return client, list
end

local function jobs(context)
  local title = "Imagen Jobs"
  local client, list = recentJobs(title)
  if not client then
    return
  end
  local err
  if #list == 0 then
    LrDialogs.message(title, "The bridge has no Imagen jobs yet.", "info")
    return
  end
  local f = LrView.osFactory()
  local props = LrBinding.makePropertyTable(context)
  local items, lines = {}, {}
  for i, job in ipairs(list) do
    items[i] = { title = tostring(job.label or job.id) .. " (" .. tostring(job.state) .. ")", value = job.id }
    lines[i] = f:static_text { title = jobLine(job) }
  end
  props.jobId = list[1].id
  local answer = LrDialogs.presentModalDialog {
    title = title,
    contents = f:column {
      bind_to_object = props,
      spacing = f:control_spacing(),
      f:column(lines),
      f:row { f:static_text { title = "Job:" }, f:popup_menu { value = LrView.bind "jobId", items = items } },
    },
    actionVerb = "Apply Finished Photos",
    otherVerb = "Cancel Job",
    cancelVerb = "Close",
  }
  local chosen
  for _, job in ipairs(list) do
    if job.id == props.jobId then
      chosen = job
    end
  end
  if answer == "other" and chosen then
    local canceled
    canceled, err = client:cancel(chosen.id)
    LrDialogs.message(title, canceled and ("Job " .. chosen.id .. " is " .. tostring(canceled.state) .. ".")
      or err.message, canceled and "info" or "critical")
  elseif answer == "ok" and chosen then
    local record = JobStore.get(chosen.id) or { id = chosen.id, label = chosen.label, createdAt = os.time() }
    local summary = Summary.new(title)
    Flow.follow(context, client, LrApplication.activeCatalog(), chosen, record, summary, true)
    summary:show()
  end
end

-- The bridge's refusals of a delivery, said in the photographer's terms.
local function deliveryRefused(job, err)
  if err.status == 409 then
    return "Job " .. tostring(job.label or job.id) .. " is still running at the bridge (" .. err.message
      .. "). Deliver it once it is done: Library > Plug-in Extras > Imagen Jobs... shows how far it is."
  elseif err.status == 422 then
    return "The bridge cannot deliver job " .. tostring(job.label or job.id) .. ": " .. err.message
      .. " Only photos edited with \"Export JPEGs too\" (or Smart Editing) can be delivered."
  end
  return "The bridge did not start the delivery: " .. err.message
end

local function deliver(context)
  local title = "Deliver Exported Photos"
  local client, list = recentJobs(title)
  if not client then
    return
  end
  local err
  local exporting = DeliverDialog.exporting(list)
  if #exporting == 0 then
    LrDialogs.message(title, "None of the bridge's jobs exported JPEGs, so there is nothing to deliver. "
      .. "Choose Edit with Imagen... with \"Export JPEGs too\" turned on, then deliver that job.", "info")
    return
  end
  local job, spec = DeliverDialog.present(context, exporting)
  if not job then
    return
  end
  local name = DeliverDialog.targetName(spec.to)
  local photos, started
  photos, err = client:photos(job.id, nil, false)
  if photos then
    started, err = client:deliver(job.id, spec)
  end
  if not started then
    LrDialogs.message(title, photos and deliveryRefused(job, err) or err.message, "critical")
    return
  end
  local before = Deliveries.done(photos, spec.to)
  Log:infof("job %s: delivering to %s", job.id, spec.to)
  local summary = Summary.new(title)
  local label = tostring(job.label or job.id)
  local ended = started
  if not JobStore.ENDED_STATES[started.state] then
    local scope = LrProgressScope { title = "Delivering " .. label .. " to " .. name, functionContext = context }
    scope:setCancelable(true)
    local caption = function() return "Delivering exported photos to " .. name end
    scope:setCaption(caption())
    ended, err = JobProgress.watch(client, job.id, scope, { caption = caption, detach = true })
    scope:done()
    if not ended then
      if err then
        summary.problems = true
        summary:add(err.message)
        summary:add("")
        summary:add("Once the bridge answers again, choose Deliver Exported Photos... again for job " .. label
          .. ": photos already delivered are not sent twice, the others are sent.")
      else
        summary:add(string.format("You stopped waiting; the bridge goes on delivering job %s to %s. Choose "
          .. "Deliver Exported Photos... again later to see the outcome: nothing delivered is sent twice.",
          label, name))
      end
      summary:show()
      return
    end
  end
  photos, err = client:photos(job.id, nil, false)
  if not photos then
    LrDialogs.message(title, err.message, "critical")
    return
  end
  summary:add("Job " .. label .. ":")
  if ended.state == "failed" then
    summary.problems = true
    local message = type(ended.error) == "table" and ended.error.message or "no reason given"
    summary:add("The delivery to " .. name .. " stopped: " .. tostring(message))
  end
  Deliveries.report(summary, photos, spec.to, before, ended.state == "failed")
  summary:show()
end

function Flow.edit()
  run("Edit with Imagen", edit)
end

function Flow.applyFinished()
  run("Apply Finished Imagen Edits", applyFinished)
end

function Flow.jobs()
  run("Imagen Jobs", jobs)
end

function Flow.deliver()
  run("Deliver Exported Photos", deliver)
end

return Flow
