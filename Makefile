# ferry: move a live legacy PostgreSQL database into a Supabase schema.
#
#   make                 build the programs (build/release/bin)
#   make check           install what the tests need, build with ASan+UBSan, run every test
#   make bench [SCALE=N] benchmark against a raw COPY pipe and pgcopydb, and the driver's
#                        overhead a step (not part of check; default scale 50)
#   make install PREFIX=/usr/local
#   make FLAVOR=asan     sanitizer build (build/asan/bin)
#   make fuzz [FUZZ_SECONDS=300]  run the libFuzzer targets (stream reader, plan parser)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
CC         ?= cc
FLAVOR     ?= release
PKGS       := libpq msgpack libzstd libxxhash libcrypto
# the HTTP library: only ferry-serve links it
SERVE_PKGS := libmicrohttpd

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(SERVE_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SERVE_LIBS := $(shell pkg-config --libs $(SERVE_PKGS) 2>/dev/null)

WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
ifeq ($(FLAVOR),asan)
OPT        := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
OPT        := -O2 -g
endif
CFLAGS     ?=
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Ilib $(PKG_CFLAGS) $(CFLAGS)
LDLIBS     := $(PKG_LIBS) -lpthread -lm

B          := build/$(FLAVOR)
PROGRAMS   := extract transform load verify plan cat conninfo books serve delete
BINS       := $(PROGRAMS:%=$(B)/bin/ferry-%)
LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(B)/%.o)
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
SCRIPTS    := $(wildcard scripts/ferry scripts/ferry-*)
MANPAGES   := $(wildcard man/*.[1-8])

.PHONY: all check unit bench install clean deps demo fuzz fuzzers
all: $(BINS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B)/lib/libferry.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# each program is every .c file of its directory, linked with lib/
objs_of = $(patsubst %.c,$(B)/%.o,$(wildcard $(1)/*.c))
.SECONDEXPANSION:
# objects are kept (not removed as intermediates): a rebuild compiles what changed only
.PRECIOUS: $(B)/%.o
$(B)/bin/ferry-%: $$(call objs_of,$$*) $(B)/lib/libferry.a
	@mkdir -p $(@D)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

$(B)/bin/ferry-serve: LDLIBS += $(SERVE_LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(B)/lib/libferry.a
	@mkdir -p $(@D)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

# the tree builder's test runs the transform itself
TREE_TEST_OBJ := $(patsubst %,$(B)/transform/%.o,tree treemap transform keyset links)
$(B)/tests/test_tree: $(B)/tests/unit/test_tree.o $(TREE_TEST_OBJ) $(B)/lib/libferry.a
	@mkdir -p $(@D)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

# the plan generator's naming conventions
$(B)/tests/test_names: $(B)/tests/unit/test_names.o $(B)/plan/names.o $(B)/lib/libferry.a
	@mkdir -p $(@D)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

# the books' state table, key ranges, blame, status text and sizes (pure parts of books/)
BOOKS_TEST_OBJ := $(patsubst %,$(B)/books/%.o,state ranges blame columns size)
$(B)/tests/test_books: $(B)/tests/unit/test_books.o $(BOOKS_TEST_OBJ) $(B)/lib/libferry.a
	@mkdir -p $(@D)
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)

deps:
	scripts/install-deps.sh

# the test command named in README.md and run by .ci/run
check:
	tests/lint-bats.sh
	scripts/install-deps.sh
	$(MAKE) --no-print-directory FLAVOR=asan all unit
	$(MAKE) --no-print-directory fuzzers
	tests/run.sh build/asan

bench:
	scripts/install-deps.sh --bench
	$(MAKE) --no-print-directory FLAVOR=release all
	tests/bench/run.sh build/release $(SCALE)
	tests/bench/overhead.sh build/release

demo:
	scripts/demo.sh

SHAREDIR   ?= $(PREFIX)/share/ferry

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR)/sql $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BINS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	install -m 644 scripts/sql/*.sql $(DESTDIR)$(SHAREDIR)/sql
	for m in $(MANPAGES); do \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
	done

clean:
	rm -rf build

# ---- fuzzing (issue 9) ----
# libFuzzer targets for the stream reader and the plan parser
# (tests/fuzz/fuzz_*.c), built with clang, ASan and UBSan over lib/
# compiled again for this flavour in build/fuzz/.
#   make fuzzers                  build/fuzz/fuzz_stream, build/fuzz/fuzz_plan
#   make fuzz [FUZZ_SECONDS=300]  run each for that long on a copy of its seed
#                                 corpus (tests/fuzz/corpus/*, never written to):
#                                 build/fuzz/corpus-*/ keeps what the run found,
#                                 build/fuzz/crash-* a failing input
# make check runs them briefly (tests/bats/fuzz.bats).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FZ           := build/fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN) -Ilib $(PKG_CFLAGS)
# input buffers of a few bytes instead of 1 MB (lib/io.c, lib/stream.c): every
# refill and growth path is reached by small inputs, and runs go 10 times faster
FUZZ_LIBFLAGS := -DIO_BUFSIZE=64 -DREAD_CHUNK=64
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FZ)/%.o)
FUZZ_NAMES   := stream plan
FUZZERS      := $(FUZZ_NAMES:%=$(FZ)/fuzz_%)

$(FZ)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIBFLAGS) -MMD -MP -c $< -o $@

$(FZ)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FZ)/lib/libferry.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

# fuzz_stream gives lib/io.c short reads through its __wrap_read()
$(FZ)/fuzz_stream: FUZZ_LDFLAGS := -Wl,--wrap=read

$(FZ)/fuzz_%: $(FZ)/tests/fuzz/fuzz_%.o $(FZ)/lib/libferry.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

# kept, not removed as intermediate files
.SECONDARY: $(FUZZ_NAMES:%=$(FZ)/tests/fuzz/fuzz_%.o)

fuzzers: $(FUZZERS)

fuzz: fuzzers
	@set -e; for f in $(FUZZ_NAMES); do \
		rm -rf $(FZ)/corpus-$$f; mkdir -p $(FZ)/corpus-$$f; \
		cp tests/fuzz/corpus/$$f/* $(FZ)/corpus-$$f/; \
		echo "fuzz_$$f: $(FUZZ_SECONDS) s from tests/fuzz/corpus/$$f, in $(FZ)/corpus-$$f"; \
		$(FZ)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
			-artifact_prefix=$(FZ)/crash-$$f- $(FZ)/corpus-$$f; \
	done
# ---- end of fuzzing ----

-include $(shell find build -name '*.d' 2>/dev/null)
