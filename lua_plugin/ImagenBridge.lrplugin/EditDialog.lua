--[[ The "Edit with Imagen..." dialog (LrView). Imagen's rules (Tools.enforce) run on every
change, so the dialog never holds a combination Imagen would refuse: choosing one tool
clears the one it excludes, and controls that do not apply are dimmed. The last choices are
remembered in LrPrefs.
]]

local LrBinding = import "LrBinding"
local LrDialogs = import "LrDialogs"
local LrPrefs = import "LrPrefs"
local LrView = import "LrView"

local Tools = require "Tools"

local EditDialog = {}

local IMAGE_TYPES = {
  { value = "RAW", title = "Raw and DNG photos" },
  { value = "JPEG", title = "JPEG photos" },
}

--- Popup items for the profiles matching an image type ("RAW" or "JPEG").
function EditDialog.profileItems(profiles, imageType)
  local wanted = imageType == "JPEG" and "JPG" or "RAW"
  local items = {}
  for _, profile in ipairs(profiles) do
    if profile.image_type == wanted or type(profile.image_type) ~= "string" then
      items[#items + 1] = {
        title = string.format("%s (%s)", tostring(profile.profile_name), tostring(profile.profile_key)),
        value = profile.profile_key,
      }
    end
  end
  table.sort(items, function(a, b) return a.title:lower() < b.title:lower() end)
  return items
end

local function sameItems(a, b)
  if #a ~= #b then
    return false
  end
  for i = 1, #a do
    if a[i].value ~= b[i].value then
      return false
    end
  end
  return true
end

local function hasValue(items, value)
  for _, item in ipairs(items) do
    if item.value == value then
      return true
    end
  end
  return false
end

local function remembered()
  local saved = LrPrefs.prefsForPlugin().lastChoices
  local choices = {}
  for _, key in ipairs(Tools.keys()) do
    local value
    if type(saved) == "table" then
      value = saved[key]
    end
    if value == nil or type(value) ~= type(Tools.DEFAULTS[key]) then
      value = Tools.DEFAULTS[key]
    end
    choices[key] = value
  end
  return choices
end

-- Derived switches the controls' `enabled` bind to, recomputed after every change.
local function refreshDerived(props, info)
  local items = EditDialog.profileItems(info.profiles, props.imageType)
  if not sameItems(items, props.profileItems or {}) then
    props.profileItems = items
  end
  if not hasValue(props.profileItems, props.profileKey) then
    props.profileKey = props.profileItems[1] and props.profileItems[1].value or -1
  end
  local notSmart = not props.smart
  props.notSmart = notSmart
  props.smartAllowed = props.imageType == "JPEG"
  props.aspectEnabled = notSmart and props.cropTool ~= "none"
  props.skyTemplateEnabled = props.sky_replacement
  props.profileEnabled = notSmart and #props.profileItems > 0
  local count = info.counts[props.imageType] or 0
  props.sendingText = string.format("%d %s to send.", count,
    props.imageType == "JPEG" and (count == 1 and "JPEG" or "JPEGs") or (count == 1 and "raw file" or "raw files"))
end

local function makeProps(context, info)
  local props = LrBinding.makePropertyTable(context)
  local choices = remembered()
  if (info.counts[choices.imageType] or 0) == 0 then
    choices.imageType = (info.counts.RAW or 0) >= (info.counts.JPEG or 0) and "RAW" or "JPEG"
  end
  Tools.enforce(choices)
  for key, value in pairs(choices) do
    props[key] = value
  end
  refreshDerived(props, info)
  local busy = false
  local function changed(_, key)
    if busy then
      return
    end
    busy = true
    Tools.enforce(props, key)
    refreshDerived(props, info)
    busy = false
  end
  for _, key in ipairs(Tools.keys()) do
    props:addObserver(key, changed)
  end
  return props
end

local function labeled(f, label, control)
  return f:row { f:static_text { title = label, width = LrView.share "label_width" }, control }
end

local function contents(f, props, info)
  local bind = LrView.bind
  local switches = {}
  for _, switch in ipairs(Tools.SWITCHES) do
    switches[#switches + 1] = f:checkbox {
      title = switch.title, value = bind(switch.key),
      enabled = switch.smart and true or bind "notSmart",
    }
  end
  local mixed = (info.counts.RAW or 0) > 0 and (info.counts.JPEG or 0) > 0
  return f:column {
    bind_to_object = props,
    spacing = f:control_spacing(),
    f:static_text { title = bind "sendingText" },
    info.skippedCount > 0 and f:static_text {
      title = string.format("%d selected photo(s) will be skipped; the summary names them.", info.skippedCount),
    } or f:spacer { height = 0 },
    labeled(f, "Send:", f:popup_menu { value = bind "imageType", items = IMAGE_TYPES, enabled = mixed }),
    labeled(f, "Profile:", f:popup_menu {
      value = bind "profileKey", items = bind "profileItems", enabled = bind "profileEnabled",
    }),
    labeled(f, "Photography type:", f:popup_menu {
      value = bind "photographyType", items = Tools.PHOTOGRAPHY_TYPES, enabled = bind "notSmart",
    }),
    f:group_box {
      title = "AI tools",
      labeled(f, "Crop:", f:popup_menu { value = bind "cropTool", items = Tools.CROPS, enabled = bind "notSmart" }),
      labeled(f, "Aspect ratio:", f:popup_menu {
        value = bind "aspectRatio", items = Tools.ASPECT_RATIOS, enabled = bind "aspectEnabled",
      }),
      f:column(switches),
      labeled(f, "Sky template:", f:edit_field {
        value = bind "skyTemplate", enabled = bind "skyTemplateEnabled", width_in_chars = 6,
      }),
    },
    f:checkbox {
      title = "Smart Editing (JPEGs in, edited JPEGs out; no profile)",
      value = bind "smart", enabled = bind "smartAllowed",
    },
    f:checkbox { title = "Export JPEGs too", value = bind "export", enabled = bind "notSmart" },
    f:checkbox { title = "Merge into the XMP sidecars too", value = bind "merge" },
    f:checkbox { title = "Apply the edits in Lightroom when Imagen is done", value = bind "applyWhenDone" },
  }
end

local function save(props)
  local choices = {}
  for _, key in ipairs(Tools.keys()) do
    choices[key] = props[key]
  end
  LrPrefs.prefsForPlugin().lastChoices = choices
  return choices
end

--- Shows the dialog until the choices are valid or the photographer cancels.
-- info = {profiles = {...}, counts = {RAW = n, JPEG = n}, skippedCount = n}.
-- Returns the choices, the request body (less photos) and the profile's name; or nil.
function EditDialog.present(context, info, label)
  local f = LrView.osFactory()
  local props = makeProps(context, info)
  while true do
    local answer = LrDialogs.presentModalDialog {
      title = "Edit with Imagen",
      contents = contents(f, props, info),
      actionVerb = "Send to Imagen",
    }
    if answer ~= "ok" then
      return nil
    end
    local choices = save(props)
    local body, problem = Tools.request(choices, label)
    if body then
      local profileName
      for _, profile in ipairs(info.profiles) do
        if profile.profile_key == choices.profileKey then
          profileName = profile.profile_name
        end
      end
      return choices, body, choices.smart and "Smart Editing" or profileName
    end
    LrDialogs.message("Edit with Imagen", problem, "warning")
  end
end

return EditDialog
