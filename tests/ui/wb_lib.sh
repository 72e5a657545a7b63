# wb_lib.sh — helpers for the tmux-driven workbench tests (sourced; not a test itself).
# Provides: wb_setup (temp dir, tiny wavs, manifest), wb_start ARGS..., wb_keys KEYS...,
# wb_wait PATTERN [SECONDS], wb_screen, wb_exit_code, ok/bad counters and wb_finish.
set -u
if ! command -v tmux >/dev/null 2>&1; then
  echo "skipped: tmux is not installed"
  exit 77
fi
unset TMUX # the tests start their own tmux servers, also when run inside tmux
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
tmp="$(mktemp -d)"
sock_base="wbtest$$"
sock="$sock_base"
n_start=0
pass=0
fail=0
cleanup() {
  local k
  for k in $(seq 0 "$n_start"); do tmux -L "$sock_base.$k" kill-server >/dev/null 2>&1; done
  rm -rf "$tmp"
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# Tiny wavs (sine tones written by sox) and a manifest:
# s1 two speakers (target male), s2 single, s3 three speakers (target 3), s4 a missing file.
wb_setup() {
  # sox is a dependency (scripts/install-deps.sh): without it the test fails rather than skips
  command -v sox >/dev/null 2>&1 || { echo "FAIL: sox is not installed (scripts/install-deps.sh)"; exit 1; }
  local spec n fr d
  for spec in a:220:1.5 b:330:2.0 c:440:1.2 d:550:1.0 e:260:1.0; do
    IFS=: read -r n fr d <<<"$spec"
    sox -n -r 16000 -c 1 -b 16 "$tmp/$n.wav" synth "$d" sine "$fr" vol 0.3 || { bad "sox failed"; exit 1; }
  done
  cat >"$tmp/m.jsonl" <<'JSON'
{"id":"s1","set":"libri2mix","sources":[{"path":"a.wav","speaker":"100","gender":"M","text":"HELLO WORLD AND ALL","gain":0.5,"offset":0},{"path":"b.wav","speaker":"200","gender":"F","text":"GOOD MORNING TO YOU","gain":0.5,"offset":0.5}],"target":0,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.75,0.3]}
{"id":"s2","set":"single","sources":[{"path":"c.wav","speaker":"300","gender":"F","text":"ONLY ONE VOICE","gain":0.5,"offset":0}],"target":0,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.9]}
{"id":"s3","set":"libri3mix","sources":[{"path":"a.wav","speaker":"100","gender":"M","text":"FIRST SPEAKER TALKS","gain":0.4,"offset":0},{"path":"c.wav","speaker":"300","gender":"F","text":"SECOND ONE","gain":0.4,"offset":0.2},{"path":"d.wav","speaker":"400","gender":"M","text":"THIRD HERE","gain":0.4,"offset":0.3}],"target":2,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.5,0.1,0.85]}
{"id":"s4","set":"libri2mix","sources":[{"path":"missing.wav","speaker":"500","gender":"M","text":"NOT THERE","gain":0.5,"offset":0},{"path":"b.wav","speaker":"200","gender":"F","text":"GOOD MORNING TO YOU","gain":0.5,"offset":0}],"target":0,"enroll":{"path":"e.wav","start":0,"duration":1.0}}
JSON
}

# Starts the workbench in a detached 100x30 tmux session; its exit code lands in $tmp/exit.
wb_start() {
  rm -f "$tmp/exit"
  n_start=$((n_start + 1))
  sock="$sock_base.$n_start" # a fresh server each start
  local args="" a
  for a in "$@"; do args="$args '$a'"; done
  tmux -L "$sock" -f /dev/null new-session -d -s wb -x 100 -y 30 \
    "cd '$tmp' && env TERM=xterm-256color HOME='$tmp' TSASR_WB_HISTORY='$tmp/hist' TSASR_AUDIO_SILENT=1 ${WB_EXTRA_ENV:-} '$bin' wb $args; echo \$? >'$tmp/exit'; sleep 60"
  tmux -L "$sock" set-option -t wb remain-on-exit on >/dev/null 2>&1
}

wb_keys() { tmux -L "$sock" send-keys -t wb "$@"; }
wb_screen() { tmux -L "$sock" capture-pane -p -t wb; }

# Polls the screen for an extended regex for up to $2 seconds (default 15: generous for a loaded
# machine; a pass returns as soon as the pattern shows).
wb_wait() {
  local pat="$1" t="${2:-15}" i=0
  local n=$((t * 10))
  while [ $i -lt $n ]; do
    if wb_screen | grep -Eq -- "$pat"; then return 0; fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# After a resize: polls (15 s) until the workbench has redrawn for $1 rows: the status line on row
# $1-1 and the sample-list title on row 2. tmux shows the old screen cut to the new size until
# the program redraws (shrinking drops rows from the top), so one row alone can match too early.
wb_wait_layout() {
  local rows="$1" i=0 scr
  while [ $i -lt 150 ]; do
    scr="$(wb_screen)"
    if [ "$(printf '%s\n' "$scr" | wc -l)" -le "$rows" ] &&
      printf '%s\n' "$scr" | sed -n "$((rows - 1))p" | grep -q 'filter none' &&
      printf '%s\n' "$scr" | sed -n 2p | grep -q 'Samples [0-9]*/'; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# Polls row $1 (1-based) of the screen for a regex for up to $3 seconds (default 15).
wb_wait_row() {
  local row="$1" pat="$2" t="${3:-15}" i=0
  while [ $i -lt $((t * 10)) ]; do
    if wb_screen | sed -n "${row}p" | grep -Eq -- "$pat"; then return 0; fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# Expect: a pattern must appear (with a description).
expect() {
  if wb_wait "$1" "${3:-15}"; then ok; else
    bad "$2: no /$1/ on screen:"
    wb_screen | sed 's/^/    | /'
  fi
}

# Runs a command line in the workbench.
wb_cmd() { wb_keys ':' ; wb_keys -l "$1"; wb_keys Enter; }

# Waits for the program to end; prints its exit code (or "none").
wb_exit_code() {
  local i=0
  while [ $i -lt 150 ]; do
    [ -s "$tmp/exit" ] && { cat "$tmp/exit"; return; }
    sleep 0.1
    i=$((i + 1))
  done
  echo none
}

wb_finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
