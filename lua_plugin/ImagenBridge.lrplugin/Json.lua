--[[ JSON for the plugin, written for Lightroom's Lua 5.1 (pure Lua, never yields).

Conventions (the bridge's Python side follows the same ones):

- Strings are UTF-8. The encoder writes pure ASCII: every character outside printable ASCII
  becomes a \u escape, astral characters as a UTF-16 surrogate pair. Invalid UTF-8 is refused,
  never guessed at. The decoder reads every escape, joins surrogate pairs and refuses a lone
  surrogate half.
- Numbers: a number with no fraction (within +-2^53) is written as an integer ("5", never
  "5.0"), any other with 17 significant digits, so a double survives the round trip exactly.
  NaN and infinities are refused: JSON has no words for them.
- Empty array vs empty object: the decoder marks every table it makes as an array or an
  object (Json.isArray / Json.isObject), and the encoder keeps that mark, so "[]" and "{}"
  round-trip. A table the plugin builds itself is an object when it has string keys or is
  empty, an array when its keys are exactly 1..n; wrap it in Json.array(t) to send an empty
  list. A table mixing both kinds of keys, or with holes, is refused.
- null: by default a null member is left out of its object (the key reads as nil) and a null
  array element becomes Json.null, so positions never shift. Json.decode(text, true) keeps
  every null as Json.null; the encoder writes Json.null as null.
]]

local Json = {}

local ARRAY = { __jsontype = "array" }
local OBJECT = { __jsontype = "object" }
local MAX_DEPTH = 200

Json.null = setmetatable({}, { __jsontype = "null", __tostring = function() return "null" end })

function Json.array(t)
  return setmetatable(t or {}, ARRAY)
end

function Json.object(t)
  return setmetatable(t or {}, OBJECT)
end

function Json.isArray(t)
  return type(t) == "table" and getmetatable(t) == ARRAY
end

function Json.isObject(t)
  return type(t) == "table" and getmetatable(t) == OBJECT
end

-- Encoding --------------------------------------------------------------------------

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function utf16Escape(code)
  if code < 0x10000 then
    return string.format("\\u%04x", code)
  end
  code = code - 0x10000
  local high = 0xD800 + math.floor(code / 0x400)
  local low = 0xDC00 + code % 0x400
  return string.format("\\u%04x\\u%04x", high, low)
end

-- The code point of the UTF-8 sequence starting at byte i, and the index after it.
local function readUtf8(s, i)
  local c = s:byte(i)
  local n, min, code
  if c < 0x80 then
    return c, i + 1
  elseif c >= 0xC2 and c <= 0xDF then
    n, min, code = 1, 0x80, c - 0xC0
  elseif c >= 0xE0 and c <= 0xEF then
    n, min, code = 2, 0x800, c - 0xE0
  elseif c >= 0xF0 and c <= 0xF4 then
    n, min, code = 3, 0x10000, c - 0xF0
  else
    return nil
  end
  for k = 1, n do
    local b = s:byte(i + k)
    if not b or b < 0x80 or b > 0xBF then
      return nil
    end
    code = code * 64 + (b - 0x80)
  end
  if code < min or code > 0x10FFFF or (code >= 0xD800 and code <= 0xDFFF) then
    return nil
  end
  return code, i + n + 1
end

local function encodeString(s)
  local out, i, len = { '"' }, 1, #s
  while i <= len do
    local c = s:byte(i)
    if c >= 0x20 and c < 0x7F then
      local ch = s:sub(i, i)
      out[#out + 1] = ESCAPES[ch] or ch
      i = i + 1
    elseif c < 0x80 then
      out[#out + 1] = ESCAPES[string.char(c)] or string.format("\\u%04x", c)
      i = i + 1
    else
      local code, nextI = readUtf8(s, i)
      if not code then
        error(string.format("Json: string is not valid UTF-8 (byte %d)", i), 0)
      end
      out[#out + 1] = utf16Escape(code)
      i = nextI
    end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

local function encodeNumber(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("Json: cannot encode NaN or infinity", 0)
  end
  if n == math.floor(n) and math.abs(n) <= 2 ^ 53 then
    return string.format("%.0f", n)
  end
  -- string.format follows the C locale: never let a decimal comma into JSON.
  return (string.format("%.17g", n):gsub(",", "."))
end

-- "array", "object", or an error for tables JSON cannot express.
local function tableKind(t)
  local mt = getmetatable(t)
  if mt == ARRAY or mt == OBJECT then
    return mt.__jsontype
  end
  local count, maxIndex, strings = 0, 0, 0
  for k in pairs(t) do
    count = count + 1
    if type(k) == "string" then
      strings = strings + 1
    elseif type(k) == "number" and k >= 1 and k == math.floor(k) then
      if k > maxIndex then
        maxIndex = k
      end
    else
      error("Json: table keys must be strings or array indexes, got " .. tostring(k), 0)
    end
  end
  if strings == count then
    return "object"
  end
  if strings == 0 and maxIndex == count then
    return "array"
  end
  error("Json: a table mixes string keys and indexes, or has holes", 0)
end

local encodeValue

local function encodeTable(t, depth, seen)
  if seen[t] then
    error("Json: cannot encode a table that contains itself", 0)
  end
  if depth > MAX_DEPTH then
    error("Json: nested too deeply", 0)
  end
  seen[t] = true
  local out = {}
  if tableKind(t) == "array" then
    for i = 1, #t do
      out[i] = encodeValue(t[i], depth + 1, seen)
    end
    seen[t] = nil
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error("Json: object keys must be strings, got " .. tostring(k), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    out[i] = encodeString(k) .. ":" .. encodeValue(t[k], depth + 1, seen)
  end
  seen[t] = nil
  return "{" .. table.concat(out, ",") .. "}"
end

encodeValue = function(v, depth, seen)
  local kind = type(v)
  if v == nil or v == Json.null then
    return "null"
  elseif kind == "boolean" then
    return v and "true" or "false"
  elseif kind == "number" then
    return encodeNumber(v)
  elseif kind == "string" then
    return encodeString(v)
  elseif kind == "table" then
    return encodeTable(v, depth, seen)
  end
  error("Json: cannot encode a " .. kind, 0)
end

--- JSON text (ASCII only) for a Lua value; raises an error naming what cannot be encoded.
function Json.encode(value)
  return encodeValue(value, 0, {})
end

-- Decoding --------------------------------------------------------------------------

local function decodeError(_, i, what)
  error(string.format("Json: %s at character %d", what, i), 0)
end

local function skipSpace(s, i)
  local _, e = s:find("^[ \t\r\n]*", i)
  return e + 1
end

local function codepointUtf8(code)
  if code < 0x80 then
    return string.char(code)
  elseif code < 0x800 then
    return string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
  elseif code < 0x10000 then
    return string.char(
      0xE0 + math.floor(code / 4096),
      0x80 + math.floor(code / 64) % 64,
      0x80 + code % 64
    )
  end
  return string.char(
    0xF0 + math.floor(code / 262144),
    0x80 + math.floor(code / 4096) % 64,
    0x80 + math.floor(code / 64) % 64,
    0x80 + code % 64
  )
end

local SIMPLE = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function hex4(s, i)
  local digits = s:match("^%x%x%x%x", i)
  if not digits then
    decodeError(s, i, "bad \\u escape")
  end
  return tonumber(digits, 16)
end

local function decodeString(s, i)
  -- s:sub(i, i) is the opening quote
  local out, pos = {}, i + 1
  while true do
    local stop = s:find('["\\%z\1-\31]', pos)
    if not stop then
      decodeError(s, i, "unterminated string")
    end
    out[#out + 1] = s:sub(pos, stop - 1)
    local ch = s:sub(stop, stop)
    if ch == '"' then
      return table.concat(out), stop + 1
    elseif ch ~= "\\" then
      decodeError(s, stop, "control character in string")
    end
    local esc = s:sub(stop + 1, stop + 1)
    if SIMPLE[esc] then
      out[#out + 1] = SIMPLE[esc]
      pos = stop + 2
    elseif esc == "u" then
      local code = hex4(s, stop + 2)
      pos = stop + 6
      if code >= 0xD800 and code <= 0xDBFF then
        if s:sub(pos, pos + 1) ~= "\\u" then
          decodeError(s, stop, "lone surrogate")
        end
        local low = hex4(s, pos + 2)
        if low < 0xDC00 or low > 0xDFFF then
          decodeError(s, stop, "lone surrogate")
        end
        code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
        pos = pos + 6
      elseif code >= 0xDC00 and code <= 0xDFFF then
        decodeError(s, stop, "lone surrogate")
      end
      out[#out + 1] = codepointUtf8(code)
    else
      decodeError(s, stop, "bad escape")
    end
  end
end

local function digitsEnd(s, j)
  local _, e = s:find("^%d+", j)
  return e
end

local function decodeNumber(s, i)
  local j = i
  if s:sub(j, j) == "-" then
    j = j + 1
  end
  local first = s:sub(j, j)
  if first == "0" then
    j = j + 1
  elseif first:match("^[1-9]$") then
    j = digitsEnd(s, j) + 1
  else
    decodeError(s, i, "bad number")
  end
  if s:sub(j, j) == "." then
    local e = digitsEnd(s, j + 1)
    if not e then
      decodeError(s, i, "bad number")
    end
    j = e + 1
  end
  if s:sub(j, j):match("^[eE]$") then
    j = j + 1
    if s:sub(j, j):match("^[-+]$") then
      j = j + 1
    end
    local e = digitsEnd(s, j)
    if not e then
      decodeError(s, i, "bad number")
    end
    j = e + 1
  end
  local text = s:sub(i, j - 1)
  -- tonumber follows the C locale; a decimal comma locale would refuse "0.5".
  return tonumber(text) or tonumber((text:gsub("%.", ","))), j
end

local LITERALS = { t = { "true", true }, f = { "false", false }, n = { "null", Json.null } }

local decodeValue

local function decodeArray(s, i, depth, keepNull)
  local result, n = Json.array(), 0
  i = skipSpace(s, i + 1)
  if s:sub(i, i) == "]" then
    return result, i + 1
  end
  while true do
    local value
    value, i = decodeValue(s, i, depth + 1, keepNull)
    n = n + 1
    result[n] = value
    i = skipSpace(s, i)
    local ch = s:sub(i, i)
    if ch == "]" then
      return result, i + 1
    elseif ch ~= "," then
      decodeError(s, i, "expected ',' or ']'")
    end
    i = skipSpace(s, i + 1)
  end
end

local function decodeObject(s, i, depth, keepNull)
  local result = Json.object()
  i = skipSpace(s, i + 1)
  if s:sub(i, i) == "}" then
    return result, i + 1
  end
  while true do
    if s:sub(i, i) ~= '"' then
      decodeError(s, i, "expected a string key")
    end
    local key, value
    key, i = decodeString(s, i)
    i = skipSpace(s, i)
    if s:sub(i, i) ~= ":" then
      decodeError(s, i, "expected ':'")
    end
    value, i = decodeValue(s, skipSpace(s, i + 1), depth + 1, keepNull)
    if value ~= Json.null or keepNull then
      result[key] = value
    else
      result[key] = nil
    end
    i = skipSpace(s, i)
    local ch = s:sub(i, i)
    if ch == "}" then
      return result, i + 1
    elseif ch ~= "," then
      decodeError(s, i, "expected ',' or '}'")
    end
    i = skipSpace(s, i + 1)
  end
end

decodeValue = function(s, i, depth, keepNull)
  if depth > MAX_DEPTH then
    decodeError(s, i, "nested too deeply")
  end
  local ch = s:sub(i, i)
  if ch == "{" then
    return decodeObject(s, i, depth, keepNull)
  elseif ch == "[" then
    return decodeArray(s, i, depth, keepNull)
  elseif ch == '"' then
    return decodeString(s, i)
  elseif ch == "-" or ch:match("%d") then
    return decodeNumber(s, i)
  end
  local literal = LITERALS[ch]
  if literal and s:sub(i, i + #literal[1] - 1) == literal[1] then
    return literal[2], i + #literal[1]
  end
  decodeError(s, i, ch == "" and "unexpected end of text" or "unexpected character")
end

local function decodeAll(text, keepNull)
  local value, i = decodeValue(text, skipSpace(text, 1), 0, keepNull)
  i = skipSpace(text, i)
  if i <= #text then
    decodeError(text, i, "text after the value")
  end
  return value
end

--- The Lua value of JSON text. Returns nil and a message for text that is not JSON.
-- A top-level null comes back as Json.null so that nil always means "not JSON".
-- The decoder is pure Lua and never yields, so a plain pcall is safe around it.
function Json.decode(text, keepNull)
  if type(text) ~= "string" then
    return nil, "Json: expected text, got " .. type(text)
  end
  local ok, result = pcall(decodeAll, text, keepNull)
  if not ok then
    return nil, tostring(result)
  end
  return result
end

return Json
