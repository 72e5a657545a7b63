-- base.lua — the BASE stage (paper §2.1): SFT of Qwen2 + encoder + projector on the training
-- manifest with an empty think (<think></think><answer>TEXT</answer>). Paper §3.2 settings.
local R = require "recipe"
local C = require "config"
local spec = C.spec("base")
local cfg = R.config("base", spec, args)
if R.dry_run("base", spec, cfg) then return end
R.need(C.paths(cfg).train, "run data.lua first, or set work_dir=")
return require("stages").sft(C, cfg, "base")
