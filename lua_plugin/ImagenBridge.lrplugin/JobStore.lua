--[[ The jobs this plugin started, remembered in LrPrefs so that a job survives Lightroom
being closed: which Lightroom photos each sent file stands for, and which of them were
already applied here (so a photo is never applied twice, even when the bridge could not be
told in time).

prefs.jobs = { [jobId] = { id, label, createdAt, applyWhenDone, profileName, fromLightroom,
                            copies = { ["index"] = { uuid, ... } },  -- files with virtual copies
                            applied = { ["index"] = true }, reported = { ["index"] = true },
                            finished = bool } }

Each photo is sent with its Lightroom uuid as id; only a file that several selected photos
share (a master and its virtual copies) lists them all, which keeps big jobs small here.

LrPrefs only stores a nested table when it is assigned again, so every change reassigns.
]]

local LrPrefs = import "LrPrefs"

local JobStore = {}

-- Job states after which the bridge does no more work on a job.
JobStore.ENDED_STATES = { done = true, failed = true, canceled = true }

local KEEP_FINISHED = 50

local function prefs()
  return LrPrefs.prefsForPlugin()
end

local function allJobs()
  local jobs = prefs().jobs
  return type(jobs) == "table" and jobs or {}
end

function JobStore.get(jobId)
  return allJobs()[jobId]
end

function JobStore.save(record)
  local jobs = allJobs()
  jobs[record.id] = record
  -- Forget the oldest finished jobs beyond KEEP_FINISHED.
  local finished = {}
  for id, r in pairs(jobs) do
    if r.finished then
      finished[#finished + 1] = { id = id, at = r.createdAt or 0 }
    end
  end
  table.sort(finished, function(a, b) return a.at > b.at end)
  for i = KEEP_FINISHED + 1, #finished do
    jobs[finished[i].id] = nil
  end
  prefs().jobs = jobs
end

function JobStore.forget(jobId)
  local jobs = allJobs()
  jobs[jobId] = nil
  prefs().jobs = jobs
end

--- Remembered jobs not yet finished, newest first.
function JobStore.open()
  local list = {}
  for _, record in pairs(allJobs()) do
    if not record.finished then
      list[#list + 1] = record
    end
  end
  table.sort(list, function(a, b) return (a.createdAt or 0) > (b.createdAt or 0) end)
  return list
end

function JobStore.all()
  local list = {}
  for _, record in pairs(allJobs()) do
    list[#list + 1] = record
  end
  table.sort(list, function(a, b) return (a.createdAt or 0) > (b.createdAt or 0) end)
  return list
end

return JobStore
