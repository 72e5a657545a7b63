#!/usr/bin/env bash
# test_wb_model.sh — the workbench with the committed tiny model: greedy decode (twice the
# same), sampled decode, a GRPO group whose rewards and advantages are re-computed here from
# the displayed WER and format columns, pick, a top-k cut of one token (a group of greedy
# outputs), and decode errors as messages.
# Args: TSASR_BIN BUILD_DIR.
. "$(dirname "$0")/wb_lib.sh"
wb_setup
model="$(cd "$(dirname "$0")/../fixtures/tsmodel/tiny" && pwd)"

wb_start "$model" m.jsonl
expect 'Samples 4/4' "manifest opened"
expect 'model .*tiny' "model opened"
wb_keys d
expect 'decoded s1 \(greedy\): WER [0-9.]+%, format (ok|error)' "d decodes greedily" 30
expect 'CoT \(greedy\)' "the CoT pane shows the greedy output"
expect 's1 +2 +[0-9.]+ (ok|ERR)' "the list shows WER and format"
wb_cmd raw
expect 'Raw output of s1 \(greedy\)' "raw view"
first="$(wb_screen | sed -n '/Raw output/,/Hyp vs ref/p' | cut -c36-)"
wb_keys Escape
wb_cmd 'decode greedy'
expect 'decoded s1 \(greedy\)' "decode greedy again" 30
wb_cmd raw
expect 'Raw output of s1 \(greedy\)' "raw view again"
second="$(wb_screen | sed -n '/Raw output/,/Hyp vs ref/p' | cut -c36-)"
[ -n "$first" ] && [ "$first" = "$second" ] && ok || bad "greedy decoding is not repeatable"
wb_keys Escape
wb_cmd 'set seed 5'
wb_cmd 'decode sample'
expect 'decoded s1 \(sampled T=1 seed 5\)' "sampled decode names temperature and seed" 30

# a group of 4: rewards = (1 - WER) + format for a well-formed output, 0 for a format error (as
# GRPO computes them), advantages = (r - mean) / (std + 1e-4)
wb_cmd 'group 4'
expect 'Group of 4 for s1' "group view" 60
expect '^ +\| +4 +-?[0-9.]+ +[-+][0-9.]+ +(ok|ERR)' "four outputs listed"
rows="$(wb_screen | grep -E '^ +\| +[1-4] +-?[0-9]+\.[0-9]{3} +[-+][0-9]+\.[0-9]{3} +(ok|ERR) +-?[0-9.]+ ' | cut -d'|' -f2)"
n="$(echo "$rows" | grep -c .)"
[ "$n" = 4 ] && ok || bad "group: $n rows parsed"
check="$(echo "$rows" | awk '{ r[NR] = $2; a[NR] = $3; w = $5 / 100; x = ($4 == "ok") ? 2 - w : 0;
  if (x - $2 > 0.002 || $2 - x > 0.002) bad = bad " reward" NR; s += $2 }
  END { m = s / NR; for (i = 1; i <= NR; i++) v += (r[i] - m) ^ 2; sd = sqrt(v / (NR - 1));
    for (i = 1; i <= NR; i++) { e = (r[i] - m) / (sd + 1e-4); d = e - a[i]; if (d > 0.01 || d < -0.01) bad = bad " adv" i }
    print bad == "" ? "ok" : bad }')"
[ "$check" = ok ] && ok || bad "group rewards/advantages disagree with the formula:$check"
wb_cmd 'pick 3'
expect 'CoT \(group 3\)' "pick shows a group output in the CoT pane"
expect 'reward -?[0-9]+\.[0-9]{3}' "the picked output carries its reward"
wb_cmd 'pick 9'
expect 'pick: 9 is out of range 1\.\.4' "pick out of range"

# a top-k cut of one token: every sample of the group is the greedy output, so the rewards are
# equal and the advantages zero
wb_cmd 'set top_k 1'
expect 'top_k = 1' "set top_k"
wb_cmd 'group 3'
expect 'Group of 3 for s1' "group view with top_k 1" 60
rows="$(wb_screen | grep -E '^ +\| +[1-3] +-?[0-9]+\.[0-9]{3} +[-+][0-9]+\.[0-9]{3} ' | cut -d'|' -f2)"
[ "$(echo "$rows" | awk '{print $2}' | sort -u | grep -c .)" = 1 ] && [ "$(echo "$rows" | grep -c .)" = 3 ] &&
  [ "$(echo "$rows" | awk '$3 != "+0.000" && $3 != "-0.000"' | grep -c .)" = 0 ] && ok ||
  { bad "top_k 1: the group's rewards differ"; wb_screen; }
raws=""
for k in 1 2 3; do
  wb_cmd "pick $k"
  expect "CoT \\(group $k\\)" "pick $k"
  wb_cmd raw
  expect "Raw output of s1 \\(group $k" "raw view of output $k"
  raws="$raws$(wb_screen | sed -n '/Raw output/,/Hyp vs ref/p' | sed 1d | cut -c36- | md5sum)"$'\n'
  wb_keys Escape
done
[ "$(echo "$raws" | sort -u | grep -c .)" = 1 ] && ok || bad "top_k 1: the group's raw outputs differ"
wb_cmd 'set top_p 2'
expect 'set: bad setting or value: top_p 2' "top_p outside (0, 1]"
wb_cmd 'set top_k 0'

# errors are messages
wb_cmd 'set temp 0'
wb_cmd 'group'
expect 'group: temperature must be > 0' "group at temperature 0"
wb_cmd 'group 1'
expect 'group: G must be 2\.\.64' "group of one"
wb_cmd 'last'
wb_keys d
expect 'decode: s4: .*missing\.wav' "decoding a sample with a missing file"
wb_cmd 'open /nonexistent-model-dir/'
expect 'open: /nonexistent-model-dir/' "a missing model directory"
wb_keys q
rc="$(wb_exit_code)"
[ "$rc" = 0 ] && ok || bad "q: exit code $rc"
wb_finish
