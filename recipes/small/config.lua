-- config.lua — the small pipeline: the paper's stages and settings (recipes/paper/config.lua)
-- with defaults sized for a 2-core CPU: the synthetic TTS corpus, a BPE vocabulary trained
-- here, a data2vec-style encoder trained from scratch, a projector and a small Qwen2-style LLM.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local C = dofile(here .. "/../paper/config.lua")

local function set(spec, key, value, help)
  spec[key] = spec[key] or {}
  spec[key][1] = value
  if help then spec[key][2] = help end
end

set(C.common, "work_dir", "exp/small")
set(C.common, "device", "cpu")
set(C.common, "gemm", "f32")
set(C.common, "threads", 2)
set(C.common, "silence", 0.5, "silence between enrollment and mixture (s; the paper uses 3)")
C.common.librispeech = nil

-- data: the synthetic corpus instead of LibriSpeech/LibriMix
C.data = {
  corpus = {"", "an existing synthetic (or LibriSpeech-layout) corpus with train/ and test-seen/ (empty: generate one)"},
  voices = {24, "TTS voices (a fifth held out as unseen speakers)", int = true, min = 2},
  utts_per_voice = {80, "training utterances per seen voice", int = true, min = 1},
  source = {"grid", "sentences: GRID-style commands or book sentences", choices = {"grid", "book"}},
  train_mix = {4000, "training mixtures (every speaker of a mixture is the target in turn)", int = true, min = 0},
  p1 = {0.5, "share of single-speaker training mixtures", min = 0, max = 1},
  p2 = {0.35, "share of 2-speaker training mixtures", min = 0, max = 1},
  p3 = {0.15, "share of 3-speaker training mixtures", min = 0, max = 1},
  warm_mix = {4000, "single-speaker samples with a minimal enrollment for the warm-up stage (0: none)", int = true, min = 0},
  warm_enroll = {0.45, "enrollment of the warm-up samples (s; the loudness measurement needs >= 0.4)", gt = 0, max = 600},
  test_mix = {40, "mixtures per test set (single, 2-speaker, 3-speaker), from test-seen and test-unseen", int = true, min = 1},
  enroll_dur = {1.0, "enrollment crop (s; the paper uses 3)", gt = 0, max = 600},
  lufs_lo = {-33.0, "source loudness range (LUFS)", min = -120, max = 20},
  lufs_hi = {-25.0, "source loudness range (LUFS)", min = -120, max = 20},
  merges = {400, "BPE merges of the small vocabulary", int = true, min = 0},
  speaker_steps = {300, "steps of the built-in speaker encoder (AAM softmax over the training voices) -> work_dir/speaker; 0: none", int = true, min = 0},
}

-- model: everything from a config, trained from scratch
C.model = {
  front_end = {"fbank", "encoder input: 80-bin log-mel fbank + 2 stride-2 convs (25 Hz), or the raw-waveform conv stack of data2vec (50 Hz)",
               choices = {"fbank", "waveform"}},
  enc_hidden = {192, "encoder width", int = true, min = 1},
  enc_layers = {4, "encoder transformer blocks", int = true, min = 1},
  enc_heads = {4, "encoder attention heads", int = true, min = 1},
  enc_ffn = {512, "encoder feed-forward width", int = true, min = 1},
  conv_dim = {192, "channels of the conv layers", int = true, min = 1},
  adapter = {"mlp", "projector kind", choices = {"mlp", "linear"}},
  adapter_k = {2, "encoder frames concatenated (fbank: 25 Hz -> 12.5 Hz)", int = true, min = 1, max = 64},
  adapter_hidden = {256, "projector hidden width", int = true, min = 1},
  llm_hidden = {256, "LLM width", int = true, min = 1},
  llm_layers = {4, "LLM layers", int = true, min = 1},
  llm_heads = {4, "LLM attention heads", int = true, min = 1},
  llm_kv_heads = {2, "LLM key/value heads (GQA)", int = true, min = 1},
  llm_ffn = {768, "LLM feed-forward width", int = true, min = 1},
  init_std = {0.02, "initialisation std of the matrices", gt = 0},
  ctc_weight = {0.3, "encoder CTC auxiliary loss weight (0: no CTC head); a small model trained from scratch needs it", min = 0},
}

-- warm-up (not in the paper, which starts from a pretrained encoder and LLM): single-speaker
-- ASR with a minimal enrollment, so that the encoder learns acoustics before it must also pick
-- the target; BASE SFT then starts from this model
C.warm = {
  warm_steps = {2500, "warm-up SFT steps on the single-speaker samples (0: start BASE from scratch)", int = true, min = 0},
  warm_lr = {1e-3, "peak LR of the warm-up", min = 0, max = 1},
}

set(C.sft, "sft_steps", 16000) -- the shipped model: 8,000, then resumed to 16,000 (MODEL_CARD.md)
set(C.sft, "lr_start", 1e-5)
set(C.sft, "lr_peak", 1e-3)
set(C.sft, "lr_min", 1e-4)
set(C.sft, "warmup", 100)
set(C.sft, "global_batch", 8)
set(C.sft, "micro_batch", 8)
set(C.sft, "ckpt_every", 500)
set(C.sft, "bucket", 0, "length bucketing (see the paper recipe); 0 here: with micro_batch = global_batch each step would see one narrow length range")
set(C.grpo, "cot_reward", 0.5,
    "weight of the share of right CoT steps in the reward (0 = the paper's eq. 3; with 0 the small model learns to drop its reasoning, MODEL_CARD.md)")
C.cot.cot_steps = {6000, "CoT SFT steps (from the BASE model)", int = true, min = 1}
C.cot.cot_lr = {3e-4, "peak LR of the CoT SFT", min = 0, max = 1}

set(C.cot, "similarity", "encoder",
    "speaker similarity for the CoT: the built-in speaker encoder trained by data.lua, imported embeddings, scores in the manifest, or an oracle stand-in")
set(C.decode, "decode_batch", 16)
set(C.decode, "decode_max_new", 300) -- a 3-speaker CoT + answer is up to ~210 tokens of the small vocabulary
set(C.decode, "decode_limit", 1200)

set(C.select, "rl_size", 400)
set(C.grpo, "grpo_steps", 240)
set(C.grpo, "G", 8)
set(C.grpo, "max_new", 300)
set(C.grpo, "prompts", 4)
set(C.grpo, "grpo_micro_batch", 4)
set(C.grpo, "grpo_lr", 5e-5)
set(C.grpo, "grpo_ckpt_every", 10)
set(C.eval, "eval_batch", 4)
set(C.eval, "eval_max_new", 300)

table.insert(C.stages, 2, {name = "warm", file = "warm.lua", specs = {"common", "model", "sft", "warm"}})
C.stages_default = "data,warm,base,cot,select,grpo,eval"
function C.all()
  local out = {}
  for _, sp in ipairs({C.common, C.data, C.model, C.warm, C.sft, C.cot, C.decode, C.select, C.grpo, C.eval}) do
    for k, v in pairs(sp) do out[k] = v end
  end
  return out
end

-- the small model from the settings above and the tokenizer of data.lua
function C.new_model(cfg, P)
  local ts = require "tsasr"
  local tok = ts.tokenizer.load(P.tokenizer)
  local vocab = (#tok + 15) // 16 * 16
  tok:free()
  local cd = cfg.conv_dim
  local fbank = cfg.front_end == "fbank"
  local config = {
    encoder = {
      model_type = "data2vec-audio", feature_type = cfg.front_end, num_mel_bins = fbank and 80 or nil,
      conv_dim = fbank and {cd, cd} or {cd, cd, cd, cd, cd, cd, cd},
      conv_kernel = fbank and {3, 3} or {10, 3, 3, 3, 3, 2, 2},
      conv_stride = fbank and {2, 2} or {5, 2, 2, 2, 2, 2, 2}, conv_bias = false,
      feat_extract_activation = "gelu", hidden_act = "gelu", hidden_size = cfg.enc_hidden,
      num_hidden_layers = cfg.enc_layers, num_attention_heads = cfg.enc_heads, intermediate_size = cfg.enc_ffn,
      conv_pos_kernel_size = 5, num_conv_pos_embeddings = 3, num_conv_pos_embedding_groups = 4,
      layer_norm_eps = 1e-5, num_feat_extract_layers = fbank and 2 or 7, do_normalize = true,
    },
    adapter = {kind = cfg.adapter, downsample = cfg.adapter_k, input_size = cfg.enc_hidden,
               hidden_size = cfg.adapter_hidden, output_size = cfg.llm_hidden},
    llm = {
      model_type = "qwen2", vocab_size = vocab, hidden_size = cfg.llm_hidden, num_hidden_layers = cfg.llm_layers,
      num_attention_heads = cfg.llm_heads, num_key_value_heads = cfg.llm_kv_heads,
      intermediate_size = cfg.llm_ffn, rms_norm_eps = 1e-6, rope_theta = 10000.0, tie_word_embeddings = true,
      hidden_act = "silu", max_position_embeddings = 2048,
    },
    prompt = {system = "You transcribe speech.", instruction = "Transcribe the target speaker."},
  }
  if cfg.ctc_weight > 0 then config.ctc = {weight = cfg.ctc_weight, vocab = "chars"} end
  return ts.model.new{config = config, tokenizer = P.tokenizer, seed = cfg.seed, init_std = cfg.init_std,
                      device = cfg.device, gemm = require("stages").gemm(cfg), train = true}
end

local paths = C.paths
function C.paths(cfg)
  local P = paths(cfg)
  P.tokenizer = cfg.work_dir .. "/data/tokenizer.json"
  P.synth = cfg.work_dir .. "/synth"
  local w = cfg.work_dir
  P.warm = w .. "/warm"
  P.warm_model = w .. "/warm/final"
  P.warm_train = w .. "/data/train_warm.jsonl"
  P.test_unseen = {single = w .. "/data/unseen_single.jsonl", libri2mix = w .. "/data/unseen_libri2mix.jsonl",
                   libri3mix = w .. "/data/unseen_libri3mix.jsonl"}
  return P
end

return C
