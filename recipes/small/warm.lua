-- warm.lua (small pipeline; settings in config.lua) — the warm-up stage of a model trained from
-- scratch: a new model (config.lua's C.new_model) learns single-speaker ASR on samples with a
-- minimal enrollment, with the encoder's CTC loss, before BASE SFT on the full task. Not part of
-- the paper (which starts from pretrained parts); warm_steps=0 skips it.
local R = require "recipe"
local C = require "config"
local spec = C.spec("warm")
local cfg = R.config("warm", spec, args)
if R.dry_run("warm", spec, cfg) then return end
if cfg.warm_steps <= 0 then
  io.stderr:write("warm: warm_steps=0, skipped\n")
  return
end
R.need(C.paths(cfg).warm_train, "run data.lua first (warm_mix > 0), or set work_dir=")
return require("stages").sft(C, cfg, "warm")
