-- data.lua — small pipeline data: the synthetic TTS corpus (generated once), a speaker encoder
-- trained on its voices, a BPE vocabulary trained on its transcripts and the CoT template,
-- seeded 1-3 speaker training mixtures, single-speaker warm-up samples, and single /
-- 2-speaker / 3-speaker test sets from held-out sentences of seen voices (test-seen) and of
-- held-out voices (test-unseen, when the corpus has it).
local ts = require "tsasr"
local R = require "recipe"
local C = require "config"
local spec = C.spec("data")
local cfg = R.config("data", spec, args)
if R.dry_run("data", spec, cfg) then return end

local P = C.paths(cfg)
ts.mkdirs(P.data)
R.save_config(P.data, "data", cfg)
local root = cfg.corpus
if root == "" then
  root = P.synth
  ts.corpus.synth{out = root, voices = cfg.voices, utts_per_voice = cfg.utts_per_voice, source = cfg.source,
                  seed = cfg.seed, jobs = cfg.threads}:free()
end
local train_c <close> = ts.corpus.librispeech(R.need(root .. "/train", "set corpus=DIR, or corpus= to generate one"))
local test_c <close> = ts.corpus.librispeech(R.need(root .. "/test-seen", "the corpus needs a test-seen split"))
local info = train_c:info()
io.stderr:write(string.format("data: %s: %d utterances, %d speakers, %.2f h\n", root, info.utterances,
                              info.speakers, info.hours))

-- speaker encoder for the CoT's similarity levels (the paper uses CAM++)
if cfg.speaker_steps > 0 then
  local r = ts.speaker.train{corpus = root, split = "train", out = P.speaker, steps = cfg.speaker_steps, seed = cfg.seed}
  io.stderr:write(string.format("data: speaker encoder %s: %d voices, loss %.3f, accuracy %.2f\n", P.speaker, r.classes,
                                r.loss, r.acc))
end

-- tokenizer: transcripts, CoT texts and the prompt words
local texts = {}
for i = 1, #train_c do texts[#texts + 1] = train_c:utt(i).text end
for i = 1, 50 do
  local f = ts.cot.random_facts(cfg.seed, i)
  texts[#texts + 1] = ts.cot.build(f, "")
end
texts[#texts + 1] = "You transcribe speech. Transcribe the target speaker. system user assistant"
local tok, merges = ts.tokenizer.train{texts = texts, merges = cfg.merges, min_freq = 2, out = P.tokenizer}
io.stderr:write(string.format("data: tokenizer %s: %d merges, %d ids\n", P.tokenizer, merges, #tok))
tok:free()

local train = ts.mixer{corpus = train_c, n = cfg.train_mix, speakers = {cfg.p1, cfg.p2, cfg.p3}, seed = cfg.seed,
                       lufs = {cfg.lufs_lo, cfg.lufs_hi}, enroll_dur = cfg.enroll_dur, set = "train",
                       silence = cfg.silence}
train:write(P.train)
io.stderr:write(string.format("data: %d training samples -> %s\n", #train, P.train))
train:free()
if cfg.warm_mix > 0 then
  local warm = ts.mixer{corpus = train_c, n = cfg.warm_mix, speakers = 1, seed = cfg.seed + 50,
                        lufs = {cfg.lufs_lo, cfg.lufs_hi}, enroll_dur = cfg.warm_enroll, set = "train",
                        silence = cfg.silence}
  warm:write(P.warm_train)
  io.stderr:write(string.format("data: %d warm-up samples -> %s\n", #warm, P.warm_train))
  warm:free()
end
local unseen = root .. "/test-unseen"
local groups = {{corpus = test_c, out = P.test, seed = cfg.seed + 100, name = "test"}}
if ts.exists(unseen) then
  groups[2] = {corpus = ts.corpus.librispeech(unseen), out = P.test_unseen, seed = cfg.seed + 200, name = "unseen"}
end
for _, g in ipairs(groups) do
  for k, set in ipairs({"single", "libri2mix", "libri3mix"}) do
    -- a small held-out split may lack the speakers a 2- or 3-speaker set needs: skip that set
    local ok, ds = pcall(ts.mixer, {corpus = g.corpus, n = cfg.test_mix, speakers = k, seed = g.seed + k,
                                    lufs = {cfg.lufs_lo, cfg.lufs_hi}, enroll_dur = cfg.enroll_dur, set = set,
                                    silence = cfg.silence})
    if ok then
      ds:write(g.out[set])
      io.stderr:write(string.format("data: %s %s: %d samples\n", g.name, set, #ds))
      ds:free()
    elseif g.name == "test" then
      error(ds, 0)
    else
      io.stderr:write(string.format("data: %s %s: skipped: %s\n", g.name, set, tostring(ds)))
    end
  end
end
if groups[2] then groups[2].corpus:free() end
