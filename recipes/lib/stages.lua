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

local function model_opts(cfg, train)
  return {device = cfg.device, train = train}
end

local function freeze_list(cfg)
  local f = split(cfg.freeze or "")
  return #f > 0 and f or nil
end

-- Trains one SFT stage ("base" or "cot") and saves the final model.
function S.sft(C, cfg, which)
  local P = C.paths(cfg)
  ts.threads(cfg.threads)
  local m
  if which == "base" then
    m = C.new_model(cfg, P)
  else
    m = ts.model.load(P.base_model, model_opts(cfg, true))
  end
  local run_dir = which == "base" and P.base or P.cot
  local micro = math.min(cfg.micro_batch, cfg.global_batch)
  local t = ts.train.sft{
    model = m, data = which == "base" and P.train or P.cot_train, run_dir = run_dir,
    target = which == "base" and "base" or "cot",
    steps = cfg.sft_steps, lr_start = cfg.lr_start, lr_peak = cfg.lr_peak, lr_min = cfg.lr_min,
    warmup = cfg.warmup, micro_batch = micro, global_batch = cfg.global_batch,
    max_text = cfg.max_text, clip = cfg.clip, wd = cfg.wd, seed = cfg.seed, freeze = freeze_list(cfg),
    ckpt_every = cfg.ckpt_every, bf16 = cfg.bf16, threads = math.min(cfg.threads, 4),
    silence = cfg.silence,
  }
  local r = t:run()
  t:free()
  m:save(which == "base" and P.base_model or P.cot_model)
  m:free()
  log("%s: %d steps, loss %.4f -> %.4f, model %s", which, r.steps, r.loss_first, r.loss,
      which == "base" and P.base_model or P.cot_model)
  return r
end

-- Decodes a manifest with a model directory into a decode JSONL (resumable).
function S.decode(cfg, model_dir, manifest, out, opts)
  opts = opts or {}
  ts.mkdirs(parent(out))
  local m <close> = ts.model.load(model_dir, {device = cfg.device})
  return ts.decode{model = m, data = manifest, out = out, batch = opts.batch or cfg.decode_batch,
                   max_new = opts.max_new or cfg.decode_max_new, temperature = 0, limit = opts.limit,
                   silence = cfg.silence, resume = true}
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

-- Decodes every test set with every system's model and writes Table 1 (Markdown + JSON).
function S.eval(C, cfg)
  local P = C.paths(cfg)
  local models = {base = P.base_model, cot = P.cot_model, rl = P.rl_model}
  local names = {base = "TS-ASR Base", cot = "TS-ASR + CoT", rl = "TS-ASR + CoT + RL"}
  local systems = {}
  for _, sys in ipairs(split(cfg.systems)) do
    local dir = models[sys]
    if not dir then error("eval: unknown system '" .. sys .. "' (base, cot, rl)", 0) end
    if ts.exists(dir) then
      local decodes = {}
      for _, set in ipairs({"single", "libri2mix", "libri3mix"}) do
        local man = P.test[set]
        if ts.exists(man) then
          local out = string.format("%s/%s/%s.jsonl", P.eval, sys, set)
          ts.mkdirs(P.eval .. "/" .. sys)
          local s = S.decode(cfg, dir, man, out, {batch = cfg.eval_batch, max_new = cfg.eval_max_new})
          log("eval: %s on %s: %d samples, WER %.2f%%", sys, set, s.n, 100 * s.wer)
          decodes[#decodes + 1] = out
        end
      end
      systems[#systems + 1] = {name = names[sys], decodes = decodes}
    else
      log("eval: %s: no model at %s, skipped", sys, dir)
    end
  end
  ts.mkdirs(P.eval)
  local t = ts.eval{systems = systems, markdown = P.eval .. "/table1.md", json = P.eval .. "/table1.json"}
  io.write(t.markdown)
  return t
end

return S
