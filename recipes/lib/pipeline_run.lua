-- pipeline_run.lua — the body of recipes/*/pipeline.lua: resolves every stage's settings
-- from the folder's config module, checks stages=, and runs the chosen stages in order.
local R = require "recipe"
local P = {}

-- C: the folder's config module; args: the overrides of `tsasr run`; here: the folder
function P.run(C, args, here)
  local spec = C.all()
  spec.stages = {C.stages_default or "data,base,cot,select,grpo,eval", "stages to run, in order"}
  local cfg = R.config("pipeline", spec, args)
  local want = {}
  for s in cfg.stages:gmatch("[^,%s]+") do want[s] = true end
  if not next(want) then error("pipeline: stages= names no stage (stages: " .. cfg.stages .. ")", 0) end
  for s in pairs(want) do
    local ok = false
    for _, st in ipairs(C.stages) do ok = ok or st.name == s end
    if not ok then error("pipeline: unknown stage '" .. s .. "' in stages=", 0) end
  end
  for _, st in ipairs(C.stages) do
    if want[st.name] then
      local a = R.pick(C.spec(st.name), cfg)
      a.dry_run = cfg.dry_run
      if not cfg.dry_run then io.stderr:write("== stage " .. st.name .. "\n") end
      R.stage(here, st.file, a)
    end
  end
end

return P
