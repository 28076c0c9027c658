--[[ The fake Lightroom's UI: LrBinding property tables, LrView trees, LrDialogs and
LrProgressScope. Modal dialogs are answered by the test (H.answerDialog), which works the
dialog's own controls through H.Dialog: it finds a checkbox by its title and a popup or edit
field by the label in front of it, refuses to touch a disabled control, and sets values
through the bound property table, so the dialog's observers run as they would on a click.
]]

return function(H)
  H.messages = {}
  H.scopes = {}

  -- LrBinding -----------------------------------------------------------------------

  local function observable()
    local values, observers = {}, {}
    local methods = {}
    local t = {}
    -- addObserver(key, fn), or addObserver(key, observerTable, fn) as the SDK also documents.
    function methods.addObserver(_, key, a, b)
      local fn = b or a
      if type(fn) ~= "function" then
        error("addObserver needs a function", 2)
      end
      observers[key] = observers[key] or {}
      table.insert(observers[key], fn)
    end
    function methods.removeObserver(_, key, fn)
      for i, f in ipairs(observers[key] or {}) do
        if f == fn then
          table.remove(observers[key], i)
          return
        end
      end
    end
    function methods.pairs()
      return next, values, nil
    end
    return setmetatable(t, {
      __index = function(_, key)
        if methods[key] then
          return methods[key]
        end
        return values[key]
      end,
      __newindex = function(_, key, value)
        local old = values[key]
        values[key] = value
        if old ~= value then
          for _, fn in ipairs(observers[key] or {}) do
            fn(t, key, value)
          end
        end
      end,
    })
  end
  H.observable = observable

  H.modules.LrBinding = {
    makePropertyTable = function(context)
      if type(context) ~= "table" or not context.cleanups then
        error("LrBinding.makePropertyTable needs a function context", 2)
      end
      return observable()
    end,
    negativeOfKey = function(key, object)
      return { _binding = true, key = key, bind_to_object = object, transform = function(v) return not v end }
    end,
    keyEquals = function(key, value, object)
      return { _binding = true, key = key, bind_to_object = object, transform = function(v) return v == value end }
    end,
    keyIsNot = function(key, value, object)
      return { _binding = true, key = key, bind_to_object = object, transform = function(v) return v ~= value end }
    end,
  }

  -- LrView --------------------------------------------------------------------------

  local KINDS = {
    "column", "row", "group_box", "view", "static_text", "checkbox", "popup_menu", "edit_field",
    "push_button", "spacer", "separator", "radio_button", "combo_box", "slider", "scrolled_view",
  }
  local factory = {}
  for _, kind in ipairs(KINDS) do
    factory[kind] = function(self, args)
      if self ~= factory then
        error("LrView factory methods are called with ':' (f:" .. kind .. " { ... })", 2)
      end
      if type(args) ~= "table" then
        error("f:" .. kind .. " takes a table of arguments", 2)
      end
      local node = { _kind = kind, children = {} }
      for k, v in pairs(args) do
        if type(k) == "number" then
          node.children[k] = v
        else
          node[k] = v
        end
      end
      return node
    end
  end
  function factory.control_spacing()
    return 8
  end
  function factory.dialog_spacing()
    return 12
  end
  function factory.label_spacing()
    return 4
  end

  H.modules.LrView = {
    osFactory = function()
      return factory
    end,
    bind = function(binding)
      if type(binding) == "string" then
        return { _binding = true, key = binding }
      end
      local copy = { _binding = true }
      for k, v in pairs(binding) do
        copy[k] = v
      end
      return copy
    end,
    share = function(name)
      return { _share = name }
    end,
  }

  -- The test's hands on a dialog ----------------------------------------------------

  local Dialog = {}
  Dialog.__index = Dialog
  local CONTAINERS = { column = true, row = true, group_box = true, view = true, scrolled_view = true }

  local function resolve(value, object)
    if type(value) == "table" and value._binding then
      local target = value.bind_to_object or object
      local v = target[value.key]
      if value.transform then
        v = value.transform(v, true)
      end
      return v
    end
    return value
  end

  --- Flattens the view tree: each control with the label before it in its row.
  function H.Dialog(args)
    local self = setmetatable({ args = args, controls = {} }, Dialog)
    local function walk(node, object)
      if type(node) ~= "table" or not node._kind then
        return
      end
      object = node.bind_to_object or object
      local label
      for _, child in ipairs(node.children) do
        if type(child) == "table" and child._kind == "static_text" then
          label = resolve(child.title, object)
          self.controls[#self.controls + 1] = { node = child, object = object }
        elseif type(child) == "table" and child._kind then
          if not CONTAINERS[child._kind] then
            self.controls[#self.controls + 1] = { node = child, object = object, label = label }
            label = nil
          end
          walk(child, object)
        end
      end
    end
    walk({ _kind = "column", children = { args.contents } }, nil)
    return self
  end

  function Dialog:find(name)
    for _, c in ipairs(self.controls) do
      local title = resolve(c.node.title, c.object)
      if (c.node._kind == "checkbox" or c.node._kind == "push_button") and title == name then
        return c
      end
      if c.label == name and c.node._kind ~= "static_text" then
        return c
      end
    end
    error("the dialog has no control titled or labeled " .. tostring(name))
  end

  function Dialog:enabled(name)
    local c = self:find(name)
    local enabled = resolve(c.node.enabled, c.object)
    return enabled == nil or enabled == true
  end

  function Dialog:get(name)
    local c = self:find(name)
    return resolve(c.node.value, c.object)
  end

  --- The titles of a popup's items.
  function Dialog:items(name)
    local c = self:find(name)
    local titles = {}
    for i, item in ipairs(resolve(c.node.items, c.object) or {}) do
      titles[i] = item.title
    end
    return titles
  end

  local function write(c, value)
    local binding = c.node.value
    if type(binding) ~= "table" or not binding._binding then
      error("the control's value is not bound; the dialog cannot read it back")
    end
    local target = binding.bind_to_object or c.object
    if binding.transform then
      value = binding.transform(value, false)
    end
    target[binding.key] = value
  end

  --- Clicks a checkbox to the given state, or types into an edit field.
  function Dialog:set(name, value)
    local c = self:find(name)
    if not self:enabled(name) then
      error("the control " .. name .. " is disabled")
    end
    write(c, value)
  end

  --- Chooses a popup item by its title.
  function Dialog:choose(name, itemTitle)
    local c = self:find(name)
    if not self:enabled(name) then
      error("the control " .. name .. " is disabled")
    end
    for _, item in ipairs(resolve(c.node.items, c.object) or {}) do
      if item.title == itemTitle then
        write(c, item.value)
        return
      end
    end
    error("the popup " .. name .. " has no item " .. tostring(itemTitle))
  end

  function Dialog:press(name)
    local c = self:find(name)
    c.node.action(c.node)
  end

  --- Every static text, resolved.
  function Dialog:texts()
    local texts = {}
    for _, c in ipairs(self.controls) do
      if c.node._kind == "static_text" then
        texts[#texts + 1] = tostring(resolve(c.node.title, c.object))
      end
    end
    return texts
  end

  -- LrDialogs -----------------------------------------------------------------------

  H.modules.LrDialogs = {
    message = function(message, info, style)
      H.messages[#H.messages + 1] = { message = message, info = info, style = style or "info" }
    end,
    showError = function(text)
      H.messages[#H.messages + 1] = { message = text, style = "critical" }
    end,
    showBezel = function(text)
      H.messages[#H.messages + 1] = { message = text, style = "bezel" }
    end,
    confirm = function(message, info)
      H.mayYield("LrDialogs.confirm")
      return H.answerConfirm(message, info)
    end,
    presentModalDialog = function(args)
      H.mayYield("LrDialogs.presentModalDialog")
      if type(args) ~= "table" or type(args.title) ~= "string" or type(args.contents) ~= "table" then
        error("LrDialogs.presentModalDialog needs a title and contents", 2)
      end
      return H.answerDialog(H.Dialog(args))
    end,
    attachErrorDialogToFunctionContext = function() end,
  }

  -- LrProgressScope -----------------------------------------------------------------

  local Scope = {}
  Scope.__index = Scope

  local function event(scope, what)
    if H.onProgress then
      H.onProgress(scope, what)
    end
  end

  function Scope:setCaption(caption)
    if H.failNextCaption then -- fault injection: an unexpected error in the middle of a run
      H.failNextCaption = nil
      error("fake Lightroom: injected failure in setCaption", 2)
    end
    self.caption = caption
    self.captions[#self.captions + 1] = caption
    event(self, "caption")
  end

  function Scope:setPortionComplete(done, total)
    self.portion = done / (total or 1)
    event(self, "portion")
  end

  function Scope:setCancelable(value)
    self.cancelable = value
  end

  function Scope:isCanceled()
    return self.canceled
  end

  function Scope:cancel()
    self.canceled = true
  end

  function Scope:done()
    self.isDoneFlag = true
  end

  function Scope:isDone()
    return self.isDoneFlag
  end

  function Scope:setIndeterminate() end

  function Scope:attachToFunctionContext(context)
    context:addCleanupHandler(function() self:done() end)
  end

  H.modules.LrProgressScope = setmetatable({}, {
    __call = function(_, args)
      if type(args) ~= "table" then
        error("LrProgressScope takes a table of arguments", 2)
      end
      local scope = setmetatable({
        title = args.title, caption = args.caption, captions = {}, canceled = false,
        isDoneFlag = false, cancelable = false,
      }, Scope)
      if args.functionContext then
        scope:attachToFunctionContext(args.functionContext)
      end
      H.scopes[#H.scopes + 1] = scope
      return scope
    end,
  })
end
