/* synth_text.h — sentences for the synthetic corpus: a GRID-style command grammar and sentences
 * from a public-domain book, both normalised to LibriSpeech-style transcripts (upper case,
 * letters and apostrophes, single spaces). */
#ifndef TS_SYNTH_TEXT_H
#define TS_SYNTH_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/philox.h"

/* The default book: Mark Twain, "The Adventures of Tom Sawyer" (Project Gutenberg text, public
 * domain) as shipped by Debian's golang-github-klauspost-compress-dev (test data). */
#define SYNTH_BOOK_DEFAULT \
  "/usr/share/gocode/src/github.com/klauspost/compress/testdata/Mark.Twain-Tom.Sawyer.txt"

/* Normalises free text to a LibriSpeech transcript: upper case A-Z and apostrophes inside
 * words, everything else a word break, single spaces. Returns the number of words, or -1 when
 * the text holds a digit or a non-ASCII byte (such sentences are not used). */
int stext_normalise(const char *in, char *out, size_t cap);

/* A GRID-style command ("PLACE BLUE AT F TWO NOW", optionally with an object:
 * "PUT THE RED BOX BY G NINE PLEASE"). tts (may be NULL) gets what to speak. */
void stext_grid(philox_rng *r, char *out, size_t cap);
/* Distinct words the grammar can produce. */
int stext_grid_vocab(void);

/* Sentences of a plain-text book, normalised, min_words..max_words long, duplicates removed,
 * in book order. Lines of the Project Gutenberg header and footer are left out. */
typedef struct stext_pool {
  char **s;
  int n, cap;
} stext_pool;
int stext_book(const char *path, int min_words, int max_words, stext_pool *p, ts_err *e);
void stext_pool_free(stext_pool *p);
/* Distinct words in a set of normalised sentences. */
int stext_vocab(char *const *s, int n);

/* What to give a TTS engine for a transcript: lower case, a full stop at the end. */
void stext_for_tts(const char *transcript, char *out, size_t cap);

#endif
