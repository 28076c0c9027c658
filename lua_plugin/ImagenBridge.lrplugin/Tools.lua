--[[ Imagen's editing choices and their rules, without any UI: the dialog enforces them as
the photographer clicks, and the job request is built (and checked once more) from them.

Rules (Imagen's, docs/api.md): at most one crop tool; the aspect ratio only with a crop;
straighten and perspective correction exclude each other; a sky template only with sky
replacement; Smart Editing takes JPEGs only, no profile, no export, and only HDR merge,
sky replacement and perspective correction.
]]

local Json = require "Json"

local Tools = {}

Tools.PHOTOGRAPHY_TYPES = {
  { value = "", title = "(not set)" },
  { value = "WEDDING", title = "Wedding" },
  { value = "PORTRAITS", title = "Portraits" },
  { value = "EVENTS", title = "Events" },
  { value = "FAMILY_NEWBORN", title = "Family & newborn" },
  { value = "REAL_ESTATE", title = "Real estate" },
  { value = "LANDSCAPE_NATURE", title = "Landscape & nature" },
  { value = "BOUDOIR", title = "Boudoir" },
  { value = "SPORTS", title = "Sports" },
  { value = "SCHOOL", title = "School" },
  { value = "OTHER", title = "Other" },
  { value = "NO_TYPE", title = "No type" },
}

Tools.CROPS = {
  { value = "none", title = "No crop" },
  { value = "crop", title = "Crop" },
  { value = "portrait_crop", title = "Portrait crop" },
  { value = "headshot_crop", title = "Headshot crop" },
}

Tools.ASPECT_RATIOS = {
  { value = "none", title = "As Imagen sees fit" },
  { value = "2X3", title = "2:3" },
  { value = "4X5", title = "4:5" },
  { value = "5X7", title = "5:7" },
}

-- Checkbox tools in dialog order, with their titles and whether Smart Editing allows them.
Tools.SWITCHES = {
  { key = "straighten", title = "Straighten", smart = false },
  { key = "perspective_correction", title = "Perspective correction", smart = true },
  { key = "subject_mask", title = "Subject mask", smart = false },
  { key = "smooth_skin", title = "Smooth skin", smart = false },
  { key = "window_pull", title = "Window pull", smart = false },
  { key = "hdr_merge", title = "HDR merge (brackets of 3)", smart = true },
  { key = "sky_replacement", title = "Sky replacement", smart = true },
}

Tools.DEFAULTS = {
  imageType = "RAW", profileKey = -1, photographyType = "", cropTool = "none",
  aspectRatio = "none", skyTemplate = "", smart = false, export = false,
  applyWhenDone = true, merge = true,
}
for _, switch in ipairs(Tools.SWITCHES) do
  Tools.DEFAULTS[switch.key] = false
end

--- The keys a choices table holds (what the dialog binds and LrPrefs remembers).
function Tools.keys()
  local keys = {}
  for key in pairs(Tools.DEFAULTS) do
    keys[#keys + 1] = key
  end
  table.sort(keys)
  return keys
end

local function set(choices, key, value)
  if choices[key] ~= value then
    choices[key] = value
  end
end

--- Makes choices obey the rules, changing as little as possible; `changed` is the key the
-- photographer just set, which wins over the one it conflicts with. Works on a plain table
-- and on the dialog's property table alike.
function Tools.enforce(choices, changed)
  if choices.imageType ~= "JPEG" then
    set(choices, "smart", false)
  end
  if choices.smart then
    set(choices, "cropTool", "none")
    set(choices, "export", false)
    for _, switch in ipairs(Tools.SWITCHES) do
      if not switch.smart then
        set(choices, switch.key, false)
      end
    end
  end
  if choices.straighten and choices.perspective_correction then
    if changed == "perspective_correction" then
      set(choices, "straighten", false)
    else
      set(choices, "perspective_correction", false)
    end
  end
  if choices.cropTool == "none" then
    set(choices, "aspectRatio", "none")
  end
  if not choices.sky_replacement then
    set(choices, "skyTemplate", "")
  end
end

local function skyTemplateNumber(text)
  text = tostring(text or ""):match("^%s*(.-)%s*$")
  if text == "" then
    return nil
  end
  local n = tonumber(text)
  if not n or n < 1 or n ~= math.floor(n) then
    return nil, "The sky template must be a whole number from 1 up (or empty for Imagen's default)."
  end
  return n
end

--- The POST /v1/jobs body (less photos) for choices, or nil and what is wrong.
function Tools.request(choices, label)
  local tools = Json.object()
  if not choices.smart and choices.cropTool ~= "none" then
    tools[choices.cropTool] = true
    if choices.aspectRatio ~= "none" then
      tools.crop_aspect_ratio = choices.aspectRatio
    end
  end
  for _, switch in ipairs(Tools.SWITCHES) do
    if choices[switch.key] and (switch.smart or not choices.smart) then
      tools[switch.key] = true
    end
  end
  if tools.straighten and tools.perspective_correction then
    return nil, "Straighten and perspective correction cannot be used together."
  end
  if choices.sky_replacement then
    local template, problem = skyTemplateNumber(choices.skyTemplate)
    if problem then
      return nil, problem
    end
    tools.sky_template = template
  end
  local body = {
    tools = tools,
    smart = choices.smart and true or false,
    merge = choices.merge and true or false,
    export = (choices.export and not choices.smart) and true or false,
    label = label,
  }
  if choices.smart then
    if choices.imageType ~= "JPEG" then
      return nil, "Smart Editing takes JPEGs only."
    end
  else
    if type(choices.profileKey) ~= "number" or choices.profileKey < 0 then
      return nil, "Choose an Imagen profile."
    end
    body.profile_key = choices.profileKey
    if choices.photographyType ~= "" then
      body.photography_type = choices.photographyType
    end
  end
  return body
end

return Tools
