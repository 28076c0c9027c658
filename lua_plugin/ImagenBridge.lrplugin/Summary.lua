--[[ One summary at the end of a run instead of a dialog per problem. ]]

local LrDialogs = import "LrDialogs"

local Summary = {}
Summary.__index = Summary

local MAX_LISTED = 15

function Summary.new(title)
  return setmetatable({ title = title, lines = {}, problems = false }, Summary)
end

function Summary:add(line)
  self.lines[#self.lines + 1] = line
end

--- A heading and a list of {name=, reason=} items (the first few, then a count).
function Summary:list(heading, items)
  if not items or #items == 0 then
    return
  end
  self.problems = true
  self:add("")
  self:add(heading)
  for i, item in ipairs(items) do
    if i > MAX_LISTED then
      self:add(string.format("  ... and %d more (see the log file)", #items - MAX_LISTED))
      break
    end
    self:add("  " .. item.name .. (item.reason and (": " .. item.reason) or ""))
  end
end

function Summary:text()
  return table.concat(self.lines, "\n")
end

function Summary:show()
  LrDialogs.message(self.title, self:text(), self.problems and "warning" or "info")
end

return Summary
