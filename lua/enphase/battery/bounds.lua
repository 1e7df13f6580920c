--- The ranges a battery value may take: the account's own, when its
-- batterySettings gives them, else the seed's documented ones.
--
-- `batteryBackupPercentageMin`/`Max` bound the reserve and
-- `veryLowSocMin`/`Max` the very-low state of charge. A schedule's limit
-- keeps the seed's 6-100. Whatever the ranges, a value the cloud itself
-- returned may always be written back unchanged (validate.schedule's
-- `cloud`, `M.check`'s `current`): a DTG window the Enphase app made with
-- `limit: 5` can still be moved.
local M = {}

--- The seed's ranges: `{lo, hi}` by name.
M.SEED = {
  reserve = { 0, 100 },
  very_low_soc = { 0, 100 },
  limit = { 6, 100 },
}

-- The batterySettings fields giving each range.
local FIELDS = {
  reserve = { "batteryBackupPercentageMin", "batteryBackupPercentageMax" },
  very_low_soc = { "veryLowSocMin", "veryLowSocMax" },
}

local function integer(v)
  local n = type(v) == "number" and v == v and v >= 0 and v <= 100 and math.floor(v)
  return n and n == v and n or nil
end

--- `lo, hi, from` for `name` given the batterySettings `data` (or nil):
-- `from` is "account" when both bounds came from it (integers 0-100, lo <=
-- hi), else "seed".
function M.range(name, data)
  local f = FIELDS[name]
  if f and type(data) == "table" then
    local lo, hi = integer(data[f[1]]), integer(data[f[2]])
    if lo and hi and lo <= hi then
      return lo, hi, "account"
    end
  end
  local seed = M.SEED[name]
  return seed[1], seed[2], "seed"
end

--- Checks `value` (field `field`) against the range of `name` for `data`.
-- `current`: the value the cloud holds now, accepted unchanged whatever
-- the range. Returns the integer, or `nil, message`.
function M.check(field, name, value, data, current)
  local n = type(value) == "number" and integer(value)
  if n and current ~= nil and n == current then
    return n
  end
  local lo, hi, from = M.range(name, data)
  if not n or n < lo or n > hi then
    return nil, ("%s must be an integer from %d to %d%s (got %s)"):format(field, lo, hi,
      from == "account" and " for this site (its batterySettings)" or "",
      require("enphase.util.redact").quote(value))
  end
  return n
end

return M
