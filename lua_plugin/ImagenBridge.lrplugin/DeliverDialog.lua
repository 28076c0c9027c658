--[[ The "Deliver Exported Photos..." dialog (LrView): which job, to which service, and for
ImageKit the folder and the tags. The last service, folder and tags are remembered in
LrPrefs (prefs.lastDelivery = {to=, folder=, tags="a, b"}). The services' own rules (tag
characters, folder depth, file sizes) are the bridge's to check: it says what it refused.
]]

local LrBinding = import "LrBinding"
local LrDialogs = import "LrDialogs"
local LrPrefs = import "LrPrefs"
local LrView = import "LrView"

local DeliverDialog = {}

DeliverDialog.TARGETS = {
  { value = "imgwire", title = "Imgwire" },
  { value = "imagekit", title = "ImageKit" },
}

--- The service's name as the photographer knows it.
function DeliverDialog.targetName(to)
  for _, target in ipairs(DeliverDialog.TARGETS) do
    if target.value == to then
      return target.title
    end
  end
  return tostring(to)
end

--- The jobs that exported JPEGs (with export, or Smart Editing), in the bridge's order.
function DeliverDialog.exporting(jobs)
  local list = {}
  for _, job in ipairs(jobs) do
    local request = type(job.request) == "table" and job.request or {}
    if request.export == true or request.smart == true then
      list[#list + 1] = job
    end
  end
  return list
end

local function trim(s)
  return (tostring(s or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end

--- "wedding, Müller ,, 2026" -> {"wedding", "Müller", "2026"}.
function DeliverDialog.tags(text)
  local tags = {}
  for part in (tostring(text or "") .. ","):gmatch("([^,]*),") do
    local tag = trim(part)
    if tag ~= "" then
      tags[#tags + 1] = tag
    end
  end
  return tags
end

local function remembered()
  local saved = LrPrefs.prefsForPlugin().lastDelivery
  saved = type(saved) == "table" and saved or {}
  return {
    to = saved.to == "imagekit" and "imagekit" or "imgwire",
    folder = type(saved.folder) == "string" and saved.folder or "",
    tags = type(saved.tags) == "string" and saved.tags or "",
  }
end

local function jobTitle(job)
  local c = job.counts or {}
  local title = job.label and (tostring(job.label) .. " - " .. tostring(job.id)) or tostring(job.id)
  return string.format("%s (%s, %d photo(s) edited)", title, tostring(job.state), (c.ready or 0) + (c.applied or 0))
end

local function labeled(f, label, control)
  return f:row { f:static_text { title = label, width = LrView.share "label_width" }, control }
end

--- Shows the dialog for jobs (a non-empty list). Returns the chosen job and the delivery
-- {to=, folder=, tags={...}}; or nil when the photographer cancels.
function DeliverDialog.present(context, jobs)
  local f = LrView.osFactory()
  local props = LrBinding.makePropertyTable(context)
  local choices = remembered()
  props.jobId = jobs[1].id
  props.to, props.folder, props.tags = choices.to, choices.folder, choices.tags
  props.isImagekit = props.to == "imagekit"
  props:addObserver("to", function() props.isImagekit = props.to == "imagekit" end)
  local items = {}
  for i, job in ipairs(jobs) do
    items[i] = { title = jobTitle(job), value = job.id }
  end
  local bind = LrView.bind
  local answer = LrDialogs.presentModalDialog {
    title = "Deliver Exported Photos",
    contents = f:column {
      bind_to_object = props,
      spacing = f:control_spacing(),
      labeled(f, "Job:", f:popup_menu { value = bind "jobId", items = items }),
      labeled(f, "Deliver to:", f:popup_menu { value = bind "to", items = DeliverDialog.TARGETS }),
      labeled(f, "Folder:", f:edit_field {
        value = bind "folder", enabled = bind "isImagekit", width_in_chars = 30,
      }),
      labeled(f, "Tags:", f:edit_field {
        value = bind "tags", enabled = bind "isImagekit", width_in_chars = 30,
      }),
      f:static_text { title = "Folder and tags (comma-separated) are for ImageKit. A photo delivered "
        .. "to a service before is not sent to it again." },
    },
    actionVerb = "Deliver",
  }
  if answer ~= "ok" then
    return nil
  end
  LrPrefs.prefsForPlugin().lastDelivery = { to = props.to, folder = props.folder, tags = props.tags }
  local chosen
  for _, job in ipairs(jobs) do
    if job.id == props.jobId then
      chosen = job
    end
  end
  local spec = { to = props.to, tags = {} }
  if props.to == "imagekit" then
    local folder = trim(props.folder)
    spec.folder = folder ~= "" and folder or nil
    spec.tags = DeliverDialog.tags(props.tags)
  end
  return chosen, spec
end

return DeliverDialog
