#!/bin/bash
# test_repl_tty.sh — `tsasr lua` on a terminal (tmux): Tab completes names of the tsasr API
# (module functions and object methods), expressions print, history is written.
# $1: tsasr binary, $2: build dir. Skips (passes) when tmux is not installed.
set -u
bin=$1
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 0; }
tmp=$(mktemp -d "$2/test_repl_tty.XXXXXX")
sock=$(mktemp -u /tmp/tsasr-tmux.XXXXXX) # short: socket paths are limited to ~100 bytes
sess="tsasr_lua_$$"
cleanup() { tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp" "$sock"; }
trap cleanup EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }
tmux -S "$sock" new-session -d -s "$sess" -x 160 -y 40 "env HOME=$tmp TERM=xterm $bin lua; echo EXIT=\$?; sleep 5"
wait_for() { # pattern, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    tmux -S "$sock" capture-pane -p -t "$sess" 2>/dev/null | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
wait_for "Tab completes" 20 || die "no banner: $(tmux -S "$sock" capture-pane -p -t "$sess")"
# a unique completion: ts.tokenizer.lo<Tab> -> ts.tokenizer.load
tmux -S "$sock" send-keys -t "$sess" 'x = ts.tokenizer.lo' Tab
wait_for "x = ts.tokenizer.load" 10 || die "ts.tokenizer.lo<Tab> did not complete: $(tmux -S "$sock" capture-pane -p -t "$sess")"
tmux -S "$sock" send-keys -t "$sess" C-u
# completion of a nested module name: ts.co<Tab><Tab> lists corpus and cot
tmux -S "$sock" send-keys -t "$sess" 'ts.co' Tab Tab
wait_for "ts.corpus" 10 && wait_for "ts.cot" 10 || die "ts.co<Tab><Tab> did not list corpus and cot: $(tmux -S "$sock" capture-pane -p -t "$sess")"
tmux -S "$sock" send-keys -t "$sess" C-u
# methods of an object: t:<Tab> completes from the metatable's methods
tmux -S "$sock" send-keys -t "$sess" "t = ts.tokenizer.train{texts = {'A B'}, merges = 1, out = '$tmp/t.json'}" Enter
tmux -S "$sock" send-keys -t "$sess" 't:enc' Tab
wait_for "t:encode" 10 || die "t:enc<Tab> did not complete a method: $(tmux -S "$sock" capture-pane -p -t "$sess")"
tmux -S "$sock" send-keys -t "$sess" C-u
tmux -S "$sock" send-keys -t "$sess" "print(40 + 2)" Enter
wait_for "42" 10 || die "expression did not print"
tmux -S "$sock" send-keys -t "$sess" C-d
wait_for "EXIT=0" 10 || die "did not exit with 0 on Ctrl-D: $(tmux -S "$sock" capture-pane -p -t "$sess")"
grep -qF "print(40 + 2)" "$tmp/.tsasr_history" 2>/dev/null || die "history not written"
exit $fail
