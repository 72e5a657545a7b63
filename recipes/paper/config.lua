-- config.lua — every setting of the paper pipeline with its default (paper §3.1–3.2, DESIGN §6–9)
-- and the ablations of Tables 2 and 3 as options. Stages take the keys of `common` plus their
-- own; pipeline.lua takes them all. Override any of them on the command line: key=value.
local C = {}

C.common = {
  work_dir = {"exp/paper", "everything this pipeline writes goes under here"},
  device = {"cuda", "cpu or cuda (devsim: the simulated device, for testing a recipe on a machine without a GPU)", choices = {"cpu", "cuda", "devsim"}},
  gemm = {"auto", "GEMM precision (docs/precision.md): bf16 (inputs rounded to bf16, f32 accumulate; weights, optimizer and norms stay f32; tensor cores on cuda, oneDNN on cpu/devsim), tf32 (cuda only), f32 (the parity reference), or auto: bf16 on cuda, f32 elsewhere", choices = {"auto", "f32", "tf32", "bf16"}},
  seed = {1, "seed of every random decision (mixtures, enrollment crops, shuffles, sampling)", int = true, min = 0},
  threads = {8, "CPU threads (loader and ops)", int = true, min = 1, max = 1024},
  librispeech = {"data/LibriSpeech", "LibriSpeech root (train-clean-100, train-clean-360, train-other-500, test-clean)"},
  silence = {3.0, "silence between enrollment and mixture (s)", min = 0, max = 60},
  tag = {"", "CoT variant (Table 2): CoT and everything after it go to work_dir/<tag>/ (data and BASE are shared)"},
  rl_tag = {"", "RL variant (Table 3): selection, GRPO and eval go to work_dir[/<tag>]/<rl_tag>/ (the CoT model is shared)"},
}

C.data = {
  train_subsets = {"train-clean-100,train-clean-360,train-other-500", "LibriSpeech 960 h subsets used for training"},
  single = {"auto", "single-speaker training samples (auto: every utterance once, the 960 h; a number: seeded draws)", int = true, min = 0},
  mix2 = {"auto", "2-speaker training mixtures (auto: utterances / 2, so with every speaker the target in turn about one sample per utterance, ~1920 h; drawn with replacement)", int = true, min = 0},
  mix3 = {"auto", "3-speaker training mixtures (auto: utterances / 3, likewise ~2880 h)", int = true, min = 0},
  enroll_dur = {3.0, "enrollment crop (s) from another utterance of the target speaker", gt = 0, max = 600},
  lufs_lo = {-33.0, "source loudness range (LUFS), as LibriMix", min = -120, max = 20},
  lufs_hi = {-25.0, "source loudness range (LUFS), as LibriMix", min = -120, max = 20},
  test_subset = {"test-clean", "LibriSpeech subset of the single-speaker test set"},
  librimix_meta = {"data/LibriMix/metadata", "LibriMix metadata (Libri2Mix/, Libri3Mix/ CSVs)"},
  libri2mix_csv = {"Libri2Mix/libri2mix_test-clean.csv", "Libri2Mix test CSV, relative to librimix_meta"},
  libri3mix_csv = {"Libri3Mix/libri3mix_test-clean.csv", "Libri3Mix test CSV, relative to librimix_meta"},
  speakerbeam = {"data/speakerbeam/egs", "SpeakerBeam egs folder (enrollment lists)"},
  libri2mix_map = {"libri2mix/data/wav8k/min/test/map_mixture2enrollment", "Libri2Mix enrollment list, relative to speakerbeam"},
  libri3mix_map = {"", "Libri3Mix enrollment list relative to speakerbeam (empty: drawn, seeded, as for training)"},
}

C.model = {
  llm = {"models/Qwen2.5-0.5B-Instruct", "HF Qwen2 directory (paper: Qwen2.5-0.5B-Instruct)"},
  encoder = {"models/data2vec2-large", "encoder directory (paper: Data2Vec2, 0.3 B, exported by tools/export_data2vec2.py)"},
  adapter = {"mlp", "projector kind", choices = {"mlp", "linear"}},
  adapter_k = {5, "encoder frames concatenated (50 Hz -> 10 Hz)", int = true, min = 1, max = 64},
  adapter_hidden = {2048, "projector hidden width", int = true, min = 1},
}

-- SFT (BASE and CoT stages), paper §3.2
C.sft = {
  sft_steps = {240000, "optimizer steps per SFT stage (one epoch at global batch 112)", int = true, min = 1},
  lr_start = {1e-7, "LR at step 0", min = 0, max = 1},
  lr_peak = {7e-5, "LR after warm-up", min = 0, max = 1},
  lr_min = {1e-6, "cosine floor", min = 0, max = 1},
  warmup = {3000, "linear warm-up steps", int = true, min = 0},
  global_batch = {112, "samples per optimizer step", int = true, min = 1},
  micro_batch = {4, "samples per forward (accumulation = global_batch / micro_batch)", int = true, min = 1},
  bucket = {50, "length bucketing: pools of this many micro-batches sorted by mixture duration, cut into micro-batches and shuffled, so a forward pads little (an optimizer step still mixes lengths: it accumulates micro-batches from all over the epoch); 0 = off", int = true, min = 0},
  max_text = {512, "max prompt + response tokens", int = true, min = 8},
  clip = {1.0, "max global grad norm", min = 0},
  wd = {0.0, "AdamW weight decay", min = 0, max = 1},
  freeze = {"", "comma-separated parameter prefixes to freeze (empty: full-parameter)"},
  ckpt_every = {1000, "checkpoint every N steps", int = true, min = 0},
  bf16 = {false, "save checkpoints in bf16"},
}

-- CoT data (Table 2)
C.cot = {
  cot_data = {"random", "Table 2: full CoT for every sample (full) or random reasoning (random)", choices = {"full", "random"}},
  sim_format = {"level", "Table 2: similarity as levels 1..5 (level) or continuous scores (score)", choices = {"level", "score"}},
  p_empty = {0.5, "random reasoning: probability of an empty think for a correctly decoded sample", min = 0, max = 1},
  similarity = {"import", "speaker similarity for the CoT: imported embeddings (paper: CAM++), the built-in speaker encoder, scores already in the manifest, or an oracle stand-in",
                choices = {"import", "encoder", "manifest", "oracle"}},
  speaker_embeddings = {"data/campp_embeddings.jsonl", "similarity=import: JSONL of {utt, start, duration, emb} (enrollment crops and whole utterances)"},
  speaker_model = {"", "similarity=encoder: a speaker encoder directory (tsasr speaker train; empty: work_dir/speaker)"},
}

-- decoding the training set (random reasoning after BASE, RL selection after CoT)
C.decode = {
  decode_batch = {16, "inputs per generate call when decoding the training set", int = true, min = 1},
  decode_max_new = {512, "max new tokens when decoding", int = true, min = 1},
  decode_limit = {0, "decode at most this many training samples (0: all)", int = true, min = 0},
}

-- RL data selection (Table 3)
C.select = {
  rl_select = {"error-only", "Table 3: error-only, balanced (correct:error = 1:5) or random", choices = {"error-only", "balanced", "random"}},
  rl_size = {20000, "selected RL samples", int = true, min = 1},
}

-- GRPO, paper §2.3.2 / §3.2
C.grpo = {
  grpo_steps = {2000, "GRPO steps", int = true, min = 1},
  grpo_lr = {1e-6, "constant LR", min = 0, max = 1},
  G = {8, "responses per input", int = true, min = 2},
  temperature = {1.0, "sampling temperature", gt = 0},
  max_new = {512, "max new tokens per response", int = true, min = 1},
  beta = {0.04, "KL weight (k3 estimator) to the frozen CoT model (DESIGN §8; TRL default)", min = 0},
  epsilon = {0.2, "clip range of the ratio (DESIGN §8; TRL default)", min = 0},
  loss_agg = {"grpo", "loss aggregation", choices = {"grpo", "dapo", "dr_grpo"}},
  format_reward = {1.0, "reward of a well-formed output (eq. 3)"},
  cot_reward = {0.0, "weight of the share of right CoT steps in the reward (ours; 0 = the paper's eq. 3)", min = 0},
  prompts = {10, "prompts per step (20,000 samples / 2,000 steps = one pass)", int = true, min = 1},
  mu = {1, "policy updates per generation batch", int = true, min = 1},
  grpo_micro_batch = {8, "completions per forward in the update", int = true, min = 1, max = 256},
  grpo_ckpt_every = {100, "checkpoint every N GRPO steps", int = true, min = 0},
}

C.eval = {
  eval_batch = {16, "inputs per generate call", int = true, min = 1},
  eval_max_new = {512, "max new tokens", int = true, min = 1},
  systems = {"base,cot,rl", "models to evaluate (stages whose final model exists)"},
}

function C.all()
  local out = {}
  for _, s in ipairs({C.common, C.data, C.model, C.sft, C.cot, C.decode, C.select, C.grpo, C.eval}) do
    for k, v in pairs(s) do out[k] = v end
  end
  return out
end

-- The stages, their settings, and the file that runs each.
C.stages = {
  {name = "data", file = "data.lua", specs = {"common", "data"}},
  {name = "base", file = "base.lua", specs = {"common", "model", "sft"}},
  {name = "cot", file = "cot.lua", specs = {"common", "sft", "cot", "decode"}},
  {name = "select", file = "select.lua", specs = {"common", "select", "decode"}},
  {name = "grpo", file = "grpo.lua", specs = {"common", "cot", "grpo"}}, -- cot: sim_format for the reasoning term
  {name = "eval", file = "eval.lua", specs = {"common", "eval"}},
}

-- The speaker encoder directory a configuration names.
function C.speaker_dir(cfg)
  return (cfg.speaker_model and cfg.speaker_model ~= "") and cfg.speaker_model or C.paths(cfg).speaker
end

-- The merged settings of a stage by name.
function C.spec(name)
  for _, st in ipairs(C.stages) do
    if st.name == name then
      local out = {}
      for _, s in ipairs(st.specs) do for k, v in pairs(C[s]) do out[k] = v end end
      return out
    end
  end
  error("no stage " .. name)
end

-- The paper's starting point: HF Qwen2 + the encoder, a new projector.
function C.new_model(cfg, P)
  local ts = require "tsasr"
  return ts.model.assemble{llm = cfg.llm, encoder = cfg.encoder, adapter = cfg.adapter, adapter_k = cfg.adapter_k,
                           adapter_hidden = cfg.adapter_hidden, seed = cfg.seed, device = cfg.device,
                           gemm = require("stages").gemm(cfg), train = true}
end

-- Where each stage writes (under work_dir).
function C.paths(cfg)
  local w = cfg.work_dir
  local v = (cfg.tag and cfg.tag ~= "") and (w .. "/" .. cfg.tag) or w -- CoT variant
  local r = (cfg.rl_tag and cfg.rl_tag ~= "") and (v .. "/" .. cfg.rl_tag) or v -- RL variant
  return {
    data = w .. "/data",
    train = w .. "/data/train.jsonl",
    test = {single = w .. "/data/test_single.jsonl", libri2mix = w .. "/data/test_libri2mix.jsonl",
            libri3mix = w .. "/data/test_libri3mix.jsonl"},
    speaker = w .. "/speaker",
    base = w .. "/base",
    base_model = w .. "/base/final",
    base_decode = w .. "/base/decode_train.jsonl",
    cot_train = v .. "/cot/train_cot.jsonl",
    cot = v .. "/cot",
    cot_model = v .. "/cot/final",
    cot_decode = v .. "/cot/decode_train.jsonl",
    rl_train = r .. "/select/rl_train.jsonl",
    rl_ids = r .. "/select/rl_ids.jsonl",
    grpo = r .. "/grpo",
    rl_model = r .. "/grpo/final",
    eval = r .. "/eval",
  }
end

return C
