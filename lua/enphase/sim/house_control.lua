-- /__sim/house: read an account's simulated house (its 15-minute buckets,
-- for reports and the specs' energy-balance checks) and set up the houses
-- (series as CSV text, battery parameters, start time).
local compat = require("enphase.util.compat")
local http = require("enphase.sim.http")
local json = require("enphase.sim.json")
local house_mod = require("enphase.sim.house")
local request_body = require("enphase.sim.request_body")
local series = require("enphase.sim.series")

local M = {}

local fail = request_body.fail

local BUCKET_FIELDS = {
  "start", "pv_wh", "load_wh", "import_wh", "export_wh", "charge_wh", "discharge_wh",
  "stored_in_wh", "stored_out_wh", "loss_wh", "cost", "soc_start", "soc_end", "soc_min",
  "soc_max", "seconds", "reserve_seconds", "cfg_seconds", "dtg_seconds", "rbd_seconds",
  "import_price", "export_price", "reserve", "very_low_soc", "mode", "limit",
  "import_cost", "export_value", "import_price_seconds", "export_price_seconds",
  "profile_seconds", "profile",
}

-- The compact rows (?rows=1): the numeric fields, then mode and profile.
-- A missing number (no battery: no SoC; no window: no limit) is -1.
local unpack = compat.unpack
local ROW_NUMBERS = {
  "start", "seconds", "pv_wh", "load_wh", "import_wh", "export_wh", "charge_wh",
  "discharge_wh", "stored_in_wh", "stored_out_wh", "loss_wh", "cost", "import_price",
  "export_price", "import_price_seconds", "soc_start", "soc_end", "reserve", "very_low_soc",
  "reserve_seconds", "cfg_seconds", "dtg_seconds", "rbd_seconds", "profile_seconds", "limit",
  "export_price_seconds",
}
local ROW_FORMAT = "[" .. ("%.17g,"):rep(#ROW_NUMBERS) .. '"%s"]'

-- `{"ok":true,"fields":[...],"rows":[[...],...]}`: the buckets of `list`
-- (false for a missing one, left out) as rows of ROW_NUMBERS and mode,
-- each written by one string.format (a year of buckets goes through here).
local function rows_body(list, since)
  local out = {}
  local values = {}
  local n = #ROW_NUMBERS
  for _, b in ipairs(list) do
    if b and b.start >= since then
      for i = 1, n do
        local v = b[ROW_NUMBERS[i]]
        values[i] = (v == nil or v ~= v) and -1 or v
      end
      values[n + 1] = tostring(b.mode or ""):gsub('[^%w_%-]', "")
      out[#out + 1] = ROW_FORMAT:format(unpack(values, 1, n + 1))
    end
  end
  local fields = {}
  for i, k in ipairs(ROW_NUMBERS) do
    fields[i] = k
  end
  fields[n + 1] = "mode"
  return '{"ok":true,"fields":' .. json.encode(fields) .. ',"rows":['
    .. table.concat(out, ",") .. "]}"
end

function M.get(app, req)
  local st = app.state
  local acct = req.params.email and st:account_by_email(req.params.email) or st.accounts[1]
  if not acct then
    return fail("no such account")
  end
  local since = tonumber(req.params.since or "") or -math.huge
  local till = tonumber(req.params["until"] or "")
  local house = st:house(acct)
  local buckets = json.array()
  local list
  if till and since > -math.huge then
    -- [since, until): the kept buckets of that span, a missing one left out
    list = house:range(since - since % house_mod.BUCKET, till)
  else
    list = house:history()
  end
  if req.params.rows then
    return http.json(200, rows_body(list, since))
  end
  for _, b in ipairs(list) do
    if b and b.start >= since then
      local out = {}
      for _, k in ipairs(BUCKET_FIELDS) do
        out[k] = b[k]
      end
      buckets[#buckets + 1] = out
    end
  end
  local cfg = {}
  for k in pairs(house_mod.DEFAULTS) do
    cfg[k] = house.cfg[k]
  end
  return http.json(200, {
    ok = true,
    email = acct.email,
    timezone = acct.timezone,
    config = cfg,
    soc = house:soc() or json.null,
    energy_kwh = house.energy,
    discharged_kwh = house.discharged_kwh,
    started = house.started,
    t = house.t,
    buckets = buckets,
  })
end

function M.set(app, req)
  local spec, refused = request_body.object(req)
  if not spec then
    return refused
  end
  local cfg = {}
  for k, v in pairs(spec) do
    if house_mod.DEFAULTS[k] ~= nil then
      cfg[k] = v
    elseif series.KINDS[k] then
      local s, err = series.parse(v, k, k)
      if not s then
        return fail(err)
      end
      cfg[k] = s
    elseif k ~= "start" and k ~= "reserve" and k ~= "very_low_soc" then
      return fail("unknown house key " .. tostring(k))
    end
  end
  if spec.start ~= nil and type(spec.start) ~= "number" then
    return fail("start must be an epoch in seconds")
  end
  local checked, err = house_mod.check(cfg)
  if not checked then
    return fail(err)
  end
  -- the account's reserve and very-low SoC, as the API would set them
  for k, range in pairs({ reserve = { 0, 100 }, very_low_soc = { 5, 25 } }) do
    local v = spec[k]
    if v ~= nil and (type(v) ~= "number" or v ~= math.floor(v) or v < range[1] or v > range[2]) then
      return fail(("%s must be an integer %d..%d"):format(k, range[1], range[2]))
    end
  end
  local st = app.state
  st.house_config = checked
  for _, acct in ipairs(st.accounts) do
    acct.house = nil
    if spec.reserve then
      acct.profile.batteryBackupPercentage = spec.reserve
    end
    if spec.very_low_soc then
      acct.settings.veryLowSoc = spec.very_low_soc
    end
    if spec.start then
      st:house(acct, spec.start)
    end
  end
  return http.json(200, { ok = true })
end

return M
