# Fuzzing, included by Makefile.am. docs/reliability.md tells the story.
#
#   make check                     replays every committed input (fuzz/replay)
#   make fuzz                      builds the libFuzzer targets with clang and
#                                  runs each for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=20      what CI runs
#   make fuzz FUZZ_TARGETS=idx     one target only
#   make fuzz-seeds                rewrites fuzz/corpus with fuzz/make_seeds
#
# The targets are compiled by clang ($(FUZZ_CC), found by configure even when
# the library is built with gcc) from the library's sources, not linked to
# the gcc-built libwengert.la: libFuzzer needs the coverage instrumentation,
# and the sanitizers need to see inside our code. OpenMP is left out (its
# pragmas are ignored); no parser uses threads.

# ------------------------------------------------------------- make check
# TESTS is $(check_PROGRAMS), so this also makes it a test.
check_PROGRAMS += fuzz/replay
fuzz_replay_SOURCES = fuzz/replay.c fuzz/harness.c fuzz/harness.h
fuzz_replay_CPPFLAGS = $(AM_CPPFLAGS) $(HDF5_CFLAGS) $(ZLIB_CFLAGS) \
	-DFUZZ_DIR='"$(abs_top_srcdir)/fuzz"'
fuzz_replay_LDADD = $(TEST_FLOAT_LDADD) $(HDF5_LIBS) $(ZLIB_LIBS)

# the seed generator (make fuzz-seeds runs it)
noinst_PROGRAMS += fuzz/make_seeds
fuzz_make_seeds_SOURCES = fuzz/make_seeds.c
fuzz_make_seeds_CPPFLAGS = $(AM_CPPFLAGS) $(HDF5_CFLAGS) $(ZLIB_CFLAGS)
fuzz_make_seeds_LDADD = $(TEST_FLOAT_LDADD) $(HDF5_LIBS) $(ZLIB_LIBS)

EXTRA_DIST += \
	fuzz/run.sh \
	fuzz/lsan.supp \
	fuzz/fuzz_idx.c \
	fuzz/fuzz_idx_gz.c \
	fuzz/fuzz_h5data.c \
	fuzz/fuzz_checkpoint.c \
	fuzz/fuzz_checkpoint_crc.c \
	fuzz/corpus \
	fuzz/regress \
	fuzz/findings

# ------------------------------------------------------------- make fuzz
FUZZ_SECONDS = 60
FUZZ_TARGETS = idx idx_gz h5data checkpoint checkpoint_crc
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -Wno-unknown-pragmas $(FUZZ_SANITIZE) \
	-fsanitize=fuzzer-no-link
FUZZ_CPPFLAGS = $(DEFS) -I$(top_srcdir)/include -I$(top_srcdir)/autograd \
	-I$(top_srcdir)/ops -I$(top_builddir) $(HDF5_CFLAGS) $(BLAS_CFLAGS) \
	$(SLEEF_CFLAGS) $(ZLIB_CFLAGS)
FUZZ_LIBS = $(HDF5_LIBS) $(BLAS_LIBS) $(ZLIB_LIBS) $(SLEEF_LIBS) -lm -lpthread

FUZZ_LIB_OBJS = $(patsubst %.c,fuzz/obj/%.o,$(filter %.c,$(WG_SOURCES)))
FUZZ_DEP_HDRS = $(addprefix $(srcdir)/,$(filter %.h,$(WG_SOURCES)) include/wengert.h \
	fuzz/harness.h) $(top_builddir)/config.h
FUZZ_BINS = $(patsubst %,fuzz/bin/fuzz_%,$(FUZZ_TARGETS))

fuzz/obj/%.o: $(srcdir)/%.c $(FUZZ_DEP_HDRS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -c -o $@ $<

# clang ignores vmath.c's `#pragma GCC target("avx2,fma")`, under which
# sleef.h declares the vector functions; the file then gets AVX2 for the
# whole unit (its vector path still runs only where the CPU has AVX2, and
# -O1 does not auto-vectorise the scalar path)
fuzz/obj/autograd/vmath.o: FUZZ_CFLAGS += -mavx2 -mfma

fuzz/bin/fuzz_%: fuzz/obj/fuzz/fuzz_%.o fuzz/obj/fuzz/harness.o $(FUZZ_LIB_OBJS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

fuzz-check-cc:
	@if test -z "$(FUZZ_CC)"; then \
	  echo "make fuzz needs clang with libFuzzer, which configure did not find."; \
	  echo "On Debian: apt-get install clang-14 libclang-rt-14-dev (or clang), then"; \
	  echo "re-run ./configure; it looks for clang-14, then clang (FUZZ_CC=... overrides)."; \
	  exit 1; \
	fi

fuzz-build: fuzz-check-cc
	@$(MAKE) $(AM_MAKEFLAGS) $(FUZZ_BINS)

fuzz: fuzz-build
	$(SHELL) $(srcdir)/fuzz/run.sh $(FUZZ_SECONDS) fuzz/bin $(srcdir)/fuzz fuzz/out \
		$(FUZZ_TARGETS)

fuzz-seeds: fuzz/make_seeds$(EXEEXT)
	./fuzz/make_seeds$(EXEEXT) $(srcdir)/fuzz/corpus

clean-fuzz:
	-rm -rf fuzz/obj fuzz/bin fuzz/out
clean-local: clean-fuzz

.PHONY: fuzz fuzz-build fuzz-check-cc fuzz-seeds clean-fuzz
# the targets' own objects come through a chain of pattern rules: keep them
.PRECIOUS: fuzz/obj/%.o
