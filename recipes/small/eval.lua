-- eval.lua (small pipeline; settings in config.lua) — Table 1: decode the single-speaker, Libri2Mix and Libri3Mix test sets with each
-- system (BASE, + CoT, + CoT + RL) and write WER per set and the weighted average.
local R = require "recipe"
local C = require "config"
local spec = C.spec("eval")
local cfg = R.config("eval", spec, args)
if R.dry_run("eval", spec, cfg) then return end
return require("stages").eval(C, cfg)
