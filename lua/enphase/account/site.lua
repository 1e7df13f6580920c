--- The site's facts: its ids, its time zone, its capability flags and
-- what batterySettings' control objects say of each control.
--
-- One object per client owns them; nothing else writes them. They come
-- from the options (`site_id`, `user_id`, `timezone`: these always win),
-- from discovery (`GET /`, `data.json`), from `GET siteSettings`, or from
-- the token cache (`snapshot()` / `restore()`), and never change once
-- known. `generation` grows with every change, so the token cache knows
-- when there is something new to save.
local compat = require("enphase.util.compat")
local json = require("enphase.util.json")

local Site = {}
Site.__index = Site

local M = {}

local function is_id(v)
  return compat.isinteger(v) and v > 0
end

--- Facts given as options (`cfg.site_id`, `cfg.user_id`, `cfg.timezone`;
-- each may be nil).
function M.new(cfg)
  return setmetatable({
    site_id = cfg.site_id,
    user_id = cfg.user_id,
    tz = cfg.timezone,
    flags = nil, -- siteSettings' data, as the server sent it
    generation = 0,
  }, Site)
end

--- The site and user ids (each nil until given or discovered).
function Site:ids()
  return self.site_id, self.user_id
end

--- The site's time zone, given or learnt; nil when unknown.
function Site:timezone()
  return self.tz
end

--- The capability flags (`GET siteSettings`' data), nil until fetched.
function Site:capabilities()
  return self.flags
end

local function changed(self)
  self.generation = self.generation + 1
end

--- Records discovered ids; an id already known is kept.
function Site:learn_ids(site_id, user_id)
  if is_id(site_id) and not self.site_id then
    self.site_id = site_id
    changed(self)
  end
  if is_id(user_id) and not self.user_id then
    self.user_id = user_id
    changed(self)
  end
end

--- Learns the time zone from a `data.json` body (`.app.timezone`); a
-- time zone given as an option wins. Returns the time zone or nil.
function Site:learn_from_data(body)
  local data = type(body) == "string" and json.decode(body)
  local app = type(data) == "table" and data.app
  local tz = type(app) == "table" and app.timezone
  if type(tz) == "string" and tz ~= "" and not self.tz then
    self.tz = tz
    changed(self)
  end
  return self.tz
end

local CONTROL_FIELDS = { "show", "locked", "schedule_supported" }

-- `{cfg=, dtg=, rbd=}`, each nil or `{show=, locked=, schedule_supported=}`
-- of booleans (or nil): nil when `t` is anything else.
local function controls_or_nil(t)
  if type(t) ~= "table" then
    return nil
  end
  local out = {}
  for k, c in pairs(t) do
    if (k ~= "cfg" and k ~= "dtg" and k ~= "rbd") or type(c) ~= "table" then
      return nil
    end
    out[k] = {}
    for f, v in pairs(c) do
      if type(v) ~= "boolean" then
        return nil
      end
      out[k][f] = v
    end
  end
  return out
end

local function same_controls(a, b)
  if a == nil or b == nil then
    return a == b
  end
  for _, mode in ipairs({ "cfg", "dtg", "rbd" }) do
    local x, y = a[mode], b[mode]
    if (x == nil) ~= (y == nil) then
      return false
    end
    for _, f in ipairs(x and CONTROL_FIELDS or {}) do
      if x[f] ~= y[f] then
        return false
      end
    end
  end
  return true
end

--- What batterySettings' control objects say of each battery control
-- (`{cfg=, dtg=, rbd=}`, each `{show=, locked=, schedule_supported=}`), nil
-- until a read showed them.
function Site:controls()
  return self.battery_controls
end

--- Records the control objects of a batterySettings read; true when they
-- differ from those known (the token cache then has something to save).
function Site:learn_controls(controls)
  local t = controls_or_nil(controls)
  if t and not same_controls(t, self.battery_controls) then
    self.battery_controls = t
    changed(self)
    return true
  end
  return false
end

--- Records the capability flags (a table) fetched from the server.
function Site:learn_capabilities(flags)
  if type(flags) == "table" then
    self.flags = flags
    changed(self)
  end
end

--- The facts to keep between processes: a table of plain values with the
-- token cache file's field names.
function Site:snapshot()
  return {
    site_id = self.site_id,
    user_id = self.user_id,
    timezone = self.tz,
    site_settings = self.flags,
    battery_controls = self.battery_controls,
  }
end

--- Nil when `t` (a snapshot read back from a file) is well-formed, else why.
function M.check(t)
  local function id_or_nil(v)
    return v == nil or is_id(v)
  end
  if not (id_or_nil(t.site_id) and id_or_nil(t.user_id)) then
    return "site_id and user_id must be positive integers"
  elseif t.timezone ~= nil and type(t.timezone) ~= "string" then
    return "timezone must be a string"
  elseif t.site_settings ~= nil and type(t.site_settings) ~= "table" then
    return "site_settings must be an object"
  elseif t.battery_controls ~= nil and controls_or_nil(t.battery_controls) == nil then
    return "battery_controls must map cfg, dtg, rbd to objects of booleans"
  end
  return nil
end

--- Takes what a snapshot knows and this object does not: facts given as
-- options, or already learnt, win. `t` must pass `M.check`.
function Site:restore(t)
  self:learn_ids(t.site_id, t.user_id)
  if t.timezone and not self.tz then
    self.tz = t.timezone
    changed(self)
  end
  if t.site_settings and not self.flags then
    self:learn_capabilities(t.site_settings)
  end
  if t.battery_controls and not self.battery_controls then
    self:learn_controls(t.battery_controls)
  end
end

function Site:__tostring()
  return self.site_id and ("enphase.site %d"):format(self.site_id) or "enphase.site (unknown)"
end

return M
