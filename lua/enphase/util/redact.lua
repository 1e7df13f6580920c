--- The one place that makes text safe to show: every message the library
-- returns, logs or prints goes through `scrub` (or `quote` for a value being
-- named in an error).
--
-- * secrets: every secret the session holds (password, JWT, XSRF token,
--   cookie values) is replaced by [REDACTED], and so is anything shaped like
--   a JWT or a session cookie, held or not (a server may echo an old one);
-- * control characters: terminal escape sequences are dropped, other
--   control characters shown as `\ddd`, so a server cannot drive the
--   user's terminal or forge log lines;
-- * length: long text (a server's page, a 100 KB input) is cut.
local M = {}

--- A message is cut after this many bytes.
M.MAX_MESSAGE = 600
--- A value named in an error is cut after this many bytes.
M.MAX_VALUE = 60

M.MARK = "[REDACTED]"

--- `s` cut to at most `max` bytes (never inside a UTF-8 sequence), saying
-- how long it was (`length`, default #s). Cutting what was cut changes
-- nothing.
function M.cut(s, max, length)
  if #s <= max then
    return s
  end
  local suffix = ("... (%d bytes, cut)"):format(length or #s)
  local stop = math.max(max - #suffix, 0)
  while stop > 0 and (s:byte(stop + 1) or 0) >= 0x80 and s:byte(stop + 1) < 0xC0 do -- a continuation byte
    stop = stop - 1
  end
  return s:sub(1, stop) .. suffix
end

--- `s` with terminal escape sequences dropped and every other control
-- character shown as `\ddd`.
function M.printable(s)
  s = s:gsub("\27%[[0-?]*[ -/]*[@-~]", "") -- CSI: colours, cursor moves, clears
    :gsub("\27%][^\7\27]*\7", "") -- OSC: window titles, hyperlinks (BEL end)
    :gsub("\27%][^\7\27]*\27\\", "") -- OSC (ST end)
    :gsub("\27[@-_]", "") -- the other two-byte escapes
  return (s:gsub("%c", function(c)
    return ("\\%03d"):format(c:byte())
  end))
end

-- Shapes of secrets, held by this session or not.
local SHAPES = {
  -- a JWT: base64url header starting with {" ("eyJ"), payload, signature
  { "eyJ[%w_%-]+%.[%w_%-]+%.?[%w_%-]*", M.MARK },
  -- cookies and tokens given as name=value
  { "([%w_%-]*[Ss][Ee][Ss][Ss][Ii][Oo][Nn][%w_%-]*=)[^;,%s\"']+", "%1" .. M.MARK },
  { "([%w_%-]*[Xx][Ss][Rr][Ff][%w_%-]*[=:]%s*)[^;,%s\"']+", "%1" .. M.MARK },
  { "([Ee]%-[Aa][Uu][Tt][Hh]%-[Tt][Oo][Kk][Ee][Nn][=:]%s*)[^;,%s\"']+", "%1" .. M.MARK },
  { "([Aa]uthenticity_token=)[^&;,%s\"']+", "%1" .. M.MARK },
}

local function replace_plain(text, secret)
  local out, from = {}, 1
  while true do
    local i, j = text:find(secret, from, true)
    if not i then
      break
    end
    out[#out + 1] = text:sub(from, i - 1)
    out[#out + 1] = M.MARK
    from = j + 1
  end
  if from == 1 then
    return text
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

--- `text` safe to show: `secrets` (a list of strings; those shorter than 4
-- bytes are left alone) and secret-shaped text redacted, control characters
-- neutralised, and cut to `max` bytes (default MAX_MESSAGE).
function M.scrub(text, secrets, max)
  text = tostring(text)
  -- Longest first, so that a secret containing another goes whole.
  local list = {}
  for _, s in ipairs(secrets or {}) do
    if type(s) == "string" and #s >= 4 then
      list[#list + 1] = s
    end
  end
  table.sort(list, function(a, b)
    return #a > #b
  end)
  for _, s in ipairs(list) do
    text = replace_plain(text, s)
  end
  -- Cut before the shapes (their patterns backtrack): what is cut off is
  -- never shown, and a shape cut at the end is still matched.
  max = max or M.MAX_MESSAGE
  local length = #text
  text = text:sub(1, 2 * max)
  for _, shape in ipairs(SHAPES) do
    text = text:gsub(shape[1], shape[2])
  end
  return M.cut(M.printable(text), max, length)
end

--- A value as an error names it: a string quoted, printable and cut; a
-- table as "a table"; anything else through tostring.
function M.quote(v)
  if type(v) == "string" then
    return '"' .. M.printable(M.cut(v, M.MAX_VALUE)):gsub('"', '\\"') .. '"'
  elseif type(v) == "table" then
    return "a table"
  end
  return tostring(v)
end

return M
