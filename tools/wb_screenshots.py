#!/usr/bin/env python3
"""wb_screenshots.py — screenshots of the workbench's main views for docs/workbench.md.

Requires: Pillow==12.0.0 (pip install pillow==12.0.0), tmux, sox, the DejaVu Sans Mono font
(fonts-dejavu-core). Not used by tests or at run time.

It builds a small demo (sine-tone wavs with sox, a manifest, and a decode JSONL whose outputs
are hand-written to show a right CoT, a wrong step, a wrong target and a format error — they
are illustrative, not model outputs), drives `tsasr wb` in a detached tmux session at 100x30,
captures each view with colours (capture-pane -e), and renders the ANSI text to PNG.

usage: tools/wb_screenshots.py BUILD/tsasr [OUT_DIR=docs/img]
       tools/wb_screenshots.py --real BUILD/tsasr MODEL_DIR MANIFEST DECODE.jsonl ID OUT.png
         (a real model output: the workbench on a model, a manifest and its decode, at sample ID)
"""
import os
import re
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 13

# xterm's 16 colours (a dark theme)
PALETTE = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188),
           (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
           (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255)]
FG, BG = (204, 204, 204), (24, 24, 24)


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        lv = [0, 95, 135, 175, 215, 255]
        return (lv[n // 36], lv[(n // 6) % 6], lv[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


def parse_ansi(text, cols, rows):
    """Cells (char, fg, bg, bold) from tmux capture-pane -e output."""
    grid = [[(" ", None, None, False) for _ in range(cols)] for _ in range(rows)]
    for y, line in enumerate(text.split("\n")[:rows]):
        fg = bg = None
        bold = rev = dim = False
        x = 0
        i = 0
        while i < len(line):
            m = re.match(r"\x1b\[([0-9;]*)m", line[i:])
            if m:
                codes = [int(c) if c else 0 for c in m.group(1).split(";")] or [0]
                k = 0
                while k < len(codes):
                    c = codes[k]
                    if c == 0:
                        fg = bg = None
                        bold = rev = dim = False
                    elif c == 1:
                        bold = True
                    elif c == 2:
                        dim = True
                    elif c == 7:
                        rev = True
                    elif c == 22:
                        bold = dim = False
                    elif c == 27:
                        rev = False
                    elif 30 <= c <= 37:
                        fg = PALETTE[c - 30]
                    elif c == 39:
                        fg = None
                    elif 40 <= c <= 47:
                        bg = PALETTE[c - 40]
                    elif c == 49:
                        bg = None
                    elif 90 <= c <= 97:
                        fg = PALETTE[c - 90 + 8]
                    elif 100 <= c <= 107:
                        bg = PALETTE[c - 100 + 8]
                    elif c in (38, 48) and k + 2 < len(codes) and codes[k + 1] == 5:
                        col = xterm256(codes[k + 2])
                        if c == 38:
                            fg = col
                        else:
                            bg = col
                        k += 2
                    elif c in (38, 48) and k + 4 < len(codes) and codes[k + 1] == 2:
                        col = tuple(codes[k + 2:k + 5])
                        if c == 38:
                            fg = col
                        else:
                            bg = col
                        k += 4
                    k += 1
                i += m.end()
                continue
            m = re.match(r"\x1b\[[0-9;?]*[A-Za-z]", line[i:])
            if m:
                i += m.end()
                continue
            ch = line[i]
            i += 1
            if x < cols:
                f, b = fg or FG, bg or BG
                if bold and fg is not None and fg in PALETTE[:8]:
                    f = PALETTE[PALETTE.index(fg) + 8]
                if dim:
                    f = tuple(v * 2 // 3 for v in f)
                if rev:
                    f, b = b, f
                grid[y][x] = (ch, f, b, bold)
                x += 1
    return grid


def render(text, cols, rows, path):
    font = ImageFont.truetype(FONT, SIZE)
    fbold = ImageFont.truetype(FONT_BOLD, SIZE)
    cw = int(round(font.getlength("M")))
    ch = SIZE + 4
    img = Image.new("RGB", (cw * cols + 8, ch * rows + 8), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(parse_ansi(text, cols, rows)):
        for x, (c, f, b, bold) in enumerate(row):
            px, py = 4 + x * cw, 4 + y * ch
            if b is not None and b != BG:
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=b)
            if c != " ":
                d.text((px, py + 1), c, font=fbold if bold else font, fill=f or FG)
    img = img.convert("P", palette=Image.ADAPTIVE, colors=64)
    img.save(path, optimize=True)


class Wb:
    n = 0

    def __init__(self, binary, cwd, args, cols=100, rows=30):
        Wb.n += 1
        self.sock = "wbshots%d.%d" % (os.getpid(), Wb.n)  # a fresh tmux server per session
        self.cols, self.rows = cols, rows
        env = "TERM=screen-256color HOME=%s TSASR_WB_HISTORY=%s/hist TSASR_AUDIO_SILENT=1" % (cwd, cwd)
        cmd = "cd %s && env %s %s wb %s; sleep 60" % (cwd, env, binary, " ".join(args))
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "wb", "-x", str(cols),
                        "-y", str(rows), cmd], check=True)

    def keys(self, *k, literal=False):
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "-t", "wb"] + (["-l"] if literal else []) + list(k),
                       check=True)

    def cmd(self, line):
        self.keys(":")
        self.keys(line, literal=True)
        self.keys("Enter")

    def screen(self, colours=False):
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-t", "wb"] + (["-e", "-N"] if colours else []),
                              check=True, capture_output=True, text=True).stdout

    def wait(self, pattern, seconds=20):
        end = time.time() + seconds
        while time.time() < end:
            if re.search(pattern, self.screen(), re.M):
                return
            time.sleep(0.1)
        raise SystemExit("screenshots: /%s/ never appeared:\n%s" % (pattern, self.screen()))

    def shot(self, path):
        time.sleep(0.3)
        render(self.screen(colours=True), self.cols, self.rows, path)
        print("wrote", path)

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


COT1 = ("<think>Audio information: 0-1s is enrollment speech; 1-4s is silence; 4-6.5s is 2-speaker mixture audio; "
        "total duration 6.5s. Enrollment speech: male. Speaker1 information: male; from 4 to 5.5s; similarity to the "
        "enrollment speech is 4. Speaker2 information: female; from 4 to 6.5s; similarity to the enrollment speech is "
        "2. Target speaker: Speaker1 and the enrollment speech are both male; 4(Speaker1) > 2(Speaker2); Speaker1 has "
        "the highest similarity score to the enrollment speech and is the target speaker. Final output:</think>"
        "<answer>HELLO WORD AND ALL THE REST</answer>")
COT3 = ("<think>Audio information: 0-1s is enrollment speech; 1-4s is silence; 4-5.5s is 3-speaker mixture audio; "
        "total duration 5.5s. Enrollment speech: male. Speaker1 information: male; from 4 to 5.5s; similarity to the "
        "enrollment speech is 5. Speaker2 information: female; from 4.2 to 5.4s; similarity to the enrollment speech "
        "is 1. Speaker3 information: male; from 4.3 to 5.3s; similarity to the enrollment speech is 5. Target speaker: "
        "Speaker1, Speaker3 and the enrollment speech are all male; 5(Speaker1) > 5(Speaker3) > 1(Speaker2); "
        "Speaker1 has the highest similarity score to the enrollment speech and is the target speaker. Final "
        "output:</think><answer>FIRST SPEAKER TALKS</answer>")


def real(argv):
    """One screenshot of a real decode: the workbench at sample ID with its CoT trace."""
    binary, model, man, dec, sid, png = [os.path.abspath(a) if i != 4 else a for i, a in enumerate(argv)]
    with tempfile.TemporaryDirectory() as tmp:
        w = Wb(binary, tmp, [model, man, dec])
        try:
            w.wait(r"Samples [0-9]+/")
            w.keys("Escape")
            w.cmd("goto " + sid)
            w.wait(r"CoT")
            w.shot(png)
        finally:
            w.close()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--real":
        if len(sys.argv) != 8:
            sys.exit(__doc__)
        return real(sys.argv[2:])
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    out = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "docs/img")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    model = os.path.join(repo, "tests/fixtures/tsmodel/tiny")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, freq, dur in [("a", 220, 1.5), ("b", 330, 2.0), ("c", 440, 1.2), ("d", 550, 1.0), ("e", 260, 1.0)]:
            subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", os.path.join(tmp, name + ".wav"),
                            "synth", str(dur), "sine", str(freq), "vol", "0.3"], check=True)
        man = [
            '{"id":"s1","set":"libri2mix","sources":[{"path":"a.wav","speaker":"100","gender":"M","text":"HELLO WORLD AND ALL THE REST","gain":0.5,"offset":0},{"path":"b.wav","speaker":"200","gender":"F","text":"GOOD MORNING TO YOU","gain":0.5,"offset":0.5}],"target":0,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.75,0.3]}',
            '{"id":"s2","set":"single","sources":[{"path":"c.wav","speaker":"300","gender":"F","text":"ONLY ONE VOICE","gain":0.5,"offset":0}],"target":0,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.9]}',
            '{"id":"s3","set":"libri3mix","sources":[{"path":"a.wav","speaker":"100","gender":"M","text":"FIRST SPEAKER TALKS","gain":0.4,"offset":0},{"path":"c.wav","speaker":"300","gender":"F","text":"SECOND ONE","gain":0.4,"offset":0.2},{"path":"d.wav","speaker":"400","gender":"M","text":"THIRD HERE NOW","gain":0.4,"offset":0.3}],"target":2,"enroll":{"path":"e.wav","start":0,"duration":1.0},"similarity":[0.82,0.1,0.85]}',
        ]
        with open(os.path.join(tmp, "m.jsonl"), "w") as f:
            f.write("\n".join(man) + "\n")
        import json
        dec = [
            {"id": "s1", "set": "libri2mix", "ref": "HELLO WORLD AND ALL THE REST", "hyp": "HELLO WORD AND ALL THE REST",
             "format_ok": True, "sub": 1, "del": 0, "ins": 0, "n": 6, "raw": COT1},
            {"id": "s2", "set": "single", "ref": "ONLY ONE VOICE", "hyp": "", "format_ok": False, "sub": 0, "del": 3,
             "ins": 0, "n": 3, "raw": "<think>Audio information: 0-1s is enrollment speech; 1-4s is"},
            {"id": "s3", "set": "libri3mix", "ref": "THIRD HERE NOW", "hyp": "FIRST SPEAKER TALKS", "format_ok": True,
             "sub": 3, "del": 0, "ins": 0, "n": 3, "raw": COT3},
        ]
        with open(os.path.join(tmp, "dec.jsonl"), "w") as f:
            for r in dec:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(tmp, "metrics.jsonl"), "w") as f:
            for s in range(1, 121):
                f.write(json.dumps({"step": s, "loss": 2.5 * 0.97 ** s + 0.3 + 0.05 * ((s * 7919) % 13) / 13}) + "\n")

        w = Wb(binary, tmp, [model, "m.jsonl", "dec.jsonl"])
        try:
            w.wait(r"Samples 3/3")
            w.keys("Escape")
            w.keys(" ")
            w.wait(r"playing mixture")
            time.sleep(1.2)
            w.shot(os.path.join(out, "wb-cot.png"))
            w.keys(" ")
            w.cmd("goto s3")
            w.wait(r"chose S1, truth S3")
            w.shot(os.path.join(out, "wb-wrong-target.png"))
            w.cmd("filter wer")
            w.cmd("mark all")
            w.wait(r"marked 3 samples")
            w.cmd("goto s2")
            w.wait(r"WRONG format")
            w.shot(os.path.join(out, "wb-format-error.png"))
            w.cmd("filter clear")
            w.cmd("goto s1")
            w.cmd("group 8")
            w.wait(r"Group of 8 for s1", 120)
            w.shot(os.path.join(out, "wb-group.png"))
            w.cmd("plot metrics.jsonl")
            w.wait(r"plot: 120 values")
            w.shot(os.path.join(out, "wb-plot.png"))
            w.keys("?")
            w.wait(r"Commands:")
            w.shot(os.path.join(out, "wb-help.png"))
        finally:
            w.close()
        w = Wb(binary, tmp, [model, "m.jsonl", "dec.jsonl"], cols=80, rows=24)
        try:
            w.wait(r"Samples 3/3")
            w.shot(os.path.join(out, "wb-80x24.png"))
        finally:
            w.close()


if __name__ == "__main__":
    main()
