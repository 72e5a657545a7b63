-- pipeline.lua (small pipeline; settings in config.lua) — the whole paper: data -> BASE SFT -> CoT data + SFT -> RL selection -> GRPO
-- -> evaluation. Every setting of every stage can be overridden here (key=value); stages=
-- picks a subset (e.g. stages=cot,select,grpo to continue). --dry-run prints every stage's
-- resolved configuration.
local R = require "recipe"
require("pipeline_run").run(require "config", args, R.here())
