-- select.lua — RL data selection (paper §2.3.1, Table 3): decode the training set with the CoT
-- model, then choose rl_size samples: error-only (format errors first, then wrong transcripts),
-- balanced (correct : error = 1 : 5) or random.
local R = require "recipe"
local C = require "config"
local spec = C.spec("select")
local cfg = R.config("select", spec, args)
if R.dry_run("select", spec, cfg) then return end
R.need(C.paths(cfg).cot_model, "run cot.lua first, or set work_dir=")
return require("stages").select(C, cfg)
