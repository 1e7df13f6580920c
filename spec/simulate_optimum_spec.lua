-- `enphase simulate` with the optimum: a third run in the report, the CSV
-- files and --json, the share of the saving the policy captures,
-- --no-optimum; and the bundled night_cycles policy against fixed_window.
local H = require("helpers.client")
local procs = require("helpers.procs")

describe("enphase simulate and the optimum", function()
  local dir

  before_each(function()
    dir = procs.tmpdir("optimum")
  end)

  after_each(function()
    procs.rmdir(dir)
  end)

  it("reports the optimum as a third run and the share of the saving the policy captures", function()
    local code, out, errs = H.main({ "simulate", "--policy", "fixed_window", "--days", "2",
                                     "--out", dir, "--json", "--no-chart" }, {})
    assert.equal(0, code, errs)
    local v = require("cjson").decode(out)
    assert.equal(3, #v.runs)
    local policy, baseline, best = v.runs[1], v.runs[2], v.runs[3]
    assert.equal("optimum", best.label)
    assert.truthy(best.figures.cost < policy.figures.cost)
    assert.truthy(best.figures.cost < baseline.figures.cost)
    assert.truthy(best.lower_bound <= best.figures.cost)
    -- on the cost less the stored energy's change: the runs end at different SoCs
    local share = (baseline.figures.net_cost - policy.figures.net_cost)
      / (baseline.figures.net_cost - best.figures.net_cost) * 100
    assert.near(share, policy.captures_pct, 1e-9)
    local text = procs.slurp(dir .. "/report.txt")
    assert.truthy(text:find(("captures %.0f %%"):format(share), 1, true), text)
    assert.truthy(text:find(("%.2f"):format(best.figures.cost), 1, true), text)
    local rows = 0
    for _ in io.lines(dir .. "/optimum.csv") do
      rows = rows + 1
    end
    assert.equal(2 * 96 + 1, rows)
  end)

  it("the bundled night_cycles beats fixed_window on the bundled week, and most of the optimum", function()
    local code, out, errs = H.main({ "simulate", "--policy", "night_cycles", "--baseline",
                                     "fixed_window", "--out", dir, "--json", "--no-chart" }, {})
    assert.equal(0, code, errs)
    local runs = require("cjson").decode(out).runs
    assert.equal("night cycles", runs[1].policy)
    assert.truthy(runs[1].figures.cost < runs[2].figures.cost - 5,
      ("%.2f against %.2f"):format(runs[1].figures.cost, runs[2].figures.cost))
    -- against fixed_window as the baseline: more than half of what is left to save
    assert.truthy(runs[1].captures_pct > 50, runs[1].captures_pct)
  end)

  it("--no-optimum skips it", function()
    local code, out, errs = H.main({ "simulate", "--policy", "do_nothing", "--baseline", "none",
                                     "--days", "1", "--out", dir, "--json", "--no-chart",
                                     "--no-optimum" }, {})
    assert.equal(0, code, errs)
    assert.equal(1, #require("cjson").decode(out).runs)
    assert.is_nil(procs.slurp(dir .. "/optimum.csv"))
  end)
end)
