--- The baseline: never touches the battery. The house runs on its
-- defaults (self-consumption, 20 % reserve).
return {
  name = "do nothing",
  run = function()
    return nil
  end,
}
