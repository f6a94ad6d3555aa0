# Fuzzing rules, included by Makefile.am (placeholder until the targets land).
EXTRA_DIST += fuzz
