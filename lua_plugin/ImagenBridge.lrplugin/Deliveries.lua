--[[ What a delivery achieved, read from the photos' `deliveries` (GET /v1/jobs/{id}/photos):
one entry per service each photo went to, with the service's own status, URL and error.
Photos delivered before this run are told apart, so a second delivery says it sent nothing.
]]

local DeliverDialog = require "DeliverDialog"

local Deliveries = {}

local function find(photo, to)
  for _, delivery in ipairs(type(photo.deliveries) == "table" and photo.deliveries or {}) do
    if delivery.target == to then
      return delivery
    end
  end
  return nil
end

local function baseName(path)
  return tostring(path or "?"):match("[^/\\]+$") or tostring(path)
end

-- The exported JPEG's name, and the name the service gave it when that differs.
local function photoName(photo, delivery)
  local exports = type(photo.exports) == "table" and photo.exports or {}
  local name = baseName(exports[1] or photo.path)
  local remote = delivery and delivery.file_name
  if type(remote) == "string" and remote ~= name then
    return name .. " (as " .. remote .. ")"
  end
  return name
end

-- One line per change, however many photos it applies to (a folder renamed: all of them).
local function noteChange(changed, change, name)
  for _, item in ipairs(changed) do
    if item.reason == change then
      item.count = item.count + 1
      item.name = string.format("%d photos", item.count)
      return
    end
  end
  changed[#changed + 1] = { name = name, reason = change, count = 1 }
end

--- The indexes of the photos already delivered to `to`: { [index] = true }.
function Deliveries.done(photos, to)
  local done = {}
  for _, photo in ipairs(photos) do
    local delivery = find(photo, to)
    if delivery and delivery.ok then
      done[photo.index] = true
    end
  end
  return done
end

--- Adds the outcome of delivering photos to `to` to summary; before = Deliveries.done() as
-- it was before this run; stopped: the delivery ended early (the job failed).
function Deliveries.report(summary, photos, to, before, stopped)
  local name = DeliverDialog.targetName(to)
  local delivered, again, firstUrl = 0, 0, nil
  local failed, notSent, changed = {}, {}, {}
  for _, photo in ipairs(photos) do
    local delivery = find(photo, to)
    if delivery and delivery.ok then
      if before[photo.index] then
        again = again + 1
      else
        delivered = delivered + 1
        firstUrl = firstUrl or delivery.url
        for _, change in ipairs(type(delivery.changes) == "table" and delivery.changes or {}) do
          noteChange(changed, tostring(change), photoName(photo, delivery))
        end
      end
    elseif delivery then
      failed[#failed + 1] = {
        name = photoName(photo, delivery),
        reason = delivery.error or (name .. " answered " .. tostring(delivery.status)),
      }
    elseif photo.state == "ready" or photo.state == "applied" then
      local reason = stopped and "the delivery stopped before it" or "Imagen exported no JPEG for it"
      notSent[#notSent + 1] = { name = photoName(photo), reason = reason }
    else
      notSent[#notSent + 1] = {
        name = photoName(photo), reason = "Imagen did not edit it" .. (photo.reason and (": " .. photo.reason) or ""),
      }
    end
  end
  if delivered > 0 then
    summary:add(string.format("Delivered %d photo(s) to %s%s.", delivered, name,
      firstUrl and (", such as " .. firstUrl) or ""))
  end
  if again > 0 then
    summary:add(string.format("%d photo(s) were delivered to %s before and were not sent again.", again, name))
  end
  if delivered == 0 and again == 0 then
    summary:add("Nothing was delivered to " .. name .. ".")
  end
  summary:list("Not delivered (in " .. name .. "'s words):", failed)
  summary:list("Not sent:", notSent)
  local problems = summary.problems
  summary:list("Changed to fit " .. name .. "'s rules:", changed)
  summary.problems = problems  -- a name made to fit is not a problem
end

return Deliveries
