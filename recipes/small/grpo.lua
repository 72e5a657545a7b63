-- grpo.lua (small pipeline; settings in config.lua) — the RL stage (paper §2.3.2): GRPO from the CoT model on the RL selection, reward
-- (1 - WER) + format reward, G samples at temperature 1, k3 KL to the frozen CoT model.
local R = require "recipe"
local C = require "config"
local spec = C.spec("grpo")
local cfg = R.config("grpo", spec, args)
if R.dry_run("grpo", spec, cfg) then return end
R.need(C.paths(cfg).rl_train, "run select.lua first, or set work_dir=")
return require("stages").grpo(C, cfg)
