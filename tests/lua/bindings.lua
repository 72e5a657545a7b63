-- bindings.lua — checks of the tsasr Lua bindings against fixtures and known answers
-- (run by test_bindings.sh: tsasr lua bindings.lua; FIX = tests/fixtures, TMP = scratch dir).
local ts = require "tsasr"
local FIX = assert(os.getenv("FIX"), "FIX not set")
local TMP = assert(os.getenv("TMP_DIR"), "TMP_DIR not set")
local failures, checks = 0, 0

local function check(cond, what)
  checks = checks + 1
  if not cond then
    failures = failures + 1
    io.stderr:write("FAIL: " .. what .. "\n")
  end
end

local function raises(f, pattern, what)
  local ok, err = pcall(f)
  check(not ok, what .. ": expected an error")
  if not ok then check(tostring(err):find(pattern, 1, true) ~= nil, what .. ": message '" .. tostring(err) .. "' lacks '" .. pattern .. "'") end
end

local function read_f32(path, offset, n)
  local f = assert(io.open(path, "rb"))
  f:seek("set", offset * 4)
  local data = f:read(n * 4)
  f:close()
  local out, pos = {}, 1
  for i = 1, n do out[i], pos = string.unpack("<f", data, pos) end
  return out
end

-- tokenizer: ids equal Hugging Face's (fixture from tokenizers), decode round trip
do
  local tok = ts.tokenizer.load(FIX .. "/text/bpe_trained.json")
  local ref = ts.json.read(FIX .. "/text/bpe_hf_ids.json")
  check(#ref.cases > 0, "bpe fixture has cases")
  for i, c in ipairs(ref.cases) do
    local ids = tok:encode(c.text)
    local same = #ids == #c.ids
    for k = 1, #ids do same = same and ids[k] == c.ids[k] end
    check(same, "tokenizer ids of case " .. i)
    -- NFC-composed input decodes to its composed form; the other cases come back verbatim
    if not c.text:find("NFC", 1, true) then check(tok:decode(ids) == c.text, "tokenizer round trip of case " .. i) end
  end
  local ids = tok:encode("HELLO <|audio|> WORLD")
  check(tok:id("<|audio|>") ~= nil, "<|audio|> is a token")
  local has = false
  for _, v in ipairs(ids) do has = has or v == tok:id("<|audio|>") end
  check(has, "added token matched in text")
  check(tok:decode(ids, {skip_special = true}):find("<|audio|>", 1, true) == nil, "skip_special drops <|audio|>")
  check(#tok == tok:size() and #tok > 256, "tokenizer size")
  raises(function() tok:decode({1, 2}, {skip_specal = true}) end, "did you mean 'skip_special'", "misspelled decode option")
  tok:free()
  raises(function() tok:encode("x") end, "tsasr.tokenizer: object used after free()", "tokenizer use after free")
  tok:free() -- freeing twice is harmless
end

-- tokenizer training writes a loadable tokenizer.json
do
  local path = TMP .. "/tok.json"
  local tok, merges = ts.tokenizer.train{texts = {"THE CAT SAT ON THE MAT", "THE CAT ATE THE RAT"}, merges = 10,
                                         min_freq = 1, out = path}
  check(merges > 0 and merges <= 10, "trainer learned merges")
  check(tok:decode(tok:encode("THE RAT SAT")) == "THE RAT SAT", "trained tokenizer round trip")
  check(ts.exists(path), "trained tokenizer written")
  tok:free()
end

-- WER against known alignments
do
  local w = ts.wer("ONE TWO THREE FOUR", "ONE TOO THREE")
  check(w.sub == 1 and w.del == 1 and w.ins == 0 and w.n == 4, "wer counts S1 D1")
  check(math.abs(w.wer - 0.5) < 1e-12, "wer 2/4")
  local ops = {}
  for i, a in ipairs(w.align) do ops[i] = a.op .. ":" .. (a.ref or "-") .. ">" .. (a.hyp or "-") end
  check(table.concat(ops, " ") == "equal:ONE>ONE sub:TWO>TOO equal:THREE>THREE del:FOUR>-", "alignment " .. table.concat(ops, " "))
  w = ts.wer("HELLO WORLD", "HELLO BIG WORLD")
  check(w.ins == 1 and w.align[2].op == "ins" and w.align[2].hyp == "BIG" and w.align[2].ref == nil, "insertion")
  check(ts.wer("", "").wer == 0, "empty vs empty")
  check(ts.wer("", "A B").wer == 2, "insertions into an empty reference")
  raises(function() ts.wer("A") end, "bad argument #2 to 'wer'", "wer without hypothesis")
end

-- normalisation
check(ts.normalize("Hello, World!  it's 'quoted'  Café  ﬁne") == "HELLO WORLD IT'S QUOTED CAFE FINE", "normalize: " .. ts.normalize("Hello, World!  it's 'quoted'  Café  ﬁne"))
check(ts.normalize("  don’t   STOP ") == "DON'T STOP", "normalize curly apostrophe")

-- CoT build -> parse -> check, on many random facts
do
  for i = 1, 200 do
    local f = ts.cot.random_facts(7, i)
    f.text = "WORDS OF SAMPLE " .. i
    local s = ts.cot.build(f)
    local p = ts.cot.parse(s)
    check(p.format_ok and p.answer == f.text, "cot round trip format/answer " .. i)
    check(p.target == f.target, "cot parsed target " .. i .. ": " .. tostring(p.target) .. " vs " .. f.target)
    check(p.n_speakers == #f.speakers and #p.speakers == #f.speakers, "cot speakers " .. i)
    local c = ts.cot.check(s, f)
    check(c.ok and c.n_wrong == 0, "cot check " .. i)
  end
  local f = {enroll_dur = 3, silence_dur = 3, mix_dur = 14.95, enroll_gender = "male", target = 1,
             speakers = {{gender = "male", start = 6, ["end"] = 9.04, score = 0.7},
                         {gender = "female", start = 6, ["end"] = 20.95, score = 0.3}}}
  local s = ts.cot.build(f, "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE")
  check(s:find("4(Speaker1) > 2(Speaker2)", 1, true) ~= nil, "paper example ranking")
  check(s:find("total duration 20.95s", 1, true) ~= nil, "paper example total")
  -- a wrong target is found by the check
  local wrong = s:gsub("Speaker1 has the highest", "Speaker2 has the highest")
  check(not ts.cot.check(wrong, f).ok, "check finds a wrong conclusion")
  local bad = ts.cot.parse("<think></think><answer>A B")
  check(not bad.format_ok and bad.answer == "" and bad.format ~= "ok", "truncated output is a format error")
  check(ts.cot.empty("A B") == "<think></think><answer>A B</answer>", "empty think")
  f.target = 5
  raises(function() ts.cot.build(f, "X") end, "target", "cot target out of range")
  raises(function() ts.cot.build({enroll_dur = 3, speekers = {}}) end, "did you mean 'speakers'", "misspelled facts key")
  check(ts.cot.level(0.2) == 2 and ts.cot.level(0.19) == 1 and ts.cot.level(1) == 5, "levels")
end

-- audio: write then read back (PCM16 quantisation), missing file named
do
  local x = {}
  for i = 1, 1600 do x[i] = 0.5 * math.sin(2 * math.pi * 440 * i / 16000) end
  ts.audio.write(TMP .. "/sine.wav", {rate = 16000, samples = x})
  local a = ts.audio.read(TMP .. "/sine.wav")
  check(a.rate == 16000 and #a.samples == 1600, "audio read size")
  local maxd = 0
  for i = 1, 1600 do maxd = math.max(maxd, math.abs(a.samples[i] - x[i])) end
  check(maxd < 1 / 32768 + 1e-6, "audio round trip error " .. maxd)
  local r = ts.audio.read(TMP .. "/sine.wav", 8000)
  check(r.rate == 8000 and math.abs(#r.samples - 800) <= 1, "resampled read")
  raises(function() ts.audio.read(TMP .. "/missing.wav") end, "missing.wav", "missing audio file")
  local fb = ts.audio.fbank(a)
  check(#fb == 1 + (1600 - 400) // 160 and #fb[1] == 80, "fbank shape")
end

-- LLM logits against transformers (fixture: first sequence, 9 tokens, vocab 64)
do
  local llm = ts.llm.load(FIX .. "/qwen2/gqa2_untied")
  local ids = {9, 15, 56, 4, 48, 48, 56, 35, 60}
  local lg = llm:logits(ids)
  check(#lg == 9 and #lg[1] == 64, "logits shape")
  local ref = read_f32(FIX .. "/qwen2/gqa2_untied_ref.bin", 0, 9 * 64)
  local maxd = 0
  for t = 1, 9 do
    for v = 1, 64 do maxd = math.max(maxd, math.abs(lg[t][v] - ref[(t - 1) * 64 + v])) end
  end
  check(maxd < 1e-4, "logits vs transformers max diff " .. maxd)
  -- causality: the first 4 rows do not depend on later tokens
  local lg4 = llm:logits({9, 15, 56, 4})
  local d4 = 0
  for t = 1, 4 do for v = 1, 64 do d4 = math.max(d4, math.abs(lg4[t][v] - lg[t][v])) end end
  check(d4 < 1e-5, "prefix logits equal " .. d4)
  check(llm:info().vocab_size == 64, "llm info")
  raises(function() llm:logits({9, 64}) end, "outside the vocabulary", "token id out of range")
  raises(function() llm:logits("x") end, "bad argument #1 to 'logits' (table expected", "logits of a string")
  llm:free()
end

-- encoder hidden states against transformers (d2v fixture, first utterance)
do
  local enc = ts.encoder.load(FIX .. "/encoder/d2v")
  local wav = read_f32(FIX .. "/encoder/d2v.bin", 0, 5200)
  local out = enc:forward(wav)
  check(#out == 16 and #out[1] == 32, "encoder output shape " .. #out)
  local ref = read_f32(FIX .. "/encoder/d2v.bin", 10400, 16 * 32)
  local maxd = 0
  for t = 1, 16 do for c = 1, 32 do maxd = math.max(maxd, math.abs(out[t][c] - ref[(t - 1) * 32 + c])) end end
  check(maxd < 1e-3, "encoder vs transformers max diff " .. maxd)
  enc:free()
end

-- composed model: load, info, save, reload, free, use after free, <close>
do
  local m = ts.model.load(FIX .. "/tsmodel/tiny")
  local info = m:info()
  check(info.params == info.encoder_params + info.adapter_params + info.llm_params and info.params > 0, "model params add up")
  check(info.llm.hidden_size == 24 and info.vocab > 600, "model llm section")
  check(type(info.text) == "string" and #info.text > 0, "model description")
  m:save(TMP .. "/saved")
  local m2 = ts.model.load(TMP .. "/saved")
  check(m2:info().params == info.params, "saved model reloads")
  ts.model.free(m2)
  raises(function() m2:info() end, "tsasr.model: object used after free()", "model use after free")
  local ids = m:prompt_ids()
  check(#ids > 5, "prompt ids")
  local out = m:generate({rate = 16000, samples = read_f32(FIX .. "/encoder/d2v.bin", 0, 5200)}, {max_new = 4})
  check(#out == 1 and type(out[1]) == "string", "generate returns text")
  -- score: teacher-forced log-probs; their sum is minus the loss sum, a temperature changes them
  local wave = {rate = 16000, samples = read_f32(FIX .. "/encoder/d2v.bin", 0, 5200)}
  local sc = m:score(wave, "<think></think><answer>A B</answer>")
  local sum = 0
  for _, v in ipairs(sc.logp) do sum = sum + v; check(v <= 0, "log-prob <= 0") end
  check(sc.tokens == #sc.logp and sc.tokens > 3, "score token count")
  check(math.abs(sum + sc.loss_sum) < 1e-3 * math.max(1, math.abs(sum)), "sum logp = -loss " .. sum .. " " .. sc.loss_sum)
  local hot = m:score(wave, "<think></think><answer>A B</answer>", {temperature = 2})
  check(math.abs(hot.loss_sum - sc.loss_sum) > 1e-6, "temperature changes the scores")
  check(sc.loss > 0, "positive loss")
  m:free()
  raises(function() m:save(TMP .. "/x") end, "used after free", "save after free")
  raises(function() ts.model.load(TMP .. "/nowhere") end, "nowhere", "missing model dir named")
  raises(function() ts.model.load(FIX .. "/tsmodel/tiny", {devise = "cpu"}) end, "did you mean 'device'", "misspelled option")
  raises(function() ts.model.load(FIX .. "/tsmodel/tiny", {device = 3}) end, "option 'device' must be a string", "option type")
  local escaped
  do
    local m3 <close> = ts.model.load(FIX .. "/tsmodel/tiny")
    escaped = m3
  end
  raises(function() escaped:info() end, "used after free", "<close> released the model")
  raises(function() ts.model.info(42) end, "tsasr.model expected", "wrong object type")
end


-- corpus, mixer, dataset: a hand-made LibriSpeech-layout corpus of tones
do
  local root = TMP .. "/ls"
  local spk = {{"11", "M"}, {"22", "F"}, {"33", "F"}}
  local f = assert(io.open(TMP .. "/SPEAKERS.TXT", "w"))
  f:write("; ID | SEX | SUBSET | MINUTES | NAME\n")
  for _, s in ipairs(spk) do f:write(string.format("%s | %s | train | 1.0 | N%s\n", s[1], s[2], s[1])) end
  f:close()
  for si, s in ipairs(spk) do
    local dir = string.format("%s/%s/100", root, s[1])
    ts.mkdirs(dir)
    local tr = assert(io.open(string.format("%s/%s-100.trans.txt", dir, s[1]), "w"))
    for u = 1, 3 do
      local x, n = {}, 8000 + 1600 * u
      for i = 1, n do x[i] = 0.3 * math.sin(i * 0.01 * (si + u)) end
      ts.audio.write(string.format("%s/%s-100-%04d.flac", dir, s[1], u), {rate = 16000, samples = x})
      tr:write(string.format("%s-100-%04d WORD%d OF SPEAKER %s\n", s[1], u, u, s[1]))
    end
    tr:close()
  end
  local c = ts.corpus.librispeech(root, {no_cache = true})
  check(#c == 9 and c:info().speakers == 3 and c:info().female == 2, "corpus index")
  check(c:utt(1).id == "11-100-0001" and c:utt(1).gender == "M" and math.abs(c:utt(1).duration - 0.6) < 1e-9,
        "corpus utterance")
  local ds = ts.mixer{corpus = c, n = 4, speakers = 2, seed = 5, silence = 0.25, enroll_dur = 0.5}
  check(#ds == 8, "2-speaker mixtures give two entries each: " .. #ds)
  local s = ds:sample(1)
  local e = ds:entry(1)
  check(s.id == e.id and s.n_src == 2 and s.text == e.sources[e.target].text, "sample fields")
  local tl = s.timeline
  check(tl[1].kind == "enroll" and math.abs(tl[1]["end"] - 0.5) < 1e-9, "enrollment span")
  check(tl[2].kind == "silence" and math.abs(tl[2]["end"] - tl[2].start - 0.25) < 1e-9, "silence span")
  check(tl[3].kind == "mixture" and tl[4].kind == "source" and tl[5].kind == "source", "timeline kinds")
  check(math.abs(#s.wave.samples / 16000 - s.wave.duration) < 1e-9 and
        math.abs(s.wave.duration - tl[3]["end"]) < 1e-9, "wave length = timeline end")
  local singles, skipped = ts.singles{corpus = c, seed = 3, enroll_dur = 0.5, set = "single", silence = 0.25}
  check(#singles == 9 and skipped == 0, "one single-speaker entry per utterance")
  local seen = {}
  for i = 1, #singles do
    local en = singles:entry(i)
    seen[en.sources[1].utt] = true
    check(en.enroll.utt ~= en.sources[1].utt and en.enroll.speaker == en.sources[1].speaker, "enrollment of another utterance")
  end
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  check(n == 9, "every utterance once")
  check(singles:sample(2).n_src == 1, "single sample")
  singles:free()
  raises(function() ds:sample(9) end, "index 9 out of range 1..8", "sample index")
  local st = ds:cot{similarity = "oracle"}
  check(st.full == 8 and st.empty == 0, "cot for every entry")
  for i = 1, #ds do
    local p = ts.cot.parse(ds:entry(i).cot)
    check(p.format_ok and p.target == ds:entry(i).target and p.n_speakers == 2, "dataset CoT " .. i)
  end
  raises(function() ds:cot{} end, "has no \"similarity\"", "CoT without similarities")
  ds:set_similarity(1, {0.9, 0.1})
  check(ds:sample(1).facts ~= nil, "facts from similarities")
  ds:write(TMP .. "/m/ds.jsonl")
  local back = ts.manifest.read(TMP .. "/m/ds.jsonl", {silence = 0.25})
  check(#back == 8 and back:entry(3).id == ds:entry(3).id and back:entry(1).similarity[1] == 0.9, "manifest round trip")
  check(#back:head(3) == 3, "head")
  back:concat(ds)
  check(#back == 16, "concat")
  -- speaker similarity from imported embeddings (e.g. CAM++): the dataset's similarity is the
  -- cosine of the enrollment segment's and each whole source utterance's embeddings
  local function vec(seed)
    local v = {}
    for k = 1, 8 do v[k] = math.sin(seed * 1.7 + k * 0.9) end
    return v
  end
  local embs, lines = {}, {}
  local function add(utt, start, dur, seed)
    local key = string.format("%s|%.4f|%.4f", utt, start, dur)
    if embs[key] then return end
    embs[key] = vec(seed)
    lines[#lines + 1] = ts.json.encode{utt = utt, start = start, duration = dur, emb = embs[key]}
  end
  for i = 1, #ds do
    local en = ds:entry(i)
    for k, src in ipairs(en.sources) do add(src.utt, 0, 0, #lines + 1) end
    add(en.enroll.utt, en.enroll.start, en.enroll.duration, #lines + 1)
  end
  local ef = assert(io.open(TMP .. "/emb.jsonl", "w"))
  ef:write(table.concat(lines, "\n") .. "\n")
  ef:close()
  local spk = ts.speaker.import(TMP .. "/emb.jsonl")
  local st2 = spk:score(ds)
  check(st2.bad == 0 and st2.reused > 0, "imported embeddings scored every entry")
  local maxd = 0
  for i = 1, #ds do
    local en = ds:entry(i)
    local ee = embs[string.format("%s|%.4f|%.4f", en.enroll.utt, en.enroll.start, en.enroll.duration)]
    for k, src in ipairs(en.sources) do
      local want = ts.speaker.cosine(ee, embs[string.format("%s|%.4f|%.4f", src.utt, 0, 0)])
      maxd = math.max(maxd, math.abs(en.similarity[k] - want))
    end
  end
  check(maxd < 1e-6, "similarity = cosine of the imported embeddings, max diff " .. maxd)
  local one = spk:similarity(ds, 2)
  check(#one == 2 and math.abs(one[1] - ds:entry(2).similarity[1]) < 1e-9, "one entry's similarity")
  raises(function() spk:embed({0, 0, 0}) end, "imported table has no encoder", "embed with an imported table")
  check(math.abs(ts.speaker.cosine({1, 0}, {1, 1}) - math.sqrt(0.5)) < 1e-7, "cosine")
  spk:free()
  raises(function() ts.speaker.import(TMP .. "/none.jsonl") end, "none.jsonl", "missing embedding file named")
  ds:cot{} -- every entry now has similarities: no oracle needed
  check(ts.cot.parse(ds:entry(1).cot).format_ok, "CoT from imported similarities")

  -- decode: a dataset through the tiny model into a decode JSONL; a second call resumes (nothing new)
  local tiny = ts.model.load(FIX .. "/tsmodel/tiny")
  local two = ds:head(2)
  local calls = 0
  local sum = ts.decode{model = tiny, data = two, out = TMP .. "/dec/out.jsonl", max_new = 4, batch = 2,
                        silence = 0.25, progress = false, on_progress = function(p) calls = calls + 1 end}
  check(sum.n == 2 and calls >= 1, "decode summary n=" .. tostring(sum.n))
  local recs = {}
  for line in io.lines(TMP .. "/dec/out.jsonl") do recs[#recs + 1] = ts.json.decode(line) end
  check(#recs == 2 and recs[1].id == two:entry(1).id and recs[2].id == two:entry(2).id, "decode records in order")
  for _, r in ipairs(recs) do
    local t = two:entry(_).sources[two:entry(_).target].text
    check(r.ref == ts.normalize(t) and type(r.raw) == "string" and r.format_ok ~= nil, "decode record fields")
    local w = ts.wer(r.ref, r.hyp)
    check(w.sub == r.sub and w.del == r.del and w.ins == r.ins, "decode record counts = ts.wer")
  end
  ts.decode{model = tiny, data = two, out = TMP .. "/dec/out.jsonl", max_new = 4, silence = 0.25, progress = false}
  local n = 0
  for _ in io.lines(TMP .. "/dec/out.jsonl") do n = n + 1 end
  check(n == 2, "resumed decode adds nothing: " .. n)
  raises(function() ts.decode{model = tiny, data = two} end, "option 'out' is required", "decode without out")
  raises(function() ts.decode{model = tiny, data = two, out = TMP .. "/x.jsonl", max_nwe = 3} end,
         "did you mean 'max_new'", "misspelled decode option")
  tiny:free(); two:free()
  ds:free(); back:free(); c:free()
  raises(function() return #ds end, "used after free", "dataset length after free")
end

-- eval and select on a hand-written decode
do
  local d = TMP .. "/decode.jsonl"
  local f = assert(io.open(d, "w"))
  f:write('{"id":"a","set":"single","ref":"A B C D","hyp":"A X C D","format_ok":true,"sub":1,"del":0,"ins":0,"n":4,"raw":"<think></think><answer>A X C D</answer>"}\n')
  f:write('{"id":"b","set":"single","ref":"E F G","hyp":"","format_ok":false,"sub":0,"del":3,"ins":0,"n":3,"raw":"<think>"}\n')
  f:write('{"id":"c","set":"libri2mix","ref":"H I","hyp":"H I","format_ok":true,"sub":0,"del":0,"ins":0,"n":2,"raw":"<think></think><answer>H I</answer>"}\n')
  f:close()
  local t = ts.eval{systems = {{name = "sys", decodes = {d}}}, markdown = TMP .. "/t.md"}
  local sets = t.table.systems[1].sets
  local single
  for _, s in ipairs(sets) do if s.set == "single" then single = s end end
  check(single and single.errors == 4 and single.words == 7 and math.abs(single.wer - 4 / 7) < 1e-9, "eval per-set WER")
  check(math.abs(t.table.systems[1].table1.cells.Libri2Mix.wer) < 1e-12, "eval Libri2Mix cell")
  check(t.markdown:find("Table 1", 1, true) ~= nil and ts.exists(TMP .. "/t.md"), "eval markdown")
  local r = ts.select{decode = d, mode = "error-only", size = 1, ids = TMP .. "/ids.jsonl"}
  check(r.n == 1 and r.chosen.format_error == 1, "error-only picks the format error first")
  r = ts.select{decode = d, mode = "error-only", size = 10}
  check(r.n == 2 and r.chosen.correct == 0, "error-only never picks a correct sample")
  r = ts.select{decode = d, mode = "random", size = 10}
  check(r.n == 3, "random takes everything when size exceeds it")
  raises(function() ts.select{decode = d, mode = "errors"} end, "errors", "bad selection mode")
  local rw, ok = ts.train.reward("<think></think><answer>A X C D</answer>", "A B C D", 1)
  check(ok and math.abs(rw - 1.75) < 1e-9, "reward = 1 - WER + format")
  rw, ok = ts.train.reward("<think>", "A B C D", 1)
  check(not ok and rw == 0, "format error scores as empty")
end

io.stderr:write(string.format("%d checks, %d failures\n", checks, failures))
if failures > 0 then os.exit(1) end
