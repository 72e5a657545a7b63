-- stages.lua — the stages of the paper's pipeline (DESIGN §1), shared by recipes/paper and
-- recipes/small: each takes the stage's resolved configuration, the config module C (paths,
-- model construction) and does its work through the tsasr module.
local ts = require "tsasr"
local S = {}

local function log(fmt, ...)
  io.stderr:write(string.format(fmt, ...) .. "\n")
end

local function split(s)
  local out = {}
  for x in tostring(s):gmatch("[^,%s]+") do out[#out + 1] = x end
  return out
end
S.split = split

local function parent(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- the GEMM precision to ask for: the setting, where "auto" is bf16 on cuda and f32 elsewhere (bf16
-- on cpu/devsim runs on oneDNN and changes the numbers: asked for by name)
function S.gemm(cfg)
  if cfg.gemm == "auto" then return cfg.device == "cuda" and "bf16" or "f32" end
  return cfg.gemm
end

local function dev_opts(cfg, t)
  t.device = cfg.device
  t.gemm = S.gemm(cfg)
  return t
end

local function model_opts(cfg, train)
  return dev_opts(cfg, {train = train})
end

local function freeze_list(cfg)
  local f = split(cfg.freeze or "")
  return #f > 0 and f or nil
end

-- Trains one SFT stage and saves the final model: "warm" (the small recipe's single-speaker
-- warm-up, from a new model), "base" (from the warm-up model when there is one, else a new
-- model) or "cot" (from the BASE model, on the CoT data).
function S.sft(C, cfg, which)
  local P = C.paths(cfg)
  ts.threads(cfg.threads)
  local m
  if which == "warm" or (which == "base" and not (P.warm_model and ts.exists(P.warm_model))) then
    m = C.new_model(cfg, P)
  elseif which == "base" then
    log("base: starting from the warm-up model %s", P.warm_model)
    m = ts.model.load(P.warm_model, model_opts(cfg, true))
  else
    m = ts.model.load(P.base_model, model_opts(cfg, true))
  end
  local run_dir = ({warm = P.warm, base = P.base, cot = P.cot})[which]
  local data = ({warm = P.warm_train, base = P.train, cot = P.cot_train})[which]
  local final = ({warm = P.warm_model, base = P.base_model, cot = P.cot_model})[which]
  local steps = ({warm = cfg.warm_steps, cot = cfg.cot_steps})[which] or cfg.sft_steps
  local peak = ({warm = cfg.warm_lr, cot = cfg.cot_lr})[which] or cfg.lr_peak
  local micro = math.min(cfg.micro_batch, cfg.global_batch)
  local t = ts.train.sft{
    model = m, data = data, run_dir = run_dir, target = which == "cot" and "cot" or "base",
    steps = steps, lr_start = cfg.lr_start, lr_peak = peak, lr_min = math.min(cfg.lr_min, peak),
    warmup = cfg.warmup, micro_batch = micro, global_batch = cfg.global_batch,
    max_text = cfg.max_text, clip = cfg.clip, wd = cfg.wd, seed = cfg.seed, freeze = freeze_list(cfg),
    ckpt_every = cfg.ckpt_every, bf16 = cfg.bf16, threads = math.min(cfg.threads, 4), bucket = cfg.bucket,
    silence = cfg.silence,
  }
  local r = t:run()
  t:free()
  m:save(final)
  m:free()
  log("%s: %d steps, loss %.4f -> %.4f, model %s", which, r.steps, r.loss_first, r.loss, final)
  return r
end

-- Decodes a manifest with a model directory into a decode JSONL (resumable). A decode file older
-- than the model's weights was made by an earlier model (the stage was rerun after more
-- training): it is decoded afresh rather than resumed, so no stale outputs are counted.
function S.decode(cfg, model_dir, manifest, out, opts)
  opts = opts or {}
  ts.mkdirs(parent(out))
  local t_out, t_model = ts.mtime(out), ts.mtime(model_dir .. "/model.safetensors")
  local resume = not (t_out and t_model and t_out < t_model)
  if not resume then log("%s is older than %s: decoding afresh", out, model_dir) end
  local m <close> = ts.model.load(model_dir, dev_opts(cfg, {}))
  return ts.decode{model = m, data = manifest, out = out, batch = opts.batch or cfg.decode_batch,
                   max_new = opts.max_new or cfg.decode_max_new, temperature = 0, limit = opts.limit,
                   silence = cfg.silence, resume = resume}
end

-- CoT training data from the training manifest (Table 2: full / random reasoning, level /
-- score); random reasoning first decodes the training set with the BASE model.
function S.cot_data(C, cfg)
  local P = C.paths(cfg)
  local ds = ts.manifest.read(P.train, {silence = cfg.silence})
  local mode = cfg.cot_data
  if mode == "random" then
    local s = S.decode(cfg, P.base_model, P.train, P.base_decode, {limit = cfg.decode_limit})
    log("cot: BASE decode of the training set: %d samples, WER %.2f%%", s.n, 100 * s.wer)
  end
  local sim = cfg.similarity
  if sim == "encoder" or sim == "import" then -- fill the manifest's similarities, then build from them
    local sc = sim == "encoder" and ts.speaker.load(C.speaker_dir(cfg), {cache_dir = cfg.work_dir .. "/cache"})
               or ts.speaker.import(cfg.speaker_embeddings)
    local r = sc:score(ds)
    sc:free()
    log("cot: speaker similarity (%s): %d segments embedded, %d reused, %d entries failed", sim, r.embedded, r.reused,
        r.bad)
    sim = "manifest"
  end
  local st = ds:cot{mode = mode, decode = mode == "random" and P.base_decode or nil,
                    continuous = cfg.sim_format == "score", similarity = sim,
                    p_empty = cfg.p_empty, seed = cfg.seed}
  ds:write(P.cot_train)
  log("cot: %d full, %d empty thinks (%d not in the decode) -> %s", st.full, st.empty, st.missing, P.cot_train)
  ds:free()
  return st
end

-- RL selection (Table 3) from a decode of the training set by the CoT model.
function S.select(C, cfg)
  local P = C.paths(cfg)
  local s = S.decode(cfg, P.cot_model, P.cot_train, P.cot_decode, {limit = cfg.decode_limit})
  log("select: CoT decode of the training set: %d samples, WER %.2f%%, %d format errors", s.n, 100 * s.wer,
      s.format_errors)
  ts.mkdirs(parent(P.rl_train))
  ts.mkdirs(parent(P.rl_ids))
  local r = ts.select{decode = P.cot_decode, manifest = P.cot_train, out = P.rl_train, ids = P.rl_ids,
                      mode = cfg.rl_select, size = cfg.rl_size, seed = cfg.seed}
  log("%s", r.report)
  return r
end

-- GRPO from the CoT model on the RL selection.
function S.grpo(C, cfg)
  local P = C.paths(cfg)
  ts.threads(cfg.threads)
  local policy = ts.model.load(P.cot_model, model_opts(cfg, true))
  local ref = cfg.beta > 0 and ts.model.load(P.cot_model, model_opts(cfg, false)) or nil
  local t = ts.train.grpo{
    model = policy, ref = ref, data = P.rl_train, run_dir = P.grpo, steps = cfg.grpo_steps,
    lr = cfg.grpo_lr, G = cfg.G, temperature = cfg.temperature, max_new = cfg.max_new, beta = cfg.beta,
    epsilon = cfg.epsilon, agg = cfg.loss_agg, format_reward = cfg.format_reward, prompts = cfg.prompts,
    cot_reward = cfg.cot_reward, continuous = cfg.sim_format == "score",
    mu = cfg.mu, micro_batch = cfg.grpo_micro_batch, seed = cfg.seed, ckpt_every = cfg.grpo_ckpt_every,
    silence = cfg.silence,
  }
  local r = t:run()
  t:free()
  policy:save(P.rl_model)
  policy:free()
  if ref then ref:free() end
  log("grpo: %d steps, reward %.3f -> %.3f, model %s", r.steps, r.reward_first, r.reward, P.rl_model)
  return r
end

-- Decodes every test set with every system's model and writes Table 1 (Markdown + JSON):
-- table1.* on the test sets (seen voices for the small recipe), table1_unseen.* on the
-- unseen-voice sets when the configuration has them.
function S.eval(C, cfg)
  local P = C.paths(cfg)
  local models = {base = P.base_model, cot = P.cot_model, rl = P.rl_model}
  local names = {base = "TS-ASR Base", cot = "TS-ASR + CoT", rl = "TS-ASR + CoT + RL"}
  local groups = {{tag = "", sets = P.test}}
  if P.test_unseen then groups[2] = {tag = "_unseen", sets = P.test_unseen} end
  local out_tables = {}
  for _, grp in ipairs(groups) do
    local systems = {}
    for _, sys in ipairs(split(cfg.systems)) do
      local dir = models[sys]
      if not dir then error("eval: unknown system '" .. sys .. "' (base, cot, rl)", 0) end
      if ts.exists(dir) then
        local decodes = {}
        for _, set in ipairs({"single", "libri2mix", "libri3mix"}) do
          local man = grp.sets[set]
          if ts.exists(man) then
            local out = string.format("%s/%s/%s%s.jsonl", P.eval, sys, set, grp.tag)
            ts.mkdirs(P.eval .. "/" .. sys)
            local s = S.decode(cfg, dir, man, out, {batch = cfg.eval_batch, max_new = cfg.eval_max_new})
            log("eval: %s on %s%s: %d samples, WER %.2f%%", sys, set, grp.tag, s.n, 100 * s.wer)
            decodes[#decodes + 1] = out
          end
        end
        if #decodes > 0 then systems[#systems + 1] = {name = names[sys], decodes = decodes} end
      else
        log("eval: %s: no model at %s, skipped", sys, dir)
      end
    end
    if #systems > 0 then
      ts.mkdirs(P.eval)
      local t = ts.eval{systems = systems, markdown = P.eval .. "/table1" .. grp.tag .. ".md",
                        json = P.eval .. "/table1" .. grp.tag .. ".json"}
      if grp.tag ~= "" then io.write("\n(unseen voices)\n") end
      io.write(t.markdown)
      out_tables[#out_tables + 1] = t
    end
  end
  return out_tables[1]
end

return S
