// simt.cpp — the emulator's scheduler (see simt.h): fibers, block barriers, warp rendezvous
// for shuffles, __syncwarp and mma.sync, deadlock and divergence detection. On x86-64 a fiber switch
// saves the callee-saved registers and swaps stacks in a few instructions (glibc's swapcontext
// makes a signal-mask system call per switch: test_decode_emu took 5.0 s with it, 0.5 s
// without); elsewhere, or with -DSIMT_UCONTEXT, ucontext. Fiber stacks are allocated once per
// launch and reused by its blocks.
#include "simt.h"

#if defined(__x86_64__) && !defined(SIMT_UCONTEXT)
#define SIMT_ASM_SWITCH 1
/* simt_switch(&save_sp, to_sp): pushes rbp, rbx, r12-r15, saves rsp in *save_sp, switches to
 * to_sp and pops the same registers from there; a new fiber's stack is laid out so that the
 * pops and the ret land in its entry function with the ABI's stack alignment */
extern "C" void simt_switch(void **save_sp, void *to_sp);
__asm__(".text\n"
        ".globl simt_switch\n"
        ".type simt_switch,@function\n"
        "simt_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size simt_switch,.-simt_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");
#else
#include <ucontext.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif

namespace simt {

dim3 g_block_idx, g_block_dim, g_grid_dim;

namespace {
enum { RUNNABLE, AT_BAR, AT_WARP, DONE };
const int KIND_SYNCWARP = -1, KIND_MMA = -3; /* warp op kinds besides the SHFL_* ones */
const size_t STACK = 256 * 1024;

struct fiber {
#ifdef SIMT_ASM_SWITCH
  void *sp = nullptr;
#else
  ucontext_t ctx;
#endif
  char *stack = nullptr; /* STACK bytes from g_stacks */
  int state = RUNNABLE;
  int id = 0;        /* linear thread id in the block */
  int kind = 0;      /* warp op: KIND_SYNCWARP, KIND_MMA or a SHFL_* kind */
  int arg = 0, width = 32, line = 0;
  uint64_t bits = 0, result = 0;
  const uint32_t *ma = nullptr, *mb = nullptr; /* mma.sync: this lane's a (4) and b (2) registers */
  float *md = nullptr;                          /* and its accumulators (4), updated in place */
#ifdef SIMT_ASAN
  void *fake = nullptr;
#endif
};

std::vector<fiber> g_fibers;
std::vector<char *> g_stacks; /* fiber stacks, reused by the blocks of a launch (never zeroed) */
fiber *g_cur;
#ifdef SIMT_ASM_SWITCH
void *g_sched_sp;
#else
ucontext_t g_sched;
#endif
const std::function<void()> *g_body;
unsigned char *g_dyn; /* this block's dynamic shared memory (256-byte aligned, as on a GPU) */
long g_errors, g_launch_errors;
uint64_t g_seed; /* 0: lockstep rounds; else the skewed schedule's generator state */
bool g_high;     /* the high-warp-first schedule (HIGH_WARP_FIRST) */
#ifdef SIMT_ASAN
void *g_sched_fake;
const void *g_sched_bottom;
size_t g_sched_size;
#endif

/* fiber -> scheduler */
void to_sched(bool finished) {
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &g_cur->fake, g_sched_bottom, g_sched_size);
#else
  (void)finished;
#endif
#ifdef SIMT_ASM_SWITCH
  simt_switch(&g_cur->sp, g_sched_sp);
#else
  swapcontext(&g_cur->ctx, &g_sched);
#endif
#ifdef SIMT_ASAN
  __sanitizer_finish_switch_fiber(g_cur->fake, nullptr, nullptr);
#endif
}

void entry() {
#ifdef SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_sched_bottom, &g_sched_size);
#endif
  (*g_body)();
  g_cur->state = DONE;
  to_sched(true);
}

/* scheduler -> fiber f */
void run(fiber &f) {
  g_cur = &f;
#ifdef SIMT_ASAN
  __sanitizer_start_switch_fiber(&g_sched_fake, f.stack, STACK);
#endif
#ifdef SIMT_ASM_SWITCH
  simt_switch(&g_sched_sp, f.sp);
#else
  swapcontext(&g_sched, &f.ctx);
#endif
#ifdef SIMT_ASAN
  __sanitizer_finish_switch_fiber(g_sched_fake, &g_sched_bottom, &g_sched_size);
#endif
}

void fail(const char *what, int line) {
  if (g_launch_errors < 5)
    fprintf(stderr, "simt: block (%u,%u,%u) thread %d: %s (line %d)\n", g_block_idx.x, g_block_idx.y, g_block_idx.z,
            g_cur ? g_cur->id : -1, what, line);
  g_launch_errors++;
  g_errors++;
}

/* element (r, c) of a lane's bf16 pairs: register `reg`, half `c & 1` (the lower index low) */
float mma_elem(const uint32_t *regs, int reg, int half) {
  uint32_t u = (regs[reg] >> (16 * half)) & 0xffffu;
  u <<= 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/* the warp from fiber w0 on at one mma.sync: every lane's accumulators from all lanes'
 * registers, in PTX's m16n8k16 layout (simt.h) */
void mma_resolve(size_t w0) {
  float A[16][16], B[16][8];
  for (int r = 0; r < 16; r++)
    for (int k = 0; k < 16; k++)
      A[r][k] = mma_elem(g_fibers[w0 + (size_t)((r % 8) * 4 + (k % 8) / 2)].ma, (r >= 8) + 2 * (k >= 8), k & 1);
  for (int k = 0; k < 16; k++)
    for (int n = 0; n < 8; n++) B[k][n] = mma_elem(g_fibers[w0 + (size_t)(n * 4 + (k % 8) / 2)].mb, k >= 8, k & 1);
  for (int lane = 0; lane < 32; lane++) {
    float *d = g_fibers[w0 + (size_t)lane].md;
    for (int e = 0; e < 4; e++) {
      int r = lane / 4 + (e >= 2 ? 8 : 0), c = (lane % 4) * 2 + (e & 1);
      float s = d[e];
      for (int k = 0; k < 16; k++) s += A[r][k] * B[k][c];
      d[e] = s;
    }
  }
}

/* resolves the rendezvous of warp w when every live lane waits at a warp op; returns whether
 * it released anyone */
bool warp_resolve(size_t w0, size_t w1) {
  int live = 0, waiting = 0;
  for (size_t i = w0; i < w1; i++) {
    if (g_fibers[i].state != DONE) live++;
    if (g_fibers[i].state == AT_WARP) waiting++;
  }
  if (!live || waiting != live) return false;
  int kind = -2, line = 0;
  bool same = true;
  for (size_t i = w0; i < w1; i++) {
    fiber &f = g_fibers[i];
    if (f.state != AT_WARP) continue;
    if (kind == -2) kind = f.kind, line = f.line;
    g_cur = &f;
    if (f.kind != kind || f.line != line) {
      fail("lanes of one warp wait at different warp operations", f.line);
      same = false;
    }
  }
  if (kind == KIND_MMA && !same) {
    /* lanes elsewhere hold no fragments: the product is not formed (the error is reported) */
  } else if (kind == KIND_MMA) {
    if (w1 - w0 != 32 || live != 32) {
      g_cur = &g_fibers[w0];
      fail("mma.sync without all 32 lanes of the warp", line);
    } else {
      mma_resolve(w0);
    }
  }
  for (size_t i = w0; i < w1; i++) {
    fiber &f = g_fibers[i];
    if (f.state != AT_WARP) continue;
    if (f.kind >= 0) {
      int lane = (int)(i - w0), seg = lane / f.width * f.width, src = lane;
      if (f.kind == SHFL_XOR) src = seg + ((lane - seg) ^ f.arg) % f.width;
      if (f.kind == SHFL_IDX) src = seg + ((f.arg % f.width) + f.width) % f.width;
      if (f.kind == SHFL_DOWN && lane - seg + f.arg < f.width) src = lane + f.arg;
      if (f.kind == SHFL_UP && lane - seg - f.arg >= 0) src = lane - f.arg;
      size_t s = w0 + (size_t)src;
      if (s >= w1 || g_fibers[s].state != AT_WARP) {
        g_cur = &f;
        fail("shuffle reads a lane that has exited", f.line);
        f.result = 0;
      } else {
        f.result = g_fibers[s].bits;
      }
    }
  }
  for (size_t i = w0; i < w1; i++)
    if (g_fibers[i].state == AT_WARP) g_fibers[i].state = RUNNABLE;
  return true;
}

/* the static __shared__ arrays (simt.h puts them in section simt_shared): garbage before every
 * block; a plain loop that ASan does not instrument (the section also holds its redzones) */
extern "C" char __start_simt_shared[] __attribute__((weak)), __stop_simt_shared[] __attribute__((weak));
__attribute__((no_sanitize("address"))) void static_shared_garbage() {
  volatile char *p = __start_simt_shared, *end = __stop_simt_shared;
  if (p)
    for (; p < end; p++) *p = (char)0xcd;
}

void run_block(size_t smem) {
  static_shared_garbage();
  size_t n = (size_t)g_block_dim.x * g_block_dim.y * g_block_dim.z;
  g_fibers.assign(n, fiber());
  /* fresh per block and not zeroed (garbage, like the GPU's); the exact size, for ASan */
  void *dyn = nullptr;
  if (posix_memalign(&dyn, 256, smem ? smem : 1)) dyn = nullptr;
  g_dyn = (unsigned char *)dyn;
  if (!g_dyn) {
    fprintf(stderr, "simt: out of memory\n");
    abort();
  }
  memset(g_dyn, 0xcd, smem ? smem : 1);
  for (size_t i = 0; i < n; i++) {
    fiber &f = g_fibers[i];
    f.id = (int)i;
    while (g_stacks.size() <= i) {
      char *st = (char *)malloc(STACK);
      if (!st) {
        fprintf(stderr, "simt: out of memory\n");
        abort();
      }
      g_stacks.push_back(st);
    }
    f.stack = g_stacks[i];
#ifdef SIMT_ASM_SWITCH
    /* from the 16-aligned top: a zero return address (entry never returns), entry's address
     * for simt_switch's ret, six zeros for its pops */
    uintptr_t top = ((uintptr_t)f.stack + STACK) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)&entry;
    for (int r = 0; r < 6; r++) *--sp = nullptr;
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, entry, 0);
#endif
  }
  for (;;) {
    /* lockstep (seed 0): every runnable thread runs each round; skewed: each warp runs with
     * probability 1/2 per round (at least one runs), so warps drift apart and a warp may be
     * several warp-synchronous steps ahead of another between two barriers */
    bool ran = false;
    if (g_high) /* the highest warp with a runnable thread, alone */
      for (size_t w0 = (n - 1) / 32 * 32 + 32; w0 > 0 && !ran;) {
        w0 -= 32;
        for (size_t i = w0; i < n && i < w0 + 32; i++)
          if (g_fibers[i].state == RUNNABLE) {
            run(g_fibers[i]);
            ran = true;
          }
      }
    for (size_t w0 = 0; w0 < n && !g_high; w0 += 32) {
      bool down = false; /* skewed: lanes in descending order half of the time */
      if (g_seed) {
        g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
        if (g_seed >> 63) continue;
        down = (g_seed >> 62) & 1;
      }
      size_t w1 = w0 + 32 < n ? w0 + 32 : n;
      for (size_t k = 0; k < w1 - w0; k++) {
        size_t i = down ? w1 - 1 - k : w0 + k;
        if (g_fibers[i].state == RUNNABLE) {
          run(g_fibers[i]);
          ran = true;
        }
      }
    }
    if (!ran)
      for (size_t i = 0; i < n; i++)
        if (g_fibers[i].state == RUNNABLE) {
          for (size_t t = i / 32 * 32; t < n && t < i / 32 * 32 + 32; t++)
            if (g_fibers[t].state == RUNNABLE) run(g_fibers[t]);
          ran = true;
          break;
        }
    size_t done = 0, bar = 0;
    for (size_t i = 0; i < n; i++) done += g_fibers[i].state == DONE, bar += g_fibers[i].state == AT_BAR;
    if (done == n) break;
    bool released = false;
    for (size_t w0 = 0; w0 < n; w0 += 32) released |= warp_resolve(w0, w0 + 32 < n ? w0 + 32 : n);
    if (!released && bar + done == n) { /* every live thread at the barrier */
      int line = -1;
      for (size_t i = 0; i < n; i++) {
        fiber &f = g_fibers[i];
        if (f.state != AT_BAR) continue;
        g_cur = &f;
        if (line < 0) line = f.line;
        if (f.line != line) fail("threads wait at different __syncthreads", f.line);
        if (done) fail("threads wait at __syncthreads while others of the block have exited", f.line);
        f.state = RUNNABLE;
      }
      released = true;
    }
    if (!released && !ran) {
      g_cur = nullptr;
      for (size_t i = 0; i < n; i++)
        if (g_fibers[i].state != DONE) {
          g_cur = &g_fibers[i];
          break;
        }
      fail("deadlock: threads wait at a barrier and at warp operations", g_cur ? g_cur->line : 0);
      break;
    }
  }
  g_fibers.clear();
  g_cur = nullptr;
  free(g_dyn);
  g_dyn = nullptr;
}
}  // namespace

dim3 thread_idx() {
  int id = g_cur ? g_cur->id : 0;
  return dim3((unsigned)id % g_block_dim.x, (unsigned)id / g_block_dim.x % g_block_dim.y,
              (unsigned)id / (g_block_dim.x * g_block_dim.y));
}

int lane() { return g_cur ? g_cur->id % 32 : 0; }

unsigned char *dyn_smem() { return g_dyn; }

void error(const char *what, int line) { fail(what, line); }

void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], int line) {
  fiber *f = g_cur;
  f->state = AT_WARP;
  f->kind = KIND_MMA;
  f->ma = a, f->mb = b, f->md = d;
  f->line = line;
  to_sched(false);
}

void syncthreads(int line) {
  g_cur->state = AT_BAR;
  g_cur->line = line;
  to_sched(false);
}

void syncwarp(unsigned mask, int line) {
  (void)mask;
  g_cur->state = AT_WARP;
  g_cur->kind = KIND_SYNCWARP;
  g_cur->line = line;
  to_sched(false);
}

uint64_t shfl(int kind, unsigned mask, uint64_t bits, int arg, int width, int line) {
  (void)mask;
  fiber *f = g_cur;
  f->state = AT_WARP;
  f->kind = kind;
  f->bits = bits;
  f->arg = arg;
  f->width = width > 0 && width <= 32 ? width : 32;
  f->line = line;
  to_sched(false);
  return f->result;
}

long launch(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
  g_launch_errors = 0;
  g_grid_dim = grid;
  g_block_dim = block;
  g_body = &body;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        g_block_idx = dim3(x, y, z);
        run_block(smem);
      }
  for (char *st : g_stacks) free(st);
  g_stacks.clear();
  return g_launch_errors;
}

long errors() { return g_errors; }

void set_schedule(uint64_t seed) {
  g_high = seed == HIGH_WARP_FIRST;
  g_seed = g_high ? 0 : seed;
}

}  // namespace simt
