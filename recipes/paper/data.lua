-- data.lua — the paper's data (§3.1): single-speaker, Libri2Mix- and Libri3Mix-style training
-- mixtures specified (seeded) from LibriSpeech 960 h, every speaker the target in turn, with
-- enrollments from other utterances of the target; test sets from test-clean and the
-- LibriMix test metadata with SpeakerBeam's enrollment lists. Writes manifests only: mixing
-- happens on the fly. Usage: tsasr run recipes/paper/data.lua librispeech=/data/LibriSpeech ...
local ts = require "tsasr"
local R = require "recipe"
local C = require "config"
local spec = C.spec("data")
local cfg = R.config("data", spec, args)
if R.dry_run("data", spec, cfg) then return end

local P = C.paths(cfg)
ts.mkdirs(P.data)
R.save_config(P.data, "data", cfg)
local function count(auto, n, k) return auto == "auto" and (n + k - 1) // k or auto end

local train
for i, sub in ipairs(require("stages").split(cfg.train_subsets)) do
  local root = R.need(R.path(cfg.librispeech, sub), "set librispeech=DIR")
  local c <close> = ts.corpus.librispeech(root)
  local n = #c
  for k, key in ipairs({"single", "mix2", "mix3"}) do
    local ds
    if k == 1 and cfg.single == "auto" then -- every utterance once (the 960 h single-speaker part)
      ds = ts.singles{corpus = c, seed = cfg.seed * 1000 + i * 10 + k, lufs = {cfg.lufs_lo, cfg.lufs_hi},
                      enroll_dur = cfg.enroll_dur, set = "train-single", silence = cfg.silence}
    else -- seeded draws of k utterances of different speakers, every speaker the target in turn
      ds = ts.mixer{corpus = c, n = count(cfg[key], n, k), speakers = k, seed = cfg.seed * 1000 + i * 10 + k,
                    lufs = {cfg.lufs_lo, cfg.lufs_hi}, enroll_dur = cfg.enroll_dur, set = "train-" .. key,
                    silence = cfg.silence}
    end
    io.stderr:write(string.format("data: %s %s: %d samples\n", sub, key, #ds))
    if train then train:concat(ds); ds:free() else train = ds end
  end
end
train:write(P.train)
io.stderr:write(string.format("data: %d training samples -> %s\n", #train, P.train))
train:free()

-- test sets
local test_root = R.need(R.path(cfg.librispeech, cfg.test_subset), "set librispeech=DIR")
local tc <close> = ts.corpus.librispeech(test_root)
local single = ts.singles{corpus = tc, seed = cfg.seed, lufs = {cfg.lufs_lo, cfg.lufs_hi}, enroll_dur = cfg.enroll_dur,
                          set = "single"}
single:write(P.test.single)
io.stderr:write(string.format("data: single test: %d samples\n", #single))
single:free()
for _, k in ipairs({"2", "3"}) do
  local csv = R.need(R.path(cfg.librimix_meta, cfg["libri" .. k .. "mix_csv"]), "set librimix_meta=DIR")
  local map = cfg["libri" .. k .. "mix_map"]
  map = map ~= "" and R.need(R.path(cfg.speakerbeam, map), "set speakerbeam=DIR") or nil
  local ds = ts.librimix{csv = csv, map = map, corpus = tc, set = "libri" .. k .. "mix", enroll_dur = cfg.enroll_dur,
                         seed = cfg.seed}
  if #ds == 0 then error(string.format("data: the Libri%sMix test set is empty (%s; see the warnings above)", k, csv), 0) end
  ds:write(P.test["libri" .. k .. "mix"])
  io.stderr:write(string.format("data: libri%smix test: %d samples\n", k, #ds))
  ds:free()
end
