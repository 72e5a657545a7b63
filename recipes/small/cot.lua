-- cot.lua (small pipeline; settings in config.lua) — the CoT stage (paper §2.2): CoT training data from the timeline and speaker
-- similarities (Table 2: full CoT or random reasoning, similarity levels or scores), then SFT
-- of the BASE model on it.
local R = require "recipe"
local C = require "config"
local S = require "stages"
local spec = C.spec("cot")
local cfg = R.config("cot", spec, args)
if R.dry_run("cot", spec, cfg) then return end
R.need(C.paths(cfg).base_model, "run base.lua first, or set work_dir=")
if cfg.similarity == "import" then R.need(cfg.speaker_embeddings, "set speaker_embeddings=FILE, or similarity=encoder|manifest|oracle") end
if cfg.similarity == "encoder" then R.need(C.speaker_dir(cfg), "set speaker_model=DIR, or similarity=import|manifest|oracle") end
S.cot_data(C, cfg)
return S.sft(C, cfg, "cot")
