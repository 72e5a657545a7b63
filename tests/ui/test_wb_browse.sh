#!/usr/bin/env bash
# test_wb_browse.sh — the workbench in tmux without decoding: opens a manifest and a decode
# JSONL, moves between samples, shows the timeline lanes, the CoT check (right and wrong
# steps) and the coloured alignment, filters, marks and exports (checked against the manifest
# lines), tab completion and history, resize, bad commands and missing files as messages,
# run/plot/lua, and a clean terminal after q, Ctrl-C and when stdin is not a terminal.
# Args: TSASR_BIN BUILD_DIR.
. "$(dirname "$0")/wb_lib.sh"
wb_setup

# A decode of the manifest (DESIGN.md §9 records): s1 a right-format CoT with one wrong step
# (speaker 2's span) and one substituted word; s2 a format error; s3 names the wrong target.
cot1='<think>Audio information: 0-1s is enrollment speech; 1-4s is silence; 4-6.5s is 2-speaker mixture audio; total duration 6.5s. Enrollment speech: male. Speaker1 information: male; from 4 to 5.5s; similarity to the enrollment speech is 4. Speaker2 information: female; from 4 to 6.5s; similarity to the enrollment speech is 2. Target speaker: Speaker1 and the enrollment speech are both male; 4(Speaker1) > 2(Speaker2); Speaker1 has the highest similarity score to the enrollment speech and is the target speaker. Final output:</think><answer>HELLO WORD AND ALL</answer>'
cot3='<think>Audio information: 0-1s is enrollment speech; 1-4s is silence; 4-5.5s is 3-speaker mixture audio; total duration 5.5s. Target speaker: Speaker1 has the highest similarity score to the enrollment speech and is the target speaker. Final output:</think><answer>FIRST SPEAKER TALKS</answer>'
{
  printf '{"id":"s1","set":"libri2mix","ref":"HELLO WORLD AND ALL","hyp":"HELLO WORD AND ALL","format_ok":true,"sub":1,"del":0,"ins":0,"n":4,"raw":"%s"}\n' "$cot1"
  printf '{"id":"s2","set":"single","ref":"ONLY ONE VOICE","hyp":"","format_ok":false,"sub":0,"del":3,"ins":0,"n":3,"raw":"<think>Audio information: 0-1s"}\n'
  printf '{"id":"s3","set":"libri3mix","ref":"THIRD HERE","hyp":"FIRST SPEAKER TALKS","format_ok":true,"sub":2,"del":0,"ins":1,"n":2,"raw":"%s"}\n' "$cot3"
  printf 'not json at all\n'
} >"$tmp/dec.jsonl"

wb_start m.jsonl
expect 'Samples 4/4' "manifest opened"
expect ' 1/4 \|' "status shows the first sample"
expect '>S1 M L4 0\.75' "timeline lane of the target (gender, level, score)"
expect ' S2 F L2 0\.30' "timeline lane of the interferer"
expect 'Timeline 6\.50s: enroll 1\.00 \| silence 3\.00 \| mix 2\.50' "timeline parts from the audio"
expect 'no model open' "no model: the pane says how to get one"
expect 'Speaker1 information: male; from 4 to' "the truth CoT is shown before any output"

# navigation: keys and commands
wb_keys n
expect ' 2/4 \|' "n moves to the next sample"
expect '>S1 F L5 0\.90' "single-speaker lane"
wb_keys p
expect ' 1/4 \|' "p moves back"
wb_cmd 'goto s3'
expect ' 3/4 \|' "goto by id"
expect '>S3 M L5 0\.85' "three lanes, target third"
wb_cmd 'goto 2'
expect ' 2/4 \|' "goto by position"
wb_cmd 'last'
expect ' 4/4 \|' "last"
expect 'missing\.wav: cannot open audio file' "a missing audio file is a message in the timeline"
wb_keys ' '
expect 'play: s4: .*missing\.wav' "playing a sample with a missing file is a message"
wb_cmd 'first'
expect ' 1/4 \|' "first"

# playback (silent sink here): status and cursor
wb_keys ' '
expect 'playing mixture of s1' "space plays the mixture"
expect '> mixture [0-9.]+s' "status shows the playback cursor"
wb_keys ' '
expect 'stopped' "space stops"
wb_keys i
expect 'playing input of s1' "i plays the whole input"
wb_keys e
expect 'playing enrollment of s1' "e plays the enrollment"
wb_cmd 'play source 2'
expect 'playing source 2 of s1' "play source N"
wb_cmd 'play source 9'
expect 'no source 9' "a source out of range is a message"
wb_cmd 'play stop'

# the decode file joins the manifest by id; its bad line is reported
wb_cmd "open dec.jsonl"
expect 'decode dec\.jsonl: 4 samples \(0 new\)' "decode records joined by id"
wb_cmd 'log'
expect 'skipped .*dec\.jsonl:4' "a bad decode line is skipped with file:line"
wb_keys Escape
expect 'CoT \(decode file\): 17 ok 1 wrong 0 miss \| format ok' "CoT check counts of s1"
expect 'target: chose S1, truth S1 \(right\)' "the right target is shown"
expect 'WRONG speaker2\.span' "the wrong step is marked"
expect ' ok  +speaker1\.span' "a right step is marked"
expect 'WER 25\.0%  S1 D0 I0 N4' "WER and counts of the alignment"
expect 'REF HELLO WORLD AND ALL' "reference row"
expect 'HYP HELLO WORD  AND ALL' "hypothesis row aligned under it"
expect 's1 +2  +25\.0 ok' "list row: speakers, WER, format"
expect 's2 +1  100\.0 ERR' "list row of a format error"
wb_keys n
expect 'WRONG format +no </think>' "format error named in the CoT pane"

# filters
wb_cmd 'filter fmt'
expect 'Samples 1/4' "filter fmt keeps the format error"
expect '^  s2 ' "only s2 is listed"
wb_keys c
expect 'Samples 4/4' "c clears the filters"
wb_cmd 'filter target'
expect 'Samples 1/4' "filter target keeps the wrong target"
expect 'target: chose S1, truth S3 \(WRONG\)' "the wrong target is shown"
wb_cmd 'unfilter'
wb_cmd 'filter wer'
expect 'Samples 3/4' "filter wer: s1 s2 s3"
wb_cmd 'filter spk 2'
expect 'Samples 1/4' "filters combine (wer and 2 speakers)"
wb_cmd 'filter clear'
wb_cmd 'filter spk 2'
expect 'Samples 2/4' "filter by speaker count"
wb_cmd 'filter bogus'
expect 'filter: unknown "bogus"' "a bad filter is a message"

# sort
wb_cmd 'filter clear'
wb_cmd 'sort wer'
expect 'sorted by wer desc' "sort by WER"
wb_wait_row 4 '^  s3 +3 +150\.0' && wb_wait_row 5 '^  s2 ' && wb_wait_row 7 '^  s4 ' && ok || { bad "sort wer: order"; wb_screen; }
wb_cmd 'sort id desc'
wb_wait_row 4 '^  s4 ' && wb_wait_row 7 '^  s1 ' && ok || { bad "sort id desc: order"; wb_screen; }
wb_cmd 'sort file'
wb_wait_row 4 '^  s1 ' && ok || { bad "sort file: order"; wb_screen; }
wb_cmd 'filter noout'
expect 'Samples 1/4' "filter noout keeps the sample without output"
wb_cmd 'filter clear'
wb_cmd 'filter id 3'
expect 'filter: id~3 \(1 of 4 shown\)' "filter by id substring"
wb_cmd 'filter clear'

# marks and export
wb_cmd 'export nothing.jsonl'
expect 'nothing is marked' "export without marks is a message"
wb_cmd 'goto s1'
wb_keys m
expect '^\* s1 ' "m marks"
wb_cmd 'goto s3'
wb_cmd 'mark'
expect '^\* s3 ' "mark marks"
wb_cmd 'export sel.jsonl'
expect 'exported 2 samples to sel\.jsonl' "export reports the count"
if [ -f "$tmp/sel.jsonl" ] && diff <(sed -n '1p;3p' "$tmp/m.jsonl") "$tmp/sel.jsonl" >/dev/null; then ok; else
  bad "export: sel.jsonl is not lines 1 and 3 of the manifest"; cat "$tmp/sel.jsonl" 2>/dev/null; fi
wb_cmd 'filter spk 2'
wb_cmd 'mark all'
expect 'marked 2 samples' "mark all marks the filtered samples"
wb_cmd 'filter clear'
wb_cmd 'export sel2.jsonl'
expect 'exported 3 samples' "export after mark all"
if diff <(sed -n '1p;3p;4p' "$tmp/m.jsonl") "$tmp/sel2.jsonl" >/dev/null 2>&1; then ok; else bad "export 2: wrong lines"; fi
mkdir -p "$tmp/sub"
wb_cmd 'export sub/sel3.jsonl'
expect 'exported 3 samples to sub/sel3\.jsonl; note: 3 lines keep audio paths relative' "export elsewhere warns about relative paths"
wb_cmd 'unmark all'
expect 'marked 0' "unmark all"
wb_cmd 'export /nonexistent-dir/x.jsonl'
expect 'export: ' "export into a missing folder is a message"

# messages, not crashes
wb_cmd 'bogus command'
expect 'unknown command "bogus"' "unknown command"
wb_cmd 'open /nonexistent/file.jsonl'
expect 'open: /nonexistent/file\.jsonl: ' "missing file"
wb_cmd 'decode'
expect 'no model: open MODEL_DIR first' "decode without a model"
wb_cmd 'goto zz'
expect 'goto: no sample "zz"' "goto an unknown id"
wb_cmd 'lua 1+1'
expect '= 2' "lua evaluates an expression"

# help
wb_keys '?'
expect 'Commands:' "help lists the commands"
found=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  if wb_wait '^ +\| export FILE\.jsonl' 1; then found=1; break; fi
  wb_keys NPage
done
[ "$found" = 1 ] && ok || { bad "help: PgDn never showed export"; wb_screen; }
wb_cmd 'help group'
expect 'group \[G\]: G sampled outputs' "help COMMAND"
wb_keys Escape

# run (a child `tsasr run`) and the loss plot
printf '{"step":1,"loss":3.0}\n{"step":2,"loss":2.0}\n{"step":3}\n{"step":4,"loss":1.5}\n' >"$tmp/metrics.jsonl"
wb_cmd 'plot metrics.jsonl'
expect 'plot: 3 values of "loss"' "plot reads the loss values"
expect '1 \.\. 3 \(loss\)' "plot pane axis"
wb_cmd 'run no-such-recipe.lua'
expect 'Run: tsasr run no-such-recipe\.lua +\[exited [1-9]' "a failing run shows its exit status"

# completion and history
wb_keys ':'
wb_keys -l 'got'
wb_keys Tab
expect '^> goto ?$' "tab completes a command"
wb_keys -l 's'
wb_keys Tab
expect '4 matches: s1 s2 s3 s4' "tab lists sample ids"
wb_keys Escape
wb_keys ':'
wb_keys Up
expect '^> goto s3$|^> [a-z]' "up recalls history"
wb_keys Escape

# resize: 80x24 and larger (the status line moves to the second-last row)
tmux -L "$sock" resize-window -t wb -x 80 -y 24
if wb_wait_layout 24 && wb_screen | grep -q 'Samples 4/4'; then ok; else
  bad "80x24 layout"; wb_screen; fi
tmux -L "$sock" resize-window -t wb -x 130 -y 40
if wb_wait_layout 40 && wb_screen | grep -Eq '^  id {20,}spk'; then ok; else bad "130x40 layout"; wb_screen; fi
tmux -L "$sock" resize-window -t wb -x 100 -y 30
wb_wait_layout 30 && ok || { bad "back to 100x30"; wb_screen; }

# q quits and leaves the terminal as it was
wb_keys q
rc="$(wb_exit_code)"
[ "$rc" = 0 ] && ok || bad "q: exit code $rc"
[ "$(tmux -L "$sock" display -p -t wb '#{alternate_on}')" = 0 ] && ok || bad "q: still in the alternate screen"
[ -s "$tmp/hist" ] && grep -q 'goto s3' "$tmp/hist" && ok || bad "history file not written"
tmux -L "$sock" kill-server

# a run whose program prints progress and writes metrics.jsonl as it goes (a stand-in for
# `tsasr run`, through TSASR_WB_RUN_EXE): output lines, the loss plot, the exit status
cat >"$tmp/fakerun.sh" <<'SH'
#!/usr/bin/env bash
# args: run RECIPE out=DIR
out="${3#out=}"
mkdir -p "$out"
echo "recipe $2"
for s in 1 2 3 4 5; do
  echo "{\"step\":$s,\"loss\":$((10 - s))}" >>"$out/metrics.jsonl"
  echo "step $s"
  sleep 0.2
done
exit 3
SH
chmod +x "$tmp/fakerun.sh"
WB_EXTRA_ENV="TSASR_WB_RUN_EXE=$tmp/fakerun.sh"
wb_start m.jsonl
unset WB_EXTRA_ENV
expect 'Samples 4/4' "second start"
wb_cmd 'run small.lua out=rundir'
expect 'Run: fakerun\.sh run small\.lua out=rundir +\[exited 3\]' "run ends with its status" 10
expect '^ +\| step 5$' "run output lines"
expect 'loss of rundir/metrics\.jsonl' "the run's metrics file is plotted"
expect '1 \.\. 5 \(loss\)' "all five loss values"
wb_cmd 'run small.lua'
wb_cmd 'run small.lua'
expect 'run: one is still going' "one run at a time"
wb_cmd 'run stop'
expect 'exited (143|1)' "run stop ends the child" 10
wb_keys C-c
rc="$(wb_exit_code)"
[ "$rc" = 0 ] && ok || bad "Ctrl-C: exit code $rc"
[ "$(tmux -L "$sock" display -p -t wb '#{alternate_on}')" = 0 ] && ok || bad "Ctrl-C: still in the alternate screen"
tmux -L "$sock" kill-server

# a decode file alone: text-only samples (no audio, no truth), still listed and aligned
wb_start dec.jsonl
expect 'Samples 3/3' "decode file alone"
expect 'no manifest entry' "no truth without the manifest"
expect 'HYP HELLO WORD  AND ALL' "alignment without the manifest"
wb_keys ' '
expect 'no manifest entry, so no audio' "no audio without the manifest"
wb_cmd 'mark'
wb_cmd 'export x.jsonl'
expect 'have no manifest line' "export of text-only samples is refused with a reason"
wb_keys q
[ "$(wb_exit_code)" = 0 ] && ok || bad "q after the decode-only session"

# `tsasr` alone on a terminal opens the workbench
n_start=$((n_start + 1))
sock="$sock_base.$n_start"
rm -f "$tmp/exit"
tmux -L "$sock" -f /dev/null new-session -d -s wb -x 100 -y 30 \
  "cd '$tmp' && env TERM=xterm-256color HOME='$tmp' TSASR_WB_HISTORY='$tmp/hist' '$bin'; echo \$? >'$tmp/exit'; sleep 60"
expect 'tsasr workbench \| model - \| manifest - \| decode -' "no arguments: the workbench"
expect 'welcome: open MODEL_DIR' "no arguments: the welcome message"
wb_keys q
[ "$(wb_exit_code)" = 0 ] && ok || bad "q after the no-argument start"

# not a terminal: no curses, a pointer to help
out="$("$bin" </dev/null 2>&1)"
rc=$?
[ "$rc" -ne 0 ] && echo "$out" | grep -q 'tsasr help' && ok || bad "no-arg without a terminal: rc $rc: $out"
out="$("$bin" wb "$tmp/m.jsonl" </dev/null 2>&1 | cat)"
echo "$out" | grep -q 'needs a terminal' && ! echo "$out" | grep -q $'\033\[' && ok || bad "wb without a terminal: $out"

wb_finish
