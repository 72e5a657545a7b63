-- pipeline.lua (small pipeline; settings in config.lua) — the whole paper: data -> BASE SFT -> CoT data + SFT -> RL selection -> GRPO
-- -> evaluation. Every setting of every stage can be overridden here (key=value); stages=
-- picks a subset (e.g. stages=cot,select,grpo to continue). --dry-run prints every stage's
-- resolved configuration.
local R = require "recipe"
local C = require "config"
local spec = C.all()
spec.stages = {C.stages_default or "data,base,cot,select,grpo,eval", "stages to run, in order"}
local cfg = R.config("pipeline", spec, args)
local want = {}
for s in cfg.stages:gmatch("[^,%s]+") do want[s] = true end
for s in pairs(want) do
  local ok = false
  for _, st in ipairs(C.stages) do ok = ok or st.name == s end
  if not ok then error("pipeline: unknown stage '" .. s .. "' in stages=", 0) end
end
local here = R.here()
for _, st in ipairs(C.stages) do
  if want[st.name] then
    local a = R.pick(C.spec(st.name), cfg)
    a.dry_run = cfg.dry_run
    if not cfg.dry_run then io.stderr:write("== stage " .. st.name .. "\n") end
    R.stage(here, st.file, a)
  end
end
