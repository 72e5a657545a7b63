#!/usr/bin/env bash
# test_wb_lua.sh — the workbench's `lua EXPR` command: expressions with the tsasr module as
# `ts`, print output, state kept between commands, and Lua errors as messages (no crash).
# Args: TSASR_BIN BUILD_DIR
source "$(dirname "$0")/wb_lib.sh"
wb_setup
wb_start m.jsonl
expect "s1" "the workbench opens" 8
wb_cmd "lua ts.normalize(\"it's  ok, Bob!\")"
expect "= IT'S OK BOB" "an expression's value"
wb_cmd "lua x = ts.wer('A B C', 'A X C').sub"
wb_cmd "lua print('subs', x)"
expect "subs.1" "print output and state kept between commands"
wb_cmd "lua error('boom')"
expect "lua: .*boom" "a Lua error is a message"
wb_cmd "lua 1 +"
expect "lua: .*(unexpected|expected)" "a syntax error is a message"
wb_cmd "quit"
code=$(wb_exit_code)
[ "$code" = 0 ] && ok || bad "exit code $code after quit"
wb_finish
