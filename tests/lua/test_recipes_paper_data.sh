#!/bin/bash
# test_recipes_paper_data.sh — recipes/paper/data.lua on a miniature LibriSpeech tree (tones
# instead of speech) with LibriMix-style test CSVs and a SpeakerBeam enrollment list: the
# training manifest has every utterance once as a single-speaker sample plus 2- and 3-speaker
# mixtures, and the test sets follow the CSVs and the list. $1: tsasr binary, $2: build dir.
set -u
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "$2/test_lua_paper_data.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }
ls="$tmp/LibriSpeech"
mkdir -p "$ls" "$tmp/meta/Libri2Mix" "$tmp/meta/Libri3Mix" "$tmp/sb/libri2mix"
"$bin" lua -e '
  local root = "'"$ls"'"
  local f = assert(io.open(root .. "/SPEAKERS.TXT", "w"))
  f:write("; ID | SEX | SUBSET | MINUTES | NAME\n")
  local spk = {train = {"101", "102", "103", "104"}, test = {"201", "202", "203", "204"}}
  local sex = {"M", "F", "M", "F"}
  for _, sub in ipairs({"train", "test"}) do
    for k, s in ipairs(spk[sub]) do f:write(string.format("%s | %s | x | 1 | N\n", s, sex[k])) end
  end
  f:close()
  local function tree(subset, ids)
    for k, s in ipairs(ids) do
      local dir = string.format("%s/%s/%s/7", root, subset, s)
      ts.mkdirs(dir)
      local tr = assert(io.open(string.format("%s/%s-7.trans.txt", dir, s), "w"))
      for u = 1, 2 do
        local x = {}
        for i = 1, 6400 + 800 * u + 160 * k do x[i] = 0.2 * math.sin(i * 0.003 * (k + u)) end
        ts.audio.write(string.format("%s/%s-7-%04d.flac", dir, s, u), {rate = 16000, samples = x})
        tr:write(string.format("%s-7-%04d SPEAKER %s SAYS %d\n", s, u, s, u))
      end
      tr:close()
    end
  end
  tree("train-clean-100", spk.train)
  tree("test-clean", spk.test)
  local csv = assert(io.open("'"$tmp"'/meta/Libri2Mix/libri2mix_test-clean.csv", "w"))
  csv:write("mixture_ID,mixture_path,source_1_path,source_1_gain,source_2_path,source_2_gain\n")
  local mixes = {{"201-7-0001", "202-7-0001"}, {"201-7-0002", "203-7-0001"}, {"202-7-0002", "204-7-0001"},
                 {"203-7-0002", "204-7-0002"}}
  for _, m in ipairs(mixes) do
    csv:write(string.format("%s_%s,x.wav,a/%s.flac,0.5,b/%s.flac,0.7\n", m[1], m[2], m[1], m[2]))
  end
  csv:close()
  local map = assert(io.open("'"$tmp"'/sb/libri2mix/map", "w"))
  map:write("201-7-0001_202-7-0001 201-7-0001 s1/201-7-0002_203-7-0001\n")
  map:write("201-7-0001_202-7-0001 202-7-0001 s1/202-7-0002_204-7-0001\n")
  map:write("203-7-0002_204-7-0002 204-7-0002 s2/202-7-0002_204-7-0001\n")
  map:close()
  local c3 = assert(io.open("'"$tmp"'/meta/Libri3Mix/libri3mix_test-clean.csv", "w"))
  c3:write("mixture_ID,source_1_path,source_2_path,source_3_path\n")
  c3:write("201-7-0001_202-7-0002_203-7-0001,a/201-7-0001.flac,a/202-7-0002.flac,a/203-7-0001.flac\n")
  c3:close()' || die "could not build the miniature corpus"

out=$(cd "$tmp" && timeout 300 "$bin" run "$src/recipes/paper/data.lua" work_dir="$tmp/exp" librispeech="$ls" \
      train_subsets=train-clean-100 librimix_meta="$tmp/meta" speakerbeam="$tmp/sb" libri2mix_map=libri2mix/map 2>&1)
rc=$?
[ $rc -eq 0 ] || die "data.lua exit $rc: $out"
"$bin" lua -e '
  local d = "'"$tmp"'/exp/data/"
  local train = ts.manifest.read(d .. "train.jsonl")
  local by_set, singles = {}, {}
  for i = 1, #train do
    local e = train:entry(i)
    by_set[e.set] = (by_set[e.set] or 0) + 1
    if e.set == "train-single" then singles[e.sources[1].utt] = true; assert(#e.sources == 1) end
    if e.set == "train-mix2" then assert(#e.sources == 2 and e.sources[1].speaker ~= e.sources[2].speaker) end
    if e.set == "train-mix3" then assert(#e.sources == 3) end
    assert(e.enroll.speaker == e.sources[e.target].speaker, "enrollment of the target speaker")
    assert(math.abs(e.enroll.duration - 3) < 1e-9 or e.enroll.duration <= 3, "3 s enrollment crop")
  end
  local n = 0
  for _ in pairs(singles) do n = n + 1 end
  assert(n == 8 and by_set["train-single"] == 8, "every training utterance once as a single: " .. n)
  assert(by_set["train-mix2"] == 8, "auto 2-speaker: 8 utterances / 2 mixtures x 2 targets, got " .. tostring(by_set["train-mix2"]))
  assert(by_set["train-mix3"] == 9, "auto 3-speaker: ceil(8 / 3) mixtures x 3 targets, got " .. tostring(by_set["train-mix3"]))
  local single = ts.manifest.read(d .. "test_single.jsonl")
  assert(#single == 8 and single:entry(1).set == "single")
  local m2 = ts.manifest.read(d .. "test_libri2mix.jsonl")
  assert(#m2 == 3, "one entry per enrollment-list line, got " .. #m2)
  local e = m2:entry(1)
  assert(e.set == "libri2mix" and e.sources[1].gain == 0.5 and e.sources[2].gain == 0.7, "LibriMix gains kept")
  assert(e.sources[e.target].utt == "201-7-0001" and e.enroll.utt == "201-7-0002", "target and enrollment from the list")
  local m3 = ts.manifest.read(d .. "test_libri3mix.jsonl")
  assert(#m3 == 3 and m3:entry(1).set == "libri3mix", "no list: every speaker the target")
  print("paper data ok")' || die "manifest checks failed"
exit $fail
