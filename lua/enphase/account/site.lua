--- The site's facts: its ids, its time zone and its capability flags.
--
-- One object per client owns them; nothing else writes them. They come
-- from the options (`site_id`, `user_id`, `timezone`: these always win),
-- from discovery (`GET /`, `data.json`), from `GET siteSettings`, or from
-- the token cache (`snapshot()` / `restore()`), and never change once
-- known. `generation` grows with every change, so the token cache knows
-- when there is something new to save.
local json = require("enphase.util.json")

local Site = {}
Site.__index = Site

local M = {}

local function is_id(v)
  return math.type(v) == "integer" and v > 0
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
end

function Site:__tostring()
  return self.site_id and ("enphase.site %d"):format(self.site_id) or "enphase.site (unknown)"
end

return M
